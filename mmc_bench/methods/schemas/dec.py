"""The hyper-parameters of `dec` (its YAML keys, defaults, ranges and choices), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass

from mmc_bench.config import MethodConfig, count, positive, widths


@dataclass
class DeepClusteringConfig(MethodConfig):
    """Shared by DEC and JECL: the autoencoder, its pre-training, k-means init and the clustering loop."""

    # Autoencoder widths; the last is the embedding size.
    encoder_layers: list[int] = widths(500, 500, 2000, 10)
    # Degrees of freedom of the Student-t kernel.
    alpha: float = positive(1.0)
    # DEC-keras practice: end-to-end Adam (lr 1e-3), 200 epochs, batch 256, Glorot init.
    pretrain_epochs: int = count(200)
    # Samples per pre-training step.
    pretrain_batch_size: int = positive(256)
    # Adam learning rate of pre-training.
    pretrain_lr: float = positive(1e-3)
    # k-means restarts of the centroid initialisation.
    kmeans_n_init: int = positive(20)
    # Clustering: SGD(0.01, momentum 0.9), batch 256; the target is recomputed on all samples every
    # update_interval iterations (DEC: 140 for MNIST-size data); stop when fewer than tol of the labels
    # change between two updates, or after max_iter iterations.
    lr: float = positive(0.01)
    # SGD momentum of the clustering phase.
    momentum: float = count(0.9)
    # Samples per clustering step.
    batch_size: int = positive(256)
    # Clustering iterations between target refreshes.
    update_interval: int = positive(140)
    # Stop when fewer than this share of labels changed between refreshes.
    tol: float = count(0.001)
    # Clustering iterations at most.
    max_iter: int = positive(20000)


@dataclass
class DECConfig(DeepClusteringConfig):
    _target_: str = "mmc_bench.methods.dec.DEC"
    name: str = "dec"
