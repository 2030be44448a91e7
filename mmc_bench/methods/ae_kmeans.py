"""AE + k-means: an autoencoder on the concatenated views, then k-means on its codes.

The smallest deep baseline, and the worked example of a method (README, "Add a method"): a config schema,
a network, one phase, a prediction. Everything else (seeding, batches' order, progress, logging,
checkpoints, resume, timing) is the engine's.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from mmc_bench.config import MethodConfig, count, positive
from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.methods.base import ClusteringMethod, Prediction, schedules
from mmc_bench.nn.blocks import Autoencoder
from mmc_bench.nn.kmeans import fit_kmeans
from mmc_bench.nn.training import adam, epoch_batches, optimizer_step, rows_in_chunks
from mmc_bench.run.engine import FitContext, Phase


@dataclass
class AEKMeansConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.ae_kmeans.AEKMeans"
    name: str = "ae_kmeans"
    # Encoder widths; the last is the code size (the decoder mirrors them).
    encoder_layers: list[int] = field(default_factory=lambda: [256, 64, 10])
    # Passes over the data (MSE).
    epochs: int = count(50)
    # Samples per step.
    batch_size: int = positive(256)
    # Adam learning rate.
    lr: float = positive(1e-3)
    # k-means restarts on the codes.
    kmeans_n_init: int = positive(10)


class AEKMeans(ClusteringMethod):
    """An autoencoder on the concatenated views (MSE), then k-means on the codes."""

    config_class = AEKMeansConfig
    is_baseline = True
    config: AEKMeansConfig
    schedules = schedules(test="method.epochs=3 method.encoder_layers=[8,4]", quick="method.epochs=10")
    checkpointed = ("net", "optimizer")
    compiled_steps = ("_loss",)  # the forward pass and loss of one step (mmc_bench.run.compiling)

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        self.x = torch.from_numpy(data.concatenated()).to(ctx.device)
        self.net = Autoencoder(self.x.shape[1], list(self.config.encoder_layers)).to(ctx.device)
        self.optimizer = adam(self.net.parameters(), lr=self.config.lr)
        self.order, self.seed = ctx.order, ctx.seed
        return [Phase("train", self.config.epochs, self._epoch)]

    def _epoch(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        for index in epoch_batches(len(self.x), self.config.batch_size, self.order, True, self.device):
            loss = self._loss(self.x[index])
            optimizer_step(self.optimizer, loss)
            yield {"total": loss}

    def _loss(self, batch: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.net(batch)[1], batch)

    def end_fit(self) -> None:
        self.kmeans = fit_kmeans(self._codes(self.x), self.n_clusters, self.config.kmeans_n_init, self.seed)

    @torch.no_grad()
    def _codes(self, x: torch.Tensor):
        return (
            rows_in_chunks(len(x), self.eval_chunk, lambda i: self.net.encoder(x[i.to(self.device)]))
            .cpu()
            .numpy()
        )

    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        codes = self._codes(torch.from_numpy(data.concatenated()).to(self.device))
        return Prediction(labels=self.kmeans.predict(codes), embedding=codes)
