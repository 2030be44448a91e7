"""Per-run logging: every loss term per epoch to TensorBoard and to history.csv, and a terminal progress bar."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from mmc_bench.errors import TrainingDiverged


class RunLog:
    """Collects per-epoch scalars; with a directory it also writes TensorBoard events there."""

    def __init__(self, run_dir: Path | None = None):
        self.run_dir = run_dir
        self.rows: list[dict[str, Any]] = []
        self._writer = None
        if run_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def epoch(self, epoch: int, scalars: dict[str, float], phase: str = "train") -> None:
        """Record one epoch's scalars; a non-finite value stops the run as diverged."""
        for name, value in scalars.items():
            if not math.isfinite(value):
                raise TrainingDiverged(epoch, f"{phase}/{name}", value)
        self.rows.append({"phase": phase, "epoch": epoch, **scalars})
        for name, value in scalars.items():
            self.scalar(f"{phase}/{name}", value, epoch)

    def scalar(self, tag: str, value: float, step: int = 0) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, value, step)

    def scalars(self, tag: str, values: dict[str, float], step: int = 0) -> None:
        for name, value in values.items():
            self.scalar(f"{tag}/{name}", value, step)

    def hparams(self, params: dict[str, Any], metrics: dict[str, float]) -> None:
        """The run's hyper-parameters and final metrics for TensorBoard's HPARAMS tab (runs compared there)."""
        if self._writer is not None:
            self._writer.add_hparams(params, metrics, run_name=".")

    def progress(self, items: Iterable[int], desc: str, total: int | None = None) -> tqdm:
        """A progress bar on a terminal, silent otherwise (logs of batch jobs stay clean)."""
        return tqdm(items, desc=desc, total=total, disable=not sys.stderr.isatty(), leave=False)

    def history(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=None if self.rows else ["phase", "epoch"])

    def close(self) -> None:
        if self._writer is not None:
            self._writer.flush()
            self._writer.close()
