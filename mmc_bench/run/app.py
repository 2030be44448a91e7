"""The Hydra application behind ``python -m mmc_bench`` and ``mmc-bench``."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from mmc_bench import registry
from mmc_bench.analysis.validity import LABEL_FREE_SCORES
from mmc_bench.config import DatasetConfig, RunConfig, apply_method_scoped_keys, path_tag
from mmc_bench.describe import help_text, searchpath_dirs
from mmc_bench.errors import UserError
from mmc_bench.run.callbacks import record_job_outcome
from mmc_bench.run.storage import (
    METRICS_FILE,
    run_folder_lock,
    write_failure_message,
    write_json_atomic,
    write_text_atomic,
)

log = logging.getLogger("mmc_bench")
# The runner, and through it torch and scikit-learn, is imported where a job runs, so that --help, describe
# and a sweep's controller start at once.
# Bad input or an unusable folder: 2; training failed (diverged) or crashed: 1; stopped by a signal: 130.
EXIT_CODES = {"refused": 2, "failed": 1, "interrupted": 130}
SUMMARY_KEYS = ("acc", "nmi", "nmi_geometric", "ari", "purity", "f_score", "final_loss", "wall_time_s")


def _path_suffix(task: list[str], method: str, exclude_keys: list[str]) -> str:
    """Extra overrides become a sub-folder, so runs that differ only in hyper-parameters never share a folder."""
    items = ",".join(scoped_overrides(task, method, exclude_keys))
    return f"/{items}" if items else ""


def scoped_overrides(task: list[str], method: str, exclude_keys: list[str]) -> list[str]:
    """The overrides that distinguish a job of ``method``: Hydra's task overrides, parsed by Hydra's own
    parser, without the excluded keys and in the order of Hydra's override_dirname; +for_method.M.KEY=V
    becomes method.KEY=V for method M and is dropped for every other method."""
    parsed = OverridesParser.create().parse_overrides(overrides=list(task))
    excluded = set(exclude_keys)
    items = []
    for override in sorted((o for o in parsed if o.key_or_group not in excluded), key=lambda o: o.input_line):
        key, line = override.key_or_group, override.input_line
        if key.startswith("for_method."):
            scope, _, rest = line.lstrip("+~")[len("for_method.") :].partition(".")
            if scope != method:
                continue
            line = f"method.{rest}"
        items.append(line)
    return items


OmegaConf.register_new_resolver("mmc_suffix", _path_suffix, replace=True)
# --help is built from the method YAMLs and the schemas' comments (mmc_bench/describe.py).
# Hydra fills the template with string.Template, so a literal $ is written $$.
OmegaConf.register_new_resolver(
    "mmc_help",
    lambda searchpath=(): help_text([Path(CONFIG_DIR), *searchpath_dirs(searchpath)]).replace("$", "$$"),
    replace=True,
)


def register_configs() -> None:
    """Put every schema in Hydra's ConfigStore (YAML files name them in their defaults list), in groups of
    their own so that they are not listed as datasets or methods."""
    store = ConfigStore.instance()
    store.store(name="run_schema", node=RunConfig)
    store.store(group="schema/dataset", name="base", node=DatasetConfig)
    for name, schema in registry.schemas().items():
        store.store(group="schema/method", name=name, node=schema)
    # A user's own file is named by its stem and a hash of its path (folders and table columns).
    OmegaConf.register_new_resolver("mmc_file_tag", path_tag, replace=True)


register_configs()


def variant_label(hydra_cfg: Any, method: str) -> str:
    """The hyper-parameter overrides that distinguish this run, without the experiment preset."""
    exclude_keys = hydra_cfg.job.config.override_dirname.exclude_keys
    items = scoped_overrides(hydra_cfg.overrides.task, method, exclude_keys)
    return ",".join(item for item in items if not item.startswith("experiment="))


# The configs ship inside the package (mmc_bench/conf; conf/ at the top of the checkout links to it), so an
# installed mmc-bench finds them from any folder.
CONFIG_DIR = str(Path(__file__).resolve().parent.parent / "conf")


@hydra.main(version_base="1.3", config_path=CONFIG_DIR, config_name="config")
def _app(cfg: DictConfig) -> float:
    hydra_cfg = HydraConfig.get()
    run_dir = Path(hydra_cfg.runtime.output_dir)
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        apply_method_scoped_keys(cfg)
        with run_folder_lock(run_dir):
            save_hydra_files(cfg, run_dir)
            status, value = _run_in_locked_folder(cfg, run_dir, multirun)
    except UserError as exc:
        # The folder is in use, or its completed result belongs to another run: nothing there is touched.
        status, value = "refused", float("nan")
        _report_error(str(exc), multirun)
    if multirun:
        record_job_outcome(status, run_dir)
        if status != "interrupted":
            return value
    if status in EXIT_CODES:
        sys.exit(EXIT_CODES[status])
    return value


def _run_in_locked_folder(cfg: DictConfig, run_dir: Path, multirun: bool) -> tuple[str, float]:
    """(status, value returned to Hydra) of one job whose folder this process holds."""
    from mmc_bench.analysis.validity import objective_value
    from mmc_bench.run.runner import failure_record, read_completed, run_experiment

    variant = variant_label(HydraConfig.get(), cfg.method.name)
    warn_if_label_based(str(cfg.objective))
    previous = read_completed(run_dir)
    if previous is not None and cfg.skip_completed:
        check_same_run(previous, cfg, run_dir)
        print(f"already completed in {run_dir} (skip_completed=false runs it again)")
        print_summary(previous, run_dir)
        return "skipped", objective_value(previous, str(cfg.objective))
    if cfg.threads == 0:
        cfg.threads = threads_per_job(HydraConfig.get().launcher.get("n_jobs") if multirun else None)
    try:
        record = run_experiment(cfg, run_dir, variant)
    except UserError as exc:
        record_failure(run_dir, failure_record(cfg, variant, str(exc)))
        _report_error(str(exc), multirun)
        return "refused", float("nan")
    except OSError as exc:
        # A write outside the atomic helpers (TensorBoard events) failed: the atomic files are whole.
        message = write_failure_message("the results", run_dir, exc)
        record_failure(run_dir, failure_record(cfg, variant, message))
        _report_error(message, multirun)
        return "refused", float("nan")
    except Exception as exc:
        # A bug, not bad input: the traceback goes to a file, the console gets one line.
        trace = run_dir / "traceback.log"
        with contextlib.suppress(OSError):
            trace.write_text(traceback.format_exc())
        record_failure(run_dir, failure_record(cfg, variant, repr(exc)))
        _report_error(f"the run crashed ({type(exc).__name__}: {exc}); the traceback is in {trace}", multirun)
        return "failed", float("nan")
    print_summary(record, run_dir)
    if record["status"] == "completed":
        return "completed", objective_value(record, str(cfg.objective))
    return ("interrupted" if record["status"] == "interrupted" else "failed"), float("nan")


def warn_if_label_based(objective: str) -> None:
    from mmc_bench.analysis.validity import LABEL_BASED_OBJECTIVES, OBJECTIVES

    if objective in LABEL_BASED_OBJECTIVES:
        log.warning(
            "objective=%s reads the labels: a search or a selection on it tunes on the test labels; "
            "use a label-free objective (%s) for any choice you report",
            objective,
            ", ".join(OBJECTIVES),
        )


def check_same_run(previous: dict[str, Any], cfg: DictConfig, run_dir: Path) -> None:
    """A completed result is only reused for the run it was computed for (see mmc_bench.run.identity)."""
    from mmc_bench.run.identity import identity_differences, run_identity
    from mmc_bench.run.runner import resolve_device

    if "identity" not in previous:
        print(f"note: {run_dir} was completed before run identities were recorded; it is reused as it is")
        return
    current = run_identity(cfg, resolve_device(cfg.device).type)
    differences = identity_differences(previous["identity"], current)
    if differences:
        raise UserError(
            f"{run_dir} holds a completed run that differs from this one in {' and '.join(differences)}; "
            "give this run its own folder with hydra.run.dir=DIR (hydra.sweep.dir for a sweep), or set "
            "skip_completed=false to replace that result"
        )


def _report_error(message: str, multirun: bool) -> None:
    if multirun:
        log.error("run failed: %s", message)
    else:
        print(f"error: {message}", file=sys.stderr)


def save_hydra_files(cfg: DictConfig, run_dir: Path) -> None:
    """Hydra's .hydra/ record of the job, written once this process holds the folder (hydra.output_subdir is
    null so that a refused second run never overwrites the first one's)."""
    hydra_cfg = HydraConfig.get()
    folder = run_dir / ".hydra"
    folder.mkdir(exist_ok=True)
    files = {
        "config.yaml": cfg,
        "hydra.yaml": OmegaConf.create({"hydra": hydra_cfg}),
        "overrides.yaml": hydra_cfg.overrides.task,
    }
    for name, node in files.items():
        write_text_atomic(folder / name, OmegaConf.to_yaml(node))


def _describe(args: list[str]) -> None:
    from mmc_bench.describe import describe_method, write_method_pages

    overrides = [a for a in args if a.startswith("hydra.searchpath=")]
    names = [a for a in args if a not in overrides]
    if len(names) == 2 and names[0] == "--markdown":
        for page in write_method_pages(Path(names[1]), Path(CONFIG_DIR)):
            print(page)
        sys.exit(0)
    if len(names) != 1:
        print(
            "usage: mmc-bench describe METHOD [hydra.searchpath=[file://DIR]] (e.g. describe eamc), "
            "or describe --markdown DIR",
            file=sys.stderr,
        )
        sys.exit(2)
    try:
        print(describe_method(names[0], Path(CONFIG_DIR), overrides))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    sys.exit(0)


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
    """Write a failed metrics.json, unless the folder already holds a completed result (never lose one).
    When even that write fails (a full disk), the console message is all there is."""
    from mmc_bench.run.runner import read_completed

    if read_completed(run_dir) is None:
        with contextlib.suppress(OSError, UserError):
            write_json_atomic(run_dir / METRICS_FILE, record)


def print_summary(record: dict[str, Any], run_dir: Path) -> None:
    head = f"{record['method']} on {record['dataset']} ({record['setting']}, seed {record['seed']}): {record['status']}"
    if record["status"] != "completed":
        print(f"{head}: {record.get('error', '')}")
        return
    print(f"{head}\n  labels:     {_figures(record, SUMMARY_KEYS)}")
    label_free = record.get("label_free")
    if label_free:
        print(
            f"  label-free: {_figures(label_free, LABEL_FREE_SCORES)} (on the {label_free.get('indices_on')})"
        )
    print(f"  outputs: {run_dir}")


def _figures(values: dict[str, Any], keys: tuple[str, ...]) -> str:
    return "  ".join(
        f"{k}={values[k]:.4f}" if isinstance(values.get(k), float) else f"{k}={values.get(k)}"
        for k in keys
        if k in values
    )


def _print_help(args: list[str]) -> None:
    """``--help`` without Hydra's: Hydra's help composes every option of every config group (seconds);
    this reads the same folders, the package's and those a ``hydra.searchpath=[...]`` override adds."""
    searchpath: list[str] = []
    overrides = [a for a in args if a.startswith(("hydra.searchpath=", "+hydra.searchpath="))]
    if overrides:
        parsed = OverridesParser.create().parse_overrides(overrides=overrides[-1:])
        searchpath = list(parsed[0].value() or [])
    print(help_text([Path(CONFIG_DIR), *searchpath_dirs(searchpath)]))
    sys.exit(0)


def version_text() -> str:
    """mmc_bench's version with the versions that decide its results (torch, CUDA, Hydra, Python)."""
    import platform

    import hydra
    import torch

    from mmc_bench import __version__

    cuda = torch.version.cuda or "none (CPU build)"
    available = "available" if torch.cuda.is_available() else "not available here"
    return (
        f"mmc_bench {__version__}\n"
        f"torch {torch.__version__}, CUDA {cuda} ({available}), hydra-core {hydra.__version__}, "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    if "--version" in sys.argv[1:] or "-V" in sys.argv[1:]:
        print(version_text())
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "describe":
        _describe(sys.argv[2:])
    if len(sys.argv) > 1 and sys.argv[1] == "auto":
        from mmc_bench.run.auto import main as auto_main

        sys.exit(auto_main(sys.argv[2:], compose_run_config))
    if "--help" in sys.argv[1:] or "-h" in sys.argv[1:]:
        _print_help(sys.argv[1:])
    with _ctrl_c_watch() as seen:
        try:
            _app()
        except KeyboardInterrupt:
            _exit_interrupted()
        except SystemExit as exit_:
            # Hydra reports a Ctrl-C that lands while it composes a sweep's next job as a composition
            # error (exit 1); the user still pressed Ctrl-C, and the same command continues.
            if seen and exit_.code not in (0, None):
                _exit_interrupted()
            raise


@contextlib.contextmanager
def _ctrl_c_watch() -> Iterator[list[int]]:
    """A SIGINT handler that acts as Python's default one and also records the signal in the yielded list;
    nothing is installed where SIGINT is ignored, handled by someone else, or this is not the main thread."""
    seen: list[int] = []
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield seen
        return

    def note(signum: int, frame: Any) -> None:
        seen.append(signum)
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, note)
    try:
        yield seen
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _exit_interrupted() -> None:
    # Ctrl-C outside a training loop (between a sweep's jobs, while loading data): nothing half-written.
    print("interrupted; run the same command again to continue (finished runs are skipped)", file=sys.stderr)
    sys.exit(130)


if __name__ == "__main__":
    main()
