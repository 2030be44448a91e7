"""DEC (Xie et al. 2016) and the deep-embedded-clustering core that JECL builds on.

Each stack is an autoencoder d-500-500-2000-10 pre-trained with MSE, whose code is clustered with Student-t
assignments q against k-means-initialised centroids; a sharpened target p, refreshed on all samples every
update_interval iterations, is fitted by KL(p || q). DEC has one stack on the concatenated views (absent
views imputed by their training mean); JECL (methods/jecl.py) has one per view.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from mmc_bench.config import Setting
from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.methods.base import ClusteringMethod, Prediction, schedules
from mmc_bench.methods.baselines import concatenate_imputed, present_means
from mmc_bench.methods.schemas.dec import DECConfig, DeepClusteringConfig
from mmc_bench.nn.blocks import Autoencoder
from mmc_bench.nn.dec import kl_rows, student_t_assignment, target_distribution
from mmc_bench.nn.kmeans import fit_kmeans
from mmc_bench.nn.losses import WeightedLoss
from mmc_bench.nn.training import (
    adam,
    epoch_batches,
    means_of,
    optimizer_step,
    rows_in_chunks,
    sgd,
)
from mmc_bench.run.engine import FitContext, Phase


def glorot_init(module: nn.Module) -> None:
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)


def cluster_term(t: dict[str, Any]) -> torch.Tensor:
    """(1/B) sum_i sum_v [sample i has view v] KL(p_i || q_v,i): an absent view contributes nothing."""
    mask = t["mask"]
    return sum(kl_rows(t["p"], q)[mask[:, v]].sum() for v, q in enumerate(t["q"])) / len(t["p"])


class DeepEmbeddedClustering(ClusteringMethod):
    """The shared core: one autoencoder stack per input, Student-t assignments, a periodically refreshed target."""

    config: DeepClusteringConfig
    supported_settings = frozenset({Setting.paired, Setting.incomplete})

    # --- what differs between DEC and JECL -------------------------------------------------------------
    def _fit_inputs(self, data: MultiViewDataset) -> None:
        """Fit whatever turns data into the stacks' inputs (on the training part only)."""

    def _inputs(self, data: MultiViewDataset) -> tuple[list[torch.Tensor], torch.Tensor]:
        """The stacks' inputs (n x d each) and which sample has which input (n x S, bool)."""
        raise NotImplementedError

    def _loss(self, n_stacks: int) -> WeightedLoss:
        return WeightedLoss({"cluster": (cluster_term, 1.0)})

    def _stack_weights(self, n_stacks: int) -> torch.Tensor:
        return torch.full((n_stacks,), 1.0 / n_stacks)

    def _labels(self, qs: list[torch.Tensor], p: torch.Tensor) -> torch.Tensor:
        return p.argmax(dim=1)

    def _realign(self, qs: list[torch.Tensor], mask: torch.Tensor, optimizer) -> int:
        return 0

    # --- training ------------------------------------------------------------------------------------
    checkpointed = ("autoencoders", "centroids", "pretrain_opt", "cluster_opt", "state")
    diagnostics = ("realigned", "label_change")
    # The clustering loss stays eager: its terms select the samples that have each view (data-dependent shapes).
    compiled_steps = ("_reconstruction_error", "_forward")

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        cfg = self.config
        self._fit_inputs(data)
        self.inputs, self.mask = self._inputs(data)
        n_stacks = len(self.inputs)
        self.weights = self._stack_weights(n_stacks).to(ctx.device)
        self.autoencoders = nn.ModuleList([Autoencoder(x.shape[1], cfg.encoder_layers) for x in self.inputs])
        glorot_init(self.autoencoders)
        self.autoencoders.to(ctx.device)
        self.centroids = nn.Parameter(
            torch.zeros(n_stacks, data.n_clusters, cfg.encoder_layers[-1], device=ctx.device)
        )
        self.loss = self._loss(n_stacks)
        self.pretrain_opt = adam(self.autoencoders.parameters(), lr=cfg.pretrain_lr)
        self.cluster_opt = sgd(
            [*self.autoencoders.parameters(), self.centroids], lr=cfg.lr, momentum=cfg.momentum
        )
        self.order, self.seed = ctx.order, ctx.seed
        self.state: dict[str, Any] = {"iteration": 0, "queue": [], "p": None, "labels": None}
        rounds = cfg.max_iter // cfg.update_interval + 1
        return [
            Phase(
                "pretrain",
                cfg.pretrain_epochs,
                step=self._pretrain_step,
                n_samples=len(self.mask),
                batch_size=cfg.pretrain_batch_size,
                optimizer=self.pretrain_opt,
                drop_last=False,
            ),
            # A logged step of the clustering phase is one target refresh (update_interval iterations).
            Phase("cluster", rounds, self._round, start=self._initialise, unit="target round"),
        ]

    def final_loss(self) -> dict[str, float]:
        return self._full_loss(self.inputs, self.mask)

    def _pretrain_step(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """MSE of every stack on the samples that have its input (a missing view is never reconstructed)."""
        terms = {}
        for s, x in enumerate(self.inputs):
            batch = x[index[self.mask[index, s]]]
            terms[f"mse_{s}"] = self._reconstruction_error(s, batch) if len(batch) else batch.sum()
        return sum(terms.values()), terms

    def _reconstruction_error(self, s: int, batch: torch.Tensor) -> torch.Tensor:
        return ((self.autoencoders[s](batch)[1] - batch) ** 2).mean()

    @torch.no_grad()
    def _assignments(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """q of every sample for every stack, in chunks."""
        return [
            rows_in_chunks(
                len(x),
                self.eval_chunk,
                lambda i, s=s, ae=ae, x=x: student_t_assignment(
                    ae.encoder(x[i.to(self.device_)]), self.centroids[s], self.config.alpha
                ),
            )
            for s, (ae, x) in enumerate(zip(self.autoencoders, inputs))
        ]

    @torch.no_grad()
    def _codes(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [
            rows_in_chunks(len(x), self.eval_chunk, lambda i, ae=ae, x=x: ae.encoder(x[i.to(self.device_)]))
            for ae, x in zip(self.autoencoders, inputs)
        ]

    def joint_target(self, qs: list[torch.Tensor], mask: torch.Tensor) -> torch.Tensor:
        """p = sum_v lambda_v f(q_v); f is computed over the samples with view v, and is 0 for the others
        (not renormalised, as the JECL paper describes for missing captions)."""
        p = torch.zeros_like(qs[0])
        for s, q in enumerate(qs):
            present = mask[:, s]
            p[present] += self.weights[s] * target_distribution(q[present])
        return p

    @torch.no_grad()
    def _initialise(self) -> None:
        """k-means (n_init from config) on each stack's codes gives its centroids; JECL then aligns them."""
        labels, mask = [], self.mask
        for s, z in enumerate(self._codes(self.inputs)):
            model = fit_kmeans(
                z[mask[:, s]].cpu().numpy(), self.n_clusters, self.config.kmeans_n_init, self.seed
            )
            labels.append(model.labels_)
            self.centroids[s] = torch.from_numpy(model.cluster_centers_).to(self.centroids)
        self._align_initial(labels, mask)

    def _align_initial(self, labels: list[np.ndarray], mask: torch.Tensor) -> None:
        pass

    def _round(self, round_index: int) -> dict[str, float] | None:
        """Refresh the target, then update_interval clustering steps; None once converged or at max_iter."""
        cfg, state = self.config, self.state
        # Every round starts with a fresh target (also after a resume: checkpoints end a round).
        changed = self._refresh_target(self.inputs, self.mask, self.cluster_opt)
        if round_index > 0 and changed < cfg.tol:
            state["stopped_at_iteration"] = state["iteration"]
            return None
        steps = min(cfg.update_interval, cfg.max_iter - state["iteration"])
        if steps <= 0:
            return None
        scalars = {**means_of(self._cluster_steps(steps)), "realigned": state["realigned"]}
        state["iteration"] += steps
        if round_index > 0:  # round 0 has no previous labels to compare with
            scalars["label_change"] = changed
        return scalars

    def _cluster_steps(self, steps: int) -> Iterator[dict[str, torch.Tensor]]:
        """Clustering steps on batches drawn from a queue that refills with a fresh epoch order."""
        for _ in range(steps):
            if not self.state["queue"]:
                self.state["queue"] = epoch_batches(len(self.mask), self.config.batch_size, self.order, False)
            index = self.state["queue"].pop(0).to(self.device_)
            yield self._cluster_step(self.inputs, self.mask, index, self.cluster_opt)

    @torch.no_grad()
    def _refresh_target(self, inputs, mask, optimizer) -> float:
        """Recompute p on all samples; return the fraction of labels changed since the last refresh."""
        qs = self._assignments(inputs)
        self.state["realigned"] = self._realign(qs, mask, optimizer)
        if self.state["realigned"]:
            qs = self._assignments(inputs)
        self.state["p"] = self.joint_target(qs, mask)
        labels = self._labels(qs, self.state["p"])
        previous = self.state["labels"]
        changed = float("nan") if previous is None else float((labels != previous).float().mean())
        self.state["label_change"] = changed
        self.state["labels"] = labels
        return changed

    def _forward(self, inputs, index: torch.Tensor, mask: torch.Tensor) -> dict[str, Any]:
        qs = [
            student_t_assignment(ae.encoder(x[index]), self.centroids[s], self.config.alpha)
            for s, (ae, x) in enumerate(zip(self.autoencoders, inputs))
        ]
        return {"q": qs, "p": self.state["p"][index], "mask": mask[index]}

    def _cluster_step(self, inputs, mask, index, optimizer) -> dict[str, torch.Tensor]:
        total, terms = self.loss(self._forward(inputs, index, mask))
        optimizer_step(optimizer, total)
        return {"total": total, **terms}

    @torch.no_grad()
    def _full_loss(self, inputs, mask) -> dict[str, float]:
        """Every term on all training samples with the last target (for the best-loss protocol)."""
        qs = self._assignments(inputs)
        total, terms = self.loss({"q": qs, "p": self.state["p"], "mask": mask})
        return {"total": float(total), **{k: float(v) for k, v in terms.items()}}

    # --- inference -----------------------------------------------------------------------------------
    @torch.no_grad()
    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        inputs, mask = self._inputs(data)
        qs = self._assignments(inputs)
        p = self.joint_target(qs, mask)
        labels = self._labels(qs, p)
        embedding = torch.cat(self._codes(inputs), dim=1)
        return Prediction(
            labels=labels.cpu().numpy(), soft=p.cpu().numpy(), embedding=embedding.cpu().numpy()
        )

    def summary(self) -> dict[str, Any]:
        return {
            "cluster_iterations": int(self.state["iteration"]),
            "stopped_at_iteration": self.state.get("stopped_at_iteration"),
            "last_label_change": self.state.get("label_change"),
        }


class DEC(DeepEmbeddedClustering):
    """DEC (Xie et al. 2016) on the concatenated views; absent views are imputed with their training mean."""

    config_class = DECConfig
    config: DECConfig
    schedules = schedules(
        test="method.encoder_layers=[16,4] method.pretrain_epochs=2 method.max_iter=40 method.update_interval=10 method.kmeans_n_init=2",
        # quick: 5 target refreshes (the clustering phase of `mmc-bench auto` at budget quick).
        quick="method.pretrain_epochs=20 method.max_iter=700",
        bench="method.pretrain_epochs=6 method.max_iter=560 method.tol=0 method.kmeans_n_init=3",
        scaling="method.pretrain_epochs=2 method.max_iter=420 method.tol=0 method.kmeans_n_init=1",
    )

    def _fit_inputs(self, data: MultiViewDataset) -> None:
        self._view_means = present_means(data)

    def _inputs(self, data: MultiViewDataset) -> tuple[list[torch.Tensor], torch.Tensor]:
        x = torch.from_numpy(concatenate_imputed(data, self._view_means)).to(self.device_)
        return [x], torch.ones(data.n_samples, 1, dtype=torch.bool, device=self.device_)

    def _labels(self, qs: list[torch.Tensor], p: torch.Tensor) -> torch.Tensor:
        return qs[0].argmax(dim=1)  # DEC predicts from q, as its reference implementation does
