"""COMPLETER (Lin, Gou, Liu, Li, Lv & Peng, "COMPLETER: Incomplete Multi-view Clustering via Contrastive
Prediction", CVPR 2021).

Two views. Each has an autoencoder whose code is a softmax over the latent units; trained on the samples
that have both views, with the cross-view contrastive loss (mutual information of the two codes plus an
entropy term weighted by alpha), the within-view reconstruction, and, after a warm-up, the dual prediction
of each view's code from the other's. A missing view's code is predicted from the present one; k-means
clusters the concatenated codes. Defaults follow the authors' code (XLearning-SCU/2021-CVPR-Completer).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmc_bench.config import Setting
from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.errors import UserError
from mmc_bench.methods.base import ClusteringMethod, Prediction, schedules
from mmc_bench.methods.schemas.completer import COMPLETERConfig
from mmc_bench.nn.blocks import mlp
from mmc_bench.nn.kmeans import fit_kmeans
from mmc_bench.nn.losses import WeightedLoss
from mmc_bench.nn.training import adam, epoch_batches, optimizer_step, rows_in_chunks
from mmc_bench.run.engine import FitContext, Phase

# The reference code floors probabilities at the machine epsilon of a Python float before the logs.
EPS = sys.float_info.epsilon


class SoftmaxAutoencoder(nn.Module):
    """Encoder: Linear (BN, ReLU) ... Linear, softmax. Decoder: the mirror, every layer Linear (BN, ReLU),
    the output layer included, as in the reference code."""

    def __init__(self, in_dim: int, layers: list[int], batch_norm: bool):
        super().__init__()
        self.encoder = nn.Sequential(
            mlp(in_dim, layers, batch_norm=batch_norm, last_activation=False), nn.Softmax(dim=1)
        )
        self.decoder = mlp(layers[-1], [*reversed(layers[:-1]), in_dim], batch_norm=batch_norm)


def predictor(latent: int, layers: list[int]) -> nn.Sequential:
    """latent -> layers -> their mirror -> latent, BN and ReLU after every layer but the last, then softmax."""
    widths = [*layers, *reversed(layers[:-1]), latent]
    return nn.Sequential(mlp(latent, widths, batch_norm=True, last_activation=False), nn.Softmax(dim=1))


class COMPLETERNetwork(nn.Module):
    def __init__(self, cfg: COMPLETERConfig, view_dims: list[int]):
        super().__init__()
        layers, latent = list(cfg.encoder_layers), cfg.encoder_layers[-1]
        self.autoencoders = nn.ModuleList([SoftmaxAutoencoder(d, layers, cfg.batch_norm) for d in view_dims])
        # predictors[0]: view 0's code -> view 1's; predictors[1]: view 1's -> view 0's.
        self.predictors = nn.ModuleList([predictor(latent, list(cfg.prediction_layers)) for _ in range(2)])


def joint_distribution(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """P (D x D): the batch sum of z1_i z2_i^T, symmetrised and normalised to sum 1."""
    joint = z1.T @ z2
    joint = (joint + joint.T) / 2
    return joint / joint.sum()


def crossview_contrastive(z1: torch.Tensor, z2: torch.Tensor, alpha: float) -> torch.Tensor:
    """-sum_ij P_ij (log P_ij - (alpha + 1) log P_i - (alpha + 1) log P_j): minus the mutual information
    of the two codes, minus alpha times the entropies of their marginals (the paper's eq. 3, alpha = 9)."""
    joint = joint_distribution(z1, z2)
    p_i = joint.sum(dim=1, keepdim=True).clamp_min(EPS)
    p_j = joint.sum(dim=0, keepdim=True).clamp_min(EPS)
    joint = joint.clamp_min(EPS)
    return -(joint * (joint.log() - (alpha + 1) * p_i.log() - (alpha + 1) * p_j.log())).sum()


def _contrastive(t: dict[str, Any]) -> torch.Tensor:
    return crossview_contrastive(t["codes"][0], t["codes"][1], t["alpha"])


def _reconstruction(t: dict[str, Any]) -> torch.Tensor:
    return sum(F.mse_loss(r, x) for r, x in zip(t["reconstructions"], t["batch"]))


def _prediction(t: dict[str, Any]) -> torch.Tensor:
    """MSE of each view's code predicted from the other's (gradients reach both codes, as in the reference)."""
    z1, z2 = t["codes"]
    return F.mse_loss(t["predicted"][0], z2) + F.mse_loss(t["predicted"][1], z1)


class COMPLETER(ClusteringMethod):
    """COMPLETER (Lin et al., CVPR 2021): contrastive and dual-prediction autoencoders for incomplete pairs."""

    config_class = COMPLETERConfig
    config: COMPLETERConfig
    supported_settings = frozenset({Setting.paired, Setting.incomplete})
    schedules = schedules(
        test="method.epochs=3 method.start_dual_prediction=1 method.encoder_layers=[16,8] "
        "method.prediction_layers=[8] method.kmeans_n_init=2",
        # quick: dual prediction from the first third on; short enough that `mmc-bench auto` (budget
        # quick) on a few-thousand-sample file stays under 15 minutes (docs/results.md).
        quick="method.epochs=60 method.start_dual_prediction=20",
        bench="method.epochs=10",
        scaling="method.epochs=2",
    )
    checkpointed = ("net", "optimizer")
    compiled_steps = ("_terms",)

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        if data.n_views != 2:
            raise UserError(
                f"COMPLETER pairs two views, but dataset {data.name} has {data.n_views}; choose two with "
                "dataset.views=[i,j] (e.g. dataset.views=[0,1])"
            )
        cfg = self.config
        self.net = COMPLETERNetwork(cfg, data.view_dims).to(ctx.device)
        self.optimizer = adam(self.net.parameters(), lr=cfg.lr)
        self.views = data.view_tensors(ctx.device)
        self.mask = torch.from_numpy(data.mask).to(ctx.device)
        self.complete = torch.nonzero(self.mask.all(dim=1)).squeeze(1)
        if len(self.complete) < 2:
            raise UserError(
                f"COMPLETER trains on the samples that have both views, and {data.name} has "
                f"{len(self.complete)}; lower missing_rate"
            )
        terms = {
            "contrastive": (_contrastive, 1.0),
            "reconstruction": (_reconstruction, cfg.lambda_reconstruction),
        }
        self.warmup_loss = WeightedLoss(terms)
        self.loss = WeightedLoss({**terms, "prediction": (_prediction, cfg.lambda_prediction)})
        self.order, self.seed = ctx.order, ctx.seed
        return [Phase("train", cfg.epochs, self._epoch)]

    def _epoch(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        """One pass over the complete pairs in shuffled batches; dual prediction joins at start_dual_prediction."""
        cfg = self.config
        loss = self.loss if epoch >= cfg.start_dual_prediction else self.warmup_loss
        self.net.train()
        batches = epoch_batches(len(self.complete), cfg.batch_size, self.order, False, self.device_)
        for index in batches:
            if len(index) < 2:  # BatchNorm cannot train on one sample
                continue
            rows = self.complete[index]
            total, terms = self._terms([v[rows] for v in self.views], loss)
            optimizer_step(self.optimizer, total)
            yield {"total": total, **terms}

    def _terms(self, batch: list[torch.Tensor], loss: WeightedLoss) -> tuple[torch.Tensor, dict]:
        codes = [ae.encoder(x) for ae, x in zip(self.net.autoencoders, batch)]
        tensors = {
            "batch": batch,
            "codes": codes,
            "reconstructions": [ae.decoder(z) for ae, z in zip(self.net.autoencoders, codes)],
            "predicted": [p(z) for p, z in zip(self.net.predictors, codes)],
            "alpha": self.config.alpha,
        }
        return loss(tensors)

    def end_fit(self) -> None:
        codes = self._codes(self.views, self.mask)
        self.kmeans = fit_kmeans(codes, self.n_clusters, self.config.kmeans_n_init, self.seed)

    @torch.no_grad()
    def _codes(self, views: list[torch.Tensor], mask: torch.Tensor) -> np.ndarray:
        """[z_0, z_1] of every sample, a missing view's code predicted from the present view's."""
        self.net.eval()

        def chunk(index: torch.Tensor) -> torch.Tensor:
            own = [ae.encoder(v[index]) for ae, v in zip(self.net.autoencoders, views)]
            present = mask[index]
            # predictors[1] maps view 1's code to view 0's; predictors[0] the other way.
            z0 = torch.where(present[:, :1], own[0], self.net.predictors[1](own[1]))
            z1 = torch.where(present[:, 1:], own[1], self.net.predictors[0](own[0]))
            return torch.cat([z0, z1], dim=1)

        return rows_in_chunks(len(views[0]), self.eval_chunk, chunk, self.device_).cpu().numpy()

    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        codes = self._codes(data.view_tensors(self.device_), torch.from_numpy(data.mask).to(self.device_))
        return Prediction(labels=self.kmeans.predict(codes), embedding=codes)
