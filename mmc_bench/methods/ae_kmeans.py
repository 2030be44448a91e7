"""AE + k-means: an autoencoder on the concatenated views, then k-means on its codes.

The smallest deep baseline, and the worked example of a method (README, "Add a method"): a config schema,
a network, one phase, a prediction. Everything else (seeding, batches' order, progress, logging,
checkpoints, resume, timing) is the engine's.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.methods.base import ClusteringMethod, Prediction, schedules
from mmc_bench.methods.schemas.ae_kmeans import AEKMeansConfig
from mmc_bench.nn.blocks import Autoencoder
from mmc_bench.nn.kmeans import fit_kmeans
from mmc_bench.nn.training import adam, rows_in_chunks
from mmc_bench.run.engine import FitContext, Phase


class AEKMeans(ClusteringMethod):
    """An autoencoder on the concatenated views (MSE), then k-means on the codes."""

    config_class = AEKMeansConfig
    display_name = "AE + k-means"
    is_baseline = True
    config: AEKMeansConfig
    schedules = schedules(test="method.epochs=3 method.encoder_layers=[8,4]", quick="method.epochs=10")
    checkpointed = ("net", "optimizer")
    compiled_steps = ("_loss",)  # the forward pass and loss of one step (mmc_bench.run.compiling)

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        self.x = torch.from_numpy(data.concatenated()).to(ctx.device)
        self.net = Autoencoder(self.x.shape[1], list(self.config.encoder_layers)).to(ctx.device)
        self.optimizer = adam(self.net.parameters(), lr=self.config.lr)
        self.seed = ctx.seed
        batches = dict(n_samples=len(self.x), batch_size=self.config.batch_size, optimizer=self.optimizer)
        return [Phase("train", self.config.epochs, step=self._step, **batches)]

    def _step(self, index: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self._loss(self.x[index]), {}

    def _loss(self, batch: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self.net(batch)[1], batch)

    def end_fit(self) -> None:
        self.kmeans = fit_kmeans(self._codes(self.x), self.n_clusters, self.config.kmeans_n_init, self.seed)

    @torch.no_grad()
    def _codes(self, x: torch.Tensor):
        return (
            rows_in_chunks(len(x), self.eval_chunk, lambda i: self.net.encoder(x[i.to(self.device_)]))
            .cpu()
            .numpy()
        )

    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        codes = self._codes(torch.from_numpy(data.concatenated()).to(self.device_))
        return Prediction(labels=self.kmeans.predict(codes), embedding=codes)
