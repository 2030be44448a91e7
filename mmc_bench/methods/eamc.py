"""EAMC: end-to-end adversarial-attention multi-modal clustering (Zhou & Shen, CVPR 2020).

Per-view encoders; V-1 discriminators that tell view 1 ("real") from view v ("fake"); an attention
network that fuses the views with one weight per view per batch; a DDC clustering module trained with
the Cauchy-Schwarz terms. Generator and discriminator steps alternate over batches.
Defaults follow the authors-derived reference code, paper values are selectable.
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
from mmc_bench.methods.schemas.eamc import Checkpoint, DiscriminatorLoss, EAMCConfig, EncoderKind, KernelInput
from mmc_bench.nn.blocks import ConvEncoder, he_init, mlp
from mmc_bench.nn.kernels import ddc_terms, gaussian_kernel
from mmc_bench.nn.losses import SaturatingBCE, WeightedLoss
from mmc_bench.nn.training import (
    adam,
    epoch_batches,
    full_batches,
    means_of,
    optimizer_step,
    rows_in_chunks,
    sequential_batches,
)
from mmc_bench.run.engine import FitContext, Phase


class AttentionFusion(nn.Module):
    """concat(h) -> FC layers without activations -> softmax(sigmoid(.)/tau); one weight per view, batch mean."""

    def __init__(self, n_views: int, dim: int, layers: list[int], tau: float):
        super().__init__()
        self.net = mlp(n_views * dim, [*layers, n_views], activation="none", last_activation=False)
        self.tau = tau

    def forward(self, hidden: list[torch.Tensor]) -> torch.Tensor:
        scores = torch.sigmoid(self.net(torch.cat(hidden, dim=1))) / self.tau
        return torch.softmax(scores, dim=1).mean(dim=0)


class EAMCNetwork(nn.Module):
    def __init__(self, cfg: EAMCConfig, view_dims: list[int], n_clusters: int):
        super().__init__()
        n_views = len(view_dims)
        out_dim = cfg.encoder_layers[-1]
        self.encoders = nn.ModuleList([self._encoder(cfg, d) for d in view_dims])
        self.attention = (
            AttentionFusion(n_views, out_dim, cfg.attention_layers, cfg.attention_tau)
            if cfg.attention
            else None
        )
        self.cluster_hidden = nn.Sequential(
            nn.Linear(out_dim, cfg.cluster_hidden), nn.ReLU(), nn.BatchNorm1d(cfg.cluster_hidden)
        )
        self.cluster_output = nn.Linear(cfg.cluster_hidden, n_clusters)
        # Discriminators end in a logit; method.discriminator_loss chooses how BCE reads it.
        self.discriminators = nn.ModuleList(
            [
                nn.Sequential(
                    mlp(out_dim, cfg.discriminator_layers, activation="leaky_relu"),
                    nn.Linear(cfg.discriminator_layers[-1], 1),
                )
                for _ in range(n_views - 1)
            ]
            if cfg.adversarial
            else []
        )
        self.n_views = n_views
        he_init(self)

    @staticmethod
    def _encoder(cfg: EAMCConfig, in_dim: int) -> nn.Module:
        if cfg.encoder == EncoderKind.conv:
            if cfg.image_shape is None or int(np.prod(cfg.image_shape)) != in_dim:
                raise UserError(
                    f"method.encoder=conv needs method.image_shape=[C,H,W] with C*H*W equal to the view dim {in_dim}"
                )
            return ConvEncoder(list(cfg.image_shape), cfg.encoder_layers[-1])
        return mlp(in_dim, list(cfg.encoder_layers), activation="relu")

    def view_weights(self, hidden: list[torch.Tensor]) -> torch.Tensor:
        if self.attention is None:
            return torch.full((self.n_views,), 1.0 / self.n_views, device=hidden[0].device)
        return self.attention(hidden)

    def forward(self, views: list[torch.Tensor], weights: torch.Tensor | None = None) -> dict[str, Any]:
        hidden = [encoder(x) for encoder, x in zip(self.encoders, views)]
        weights = self.view_weights(hidden) if weights is None else weights
        fused = sum(w * h for w, h in zip(weights, hidden))
        cluster_hidden = self.cluster_hidden(fused)
        assignments = torch.softmax(self.cluster_output(cluster_hidden), dim=1)
        out = dict(hidden=hidden, weights=weights, fused=fused, cluster_hidden=cluster_hidden)
        return {**out, "assignments": assignments}


def _kernel_alignment(t: dict[str, Any]) -> torch.Tensor:
    """att = || k(h_f) - sum_v w_v k(h_v) ||_F^2."""
    fused_kernel = gaussian_kernel(t["fused"], t["rel_sigma"])
    mixed = sum(w * gaussian_kernel(h, t["rel_sigma"]) for w, h in zip(t["weights"], t["hidden"]))
    return (fused_kernel - mixed).pow(2).sum()


def binary_cross_entropy(logits: torch.Tensor, target: float, form: DiscriminatorLoss) -> torch.Tensor:
    """BCE of a discriminator's logits against a constant target, in the configured numerical form."""
    targets = torch.full_like(logits, target)
    if form == DiscriminatorLoss.reference:
        return SaturatingBCE.apply(torch.sigmoid(logits), targets)
    return F.binary_cross_entropy_with_logits(logits, targets)


def _generator_term(t: dict[str, Any]) -> torch.Tensor:
    """sum_v BCE(D_v(h_v), 1): the encoders of views 2..V try to pass as view 1."""
    logits = [d(h) for d, h in zip(t["discriminators"], t["hidden"][1:])]
    return sum(binary_cross_entropy(z, 1.0, t["discriminator_loss"]) for z in logits)


def discriminator_loss(
    discriminators: nn.ModuleList, hidden: list[torch.Tensor], form: DiscriminatorLoss
) -> torch.Tensor:
    """sum_v [BCE(D_v(h_v), 0) + BCE(D_v(h_1), 1)] on detached representations."""
    real = hidden[0].detach()
    total = torch.zeros((), device=real.device)
    for d, h in zip(discriminators, hidden[1:]):
        total = total + binary_cross_entropy(d(h.detach()), 0.0, form)
        total = total + binary_cross_entropy(d(real), 1.0, form)
    return total


def generator_loss(cfg: EAMCConfig) -> WeightedLoss:
    """ddc1 + ddc2 + ddc3 + att + gamma * gen; a switched-off ablation term has weight 0 and is never computed."""
    ddc = ddc_terms(sample_level=False)
    return WeightedLoss(
        {
            "ddc1": (ddc["ddc1"], float(cfg.ddc1)),
            "ddc2": (ddc["ddc2"], float(cfg.ddc2)),
            "ddc3": (ddc["ddc3"], float(cfg.ddc3)),
            "att": (_kernel_alignment, float(cfg.attention)),
            "gen": (_generator_term, cfg.gamma if cfg.adversarial else 0.0),
        }
    )


class EAMC(ClusteringMethod):
    """EAMC (Zhou & Shen, CVPR 2020): attention-fused view encoders, adversarial view alignment, DDC clustering."""

    config_class = EAMCConfig
    config: EAMCConfig
    schedules = schedules(
        test="method.epochs=3 method.encoder_layers=[16]",
        quick="method.epochs=50",
        bench="method.epochs=10",
        scaling="method.epochs=2",
    )
    checkpointed = ("net", "gen_opt", "disc_opt", "best")
    view_weight_prefix = "w_view"
    compiled_steps = ("_generator_terms", "_discriminator_terms")

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        cfg = self.config
        if cfg.adversarial and data.n_views < 2:
            raise UserError(
                f"EAMC's discriminators need at least 2 views, but dataset {data.name} has {data.n_views}; "
                "choose a multi-view dataset, or set method.adversarial=false to train without them"
            )
        self.net = EAMCNetwork(cfg, data.view_dims, data.n_clusters).to(ctx.device)
        self.loss = generator_loss(cfg)
        self.views = data.view_tensors(ctx.device)
        self.gen_opt, self.disc_opt = self._optimizers()
        # (lowest full-data total, its weights, its epoch) for checkpoint=lowest_loss
        self.best: tuple[float, dict | None, int | None] = (float("inf"), None, None)
        self.order, self.record = ctx.order, ctx.record
        return [Phase("train", cfg.epochs, self._epoch)]

    def _epoch(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        """One pass over shuffled batches; generator and discriminator steps alternate batch by batch."""
        cfg = self.config
        cycle = cfg.gen_steps + cfg.disc_steps if cfg.adversarial else 1
        self.net.train()
        batches = epoch_batches(len(self.views[0]), cfg.batch_size, self.order, True, self.device_)
        for b, index in enumerate(batches):
            batch = [v[index] for v in self.views]
            yield (
                self._generator_step(batch) if b % cycle < cfg.gen_steps else self._discriminator_step(batch)
            )
        if cfg.checkpoint == Checkpoint.lowest_loss and (
            epoch % cfg.eval_interval == 0 or epoch == cfg.epochs - 1
        ):
            evaluated = self.evaluate_loss(self.views)
            self.record("eval", epoch, evaluated)
            if evaluated["total"] < self.best[0]:
                self.best = (evaluated["total"], copy.deepcopy(self.net.state_dict()), epoch)

    def final_loss(self) -> dict[str, float]:
        if self.best[1] is not None:
            self.net.load_state_dict(self.best[1])
        return self.evaluate_loss(self.views)

    def _optimizers(self) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer | None]:
        cfg, net = self.config, self.net
        clustering = [*net.cluster_hidden.parameters(), *net.cluster_output.parameters()]
        groups = [(net.encoders.parameters(), cfg.lr_encoder, cfg.betas_encoder)]
        groups.append((clustering, cfg.lr_clustering, cfg.betas_other))
        if net.attention is not None:
            groups.append((net.attention.parameters(), cfg.lr_attention, cfg.betas_other))
        gen_opt = adam([{"params": p, "lr": lr, "betas": tuple(betas)} for p, lr, betas in groups])
        if not cfg.adversarial:
            return gen_opt, None
        betas = tuple(cfg.betas_discriminator)
        return gen_opt, adam(net.discriminators.parameters(), lr=cfg.lr_discriminator, betas=betas)

    def _shared(self, out: dict[str, Any]) -> dict[str, Any]:
        kernel_input = (
            out["cluster_hidden"] if self.config.cs_kernel_on == KernelInput.hidden else out["fused"]
        )
        return {
            **out,
            "kernel": gaussian_kernel(kernel_input, self.config.rel_sigma),
            "rel_sigma": self.config.rel_sigma,
            "discriminators": self.net.discriminators,
            "discriminator_loss": self.config.discriminator_loss,
        }

    def _generator_terms(self, batch: list[torch.Tensor]) -> tuple[torch.Tensor, dict, torch.Tensor]:
        out = self.net(batch)
        return (*self.loss(self._shared(out)), out["weights"])

    def _generator_step(self, batch: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        total, terms, weights = self._generator_terms(batch)
        # As in the reference code the norm is taken over every parameter, the discriminators' gradients included.
        optimizer_step(self.gen_opt, total, clip=(self.net.parameters(), self.config.clip_norm))
        return {"total": total, **terms, **{f"w_view{v}": w for v, w in enumerate(weights.detach())}}

    def _discriminator_terms(self, batch: list[torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            hidden = [encoder(x) for encoder, x in zip(self.net.encoders, batch)]
        return discriminator_loss(self.net.discriminators, hidden, self.config.discriminator_loss)

    def _discriminator_step(self, batch: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        loss = self._discriminator_terms(batch)
        optimizer_step(self.disc_opt, loss)
        return {"disc": loss}

    @torch.no_grad()
    def evaluate_loss(self, views: list[torch.Tensor]) -> dict[str, float]:
        """Every loss term on the full training data in eval mode, in fixed full batches (the kernel terms are
        batch-level). 'total' sums them, discriminator term included, as the reference code's 'tot': the loss
        that both the within-run checkpoint choice and the paper's lowest-loss-of-20 protocol select on."""
        self.net.eval()
        return means_of(self._evaluation_steps(views))

    def _evaluation_steps(self, views: list[torch.Tensor]) -> Iterator[dict[str, torch.Tensor]]:
        for index in full_batches(len(views[0]), self.config.eval_batch_size):
            out = self.net([v[index.to(self.device_)] for v in views])
            total, terms = self.loss(self._shared(out))
            if self.config.adversarial:
                terms["disc"] = discriminator_loss(
                    self.net.discriminators, out["hidden"], self.config.discriminator_loss
                )
                total = total + terms["disc"]
            yield {"total": total, **terms}

    @torch.no_grad()
    def full_data_weights(self, views: list[torch.Tensor]) -> torch.Tensor:
        """The attention weights averaged over every sample (prediction must not depend on how data is chunked)."""
        self.net.eval()
        n = views[0].shape[0]
        total = torch.zeros(self.net.n_views, device=self.device_)
        for index in sequential_batches(n, self.eval_chunk):
            index = index.to(self.device_)
            hidden = [encoder(v[index]) for encoder, v in zip(self.net.encoders, views)]
            total += self.net.view_weights(hidden) * len(index)
        return total / n

    @torch.no_grad()
    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        self.net.eval()
        views = data.view_tensors(self.device_)
        weights = self.full_data_weights(views)
        keys = (
            ("assignments", "fused")
            if keeps_embedding(data.n_samples, self.config.encoder_layers[-1])
            else ("assignments",)
        )

        def chunk(index: torch.Tensor) -> dict[str, torch.Tensor]:
            out = self.net([v[index] for v in views], weights=weights)
            return {key: out[key] for key in keys}

        rows = rows_in_chunks(data.n_samples, self.eval_chunk, chunk, self.device_)
        soft = rows["assignments"].cpu().numpy()
        embedding = rows["fused"].cpu().numpy() if "fused" in rows else None
        return Prediction(labels=soft.argmax(axis=1), soft=soft, embedding=embedding)

    def summary(self) -> dict[str, Any]:
        weights = self.full_data_weights(self.views).cpu().tolist()
        return {"view_weights": weights, "selected_epoch": self.best[2]}
