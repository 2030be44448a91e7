"""The hyper-parameters of `cmmc` (its YAML keys, defaults, ranges and choices), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from mmc_bench.config import MethodConfig, count, positive, widths


class HeadDepth(str, Enum):
    linear = "linear"  # the reference code: Linear(latent, 128) and Linear(latent, K)
    mlp = "mlp"  # the paper: latent-512-128 and latent-512-K


class PseudoLabel(str, Enum):
    per_view = "per_view"  # the code: k-means on each view's min-max scaled features
    concat = "concat"  # the paper: one k-means on the concatenated features of all views


class CrossEntropyOn(str, Enum):
    probs = "probs"  # the code feeds softmax outputs to CrossEntropyLoss (a double softmax)
    log_probs = "log_probs"  # the paper: -sum p log q


@dataclass
class CMMCConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.cmmc.CMMC"
    name: str = "cmmc"
    # Autoencoder widths per view; the last is the latent size.
    encoder_layers: list[int] = widths(500, 500, 2000, 512)
    # Size of the feature head's L2-normalised output.
    feature_dim: int = positive(128)
    # linear heads (the code) or latent-512-out MLPs (the paper).
    head_depth: HeadDepth = HeadDepth.linear
    # Temperature of the feature NT-Xent.
    tau_feature: float = positive(0.5)
    # Temperature of the cluster-column NT-Xent.
    tau_label: float = positive(1.0)
    # Weight of the cluster-balance (negative entropy) term.
    balance_weight: float = count(1.0)
    # Adam learning rate (all phases).
    lr: float = positive(3e-4)
    # Samples per step of pre-training and contrastive learning.
    batch_size: int = positive(256)
    # Autoencoder pre-training epochs (MSE).
    pretrain_epochs: int = count(200)
    # Per dataset in the paper: BDGP 10, MNIST-USPS 50, CCV 50, Caltech 50, Fashion 100 (experiment/ YAMLs).
    contrastive_epochs: int = count(50)
    # Full-batch steps in the code (50); the paper trains 30 epochs.
    finetune_epochs: int = count(50)
    # 0 = the whole dataset in one batch per fine-tuning epoch (the code); > 0 = shuffled mini-batches.
    finetune_batch_size: int = count(0)
    # A full-batch fine-tuning step over more samples than this is computed in chunks of this size (same
    # gradient, memory bounded by the chunk's activations); below it, one forward pass as in the code. Every
    # shared data set fits in one chunk.
    finetune_chunk: int = positive(8192)
    # per_view: k-means on each view's features (the code); concat: one k-means (the paper).
    pseudo_label: PseudoLabel = PseudoLabel.per_view
    # probs: cross-entropy on softmax outputs (the code); log_probs: -sum p log q (the paper).
    ce_on: CrossEntropyOn = CrossEntropyOn.probs
    # k-means restarts for the pseudo-labels.
    kmeans_n_init: int = positive(100)
