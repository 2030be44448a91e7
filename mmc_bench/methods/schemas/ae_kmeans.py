"""The hyper-parameters of `ae_kmeans` (its YAML keys, defaults, ranges and choices), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass

from mmc_bench.config import MethodConfig, count, positive, widths


@dataclass
class AEKMeansConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.ae_kmeans.AEKMeans"
    name: str = "ae_kmeans"
    # Encoder widths; the last is the code size (the decoder mirrors them).
    encoder_layers: list[int] = widths(256, 64, 10)
    # Passes over the data (MSE).
    epochs: int = count(50)
    # Samples per step.
    batch_size: int = positive(256)
    # Adam learning rate.
    lr: float = positive(1e-3)
    # k-means restarts on the codes.
    kmeans_n_init: int = positive(10)
