"""The hyper-parameters of `eamc` (its YAML keys, defaults, ranges and choices), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from mmc_bench.config import MethodConfig, count, positive, widths


class KernelInput(str, Enum):
    hidden = "hidden"  # the DDC hidden layer (reference code)
    fused = "fused"  # the fused representation (the paper's K^f)


class Checkpoint(str, Enum):
    lowest_loss = "lowest_loss"  # the reference code: the evaluated state with the lowest full-data loss
    final = "final"  # the state after the last epoch


class DiscriminatorLoss(str, Enum):
    # The reference code: sigmoid, then binary_cross_entropy, whose log is clamped at -100. Once a
    # discriminator wins, D(h_v) saturates, gen sits at gamma * 100 and stops pushing the encoders.
    reference = "reference"
    # BCE on the logit (numerically stable, never saturates): gamma * gen keeps its gradient throughout.
    logits = "logits"


class EncoderKind(str, Enum):
    mlp = "mlp"
    conv = "conv"


@dataclass
class EAMCConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.eamc.EAMC"
    name: str = "eamc"
    # mlp for vector views, conv for images (image_shape).
    encoder: EncoderKind = EncoderKind.mlp
    # Encoder widths; the last is every view's representation size.
    encoder_layers: list[int] = widths(200, 200, 500)
    # (channels, height, width) of every view, for encoder=conv.
    image_shape: list[int] | None = None
    # Hidden widths of each discriminator (LeakyReLU), then a logit.
    discriminator_layers: list[int] = widths(256, 256, 128)
    # Hidden widths of the attention network (no activations, as in the paper).
    attention_layers: list[int] = widths(100, 50, allow_empty=True)
    # Temperature of softmax(sigmoid(.)/tau) over views.
    attention_tau: float = positive(10.0)
    # Width of the DDC hidden layer.
    cluster_hidden: int = positive(100)
    # Passes over the data.
    epochs: int = count(500)
    # Samples per step (the last partial batch is dropped).
    batch_size: int = positive(100)
    # Generator steps in each alternation cycle.
    gen_steps: int = positive(1)
    # Discriminator steps in each alternation cycle.
    disc_steps: int = positive(1)
    # Adam learning rate of the encoders.
    lr_encoder: float = positive(1e-5)
    # Adam learning rate of the discriminators.
    lr_discriminator: float = positive(1e-3)
    # Adam learning rate of the attention network.
    lr_attention: float = positive(1e-4)
    # Adam learning rate of the clustering module.
    lr_clustering: float = positive(1e-5)
    # Adam betas of the encoders.
    betas_encoder: list[float] = field(default_factory=lambda: [0.95, 0.999])
    # Adam betas of the discriminators.
    betas_discriminator: list[float] = field(default_factory=lambda: [0.5, 0.999])
    # Attention and clustering module (the reference code uses the encoders' betas for both).
    betas_other: list[float] = field(default_factory=lambda: [0.95, 0.999])
    # Gradient-norm clip of a generator step, over every parameter.
    clip_norm: float = positive(0.5)
    # Weight of the adversarial term gen.
    gamma: float = count(10.0)
    # reference: sigmoid + BCE with logs clamped at -100 (saturates); logits: BCE-with-logits.
    discriminator_loss: DiscriminatorLoss = DiscriminatorLoss.reference
    # Kernel width: sigma^2 = rel_sigma * median squared distance of the batch.
    rel_sigma: float = positive(0.15)
    # Ablation switches (paper Tables 4-5).
    adversarial: bool = True
    # Learned view weights (false: equal weights).
    attention: bool = True
    # Cauchy-Schwarz separation term.
    ddc1: bool = True
    # Orthogonality term.
    ddc2: bool = True
    # Simplex-corner term.
    ddc3: bool = True
    # The kernel's input: hidden (DDC hidden layer, reference code) or fused (paper).
    cs_kernel_on: KernelInput = KernelInput.hidden
    # Batch size of the full-data loss evaluation.
    eval_batch_size: int = positive(100)
    # Which state the run ends with. The reference code keeps the lowest full-data 'tot' (evaluated every
    # eval_interval epochs); as the adversarial term grows while the discriminator wins, that is often the
    # first evaluation, so the default keeps the final state (the protocol) and the other is an option.
    checkpoint: Checkpoint = Checkpoint.final
    # Epochs between evaluations for checkpoint=lowest_loss.
    eval_interval: int = positive(5)
