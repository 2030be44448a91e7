"""The hyper-parameters of `dm2c` (its YAML keys, defaults, ranges and choices), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from mmc_bench.config import MethodConfig, count, positive, widths


@dataclass
class DM2CConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.dm2c.DM2C"
    name: str = "dm2c"
    # Hidden widths of every modality autoencoder; the last is the shared latent size (Wikipedia: 1024-256-128).
    autoencoder_layers: list[int] = widths(1024, 256, 128)
    # Per-modality overrides (one list per modality), e.g. the NUS code's image 512-256-128 / text 512-128.
    autoencoder_layers_per_view: list[list[int]] | None = None
    # Hidden widths of every latent-to-latent generator.
    generator_layers: list[int] = widths(128, 256, 128)
    # Hidden width of each Wasserstein critic.
    critic_hidden: int = positive(32)
    # The code puts LeakyReLU before BN in the encoders; the paper says BN then LeakyReLU.
    bn_before_activation: bool = False
    # Modality whose latent space unifies all samples (the paper: the image side, view 0).
    target_modality: int = 0
    # Pre-training: each autoencoder alone, MSE, Adam(betas 0.5/0.999, weight decay 1e-4); lr per modality.
    pretrain_epochs: int = count(150)
    # Adam learning rate per modality in pre-training (one entry: all).
    pretrain_lr: list[float] = field(default_factory=lambda: [1e-4, 1e-5])
    # Adam weight decay in pre-training.
    pretrain_weight_decay: float = count(1e-4)
    # Adversarial phase: RMSprop, autoencoders and generators in one step, critics on their own.
    epochs: int = count(220)
    # Samples per adversarial step (mixed over modalities).
    batch_size: int = positive(128)
    # RMSprop learning rate of the autoencoders.
    lr_autoencoder: float = positive(1e-4)
    # RMSprop learning rate of the generators.
    lr_generator: float = positive(5e-4)
    # RMSprop learning rate of the critics.
    lr_critic: float = positive(5e-5)
    # Weight of the cycle-consistency term.
    lambda_cycle: float = count(1.0)
    # Weight of the reconstruction term.
    lambda_reconstruction: float = count(1.0)
    # Weight of the adversarial terms (generators and critics).
    lambda_adversarial: float = count(0.5)
    # The code's extra term: reconstruct x from its cycled latent code (not in the paper).
    cycle_reconstruction: bool = True
    # Critic schedule: n_critic critic steps on the current batch before every critic_every-th generator
    # step. The code: critic_every=5, n_critic=1; the paper's Algorithm 1: critic_every=1, n_critic=5.
    critic_every: int = positive(5)
    # Critic steps per critic turn.
    n_critic: int = count(1)
    # Critic weights are clipped to [-clip_value, clip_value].
    clip_value: float = positive(0.05)
    # Inference: map every sample into the target space (true) or cluster each modality's own codes
    # pooled together (false, the paper's "without unification" ablation).
    unify: bool = True
    # k-means restarts at inference.
    kmeans_n_init: int = positive(20)
    # k-means iterations at most.
    kmeans_max_iter: int = positive(1000)
    # k-means tolerance.
    kmeans_tol: float = count(5e-5)
