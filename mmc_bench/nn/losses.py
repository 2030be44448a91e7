"""A loss as a weighted sum of named terms computed from shared tensors, each term logged on its own."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import combinations
from typing import Any

import torch

Term = Callable[[Mapping[str, Any]], torch.Tensor]


class over_view_pairs:  # noqa: N801 - used like the function it replaces, as a loss term's factory
    """A term summed over every pair of views v < w of the shared tensors' ``views``. A class rather than a
    closure so that a fitted model pickles (with a module-level or ``functools.partial`` pair term)."""

    def __init__(self, pair_term: Callable[[Any, Any], torch.Tensor]):
        self.pair_term = pair_term

    def __call__(self, t: Mapping[str, Any]) -> torch.Tensor:
        views = t["views"]
        return sum(self.pair_term(views[v], views[w]) for v, w in combinations(range(len(views)), 2))


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


class SaturatingBCE(torch.autograd.Function):
    """torch's binary_cross_entropy on probabilities, written out so that a NaN input gives a NaN loss (and
    so a diverged run) instead of a range error (CPU) or a device-side assert (CUDA). Forward and backward are
    the formulas of torch's kernels: logs clamped at -100, gradient (p - y) / max(p (1 - p), 1e-12)."""

    @staticmethod
    def forward(ctx: Any, probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(probs, target)
        log_p = torch.log(probs).clamp_min(-100.0)
        log_q = torch.log1p(-probs).clamp_min(-100.0)
        return ((target - 1) * log_q - target * log_p).mean()

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        probs, target = ctx.saved_tensors
        scale = grad / probs.numel()
        return scale * (probs - target) / ((1 - probs) * probs).clamp_min(1e-12), None
