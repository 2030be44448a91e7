"""Batching by index and per-epoch averaging, shared by the training loops."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import torch
from torch import nn

Rows = TypeVar("Rows")


def adam(params: Any, **options: Any) -> torch.optim.Adam:
    """Adam with the fused kernel: on CPU, for CMMC's 11M parameters, the default per-tensor loop took 97 ms
    per step and the fused one 19 ms (docs/performance.md); the update is the same."""
    return torch.optim.Adam(params, fused=True, **options)


def sgd(params: Any, **options: Any) -> torch.optim.SGD:
    """SGD with the fused kernel (same reason as :func:`adam`)."""
    return torch.optim.SGD(params, fused=True, **options)


def rmsprop(params: Any, **options: Any) -> torch.optim.RMSprop:
    """RMSprop with the multi-tensor (foreach) update; torch has no fused RMSprop and on CPU defaults to the
    per-tensor loop, which took 12 % of a DM2C adversarial epoch. The update is the same (tested)."""
    return torch.optim.RMSprop(params, foreach=True, **options)


def optimizer_step(
    optimizer: torch.optim.Optimizer,
    loss: torch.Tensor,
    clip: tuple[Iterable[nn.Parameter], float] | None = None,
) -> None:
    """zero_grad, backward, optionally clip the gradient norm of ``clip[0]`` to ``clip[1]``, step."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip is not None:
        nn.utils.clip_grad_norm_(*clip)
    optimizer.step()


def accumulated_step(
    optimizer: torch.optim.Optimizer,
    n: int,
    chunks: Iterable[torch.Tensor],
    chunk_loss: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]],
) -> dict[str, float]:
    """One optimiser step on the mean loss over n samples, computed chunk by chunk so that memory is one
    chunk's: each chunk's mean loss, scaled by its share of n, adds its gradient, and the sum is the
    full-batch gradient. Returns the full-batch mean of every term."""
    optimizer.zero_grad(set_to_none=True)
    sums: dict[str, float] = {}
    for index in chunks:
        share = len(index) / n
        total, terms = chunk_loss(index)
        (total * share).backward()
        for name, value in {"total": total, **terms}.items():
            sums[name] = sums.get(name, 0.0) + float(value.detach()) * share
    optimizer.step()
    return sums


def epoch_batches(
    n: int,
    batch_size: int,
    generator: torch.Generator,
    drop_last: bool = True,
    device: torch.device | str = "cpu",
) -> list[torch.Tensor]:
    """A fresh shuffled split of range(n) into index batches on ``device`` (the data stay in place there;
    the order is drawn on the CPU, so it is the same on every device)."""
    batch_size = min(batch_size, n)
    order = torch.randperm(n, generator=generator)
    stop = n - n % batch_size if drop_last else n
    return [index.to(device) for index in order[:stop].split(batch_size)]


def sequential_batches(n: int, batch_size: int) -> list[torch.Tensor]:
    return list(torch.arange(n).split(batch_size))


def full_batches(n: int, batch_size: int) -> list[torch.Tensor]:
    """Consecutive batches of exactly ``batch_size`` (a short remainder is left out, since batch-level
    terms would be noisier on it), or one batch of everything when n is smaller."""
    batches = sequential_batches(n, batch_size)
    return batches if len(batches) == 1 else [b for b in batches if len(b) == batch_size]


def rows_in_chunks(
    n: int, chunk: int, compute: Callable[[torch.Tensor], Rows], device: torch.device | str = "cpu"
) -> Rows:
    """``compute(index)`` over consecutive chunks of range(n), its outputs (a tensor, or lists and dicts of
    tensors with one row per index) written into tensors of n rows allocated once.

    Why not a list of chunk outputs and one torch.cat: each small output kept alive between a chunk's large
    freed temporaries leaves a hole that glibc's heap cannot reuse, and RSS grew by one chunk's temporaries
    per chunk (a DEC encoder over 2e5 samples in chunks of 1024: 1.8 GB that way, 0.3 GB this way).
    """
    result: Any = None
    for index in sequential_batches(n, chunk):
        part = compute(index.to(device))
        if result is None:
            result = _map_tensors(part, lambda t: t.new_empty((n, *t.shape[1:])))
        _copy_rows(result, part, int(index[0]))
    return result


def _map_tensors(tree: Any, fn: Callable[[torch.Tensor], torch.Tensor]) -> Any:
    if isinstance(tree, torch.Tensor):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: _map_tensors(v, fn) for k, v in tree.items()}
    return [_map_tensors(v, fn) for v in tree]


def _copy_rows(out: Any, part: Any, start: int) -> None:
    if isinstance(out, torch.Tensor):
        out[start : start + len(part)] = part
    else:
        for key in out if isinstance(out, dict) else range(len(out)):
            _copy_rows(out[key], part[key], start)


class EpochMeans:
    """Sums detached loss values on their device and averages them once per epoch (one host sync per epoch)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = defaultdict(int)

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for name, value in values.items():
            value = value.detach()
            self.sums[name] = self.sums[name] + value if name in self.sums else value.clone()
            self.counts[name] += 1

    def means(self) -> dict[str, float]:
        if not self.sums:
            return {}
        stacked = torch.stack([self.sums[k] / self.counts[k] for k in self.sums]).cpu().tolist()
        return dict(zip(self.sums, stacked))


def means_of(steps: Iterable[dict[str, torch.Tensor]]) -> dict[str, float]:
    """The mean of each scalar over the steps (a generator's return value, a dict, is merged in)."""
    means, iterator = EpochMeans(), iter(steps)
    while True:
        try:
            means.add(next(iterator))
        except StopIteration as stop:
            return {**means.means(), **(stop.value or {})}
