"""``torch.compile`` for a method's step functions, with eager as the reference.

A method names the functions that compute one step's forward pass and loss terms in ``compiled_steps``
(the backward runs through the graph's compiled backward; the optimiser update stays eager: fused Adam is
one kernel already, and compiling the update cost EAMC 139 s). The engine wraps each of them in a
:class:`CompiledStep`: per value of its non-tensor arguments (CMMC's phase name, a stack index) one graph,
for the first batch shapes it sees; other shapes (the last partial batch) run the eager function, so no
epoch makes a new graph. Random draws inside a step use torch's eager generator (inductor's
``fallback_random``), so that a compiled run draws the same noise as an eager one.

``compile=auto`` compiles only where it can pay: on CUDA, for a phase whose remaining eager time after its
second epoch exceeds ``AUTO_MIN_PHASE_S``, going back to eager for the rest of the phase when the compiled
epoch is not faster. On the CPU ``auto`` is eager: on this project's 2-core machine the compiled steps
were no faster than eager for any method (docs/performance.md).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

import torch

from mmc_bench.config import compile_mode

# Remaining eager seconds of a phase above which auto tries compiled steps (on CUDA).
AUTO_MIN_PHASE_S = 60.0


def _signature(tree: Any) -> tuple:
    """What selects a step's graph: the shapes and dtypes of every tensor in nested lists, tuples and dicts,
    and the values of the other arguments (a stack index, a flag)."""
    if isinstance(tree, torch.Tensor):
        return (tuple(tree.shape), tree.dtype)
    if isinstance(tree, dict):
        return tuple((k, _signature(v)) for k, v in tree.items())
    if isinstance(tree, (list, tuple)):
        return tuple(_signature(v) for v in tree)
    return (tree,)


def _static(tree: Any) -> tuple:
    """The non-tensor arguments alone: each of their values has a graph of its own."""
    if isinstance(tree, torch.Tensor):
        return ()
    if isinstance(tree, dict):
        return tuple(_static(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return tuple(_static(v) for v in tree)
    return (tree,)


class CompiledStep:
    """``fn`` through ``torch.compile``: per value of its non-tensor arguments, the first tensor shapes it
    sees run the graph; any other shapes (the last partial batch) run eager, as does every call while
    ``enabled`` is False. ``compiled_calls`` counts the calls that ran a graph."""

    def __init__(
        self, fn: Callable, backend: Any = "inductor", dynamic: bool = False, cuda_graphs: bool = False
    ):
        self.eager = fn
        options = (
            {"fallback_random": True, "triton.cudagraphs": cuda_graphs} if backend == "inductor" else None
        )
        self.compiled = torch.compile(fn, backend=backend, dynamic=dynamic, options=options)
        self.dynamic = dynamic
        self.signatures: dict[tuple, tuple] = {}
        self.enabled = True
        self.compiled_calls = 0

    def __call__(self, *args: Any) -> Any:
        if not self.enabled:
            return self.eager(*args)
        if not self.dynamic:
            signature = _signature(args)
            if self.signatures.setdefault(_static(args), signature) != signature:
                return self.eager(*args)
        self.compiled_calls += 1
        return self.compiled(*args)


class StepCompiler:
    """Wraps a method's ``compiled_steps`` for one fit and decides, epoch by epoch, which run compiled.
    ``cuda_graphs`` also replays each CUDA graph whole (inductor's cudagraphs; fixed shapes only)."""

    def __init__(self, mode: Any, device: torch.device, backend: Any = "inductor", cuda_graphs: bool = False):
        self.mode, self.device, self.backend = compile_mode(mode), device, backend
        self.cuda_graphs = cuda_graphs and device.type == "cuda"
        self.steps: dict[str, CompiledStep] = {}

    @property
    def active(self) -> bool:
        return self.mode == "true" or (self.mode == "auto" and self.device.type == "cuda")

    def wrap(self, method: Any) -> None:
        if not self.active:
            return
        # Graphs of an earlier fit in this process (a sweep's previous job) guard on other objects and would
        # count towards dynamo's recompilation limit, past which it silently runs eager.
        torch.compiler.reset()
        dynamic = method.dynamic_step_shapes
        for name in method.compiled_steps:
            step = CompiledStep(getattr(method, name), self.backend, dynamic, self.cuda_graphs)
            step.enabled = self.mode == "true"
            self.steps[name] = step
            setattr(method, name, step)

    def unwrap(self, method: Any) -> None:
        """The method's own functions back (a fitted method is copied and pickled without graphs)."""
        for name in self.steps:
            method.__dict__.pop(name, None)

    def compiled_calls(self) -> int:
        return sum(step.compiled_calls for step in self.steps.values())

    def after_epoch(self, epoch_seconds: list[float], epochs_left: int) -> None:
        """``auto``: the phase's first two epochs run eager (the second is the steady eager time); then the
        steps compile if the rest of the phase would take longer than ``AUTO_MIN_PHASE_S`` eager; the second
        compiled epoch (the first pays the compilation) must beat the eager one, or the rest is eager."""
        if self.mode != "auto" or not self.steps:
            return
        if len(epoch_seconds) == 2 and epoch_seconds[1] * epochs_left > AUTO_MIN_PHASE_S:
            self._enable(True)
        elif len(epoch_seconds) == 4 and self.enabled and epoch_seconds[3] >= epoch_seconds[1]:
            self._enable(False)

    @property
    def enabled(self) -> bool:
        return any(step.enabled for step in self.steps.values())

    def phase_start(self) -> None:
        if self.mode == "auto":
            self._enable(False)

    def _enable(self, on: bool) -> None:
        for step in self.steps.values():
            step.enabled = on


def compile_seconds(seconds: list[float], first_compiled: int | None) -> float:
    """A phase's compilation time: its first compiled epoch (which traces and generates the forward and,
    at its first backward, the backward graphs) less the median of the compiled epochs after it (or of
    the eager ones before it when none followed)."""
    if first_compiled is None:
        return 0.0
    later = seconds[first_compiled + 1 :] or seconds[1:first_compiled] or seconds[:first_compiled]
    return max(seconds[first_compiled] - statistics.median(later), 0.0) if later else seconds[first_compiled]
