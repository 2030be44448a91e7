"""DMIM: deep mutual information maximin with a shared encoder and over-clustering (AAAI 2021).

Every view is PCA'd to a common dimension and passed through one shared network: a trunk, a Gaussian
head (only for the superfluous-information term), a cluster head C and an over-clustering head C'. Loss:
IIC mutual information between the views' assignments for both heads, the superfluous-information
elimination term, and a uniform-prior term on Sinkhorn-Knopp pseudo-labels. Section 2 of the method
notes; defaults follow the official demo, the paper's variants are options.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.decomposition import PCA
from torch import nn
from torch.distributions import Normal, kl_divergence

from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.errors import UserError
from mmc_bench.methods.base import ClusteringMethod, Prediction, schedules
from mmc_bench.methods.schemas.dmim import DMIMConfig, KLMode, PredictFrom, PriorTarget
from mmc_bench.nn.information import iic_loss, sinkhorn_labels
from mmc_bench.nn.losses import WeightedLoss, over_view_pairs
from mmc_bench.nn.training import (
    adam,
    full_batches,
    means_of,
    rows_in_chunks,
)
from mmc_bench.run.engine import FitContext, Phase


class DMIMNetwork(nn.Module):
    """Shared trunk [Linear -> BN -> ReLU] x L, Gaussian head (mu, s), cluster head C, over-cluster head C'."""

    def __init__(self, cfg: DMIMConfig, n_clusters: int):
        super().__init__()
        layers: list[nn.Module] = []
        width = cfg.input_dim
        for out in cfg.trunk_layers:
            layers += [nn.Linear(width, out), nn.BatchNorm1d(out), nn.ReLU()]
            width = out
        self.trunk = nn.Sequential(*layers)
        self.gaussian = nn.Linear(width, 2 * cfg.latent_dim)
        self.cluster = nn.Linear(width, n_clusters)
        self.overcluster = (
            nn.Linear(width, cfg.overcluster_factor * n_clusters) if cfg.overcluster_factor else None
        )
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0.0, cfg.init_std)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # Both heads read the trunk output t, not the sampled z; the Gaussian head only feeds the SIE term.
        t = self.trunk(x)
        mu, s = self.gaussian(t).chunk(2, dim=1)
        out = {"mu": mu, "sigma": F.softplus(s) + 1e-7, "probs": torch.softmax(self.cluster(t), dim=1)}
        if self.overcluster is not None:
            out["over_probs"] = torch.softmax(self.overcluster(t), dim=1)
        return out


def _sie_softmax_sample(t: dict[str, Any]) -> torch.Tensor:
    """KL(softmax eps || softmax z_v) summed over views; z_v ~ N(mu, sigma) by reparameterisation, one eps per step."""
    total = torch.zeros(())
    target = torch.softmax(t["noise"], dim=1)
    for out in t["views"]:
        z = out["mu"] + out["sigma"] * torch.randn_like(out["mu"])
        # reduction="mean" as in the demo: divided by n * latent_dim, not by n
        total = total + F.kl_div(torch.log_softmax(z, dim=1), target, reduction="none").mean()
    return total


def _sie_gaussian(t: dict[str, Any]) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) per sample, summed over dims, averaged over samples, summed over views."""
    total = torch.zeros(())
    for out in t["views"]:
        posterior = Normal(out["mu"], out["sigma"])
        prior = Normal(torch.zeros_like(out["mu"]), torch.ones_like(out["sigma"]))
        total = total + kl_divergence(posterior, prior).sum(dim=1).mean()
    return total


def _uniform_prior_term(t: dict[str, Any], target: PriorTarget) -> torch.Tensor:
    probs = t["views"][0]["probs"]
    if target == PriorTarget.probs:
        return F.cross_entropy(probs, t["pseudo_labels"])
    return F.nll_loss(probs.clamp_min(1e-12).log(), t["pseudo_labels"])


def _mi_pair(a: dict[str, Any], b: dict[str, Any], head: str) -> torch.Tensor:
    return iic_loss(a[head], b[head])


def dmim_loss(cfg: DMIMConfig) -> WeightedLoss:
    sie = _sie_softmax_sample if cfg.kl_mode == KLMode.softmax_sample else _sie_gaussian
    return WeightedLoss(
        {
            # IIC's negative mutual information between every pair of views, for each head
            "mi_cluster": (over_view_pairs(partial(_mi_pair, head="probs")), 1.0),
            "mi_overcluster": (
                over_view_pairs(partial(_mi_pair, head="over_probs")),
                1.0 if cfg.overcluster_factor else 0.0,
            ),
            "sie": (sie, cfg.sie_weight if cfg.sie else 0.0),
            "prior": (
                partial(_uniform_prior_term, target=cfg.prior_target),
                cfg.prior_weight if cfg.uniform_prior else 0.0,
            ),
        }
    )


class DMIM(ClusteringMethod):
    """DMIM (AAAI 2021): one shared encoder over PCA'd views, IIC mutual information, SIE, Sinkhorn prior."""

    config_class = DMIMConfig
    config: DMIMConfig
    schedules = schedules(
        test="method.epochs=5", quick="method.epochs=100", bench="method.epochs=30", scaling="method.epochs=2"
    )
    checkpointed = ("net", "optimizer", "step", "pseudo_labels")
    diagnostics = ("clusters_used",)
    compiled_steps = ("_loss_terms",)

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        if data.n_views < 2:
            raise UserError(
                f"DMIM needs at least 2 views (its mutual information is between views); dataset {data.name} "
                "has 1: choose a multi-view dataset (single-view baselines: method=kmeans_view, method=dec)"
            )
        self._fit_projections(data, ctx.seed)
        self.views = [self._project(data, v) for v in range(data.n_views)]
        self.net = DMIMNetwork(self.config, data.n_clusters).to(ctx.device)
        self.loss = dmim_loss(self.config)
        self.optimizer = adam(self.net.parameters(), lr=self.config.lr)
        self.pseudo_labels = torch.zeros(data.n_samples, dtype=torch.long, device=ctx.device)
        self.step = 0
        cfg, n = self.config, data.n_samples  # batch_size 0: one full batch, unless n > full_batch_limit
        self.step_batch_size = min(
            cfg.batch_size or (cfg.large_data_batch_size if n > cfg.full_batch_limit else n), n
        )
        batches = dict(n_samples=n, batch_size=self.step_batch_size, optimizer=self.optimizer)
        return [Phase("train", self.config.epochs, step=self._step, **batches)]

    def final_loss(self) -> dict[str, float]:
        terms = self._evaluate_loss(self.views)
        self.views = None  # the training projections (n x dims per view) are not needed any more
        return terms

    def _fit_projections(self, data: MultiViewDataset, seed: int) -> None:
        dims = [min(self.config.input_dim, d, data.n_samples) for d in data.view_dims]
        self.projections = [PCA(k, random_state=seed).fit(data.dense_view(v)) for v, k in enumerate(dims)]

    def _project(self, data: MultiViewDataset, view: int) -> torch.Tensor:
        """One view through its PCA (n x its component count; zero-padded to input_dim batch by batch, so
        that a view with fewer dims never holds an n x input_dim copy)."""
        projected = self.projections[view].transform(data.dense_view(view))
        return torch.from_numpy(projected.astype(np.float32, copy=False)).to(self.device_)

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (0, self.config.input_dim - x.shape[1]))

    def _step(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One batch: refresh the full-batch pseudo-labels when due, then the loss terms in train mode."""
        per_batch_labels = self.step_batch_size < len(self.views[0])
        due = self.step % self.config.sinkhorn_every == 0
        if self.config.uniform_prior and not per_batch_labels and due:
            self._refresh_pseudo_labels(self._padded(self.views[0]))
        self.net.train()
        batch = [self._padded(v[index]) for v in self.views]
        outputs, total, terms = self._loss_terms(batch, index, per_batch_labels)
        self.step += 1
        used = torch.tensor(float(outputs[0]["probs"].argmax(dim=1).unique().numel()))
        return total, {**terms, "clusters_used": used}

    def _loss_terms(self, batch: list[torch.Tensor], index: torch.Tensor, per_batch_labels: bool) -> tuple:
        """(network outputs, total, terms) of one batch: its noise draw and its pseudo-labels."""
        outputs = [self.net(x) for x in batch]
        noise = torch.randn(len(index), self.config.latent_dim, device=self.device_)
        labels = self._batch_labels(outputs[0]) if per_batch_labels else self.pseudo_labels[index]
        total, terms = self.loss({"views": outputs, "noise": noise, "pseudo_labels": labels})
        return outputs, total, terms

    @torch.no_grad()
    def _refresh_pseudo_labels(self, first_view: torch.Tensor) -> None:
        """Balanced labels from C(x_1) on all training samples, in train-mode BN as the demo computes them."""
        self.net.train()
        self.pseudo_labels = self._sinkhorn(self.net(first_view)["probs"])

    def _batch_labels(self, first_view_output: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mini-batch mode: balanced labels from this batch's own C(x_1) (what a train-mode no-grad pass gives)."""
        if not self.config.uniform_prior:
            return torch.zeros(len(first_view_output["probs"]), dtype=torch.long, device=self.device_)
        return self._sinkhorn(first_view_output["probs"].detach())

    def _sinkhorn(self, probs: torch.Tensor) -> torch.Tensor:
        return sinkhorn_labels(
            probs, self.config.sinkhorn_power, self.config.sinkhorn_max_iter, self.config.sinkhorn_tol
        )

    @torch.no_grad()
    def _evaluate_loss(self, views: list[torch.Tensor]) -> dict[str, float]:
        """Every term on the training data in eval mode (the engine reseeds the noise generator first): one
        full batch as in training, or in mini-batch mode the mean over full batches of the training size
        (the mutual-information terms are batch-level, so a short remainder batch would be noisier)."""
        self.net.eval()
        n = len(views[0])
        per_batch_labels = self.step_batch_size < n
        batches = [index.to(self.device_) for index in full_batches(n, self.step_batch_size)]
        steps = (self._loss_terms([self._padded(x[i]) for x in views], i, per_batch_labels) for i in batches)
        return means_of({"total": total, **terms} for _, total, terms in steps)

    @torch.no_grad()
    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        self.net.eval()
        first_only = self.config.predict_from == PredictFrom.first_view
        probs, embedding = [], None
        for v in range(1 if first_only else data.n_views):  # one projected view in memory at a time
            x = self._project(data, v)
            assign = lambda i, x=x: self.net(self._padded(x[i]))["probs"]  # noqa: E731
            probs.append(rows_in_chunks(len(x), self.eval_chunk, assign, self.device_))
            embedding = self._padded(x).cpu().numpy() if v == 0 else embedding
        soft = (probs[0] if first_only else torch.stack(probs).mean(dim=0)).cpu().numpy()
        return Prediction(labels=soft.argmax(axis=1), soft=soft, embedding=embedding)
