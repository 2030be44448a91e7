"""The interface every clustering method implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import torch

from mmc_bench.checkpoint import Checkpointer
from mmc_bench.config import Setting
from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.nn.losses import WeightedLoss
from mmc_bench.tracking import RunLog


@dataclass
class FitContext:
    """What a method gets besides the data: its seed, the device, and the run's log."""

    seed: int
    device: torch.device
    log: RunLog
    checkpoint: Checkpointer = field(default_factory=lambda: Checkpointer(None))


# An embedding only feeds the t-SNE figure (a sample of it); above this many values (n x d) a method
# leaves it out, since at 1e6 samples it would be the largest allocation of the whole run.
EMBEDDING_MAX_VALUES = 50_000_000


def keeps_embedding(n_samples: int, dim: int) -> bool:
    return n_samples * dim <= EMBEDDING_MAX_VALUES


@dataclass
class Prediction:
    """Hard labels for every sample, optionally soft assignments (n x K) and an embedding (n x d)."""

    labels: np.ndarray
    soft: np.ndarray | None = None
    embedding: np.ndarray | None = None


class ClusteringMethod(ABC):
    """Fit on the training part of a dataset, then predict any part of it.

    ``fit`` never sees labels: the runner passes data whose ``labels`` are removed. It returns the final
    training loss (the quantity a paper's lowest-loss protocol selects on), or None when there is none.
    """

    supported_settings: ClassVar[frozenset[Setting]] = frozenset({Setting.paired})
    # What one logged step of a phase is, where it is not an epoch (the figures' x axes).
    phase_units: ClassVar[dict[str, str]] = {}

    def __init__(self, config: Any):
        self.config = config

    @abstractmethod
    def fit(self, data: MultiViewDataset, ctx: FitContext) -> float | None: ...

    @abstractmethod
    def predict(self, data: MultiViewDataset) -> Prediction: ...

    def summary(self) -> dict[str, Any]:
        """Extra method-specific figures for metrics.json (e.g. learned view weights)."""
        return {}

    def loss_weights(self) -> dict[str, float]:
        """The weight of each logged term in the method's main loss (the figures draw terms as weighted)."""
        loss = getattr(self, "loss", None)
        return loss.weights if isinstance(loss, WeightedLoss) else {}
