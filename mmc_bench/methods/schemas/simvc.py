"""The hyper-parameters of `simvc` and `comvc` (their YAML keys, defaults, ranges and choices), importable
without torch."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from mmc_bench.config import MethodConfig, count, positive, ranged, widths


class Fusion(str, Enum):
    weighted_mean = "weighted_mean"  # softmax of one learned weight per view (the papers' SiMVC/CoMVC)
    mean = "mean"  # fixed weights 1/V


class EncoderKind(str, Enum):
    mlp = "mlp"
    conv = "conv"  # the reference code's image encoder (two blocks of 5x5/3x3 convolutions, BN, max-pool)


class Checkpoint(str, Enum):
    lowest_loss = "lowest_loss"  # the reference code: the evaluated state with the lowest selection term
    final = "final"  # the state after the last epoch


class SelectionTerm(str, Enum):
    ddc1 = "ddc1"  # the reference code's best_loss_term
    total = (
        "total"  # the sum of the DDC terms (the contrastive term excluded, as in the reference's evaluation)
    )


@dataclass
class SiMVCConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.simvc.SiMVC"
    name: str = "simvc"
    # mlp for vector views, conv for images (image_shape).
    encoder: EncoderKind = EncoderKind.mlp
    # Encoder widths (ReLU after each); the last is every view's representation size.
    encoder_layers: list[int] = widths(512, 512, 256)
    # (channels, height, width) of every view, for encoder=conv.
    image_shape: list[int] | None = None
    # weighted_mean: learned softmax view weights; mean: 1/V each.
    fusion: Fusion = Fusion.weighted_mean
    # Width of the DDC hidden layer (Linear, ReLU, BatchNorm).
    cluster_hidden: int = positive(100)
    # Passes over the data.
    epochs: int = count(100)
    # Samples per step (the last partial batch is dropped).
    batch_size: int = positive(100)
    # Adam learning rate.
    lr: float = positive(1e-3)
    # Multiply the learning rate by lr_gamma every lr_step epochs (0: constant; the reference's StepLR).
    lr_step: int = count(0)
    # The factor of each learning-rate step.
    lr_gamma: float = positive(0.1)
    # Gradient-norm clip of every step, over every parameter; 0: none. The reference code configures 5 but
    # hands its clip an already-consumed parameter generator, so it never clips; 0 is that behaviour.
    clip_norm: float = ranged(0.0, 0)
    # Kernel width: sigma^2 = rel_sigma * median squared distance of the batch's DDC hidden layer.
    rel_sigma: float = positive(0.15)
    # lowest_loss: keep the evaluated state with the lowest selection term (reference code); final: the last.
    checkpoint: Checkpoint = Checkpoint.lowest_loss
    # The term checkpoint=lowest_loss and the final loss select on.
    selection_term: SelectionTerm = SelectionTerm.ddc1
    # Evaluate the loss on the full data every N epochs (the reference code: 4).
    eval_interval: int = positive(4)
    # Samples per batch of that evaluation (the kernel terms are batch-level; reference: the batch size).
    eval_batch_size: int = positive(100)


@dataclass
class CoMVCConfig(SiMVCConfig):
    _target_: str = "mmc_bench.methods.simvc.CoMVC"
    name: str = "comvc"
    # Weight delta of the contrastive term.
    delta: float = count(0.1)
    # Temperature of the cosine similarities.
    tau: float = positive(0.1)
    # Negatives per anchor as a share of V x batch, drawn from other predicted clusters; -1: every other
    # sample of both views is a negative (two views only; the paper's SimCLR form).
    negative_ratio: float = ranged(0.25, -1)
    # Scale the contrastive term by the smallest fusion weight (the paper's adaptive weight).
    adaptive_weight: bool = True
    # Widths of a projection head before the contrastive term (empty: none, the reference's default).
    projector_layers: list[int] = widths(allow_empty=True)
