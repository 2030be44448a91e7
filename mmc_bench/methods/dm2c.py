"""DM2C: deep mixed-modal clustering (Jiang et al., NeurIPS 2019), for two or more modalities.

Every sample has exactly one modality and no pairing is known. Modality autoencoders are pre-trained
alone; then latent cross-modal generators (target <-> every other modality), Wasserstein critics with
weight clipping, cycle-consistency and reconstruction terms are trained together. At inference every
sample is mapped into the target modality's latent space and k-means, fitted on the training
embeddings, assigns every sample. Defaults follow the official code
(extra cycle-reconstruction term, lambda_adv = 0.5, one critic step every 5 generator steps); the
paper's objective is method=dm2c_paper.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmc_bench.config import Setting, Split
from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.errors import UserError
from mmc_bench.methods.base import ClusteringMethod, Prediction, schedules
from mmc_bench.methods.schemas.dm2c import DM2CConfig
from mmc_bench.nn.blocks import mlp
from mmc_bench.nn.kmeans import fit_kmeans
from mmc_bench.nn.losses import WeightedLoss
from mmc_bench.nn.training import adam, epoch_batches, optimizer_step, rmsprop, sequential_batches
from mmc_bench.run.engine import FitContext, Phase


class DeepAE(nn.Module):
    """The code's autoencoder: Linear -> LeakyReLU(0.2) -> BN per encoder layer (BN first with bn_first), a
    linear code; the decoder mirrors the widths with Linear -> BN -> LeakyReLU, its output Linear -> LeakyReLU."""

    def __init__(self, in_dim: int, layers: list[int], bn_first: bool = False):
        super().__init__()
        self.encoder = mlp(
            in_dim, layers, "leaky_relu", True, last_activation=False, norm_after_activation=not bn_first
        )
        widths = [*reversed(layers[:-1]), in_dim]
        self.decoder = mlp(layers[-1], widths, "leaky_relu", True, last_batch_norm=False)


class Generator(DeepAE):
    """A latent-to-latent map; DM2C's generators are whole autoencoders whose decoder output is the mapped code."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(z))


def critic(latent: int, hidden: int) -> nn.Sequential:
    """Wasserstein critic: Linear -> LeakyReLU(0.2) -> Linear(., 1), no BN, no sigmoid."""
    return nn.Sequential(nn.Linear(latent, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))


class DM2CNetwork(nn.Module):
    """Autoencoders per modality; for each other modality m: G_to_target[m], G_from_target[m], a critic in the
    target space (mapped m vs real target codes) and one in m's space (mapped target vs real m codes)."""

    def __init__(self, cfg: DM2CConfig, view_dims: list[int]):
        super().__init__()
        n_views = len(view_dims)
        layers = cfg.autoencoder_layers_per_view or [cfg.autoencoder_layers]
        layers = layers * n_views if len(layers) == 1 else layers
        latent = layers[0][-1]
        self.autoencoders = nn.ModuleList(
            [DeepAE(d, list(ls), cfg.bn_before_activation) for d, ls in zip(view_dims, layers)]
        )
        self.target = cfg.target_modality
        self.others = [v for v in range(n_views) if v != self.target]

        def per_other(make) -> nn.ModuleDict:
            return nn.ModuleDict({str(m): make() for m in self.others})

        self.to_target = per_other(lambda: Generator(latent, cfg.generator_layers))
        self.from_target = per_other(lambda: Generator(latent, cfg.generator_layers))
        self.critic_target = per_other(lambda: critic(latent, cfg.critic_hidden))
        self.critic_other = per_other(lambda: critic(latent, cfg.critic_hidden))

    def generator_parameters(self) -> list[nn.Parameter]:
        return [*self.to_target.parameters(), *self.from_target.parameters()]

    def critic_parameters(self) -> list[nn.Parameter]:
        return [*self.critic_target.parameters(), *self.critic_other.parameters()]


# --- loss terms on the shared tensors of one mixed batch --------------------------------------------------
# t["x"][v], t["z"][v]: inputs and codes of the batch's samples of modality v; t["net"]: the network.


def _cycled(t: dict[str, Any], m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(target codes sent to m and back, m's codes sent to the target and back)."""
    net, key = t["net"], str(m)
    z_target, z_m = t["z"][net.target], t["z"][m]
    return net.to_target[key](net.from_target[key](z_target)), net.from_target[key](net.to_target[key](z_m))


def reconstruction_term(t: dict[str, Any]) -> torch.Tensor:
    net = t["net"]
    return sum(F.mse_loss(net.autoencoders[v].decoder(z), t["x"][v]) for v, z in t["z"].items())


def cycle_term(t: dict[str, Any]) -> torch.Tensor:
    """L1 between each code and its round trip through the other space (every other modality <-> target)."""
    target = t["net"].target
    total = torch.zeros((), device=t["z"][target].device)
    for m in t["net"].others:
        back_target, back_m = t["cycles"][m]
        total = total + F.l1_loss(back_target, t["z"][target]) + F.l1_loss(back_m, t["z"][m])
    return total


def cycle_reconstruction_term(t: dict[str, Any]) -> torch.Tensor:
    """The code's extra term: decode the round-trip codes and compare with the inputs."""
    net, target = t["net"], t["net"].target
    total = torch.zeros((), device=t["z"][target].device)
    for m in net.others:
        back_target, back_m = t["cycles"][m]
        total = total + F.mse_loss(net.autoencoders[target].decoder(back_target), t["x"][target])
        total = total + F.mse_loss(net.autoencoders[m].decoder(back_m), t["x"][m])
    return total


def generator_adversarial_term(t: dict[str, Any]) -> torch.Tensor:
    """-mean D_target(G_to_target z_m) - mean D_m(G_from_target z_target), summed over other modalities."""
    net, target = t["net"], t["net"].target
    total = torch.zeros((), device=t["z"][target].device)
    for m in net.others:
        key = str(m)
        total = total - net.critic_target[key](net.to_target[key](t["z"][m])).mean()
        total = total - net.critic_other[key](net.from_target[key](t["z"][target])).mean()
    return total


def critic_loss(net: DM2CNetwork, codes: dict[int, torch.Tensor]) -> torch.Tensor:
    """Wasserstein critic loss (fake mean - real mean in each space), on detached codes."""
    target = net.target
    z_target = codes[target].detach()
    total = torch.zeros((), device=z_target.device)
    for m in net.others:
        key, z_m = str(m), codes[m].detach()
        with torch.no_grad():
            fake_target, fake_m = net.to_target[key](z_m), net.from_target[key](z_target)
        total = total + net.critic_target[key](fake_target).mean() - net.critic_target[key](z_target).mean()
        total = total + net.critic_other[key](fake_m).mean() - net.critic_other[key](z_m).mean()
    return total


def generator_loss(cfg: DM2CConfig) -> WeightedLoss:
    return WeightedLoss(
        {
            "reconstruction": (reconstruction_term, cfg.lambda_reconstruction),
            "cycle": (cycle_term, cfg.lambda_cycle),
            "cycle_reconstruction": (cycle_reconstruction_term, 1.0 if cfg.cycle_reconstruction else 0.0),
            "adversarial": (generator_adversarial_term, cfg.lambda_adversarial),
        }
    )


def _nonzero_rows(x: Any) -> np.ndarray:
    return np.asarray(abs(x).sum(axis=1)).ravel() > 0


class DM2C(ClusteringMethod):
    """DM2C (NeurIPS 2019): modality autoencoders, cycle-consistent latent generators, Wasserstein critics.

    Mixed-modal data only (``setting=mixed``): each sample has exactly one modality. ``fit(Xs)`` takes one
    array per modality with n rows each; ``mask[i, v]`` True marks sample i's modality, and without ``mask``
    it is the one view whose row is not all zeros."""

    config_class = DM2CConfig
    config: DM2CConfig
    supported_settings = frozenset({Setting.mixed})
    # Mixed-modal clustering is evaluated on held-out samples (the paper's protocol).
    default_split = Split.stratified

    schedules = schedules(
        test="method.autoencoder_layers=[16,8] method.generator_layers=[8] method.pretrain_epochs=2 method.epochs=2 method.kmeans_n_init=2",
        quick="method.pretrain_epochs=20 method.epochs=30",
        bench="method.pretrain_epochs=6 method.epochs=10 method.kmeans_n_init=3",
        scaling="setting=mixed method.pretrain_epochs=2 method.epochs=2 method.kmeans_n_init=1 method.pretrain_lr=[1e-4]",
    )
    checkpointed = ("net", "pretrain_opt", "gen_opt", "critic_opt", "generator_steps")
    diagnostics = ("skipped_batches",)
    # A batch splits into its modalities' samples, whose counts change from batch to batch.
    compiled_steps = ("_reconstruction_error", "_critic_terms", "_generator_terms")
    dynamic_step_shapes = True

    def default_mask(self, views: list[Any]) -> np.ndarray:
        """Mixed-modal data without ``mask=``: each sample's modality is the one view whose row is not all
        zeros (the layout of every mixed dataset: an absent view is zeros)."""
        present = np.column_stack([_nonzero_rows(x) for x in views])
        counts = present.sum(axis=1)
        if (counts != 1).any():
            row = int(np.flatnonzero(counts != 1)[0])
            raise ValueError(
                f"DM2C clusters mixed-modal data, one modality per sample, but row {row} has "
                f"{int(counts[row])} non-zero views; pass mask= (n_samples x n_views, one True per row) "
                "or give each sample's absent views as rows of zeros"
            )
        return present

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        cfg = self.config
        self._check(data)
        self.net = DM2CNetwork(cfg, data.view_dims).to(ctx.device)
        self.views = data.view_tensors(ctx.device)
        self.modality = torch.from_numpy(data.mask.argmax(axis=1)).to(ctx.device)
        self.pretrain_opt = self._pretrain_optimizer(data.n_views)
        autoencoders = {"params": self.net.autoencoders.parameters(), "lr": cfg.lr_autoencoder}
        self.gen_opt = rmsprop(
            [autoencoders, {"params": self.net.generator_parameters(), "lr": cfg.lr_generator}]
        )
        self.critic_opt = rmsprop(self.net.critic_parameters(), lr=cfg.lr_critic)
        self.order, self.seed = ctx.order, ctx.seed
        self.loss = generator_loss(cfg)
        self.generator_steps = 0
        return [
            Phase("pretrain", cfg.pretrain_epochs, self._pretrain_epoch),
            Phase("adversarial", cfg.epochs, self._adversarial_epoch),
        ]

    def end_fit(self) -> None:
        """k-means on the training embedding completes the fit. The final loss is the engine's default, the
        last adversarial epoch's mean generator loss (none without that phase)."""
        cfg, embedding = self.config, self.embed(self.views, self.modality).cpu().numpy()
        kmeans = {"max_iter": cfg.kmeans_max_iter, "tol": cfg.kmeans_tol}
        self.kmeans = fit_kmeans(embedding, self.n_clusters, cfg.kmeans_n_init, self.seed, **kmeans)

    def _check(self, data: MultiViewDataset) -> None:
        cfg = self.config
        if not 0 <= cfg.target_modality < data.n_views:
            raise UserError(
                f"method.target_modality={cfg.target_modality} but {data.name} has modalities 0..{data.n_views - 1}"
            )
        for name in ("pretrain_lr", "autoencoder_layers_per_view"):
            values = getattr(cfg, name)
            if values is not None and len(values) not in (1, data.n_views):
                raise UserError(
                    f"method.{name} has {len(values)} entries but {data.name} has {data.n_views} modalities; "
                    "give one entry per modality or a single entry"
                )
        if len({ls[-1] for ls in cfg.autoencoder_layers_per_view or [[0]]}) > 1:
            raise UserError(
                "method.autoencoder_layers_per_view must end in the same latent size for every modality"
            )
        if (data.mask.sum(axis=1) != 1).any():
            raise UserError("DM2C needs setting=mixed: every sample must have exactly one modality")

    def _pretrain_optimizer(self, n_views: int) -> torch.optim.Optimizer:
        cfg = self.config
        rates = list(cfg.pretrain_lr)
        rates = rates * n_views if len(rates) == 1 else rates
        groups = [{"params": ae.parameters(), "lr": rates[v]} for v, ae in enumerate(self.net.autoencoders)]
        return adam(groups, betas=(0.5, 0.999), weight_decay=cfg.pretrain_weight_decay)

    def _pretrain_epoch(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        """Each autoencoder alone on its own modality's samples (MSE)."""
        views, modality = self.views, self.modality
        self.net.train()
        for v in range(len(self.net.autoencoders)):
            rows = torch.nonzero(modality == v).squeeze(1)
            for index in epoch_batches(len(rows), self.config.batch_size, self.order):
                if len(index) < 2:  # BatchNorm needs two samples
                    continue
                loss = self._reconstruction_error(v, views[v][rows[index.to(self.device_)]])
                optimizer_step(self.pretrain_opt, loss)
                yield {f"mse_view{v}": loss}

    def _reconstruction_error(self, v: int, x: torch.Tensor) -> torch.Tensor:
        autoencoder = self.net.autoencoders[v]
        return F.mse_loss(autoencoder.decoder(autoencoder.encoder(x)), x)

    def _adversarial_epoch(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        cfg, views, modality = self.config, self.views, self.modality
        self.net.train()
        skipped = 0
        for index in epoch_batches(len(modality), cfg.batch_size, self.order, True, self.device_):
            batch_modality = modality[index]
            counts = torch.bincount(batch_modality, minlength=len(views)).tolist()
            if min(counts) < 2:  # BatchNorm cannot run on 0 or 1 sample of a modality: skip this batch
                skipped += 1
                continue
            x = {v: views[v][index[batch_modality == v]] for v in range(len(views))}
            if self.generator_steps % cfg.critic_every == 0:
                for _ in range(cfg.n_critic):
                    yield {"critic": self._critic_step(x)}
            yield self._generator_step(x)
            self.generator_steps += 1
        return {"skipped_batches": float(skipped)}

    def _codes(self, x: dict[int, torch.Tensor]) -> dict[int, torch.Tensor]:
        return {v: self.net.autoencoders[v].encoder(xv) for v, xv in x.items()}

    def _critic_terms(self, x: dict[int, torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            codes = self._codes(x)
        return self.config.lambda_adversarial * critic_loss(self.net, codes)

    def _critic_step(self, x: dict[int, torch.Tensor]) -> torch.Tensor:
        loss = self._critic_terms(x)
        optimizer_step(self.critic_opt, loss)
        with torch.no_grad():
            for p in self.net.critic_parameters():
                p.clamp_(-self.config.clip_value, self.config.clip_value)
        return loss.detach()

    def _generator_terms(self, x: dict[int, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        tensors = {"x": x, "z": self._codes(x), "net": self.net}
        tensors["cycles"] = {m: _cycled(tensors, m) for m in self.net.others}
        return self.loss(tensors)

    def _generator_step(self, x: dict[int, torch.Tensor]) -> dict[str, torch.Tensor]:
        total, terms = self._generator_terms(x)
        optimizer_step(self.gen_opt, total)
        return {"total": total, **terms}

    # --- inference ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def embed(self, views: list[torch.Tensor], modality: torch.Tensor) -> torch.Tensor:
        """Every sample's code in the target space (or its own modality's space when unify=false); eval-mode BN."""
        self.net.eval()
        out = torch.zeros(
            len(modality), self.net.autoencoders[0].encoder[-1].out_features, device=self.device_
        )
        for v, ae in enumerate(self.net.autoencoders):
            rows = torch.nonzero(modality == v).squeeze(1)
            for chunk in sequential_batches(len(rows), self.eval_chunk):
                index = rows[chunk.to(self.device_)]
                z = ae.encoder(views[v][index])
                if self.config.unify and v != self.net.target:
                    z = self.net.to_target[str(v)](z)
                out[index] = z
        return out

    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        views = data.view_tensors(self.device_)
        modality = torch.from_numpy(data.mask.argmax(axis=1)).to(self.device_)
        embedding = self.embed(views, modality).cpu().numpy()
        return Prediction(labels=self.kmeans.predict(embedding), embedding=embedding)
