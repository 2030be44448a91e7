"""CMMC: contrastive multi-modal clustering (Xu, Tang, Ren et al.; reference code MFLVC).

Per-view autoencoders; a feature head F and a label head L shared across views. Three phases: autoencoder
pre-training (MSE), multi-view contrastive learning (NT-Xent on features for every view pair, NT-Xent on
cluster columns plus a cluster-balance term, and the MSE), then fine-tuning on k-means pseudo-labels that
are Hungarian-matched to the current predictions at every step. Defaults
follow the reference code (single linear heads, per-view pseudo-labels, cross-entropy on probabilities).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.preprocessing import MinMaxScaler
from torch import nn

from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.errors import UserError
from mmc_bench.methods.base import ClusteringMethod, Prediction, keeps_embedding, schedules
from mmc_bench.methods.schemas.cmmc import CMMCConfig, CrossEntropyOn, HeadDepth, PseudoLabel
from mmc_bench.nn.blocks import Autoencoder, mlp
from mmc_bench.nn.contrastive import negative_entropy, nt_xent
from mmc_bench.nn.kmeans import fit_kmeans
from mmc_bench.nn.losses import WeightedLoss, over_view_pairs
from mmc_bench.nn.matching import align_to
from mmc_bench.nn.training import (
    accumulated_step,
    adam,
    epoch_batches,
    optimizer_step,
    rows_in_chunks,
    sequential_batches,
)
from mmc_bench.run.engine import FitContext, Phase


class CMMCNetwork(nn.Module):
    """One autoencoder per view; feature head F (L2-normalised output) and label head L (softmax) shared."""

    def __init__(self, cfg: CMMCConfig, view_dims: list[int], n_clusters: int):
        super().__init__()
        latent = cfg.encoder_layers[-1]
        self.autoencoders = nn.ModuleList([Autoencoder(d, cfg.encoder_layers) for d in view_dims])
        hidden = [] if cfg.head_depth == HeadDepth.linear else [latent]
        self.feature_head = mlp(latent, [*hidden, cfg.feature_dim], last_activation=False)
        self.label_head = mlp(latent, [*hidden, n_clusters], last_activation=False)

    def forward(self, views: list[torch.Tensor], decode: bool = True) -> list[dict[str, torch.Tensor]]:
        return [self.view_forward(v, x, decode) for v, x in enumerate(views)]

    def view_forward(self, view: int, x: torch.Tensor, decode: bool = True) -> dict[str, torch.Tensor]:
        """The input, its reconstruction (only with ``decode``: fine-tuning and feature passes never read it,
        and the decoders are a quarter of a fine-tuning step's FLOPs), features h and assignments q."""
        autoencoder = self.autoencoders[view]
        z = autoencoder.encoder(x)
        out = {
            "x": x,
            "h": F.normalize(self.feature_head(z), dim=1),
            "q": torch.softmax(self.label_head(z), dim=1),
        }
        if decode:
            out["recon"] = autoencoder.decoder(z)
        return out


def _reconstruction(t: dict[str, Any]) -> torch.Tensor:
    return sum(F.mse_loss(out["recon"], out["x"]) for out in t["views"])


def _feature_pair(a: dict[str, Any], b: dict[str, Any], tau: float) -> torch.Tensor:
    return nt_xent(a["h"], b["h"], tau)


def _label_pair(a: dict[str, Any], b: dict[str, Any], tau: float) -> torch.Tensor:
    return nt_xent(a["q"].T, b["q"].T, tau, cosine=True)


def _balance_pair(a: dict[str, Any], b: dict[str, Any]) -> torch.Tensor:
    return negative_entropy(a["q"]) + negative_entropy(b["q"])


def contrastive_loss(cfg: CMMCConfig) -> WeightedLoss:
    return WeightedLoss(
        {
            "feature_contrastive": (
                over_view_pairs(partial(_feature_pair, tau=cfg.tau_feature)),
                1.0,
            ),
            "label_contrastive": (
                over_view_pairs(partial(_label_pair, tau=cfg.tau_label)),
                1.0,
            ),
            # MFLVC adds both views' term once per pair, so a view counts (M - 1) times.
            "cluster_balance": (
                over_view_pairs(_balance_pair),
                cfg.balance_weight,
            ),
            "mse": (_reconstruction, 1.0),
        }
    )


def pretrain_loss() -> WeightedLoss:
    return WeightedLoss({"mse": (_reconstruction, 1.0)})


def finetune_loss(ce_on: CrossEntropyOn) -> WeightedLoss:
    def pseudo_ce(t: dict[str, Any]) -> torch.Tensor:
        total = torch.zeros(())
        for out, target in zip(t["views"], t["targets"]):
            q = out["q"]
            logits = q if ce_on == CrossEntropyOn.probs else q.clamp_min(1e-12).log()
            total = total + F.cross_entropy(logits, target)
        return total

    return WeightedLoss({"pseudo_ce": (pseudo_ce, 1.0)})


class CMMC(ClusteringMethod):
    """CMMC (MFLVC code): view autoencoders, feature and label contrastive heads, pseudo-label fine-tuning."""

    config_class = CMMCConfig
    config: CMMCConfig
    schedules = schedules(
        test="method.encoder_layers=[16,8] method.pretrain_epochs=2 method.contrastive_epochs=2 method.finetune_epochs=2 method.kmeans_n_init=2",
        quick="method.pretrain_epochs=20 method.contrastive_epochs=5 method.finetune_epochs=10",
        bench="method.pretrain_epochs=6 method.contrastive_epochs=6 method.finetune_epochs=6 method.kmeans_n_init=3",
        scaling="method.pretrain_epochs=2 method.contrastive_epochs=2 method.finetune_epochs=2 method.kmeans_n_init=1",
    )
    checkpointed = ("net", "optimizer", "pseudo_labels")
    # Fine-tuning is left eager: it matches pseudo-labels on the host between the forward pass and the loss.
    compiled_steps = ("_minibatch_terms",)  # one graph per phase

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        cfg = self.config
        if data.n_views < 2:
            raise UserError(
                f"CMMC needs at least 2 views; dataset {data.name} has {data.n_views}: choose a multi-view "
                "dataset (single-view baselines: method=kmeans_view, method=dec)"
            )
        self.net = CMMCNetwork(cfg, data.view_dims, data.n_clusters).to(ctx.device)
        self.views = data.view_tensors(ctx.device)
        self.optimizer = adam(self.net.parameters(), lr=cfg.lr)
        self.order, self.seed = ctx.order, ctx.seed
        self.pseudo_labels: list[np.ndarray] | None = None
        self.losses = {"pretrain": pretrain_loss(), "contrastive": contrastive_loss(cfg)}
        batches = dict(n_samples=len(self.views[0]), batch_size=cfg.batch_size, optimizer=self.optimizer)
        return [
            Phase("pretrain", cfg.pretrain_epochs, step=self._step("pretrain"), train=self.net, **batches),
            Phase(
                "contrastive",
                cfg.contrastive_epochs,
                step=self._step("contrastive"),
                train=self.net,
                **batches,
            ),
            Phase("finetune", cfg.finetune_epochs, self._finetune_epoch, start=self._make_pseudo_labels),
        ]

    def _minibatch_terms(self, phase: str, batch: list[torch.Tensor]) -> tuple[torch.Tensor, dict]:
        return self.losses[phase]({"views": self.net(batch)})

    def _step(self, phase: str):
        """One minibatch of pre-training or contrastive learning (the engine runs the loop)."""
        return lambda index: self._minibatch_terms(phase, [v[index] for v in self.views])

    def _finetune_epoch(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        views, optimizer = self.views, self.optimizer
        self.net.train()
        loss = finetune_loss(self.config.ce_on)
        n = len(views[0])
        batch_size = self.config.finetune_batch_size or n
        pseudo = [torch.from_numpy(p) for p in self.pseudo_labels]
        if batch_size >= n > self.config.finetune_chunk:
            return self._chunked_full_batch_step(views, pseudo, loss, optimizer)
        batches = [torch.arange(n)] if batch_size >= n else epoch_batches(n, batch_size, self.order)
        for index in batches:
            out = self.net([v[index.to(self.device_)] for v in views], decode=False)
            targets = [self._matched(p[index], o["q"]) for p, o in zip(pseudo, out)]
            total, terms = loss({"views": out, "targets": targets})
            optimizer_step(optimizer, total)
            yield {"total": total, **terms}

    def _chunked_full_batch_step(
        self, views, pseudo: list[torch.Tensor], loss: WeightedLoss, optimizer
    ) -> dict[str, float]:
        """The full-batch step, computed chunk by chunk so that memory does not grow with n.

        Pseudo-labels are matched against the predictions of the whole data (a no-grad pass; the network has
        no dropout or batch norm, so they equal the training-mode ones), then each chunk's mean loss, scaled by
        its share of n, adds its gradient: the sum is the full-batch gradient.
        """
        predicted = [f["q"] for f in self._features(views, ("q",))]
        self.net.train()
        perms = [self._permutation(q, p) for q, p in zip(predicted, pseudo)]

        def chunk_loss(index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            out = self.net([v[index.to(self.device_)] for v in views], decode=False)
            return loss(
                {"views": out, "targets": [perm[p[index]].to(self.device_) for perm, p in zip(perms, pseudo)]}
            )

        chunks = sequential_batches(len(views[0]), self.config.finetune_chunk)
        return accumulated_step(optimizer, len(views[0]), chunks, chunk_loss)

    def _permutation(self, q: torch.Tensor, pseudo: torch.Tensor) -> torch.Tensor:
        """Cluster renaming that maps pseudo-labels onto the predictions of ``q`` (Hungarian, on features)."""
        predicted = q.detach().argmax(dim=1).cpu().numpy()
        return torch.from_numpy(align_to(predicted, pseudo.numpy(), self.n_clusters))

    def _matched(self, pseudo: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Pseudo-labels renamed to the current prediction's cluster indices (re-matched at every step)."""
        return self._permutation(q, pseudo)[pseudo].to(self.device_)

    @torch.no_grad()
    def _features(
        self, views: list[torch.Tensor], keys: tuple[str, ...] = ("h", "q")
    ) -> list[dict[str, torch.Tensor]]:
        """``keys`` of the network's output (features h, assignments q) for every sample per view, in eval mode
        and in chunks; the decoders are not run, since nothing here reads a reconstruction."""
        self.net.eval()

        def chunk(i: torch.Tensor) -> list[dict[str, torch.Tensor]]:
            return [{key: out[key] for key in keys} for out in self.net([v[i] for v in views], decode=False)]

        return rows_in_chunks(len(views[0]), self.eval_chunk, chunk, self.device_)

    @torch.no_grad()
    def _view_features(self, view: int, x: torch.Tensor) -> np.ndarray:
        self.net.eval()
        features = lambda i: self.net.view_forward(view, x[i], decode=False)["h"]  # noqa: E731
        return rows_in_chunks(len(x), self.eval_chunk, features, self.device_).cpu().numpy()

    def _make_pseudo_labels(self) -> None:
        """k-means on the learned features only (never on labels); fixed for the whole fine-tuning phase."""
        cfg, views = self.config, self.views

        def kmeans(x: np.ndarray) -> np.ndarray:
            return fit_kmeans(x, self.n_clusters, cfg.kmeans_n_init, self.seed).labels_.astype(np.int64)

        if cfg.pseudo_label == PseudoLabel.per_view:
            # One view's features at a time, scaled in place: at 1e6 samples each view's take 0.5 GB.
            self.pseudo_labels = [
                kmeans(MinMaxScaler(copy=False).fit_transform(self._view_features(v, x)))
                for v, x in enumerate(views)
            ]
        else:
            shared = kmeans(np.hstack([self._view_features(v, x) for v, x in enumerate(views)]))
            self.pseudo_labels = [shared] * len(views)

    @torch.no_grad()
    def final_loss(self) -> dict[str, float] | None:
        """The last phase's objective on the full training data in eval mode (for the best-loss protocol);
        without fine-tuning, the last epoch's means."""
        if self.pseudo_labels is None:
            return None
        views = self.views
        loss = finetune_loss(self.config.ce_on)
        features = self._features(views, ("q",))
        targets = [self._matched(torch.from_numpy(p), f["q"]) for p, f in zip(self.pseudo_labels, features)]
        total, terms = loss({"views": features, "targets": targets})
        return {"total": float(total), **{k: float(v) for k, v in terms.items()}}

    @torch.no_grad()
    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        embed = keeps_embedding(data.n_samples, data.n_views * self.config.feature_dim)
        features = self._features(data.view_tensors(self.device_), ("h", "q") if embed else ("q",))
        soft = torch.stack([f["q"] for f in features]).mean(dim=0).cpu().numpy()
        embedding = torch.cat([f["h"] for f in features], dim=1).cpu().numpy() if embed else None
        return Prediction(labels=soft.argmax(axis=1), soft=soft, embedding=embedding)
