"""The hyper-parameters of `jecl` (its YAML keys, defaults, ranges and choices), importable without torch."""

from __future__ import annotations

from dataclasses import dataclass

from mmc_bench.config import count
from mmc_bench.methods.schemas.dec import DeepClusteringConfig


@dataclass
class JECLConfig(DeepClusteringConfig):
    _target_: str = "mmc_bench.methods.jecl.JECL"
    name: str = "jecl"
    gamma: float = count(0.1)  # weight of the Jensen-Shannon alignment term
    beta: float = count(0.1)  # weight of the cluster-balance regulariser
    # lambda_v of the joint target; null = equal weights 1/V (the paper's lambda = 0.5 for two views).
    view_weights: list[float] | None = None
    # Ablation switches (paper Table II): without alignment, without regulariser, without both.
    alignment: bool = True
    # The cluster-balance term (false for the ablation).
    regularizer: bool = True
    # Re-check the Hungarian alignment of the views' clusters at every target update (the notes' advice).
    realign: bool = True
