"""Hydra callbacks: refuse an unwritable output folder before any job starts, and end a sweep with a
summary line and a non-zero exit when any of its jobs failed."""

from __future__ import annotations

import json
import os
import shutil
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from mmc_bench.run.storage import write_text_atomic

# Each job of a sweep leaves its outcome here; the sweep's own id keeps two sweeps into one folder apart.
LEDGER_DIR = ".mmc_jobs"
LEDGER_ENV = "MMC_BENCH_SWEEP_ID"


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


def _ledger(sweep_dir: Path) -> Path:
    return sweep_dir / LEDGER_DIR / os.environ.get(LEDGER_ENV, "sweep")


def record_job_outcome(status: str, run_dir: Path) -> None:
    """Called by every job of a sweep: completed, skipped, failed, refused or interrupted."""
    hydra_cfg = HydraConfig.get()
    ledger = _ledger(Path(hydra_cfg.sweep.dir))
    try:
        ledger.mkdir(parents=True, exist_ok=True)
        entry = {"status": status, "run_dir": str(run_dir)}
        write_text_atomic(ledger / f"{hydra_cfg.job.num}.json", json.dumps(entry))
    except OSError:
        pass  # the job's own message was printed; only the summary line will miss it


def sweep_outcomes(ledger: Path) -> list[dict[str, Any]]:
    entries = []
    for path in sorted(ledger.glob("*.json")) if ledger.is_dir() else []:
        try:
            entries.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return entries


def summary_line(entries: list[dict[str, Any]]) -> str:
    counts = Counter("failed" if e["status"] == "refused" else e["status"] for e in entries)
    parts = [f"{counts.get(s, 0)} {s}" for s in ("completed", "failed", "skipped")]
    if counts.get("interrupted"):
        parts.append(f"{counts['interrupted']} interrupted")
    failed = [e["run_dir"] for e in entries if e["status"] in ("failed", "refused")]
    line = f"sweep: {len(entries)} jobs: " + ", ".join(parts)
    return line + (f"; failed: {', '.join(failed)}" if failed else "")


class OutputFolderCheck(Callback):
    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        ensure_writable(Path(config.hydra.run.dir), "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        ensure_writable(Path(config.hydra.sweep.dir), "hydra.sweep.dir")


class SweepSummary(Callback):
    """Prints 'sweep: N jobs: completed / failed / skipped' and exits 1 when a job failed, after all ran."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Jobs in other processes (joblib, submitit) inherit the variable and so write to this sweep's ledger.
        os.environ[LEDGER_ENV] = uuid.uuid4().hex

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        ledger = _ledger(Path(config.hydra.sweep.dir))
        entries = sweep_outcomes(ledger)
        shutil.rmtree(ledger, ignore_errors=True)
        print(summary_line(entries), flush=True)
        if any(e["status"] in ("failed", "refused") for e in entries):
            sys.exit(1)
