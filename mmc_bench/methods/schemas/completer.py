"""The hyper-parameters of `completer` (its YAML keys, defaults, ranges and choices), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass

from mmc_bench.config import MethodConfig, count, positive, widths


@dataclass
class COMPLETERConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.completer.COMPLETER"
    name: str = "completer"
    # Autoencoder widths of each view (BN + ReLU between); the last is the latent size (softmax codes).
    encoder_layers: list[int] = widths(1024, 1024, 1024, 128)
    # Hidden widths of each dual-prediction network (latent -> these -> back to latent, softmax output).
    prediction_layers: list[int] = widths(128, 256, 128)
    # BatchNorm in the autoencoders.
    batch_norm: bool = True
    # Passes over the complete pairs.
    epochs: int = count(500)
    # Samples per step (a last batch of one sample is skipped: BatchNorm needs two).
    batch_size: int = positive(256)
    # Adam learning rate of every network.
    lr: float = positive(1e-4)
    # alpha of the cross-view contrastive loss (the entropy weight is alpha + 1).
    alpha: float = count(9.0)
    # Weight lambda1 of the dual-prediction loss.
    lambda_prediction: float = count(0.1)
    # Weight lambda2 of the within-view reconstruction loss.
    lambda_reconstruction: float = count(0.1)
    # The epoch from which dual prediction trains (before it: contrastive + reconstruction only).
    start_dual_prediction: int = count(100)
    # k-means restarts on the concatenated representations.
    kmeans_n_init: int = positive(10)
