"""The Hydra application behind ``python -m mmc_bench`` and ``mmc-bench``."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mmc_bench.config import register_configs
from mmc_bench.errors import UserError
from mmc_bench.runner import METRICS_FILE, failure_record, read_completed, run_experiment, write_json_atomic

log = logging.getLogger("mmc_bench")
SUMMARY_KEYS = ("acc", "nmi", "nmi_geometric", "ari", "purity", "f_score", "final_loss", "wall_time_s")


def _path_suffix(override_dirname: str) -> str:
    """Extra overrides become a sub-folder, so runs that differ only in hyper-parameters never share a folder."""
    return f"/{override_dirname}" if override_dirname else ""


OmegaConf.register_new_resolver("mmc_suffix", _path_suffix, replace=True)
register_configs()


def variant_label(override_dirname: str) -> str:
    """The hyper-parameter overrides that distinguish this run, without the experiment preset."""
    items = [item for item in override_dirname.split(",") if item and not item.startswith("experiment=")]
    return ",".join(items)


# conf/ sits beside the package (an editable install), so its path is absolute, not a python module.
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _app(cfg: DictConfig) -> float | None:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    previous = read_completed(run_dir)
    if previous is not None and cfg.skip_completed:
        print(f"already completed in {run_dir} (skip_completed=false runs it again)")
        print_summary(previous, run_dir)
        return previous.get("acc")
    variant = variant_label(hydra_cfg.job.override_dirname)
    if cfg.threads == 0:
        cfg.threads = threads_per_job(hydra_cfg.launcher.get("n_jobs") if multirun else None)
    try:
        record = run_experiment(cfg, run_dir, variant)
    except UserError as exc:
        record_failure(run_dir, failure_record(cfg, variant, str(exc)))
        if multirun:
            log.error("run failed: %s", exc)
            return None
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        # Full disk or vanished folder while writing results: atomic writes left earlier results whole.
        print(
            f"error: could not write the results in {run_dir} ({exc.strerror or exc}); free space or choose "
            "another folder with hydra.run.dir / hydra.sweep.dir, then run again",
            file=sys.stderr,
        )
        sys.exit(2)
    except Exception as exc:
        # A bug, not bad input: record it so a sweep's counts stay exact, and let the other jobs go on.
        record_failure(run_dir, failure_record(cfg, variant, repr(exc)))
        if multirun:
            log.exception("run crashed")
            return None
        raise
    print_summary(record, run_dir)
    if record["status"] == "interrupted":
        # Ctrl-C stops a whole sweep, not just this job; the run folder holds its checkpoint.
        sys.exit(130)
    if record["status"] != "completed" and not multirun:
        sys.exit(1)
    return record.get("acc")


def compose_run_config(*overrides: str) -> DictConfig:
    """The run config exactly as the command line composes it, without running (benchmarks, tests)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


def threads_per_job(parallel_jobs: int | None) -> int:
    """With jobs running side by side (joblib's n_jobs), share the cores between them; else torch's default (0)."""
    if not parallel_jobs or parallel_jobs == 1:
        return 0
    cores = os.cpu_count() or 1
    jobs = cores if parallel_jobs < 0 else min(parallel_jobs, cores)
    return max(1, cores // jobs)


def record_failure(run_dir: Path, record: dict[str, Any]) -> None:
    """Write a failed metrics.json, unless the folder already holds a completed result (never lose one)."""
    if read_completed(run_dir) is None:
        write_json_atomic(run_dir / METRICS_FILE, record)


def print_summary(record: dict[str, Any], run_dir: Path) -> None:
    head = f"{record['method']} on {record['dataset']} ({record['setting']}, seed {record['seed']}): {record['status']}"
    if record["status"] != "completed":
        print(f"{head}: {record.get('error', '')}")
        return
    figures = "  ".join(
        f"{k}={record[k]:.4f}" if isinstance(record.get(k), float) else f"{k}={record.get(k)}"
        for k in SUMMARY_KEYS
        if k in record
    )
    print(f"{head}\n  {figures}\n  outputs: {run_dir}")


def main() -> None:
    _app()


if __name__ == "__main__":
    main()
