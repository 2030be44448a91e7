"""SiMVC and CoMVC (Trosten, Løkse, Jenssen & Kampffmeyer, "Reconsidering Representation Alignment for
Multi-view Clustering", CVPR 2021).

SiMVC: one encoder per view, a weighted mean of the views' representations with learned softmax weights,
and the DDC clustering module trained with DDC's three terms. CoMVC adds a contrastive alignment of the
views' representations whose negatives are drawn from other predicted clusters, scaled by the smallest
fusion weight. Defaults follow the authors' code (DanielTrosten/mvc): Adam 1e-3 (no effective gradient clip), batch 100,
100 epochs, the evaluated state with the lowest DDC term 1 kept.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.errors import UserError
from mmc_bench.methods.base import ClusteringMethod, Prediction, keeps_embedding, schedules
from mmc_bench.methods.schemas.simvc import (
    Checkpoint,
    CoMVCConfig,
    EncoderKind,
    Fusion,
    SelectionTerm,
    SiMVCConfig,
)
from mmc_bench.nn.blocks import he_init, mlp
from mmc_bench.nn.contrastive import nt_xent
from mmc_bench.nn.kernels import ddc_terms, gaussian_kernel
from mmc_bench.nn.losses import WeightedLoss
from mmc_bench.nn.training import adam, epoch_batches, full_batches, means_of, optimizer_step, rows_in_chunks
from mmc_bench.run.engine import FitContext, Phase


class ImageEncoder(nn.Module):
    """The reference code's image backbone: conv5-32 ReLU, conv5-32, BN, ReLU, pool 2, conv3-32 ReLU,
    conv3-32, BN, ReLU, pool 2, flattened."""

    def __init__(self, image_shape: list[int]):
        super().__init__()
        channels, height, width = image_shape
        self.image_shape = tuple(image_shape)
        layers: list[nn.Module] = []
        for kernel, in_channels in ((5, channels), (3, 32)):
            layers += [nn.Conv2d(in_channels, 32, kernel), nn.ReLU(), nn.Conv2d(32, 32, kernel)]
            layers += [nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            self.out_dim = self.features(torch.zeros(2, channels, height, width)).shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x.view(-1, *self.image_shape))


class SiMVCNetwork(nn.Module):
    def __init__(self, cfg: SiMVCConfig, view_dims: list[int], n_clusters: int):
        super().__init__()
        self.encoders = nn.ModuleList([_encoder(cfg, d) for d in view_dims])
        dim = _out_dim(self.encoders[0])
        n_views = len(view_dims)
        # Softmax of equal logits: 1/V each at the start, as in the reference code.
        self.fusion_logits = nn.Parameter(
            torch.full((n_views,), 1.0 / n_views), requires_grad=cfg.fusion == Fusion.weighted_mean
        )
        self.cluster_hidden = nn.Sequential(
            nn.Linear(dim, cfg.cluster_hidden), nn.ReLU(), nn.BatchNorm1d(cfg.cluster_hidden)
        )
        self.cluster_output = nn.Linear(cfg.cluster_hidden, n_clusters)
        projector = list(getattr(cfg, "projector_layers", []))
        self.projector = mlp(dim, projector) if projector else nn.Identity()
        he_init(self)

    def view_weights(self) -> torch.Tensor:
        return torch.softmax(self.fusion_logits, dim=0)

    def forward(self, views: list[torch.Tensor]) -> dict[str, Any]:
        hidden = [encoder(x) for encoder, x in zip(self.encoders, views)]
        weights = self.view_weights()
        fused = (torch.stack(hidden, dim=-1) * weights).sum(dim=-1)
        cluster_hidden = self.cluster_hidden(fused)
        assignments = torch.softmax(self.cluster_output(cluster_hidden), dim=1)
        return dict(
            hidden=hidden,
            weights=weights,
            fused=fused,
            cluster_hidden=cluster_hidden,
            assignments=assignments,
        )


def _encoder(cfg: SiMVCConfig, in_dim: int) -> nn.Module:
    if cfg.encoder == EncoderKind.conv:
        if cfg.image_shape is None or int(np.prod(cfg.image_shape)) != in_dim:
            raise UserError(
                f"method.encoder=conv needs method.image_shape=[C,H,W] with C*H*W equal to the view dim {in_dim}"
            )
        return ImageEncoder(list(cfg.image_shape))
    return mlp(in_dim, list(cfg.encoder_layers), activation="relu")


def _out_dim(encoder: nn.Module) -> int:
    return encoder.out_dim if isinstance(encoder, ImageEncoder) else encoder[-2].out_features


def positive_pairs(n_views: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(anchor, positive) row indices into the V*n stacked representations: sample i of view v against
    sample i of every other view w, both directions: V(V-1)n pairs."""
    anchors, partners = [], []
    for v in range(n_views):
        for w in range(n_views):
            if v != w:
                anchors.append(torch.arange(v * n, (v + 1) * n))
                partners.append(torch.arange(w * n, (w + 1) * n))
    return torch.cat(anchors), torch.cat(partners)


def cluster_contrastive(
    hidden: list[torch.Tensor], predicted: torch.Tensor, tau: float, negative_ratio: float
) -> torch.Tensor:
    """CoMVC's contrastive term before its weights: mean over the V(V-1)n (anchor, positive) pairs of
    -log( exp(s_pos/tau) / (exp(s_pos/tau) + sum_neg exp(s_neg/tau)) ), s the cosine similarity.

    Negatives of an anchor: ``negative_ratio`` * V * n rows drawn with replacement (torch's generator) among
    the stacked rows whose predicted cluster differs from the anchor's (``predicted``: the batch's fused
    cluster of each sample). A batch whose samples all fall in one predicted cluster has no negatives: the
    term is 0 there (the reference code's sampler raises and ends the run).
    negative_ratio = -1 (two views): every other row is a negative, the SimCLR form, summed over the two
    views' directions as the reference code does (2 x NT-Xent).
    """
    if negative_ratio == -1:
        return 2.0 * nt_xent(hidden[0], hidden[1], tau, cosine=True)
    n, n_views = hidden[0].shape[0], len(hidden)
    rows = F.normalize(torch.cat(hidden), dim=1)
    logits = rows @ rows.T / tau
    anchors, partners = (i.to(rows.device) for i in positive_pairs(n_views, n))
    cluster = predicted.repeat(n_views)
    allowed = (cluster[anchors, None] != cluster[None, :]).float()
    if not bool(allowed.any()):
        return logits.new_zeros(())
    drawn = torch.multinomial(allowed, int(negative_ratio * n_views * n), replacement=True)
    scores = torch.cat([logits[anchors, partners][:, None], logits[anchors[:, None], drawn]], dim=1)
    return F.cross_entropy(scores, scores.new_zeros(len(scores), dtype=torch.long))


def _contrast(t: dict[str, Any]) -> torch.Tensor:
    cfg: CoMVCConfig = t["config"]
    predicted = t["assignments"].detach().argmax(dim=1)
    hidden = [t["projector"](h) for h in t["hidden"]]
    value = cluster_contrastive(hidden, predicted, cfg.tau, cfg.negative_ratio)
    return value * t["weights"].detach().min() if cfg.adaptive_weight else value


def ddc_loss(contrastive_weight: float = 0.0) -> WeightedLoss:
    terms = {name: (term, 1.0) for name, term in ddc_terms(sample_level=True).items()}
    return WeightedLoss({**terms, "contrast": (_contrast, contrastive_weight)})


class SiMVC(ClusteringMethod):
    """SiMVC (Trosten et al., CVPR 2021): view encoders, weighted-mean fusion with learned weights, DDC."""

    config_class = SiMVCConfig
    config: SiMVCConfig
    schedules = schedules(
        test="method.epochs=3 method.encoder_layers=[16] method.eval_interval=1",
        quick="method.epochs=30",
        bench="method.epochs=10",
        scaling="method.epochs=2",
    )
    checkpointed = ("net", "optimizer", "best")
    view_weight_prefix = "w_view"
    compiled_steps = ("_terms",)

    def _loss(self, n_views: int) -> WeightedLoss:
        return ddc_loss()

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        cfg = self.config
        self.net = SiMVCNetwork(cfg, data.view_dims, data.n_clusters).to(ctx.device)
        self.loss = self._loss(data.n_views)
        self.views = data.view_tensors(ctx.device)
        self.optimizer = adam(self.net.parameters(), lr=cfg.lr)
        # (lowest evaluated selection term, its weights, its epoch) for checkpoint=lowest_loss
        self.best: tuple[float, dict | None, int | None] = (float("inf"), None, None)
        self.order, self.record = ctx.order, ctx.record
        return [Phase("train", cfg.epochs, self._epoch)]

    def _learning_rate(self, epoch: int) -> float:
        cfg = self.config
        return cfg.lr * cfg.lr_gamma ** (epoch // cfg.lr_step) if cfg.lr_step else cfg.lr

    def _epoch(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        cfg = self.config
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate(epoch)
        self.net.train()
        for index in epoch_batches(len(self.views[0]), cfg.batch_size, self.order, True, self.device_):
            total, terms, weights = self._terms([v[index] for v in self.views])
            clip = (self.net.parameters(), cfg.clip_norm) if cfg.clip_norm else None
            optimizer_step(self.optimizer, total, clip=clip)
            yield {"total": total, **terms, **{f"w_view{v}": w for v, w in enumerate(weights.detach())}}
        if (epoch + 1) % cfg.eval_interval == 0 or epoch == cfg.epochs - 1:
            evaluated = self.evaluate_loss(self.views)
            self.record("eval", epoch, evaluated)
            if cfg.checkpoint == Checkpoint.lowest_loss and evaluated["selection"] < self.best[0]:
                self.best = (evaluated["selection"], copy.deepcopy(self.net.state_dict()), epoch)

    def _shared(self, out: dict[str, Any]) -> dict[str, Any]:
        kernel = gaussian_kernel(out["cluster_hidden"], self.config.rel_sigma)
        return {**out, "kernel": kernel, "config": self.config, "projector": self.net.projector}

    def _terms(self, batch: list[torch.Tensor]) -> tuple[torch.Tensor, dict, torch.Tensor]:
        out = self.net(batch)
        return (*self.loss(self._shared(out)), out["weights"])

    def final_loss(self) -> dict[str, float]:
        """The evaluated terms of the kept state; 'total' is the selection term (by default DDC term 1, which
        the reference code's lowest-loss run selection reads)."""
        if self.best[1] is not None:
            self.net.load_state_dict(self.best[1])
        evaluated = self.evaluate_loss(self.views)
        return {"total": evaluated.pop("selection"), **evaluated}

    @torch.no_grad()
    def evaluate_loss(self, views: list[torch.Tensor]) -> dict[str, float]:
        """The DDC terms on the full data in eval mode, in fixed full batches (the kernel terms are batch-level);
        the contrastive term is left out of the sum, as in the reference code's evaluation."""
        self.net.eval()
        return means_of(self._evaluation_steps(views))

    def _evaluation_steps(self, views: list[torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        for index in full_batches(len(views[0]), self.config.eval_batch_size):
            terms = ddc_loss()(self._shared(self.net([v[index.to(self.device_)] for v in views])))[1]
            ddc_sum = sum(terms.values())
            chosen = terms["ddc1"] if self.config.selection_term == SelectionTerm.ddc1 else ddc_sum
            yield {"selection": chosen, "ddc_total": ddc_sum, **terms}

    @torch.no_grad()
    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        self.net.eval()
        views = data.view_tensors(self.device_)
        dim = self.net.cluster_hidden[0].in_features
        keys = ("assignments", "fused") if keeps_embedding(data.n_samples, dim) else ("assignments",)

        def chunk(index: torch.Tensor) -> dict[str, torch.Tensor]:
            out = self.net([v[index] for v in views])
            return {key: out[key] for key in keys}

        rows = rows_in_chunks(data.n_samples, self.eval_chunk, chunk, self.device_)
        soft = rows["assignments"].cpu().numpy()
        embedding = rows["fused"].cpu().numpy() if "fused" in rows else None
        return Prediction(labels=soft.argmax(axis=1), soft=soft, embedding=embedding)

    def summary(self) -> dict[str, Any]:
        return {
            "view_weights": self.net.view_weights().detach().cpu().tolist(),
            "selected_epoch": self.best[2],
        }


class CoMVC(SiMVC):
    """CoMVC (Trosten et al., CVPR 2021): SiMVC plus a contrastive alignment of the views' representations,
    negatives from other predicted clusters, weighted by the smallest fusion weight."""

    config_class = CoMVCConfig
    config: CoMVCConfig

    def _loss(self, n_views: int) -> WeightedLoss:
        cfg = self.config
        if n_views < 2:
            raise UserError(
                f"CoMVC aligns views, but this dataset has {n_views}; choose a multi-view dataset or method=simvc"
            )
        if cfg.negative_ratio == -1 and n_views != 2:
            raise UserError(
                f"method.negative_ratio=-1 (every sample a negative) needs 2 views, the data has {n_views}; "
                "set method.negative_ratio=0.25 or choose two views with dataset.views=[i,j]"
            )
        if not (cfg.negative_ratio == -1 or cfg.negative_ratio > 0):
            raise UserError(f"method.negative_ratio={cfg.negative_ratio} must be -1 (all pairs) or above 0")
        return ddc_loss(cfg.delta)
