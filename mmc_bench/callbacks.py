"""Hydra callbacks: refuse an output folder that cannot be written before any job starts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def ensure_writable(folder: Path, key: str) -> None:
    """Create ``folder`` and write a probe file in it; on failure print one sentence and exit 2."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".mmc_bench_write_probe"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        print(
            f"error: cannot write to the output folder {folder} ({exc.strerror or exc}); "
            f"choose a writable folder with {key}=DIR",
            file=sys.stderr,
        )
        sys.exit(2)


class OutputFolderCheck(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        ensure_writable(Path(config.hydra.run.dir), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        ensure_writable(Path(config.hydra.sweep.dir), "hydra.sweep.dir")
