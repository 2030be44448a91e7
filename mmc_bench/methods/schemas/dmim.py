"""The hyper-parameters of `dmim` (its YAML keys, defaults, ranges and choices), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from mmc_bench.config import MethodConfig, count, positive, widths


class KLMode(str, Enum):
    # the demo: KL(softmax eps || softmax z), z sampled from the Gaussian head
    softmax_sample = "softmax_sample"
    gaussian_analytic = "gaussian_analytic"  # the paper's intent: KL(N(mu, sigma) || N(0, I))


class PredictFrom(str, Enum):
    first_view = "first_view"  # the demo: argmax C(x_image)
    mean_probs = "mean_probs"


class PriorTarget(str, Enum):
    probs = "probs"  # the demo feeds softmax outputs to CrossEntropyLoss (a double softmax)
    log_probs = "log_probs"  # -sum y log C(x)


@dataclass
class DMIMConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.dmim.DMIM"
    name: str = "dmim"
    # Every view is PCA'd (fitted on the training part) to this dimension; a view with fewer dimensions
    # keeps them all and is zero-padded, since the encoder is shared.
    input_dim: int = positive(100)
    # Widths of the shared trunk (Linear, BN, ReLU).
    trunk_layers: list[int] = widths(100, 100, allow_empty=True)
    # Size of the Gaussian head's latent code (SIE term only).
    latent_dim: int = positive(100)
    # C' has overcluster_factor * K outputs; 0 removes the over-clustering head (paper Table 3).
    overcluster_factor: int = count(10)
    # Superfluous-information elimination term (L2); false for the "no SIE" ablation.
    sie: bool = True
    # SIE term: softmax_sample (the demo) or gaussian_analytic (the paper's intent).
    kl_mode: KLMode = KLMode.softmax_sample
    # lambda: weight of the superfluous-information elimination term.
    sie_weight: float = count(1.0)
    # Uniform-prior term (L3) on Sinkhorn-Knopp pseudo-labels refreshed every sinkhorn_every steps.
    uniform_prior: bool = True
    # Weight of the uniform-prior term.
    prior_weight: float = count(0.5)
    # probs: cross-entropy on softmax outputs (the demo); log_probs: -sum y log C(x).
    prior_target: PriorTarget = PriorTarget.probs
    # Steps between pseudo-label refreshes.
    sinkhorn_every: int = positive(5)
    # Exponent on the assignments before Sinkhorn-Knopp.
    sinkhorn_power: float = positive(10.0)
    # Sinkhorn-Knopp iterations at most.
    sinkhorn_max_iter: int = positive(75)
    # Sinkhorn-Knopp stops when the column scaling changes less than this.
    sinkhorn_tol: float = count(1e-2)
    # Adam learning rate.
    lr: float = positive(5e-4)
    # Passes over the data.
    epochs: int = count(500)
    # 0 = one full batch per epoch (the reference); > 0 = shuffled mini-batches of this size, for large N.
    batch_size: int = count(0)
    # With batch_size 0, data larger than this train in shuffled mini-batches of large_data_batch_size (the
    # batch-level mutual-information terms then use the batch's marginals), so memory stays bounded.
    # In mini-batch mode each step's pseudo-labels come from Sinkhorn-Knopp on that batch's own C(x_1):
    # refreshing all n labels every few steps would cost O(n^2 / batch) per epoch.
    full_batch_limit: int = positive(65536)
    # A step on 65536 samples holds ~1 GB of activations; at 1e6 samples this keeps the peak under 2 GB.
    large_data_batch_size: int = positive(16384)
    # Standard deviation of the Linear layers' normal initialisation.
    init_std: float = positive(0.02)
    # first_view: argmax C(x_1) (the demo); mean_probs: mean over views.
    predict_from: PredictFrom = PredictFrom.first_view
