"""A loss as a weighted sum of named terms computed from shared tensors, each term logged on its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

Term = Callable[[Mapping[str, Any]], torch.Tensor]


class WeightedLoss:
    """``terms`` maps a name to (function of the shared tensors, weight); weight-0 terms are never computed."""

    def __init__(self, terms: Mapping[str, tuple[Term, float]]):
        self.terms = {name: (fn, w) for name, (fn, w) in terms.items() if w != 0}

    @property
    def names(self) -> list[str]:
        return list(self.terms)

    @property
    def weights(self) -> dict[str, float]:
        return {name: w for name, (_, w) in self.terms.items()}

    def __call__(self, tensors: Mapping[str, Any]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        values = {name: fn(tensors) for name, (fn, _) in self.terms.items()}
        total = sum((w * values[name] for name, (_, w) in self.terms.items()), torch.zeros(()))
        return total, values
