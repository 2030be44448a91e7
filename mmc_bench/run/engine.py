"""The one training engine under every method.

A method declares its phases (a name, an epoch count, what one epoch does); the :class:`Trainer` owns the
rest: seeding, the batch-order generator, the phase loop with its progress bar, per-epoch records to every
tracker and to the console/app.log, the non-finite-loss stop, SIGINT/SIGTERM stops at epoch ends, periodic
checkpoints and a bit-exact resume across phases, and each phase's timing.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import torch
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from mmc_bench.errors import TrainingDiverged, UserError
from mmc_bench.nn.training import epoch_batches, means_of, optimizer_step
from mmc_bench.run.checkpoint import CHECKPOINT_FILE, Checkpointer
from mmc_bench.run.compiling import StepCompiler, compile_seconds
from mmc_bench.run.tracking import RunLog

if TYPE_CHECKING:
    from mmc_bench.data.dataset import MultiViewDataset

console = logging.getLogger("mmc_bench")
# Rows per no-grad evaluation chunk (prediction, full-data losses, features for k-means).
DEFAULT_EVAL_CHUNK = 8192


@dataclass
class Phase:
    """One stage of training, in one of two forms.

    Minibatch form (the engine runs the loop): ``step(index)`` returns one batch's (total, terms) for the
    sample indices ``index``; each epoch the engine puts ``train`` in training mode, draws a shuffled split of
    ``range(n_samples)`` into batches of ``batch_size`` (``drop_last``), and for each batch calls ``step``,
    then zero_grad, backward and ``optimizer.step()``.

    Generator form, for alternating optimisers and host-side work between steps (manual optimisation, as
    in Lightning): ``run_epoch(epoch)`` does one epoch (or round) and returns its mean scalars, or is a
    generator that yields each step's scalars (the engine averages them, and merges the dict it returns),
    or returns None when the phase has converged and ends early.

    ``start`` runs once when the phase begins at its first epoch (not when a resumed run continues inside it);
    ``unit`` names what one of its epochs is.
    """

    name: str
    epochs: int
    run_epoch: Callable[[int], dict[str, float] | Iterator[dict[str, Any]] | None] | None = None
    start: Callable[[], None] | None = None
    unit: str = "epoch"
    step: Callable[[torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]] | None = None
    n_samples: int = 0
    batch_size: int = 0
    optimizer: torch.optim.Optimizer | None = None
    train: torch.nn.Module | None = None
    drop_last: bool = True

    def __post_init__(self) -> None:
        if (self.run_epoch is None) == (self.step is None):
            raise TypeError(f"phase {self.name!r} needs exactly one of run_epoch (generator form) or step")
        if self.step is not None and (self.optimizer is None or self.batch_size < 1 or self.n_samples < 1):
            raise TypeError(
                f"phase {self.name!r}: the minibatch form needs optimizer, batch_size and n_samples"
            )


@dataclass
class FitContext:
    """What the engine hands a method's ``setup``: seed, device, the batch-order generator, the chunk size of
    no-grad evaluation, and ``record`` for extra per-epoch rows (e.g. an evaluation phase)."""

    seed: int
    device: torch.device
    order: torch.Generator
    eval_chunk: int = DEFAULT_EVAL_CHUNK
    record: Callable[[str, int, dict[str, float]], None] = lambda phase, epoch, scalars: None


@dataclass
class FitResult:
    """The final loss terms (None for a method without a loss), each phase's timing, and what a phase's
    step counts where it is not an epoch (for the figures' axes)."""

    final_terms: dict[str, float] | None
    timing: dict[str, dict[str, float]] = field(default_factory=dict)
    phase_units: dict[str, str] = field(default_factory=dict)

    @property
    def final_loss(self) -> float | None:
        return None if self.final_terms is None else self.final_terms.get("total")


class TrainableMethod(Protocol):
    """What the engine reads of a method (``mmc_bench.methods.base.ClusteringMethod`` implements it)."""

    name: str
    # Attributes the engine saves and restores (through state_dict / load_state_dict).
    checkpointed: ClassVar[tuple[str, ...]]
    # Step functions that compile=true runs through torch.compile (mmc_bench.run.compiling).
    compiled_steps: ClassVar[tuple[str, ...]]
    # True when a compiled step's batch shapes change from step to step (one dynamic graph).
    dynamic_step_shapes: ClassVar[bool]

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]: ...

    def end_fit(self) -> None: ...

    def final_loss(self) -> dict[str, float] | None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


def seed_everything(seed: int) -> None:
    """Python, numpy and torch generators, and torch's deterministic kernels (CPU runs are bit-reproducible)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` is CUDA when available, else the CPU; an unavailable CUDA device is refused."""
    name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            f"device={name} was asked for but CUDA is not available here; use device=auto or device=cpu"
        )
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"device={name} is not a device name; use auto, cpu, cuda or cuda:N") from None


class Trainer:
    """Runs a method's phases. ``log`` receives every epoch's scalars (in memory only by default);
    ``checkpoint`` saves and resumes; ``log_every`` is the epoch interval of console/app.log lines;
    ``compile`` (auto, true, false) runs the method's ``compiled_steps`` through torch.compile
    (:mod:`mmc_bench.run.compiling`)."""

    def __init__(
        self,
        log: RunLog | None = None,
        checkpoint: Checkpointer | None = None,
        log_every: int = 10,
        eval_chunk: int = DEFAULT_EVAL_CHUNK,
        progress: bool | None = None,
        compile: str | bool = "auto",
        compile_backend: Any = "inductor",
        cuda_graphs: bool = False,
        describe_run: str = "",
    ):
        self.log = log if log is not None else RunLog()
        self.checkpoint = checkpoint if checkpoint is not None else Checkpointer(None)
        self.log_every = log_every
        self.eval_chunk = eval_chunk
        # A bar on a terminal only, so that a batch job's log holds lines, not bar redraws.
        self.progress = sys.stderr.isatty() if progress is None else progress
        self._pending: list[tuple[str, dict[str, float]]] = []
        self.compile, self.compile_backend, self.cuda_graphs = compile, compile_backend, cuda_graphs
        # The run's data, setting and output folder, for the plan line printed when training starts.
        self.describe_run = describe_run

    def fit(
        self, method: TrainableMethod, data: MultiViewDataset, seed: int, device: torch.device
    ) -> FitResult:
        seed_everything(seed)
        order = torch.Generator().manual_seed(seed)
        ctx = FitContext(seed, device, order, self.eval_chunk, self._record)
        compiler = StepCompiler(self.compile, device, self.compile_backend, self.cuda_graphs)
        phases = method.setup(data, ctx)
        console.info("%s", plan_line(method.name, phases, self.describe_run))
        position = self._resume(method, order, phases)
        timing: dict[str, dict[str, float]] = {}
        compiler.wrap(method)
        # Log lines go above the bar (tqdm.write), never into its line.
        redirect = logging_redirect_tqdm(console_loggers()) if self.progress else _no_redirect()
        try:
            with self.checkpoint.stop, redirect:
                offset = 0
                for phase in phases:
                    first = position - offset if position > offset else 0
                    if first < phase.epochs:
                        timing[phase.name] = self._run_phase(
                            method, phase, first, offset, order, device, compiler
                        )
                    offset += phase.epochs
        finally:
            compiler.unwrap(method)
        method.end_fit()
        # Training is over: a fresh seed makes any sampling in the final evaluation reproducible.
        torch.manual_seed(seed)
        final = method.final_loss()
        if final is None:
            final = self._last_terms(phases)
        if final:
            self.log.scalars("final_loss", final)
        self.checkpoint.clear()
        return FitResult(final, timing, {p.name: p.unit for p in phases if p.unit != "epoch"})

    def _run_phase(
        self,
        method: TrainableMethod,
        phase: Phase,
        first: int,
        offset: int,
        order: torch.Generator,
        device: torch.device,
        compiler: StepCompiler,
    ) -> dict[str, float]:
        if first == 0 and phase.start is not None:
            phase.start()
        compiler.phase_start()
        calls, first_compiled = compiler.compiled_calls(), None
        bar = tqdm(
            total=phase.epochs,
            initial=first,
            desc=f"{method.name} {phase.name}",
            disable=not self.progress,
            leave=False,
        )
        seconds: list[float] = []
        for epoch in range(first, phase.epochs):
            began = time.perf_counter()
            scalars = (
                phase.run_epoch(epoch) if phase.run_epoch else self._minibatch_epoch(phase, order, device)
            )
            if isinstance(scalars, Iterator):  # a generator of step scalars: the epoch's means
                scalars = means_of(scalars)
            if scalars is None:
                console.info(
                    "%s %s converged: stopped before %s %d/%d",
                    method.name,
                    phase.name,
                    phase.unit,
                    epoch + 1,
                    phase.epochs,
                )
                break
            seconds.append(time.perf_counter() - began)
            if first_compiled is None and compiler.compiled_calls() > calls:
                first_compiled = len(seconds) - 1
            compiler.after_epoch(seconds, phase.epochs - epoch - 1)
            rows, self._pending = [(phase.name, scalars), *self._pending], []
            for row_phase, row in rows:
                stop_if_diverged(epoch, row_phase, row)
                self.log.epoch(epoch, row, phase=row_phase)
            bar.update()
            # One term keeps the bar's width whatever the method logs; every term is in the console lines.
            bar.set_postfix(main_terms(scalars, limit=1))
            if len(seconds) == 1 and phase.epochs - epoch > 1:
                console.info("%s", estimate_line(method.name, phase, seconds[0], phase.epochs - epoch - 1))
            if (epoch + 1) % self.log_every == 0 or epoch == phase.epochs - 1:
                self._console_line(method.name, phase, epoch, scalars)
            self.checkpoint.end_of_epoch(
                offset + epoch, lambda at=offset + epoch: self._state(method, order, at)
            )
        bar.close()
        compile_s = compile_seconds(seconds, first_compiled)
        if first_compiled is not None:
            console.info("%s %s: steps compiled in %.1f s", method.name, phase.name, compile_s)
        return phase_timing(seconds, compile_s)

    def _minibatch_epoch(
        self, phase: Phase, order: torch.Generator, device: torch.device
    ) -> Iterator[dict[str, torch.Tensor]]:
        """One epoch of a minibatch-form phase: its step's scalars, batch by batch."""
        if phase.train is not None:
            phase.train.train()
        for index in epoch_batches(phase.n_samples, phase.batch_size, order, phase.drop_last, device):
            total, terms = phase.step(index)
            optimizer_step(phase.optimizer, total)
            yield {"total": total, **terms}

    def _console_line(self, name: str, phase: Phase, epoch: int, scalars: dict[str, float]) -> None:
        terms = " ".join(f"{k}={v}" for k, v in main_terms(scalars, limit=len(scalars)).items())
        console.info("%s %s %s %d/%d: %s", name, phase.name, phase.unit, epoch + 1, phase.epochs, terms)

    def _record(self, phase: str, epoch: int, scalars: dict[str, float]) -> None:
        """Extra rows of an epoch are written after its own row."""
        self._pending.append((phase, scalars))

    def _last_terms(self, phases: list[Phase]) -> dict[str, float] | None:
        """Without a final evaluation of its own, a method's final loss is its last epoch's mean."""
        names = {p.name for p in phases}
        rows = [r for r in self.log.rows if r["phase"] in names]
        if not rows or "total" not in rows[-1]:
            return None
        return {k: float(v) for k, v in rows[-1].items() if k not in ("phase", "epoch")}

    def _state(self, method: TrainableMethod, order: torch.Generator, position: int) -> dict[str, Any]:
        return {
            "format": 2,
            "position": position,
            "method": method.state_dict(),
            "batch_order": order.get_state(),
            "torch_rng": torch.get_rng_state(),
            "history": list(self.log.rows),
        }

    def _resume(self, method: TrainableMethod, order: torch.Generator, phases: list[Phase]) -> int:
        """The first overall epoch to run: 0 for a fresh start, else one past the checkpoint's."""
        saved = self.checkpoint.load()
        if saved is None:
            return 0
        if not isinstance(saved, dict) or saved.get("format") != 2:
            raise UserError(
                f"{CHECKPOINT_FILE} in the run folder was written by an older mmc_bench and cannot be resumed; "
                "delete it (the run then starts over) or run with resume=false"
            )
        method.load_state_dict(saved["method"])
        order.set_state(saved["batch_order"])
        torch.set_rng_state(saved["torch_rng"])
        self.log.restore(saved["history"])
        return saved["position"] + 1


def stop_if_diverged(epoch: int, phase: str, scalars: dict[str, float]) -> None:
    """A non-finite value of any logged term ends the run as diverged (recorded as failed at this epoch)."""
    for name, value in scalars.items():
        if not math.isfinite(value):
            raise TrainingDiverged(epoch, f"{phase}/{name}", value)


def main_terms(scalars: dict[str, float], limit: int = 4) -> dict[str, str]:
    """The progress bar's and console line's terms: 'total' first, then the first others."""
    names = sorted(scalars, key=lambda k: k != "total")[:limit]
    return {k: f"{scalars[k]:.4g}" for k in names}


def plan_line(name: str, phases: list[Phase], describe_run: str = "") -> str:
    """What a fit is about to do: 'eamc on digits (...): train 500 epochs; outputs in DIR'."""
    plan = " + ".join(f"{p.name} {p.epochs} {p.unit}{'s' if p.epochs != 1 else ''}" for p in phases)
    head = f"{name} {describe_run}".rstrip()
    return f"{head}: {plan or 'fitted directly, no training epochs'}"


def estimate_line(name: str, phase: Phase, first_s: float, remaining: int) -> str:
    """After a phase's first epoch: its time, and the phase's remaining time if later epochs take as long
    (the first one also pays set-up, so this errs long)."""
    return (
        f"{name} {phase.name}: first {phase.unit} took {first_s:.2f} s; the other {remaining} "
        f"{phase.unit}s of this phase take about {format_seconds(first_s * remaining)}"
    )


def format_seconds(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def console_loggers() -> list[logging.Logger]:
    """The loggers on our way to the terminal that print there (Hydra's root logger, the API's own)."""

    def prints(logger: logging.Logger) -> bool:
        return any(
            isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) in (sys.stdout, sys.stderr)
            for h in logger.handlers
        )

    return [logger for logger in (console, logging.root) if prints(logger)]


@contextlib.contextmanager
def _no_redirect() -> Iterator[None]:
    yield


def phase_timing(seconds: list[float], compile_s: float = 0.0) -> dict[str, float]:
    """Median seconds per epoch after the first (which pays the set-up and any compilation), the epoch
    count, and the seconds spent compiling the phase's steps."""
    steady = seconds[1:] or seconds
    return {
        "epochs": len(seconds),
        "s_per_epoch": round(statistics.median(steady), 6) if steady else 0.0,
        "first_epoch_s": round(seconds[0], 6) if seconds else 0.0,
        "compile_s": round(float(compile_s), 6),
    }
