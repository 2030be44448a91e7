"""`mmc-bench auto dataset=... [budget=quick|standard|thorough]`: a portfolio of methods on one dataset, then
one label-free choice among them.

The portfolio is every registered method that supports the run's setting (k-means and spectral clustering
among them; ``methods=A,B`` limits it), each a Hydra multirun over the budget's seeds: ``quick``, each
method's quick schedule and 3 seeds; ``standard``, the YAML defaults and 5 seeds; ``thorough``, standard
and, for each method with a search space in conf/hparams_search/, a label-free search of SEARCH_TRIALS
trials that join the candidates. They run one after another with the command's other overrides (so
``hydra/launcher=joblib`` runs each method's seeds in parallel, ``submitit_slurm`` on a cluster). A
finished run is skipped, so the same command continues an interrupted portfolio. The choice
(mmc_bench.analysis.choose): candidates with a collapsed run are excluded, and the one whose runs agree
most with the consensus of all runs (NMI) is chosen; its seeds' consensus partition is the answer.

Writes, in ``hydra.run.dir`` (default outputs/auto/DATASET): runs/ (every run), predictions.csv and
predictions.npz (the chosen partition), choice.json (every candidate's scores and rank, failures with
their reason, why the winner won, and, read after the choice when the data has labels, ACC and NMI).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmc_bench.errors import UserError
from mmc_bench.run.storage import write_atomic, write_json_atomic, write_text_atomic

BUDGETS = {
    "quick": ("quick", [0, 1, 2]),
    "standard": (None, [0, 1, 2, 3, 4]),
    "thorough": (None, [0, 1, 2, 3, 4]),
}
# Trials of each method's search at budget thorough (the first is the method's default).
SEARCH_TRIALS = {"thorough": 8}
# The label-free score auto chooses by (a column of choose.score_candidates, higher is better).
CRITERION = "consensus"
OWN_KEYS = ("budget", "hydra.run.dir")


def parse(args: list[str]) -> tuple[str, Path | None, list[str] | None, list[str]]:
    """(budget, output folder or None, the methods asked for or None for the whole portfolio, the overrides
    every run gets)."""
    budget, out, methods, passed = "quick", None, None, []
    for arg in args:
        key, _, value = arg.partition("=")
        if key == "budget":
            budget = value
        elif key == "hydra.run.dir":
            out = Path(value)
        elif key == "methods":
            methods = [m.strip() for m in value.split(",") if m.strip()]
        elif key in ("method", "seed") or arg in ("-m", "--multirun"):
            raise UserError(
                f"auto chooses the seeds and runs every method itself; leave out {arg} (methods=A,B limits the portfolio)"
            )
        else:
            passed.append(arg)
    if budget not in BUDGETS:
        raise UserError(
            f"budget={budget} is not a budget; choose quick (short schedules, 3 seeds), standard (the "
            "methods' schedules, 5 seeds) or thorough (standard and a search per method)"
        )
    return budget, out, methods, passed


def portfolio(overrides: list[str], compose: Callable[..., Any]) -> tuple[str, str, list[str]]:
    """(dataset name, setting, the methods that support the setting), from the configuration ``compose``
    (the command line's composition, handed in by the app) builds."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    from mmc_bench import registry
    from mmc_bench.config import Setting

    try:
        cfg = compose(*overrides)
    except (HydraException, OmegaConfBaseException) as exc:
        raise UserError(f"{str(exc).splitlines()[0]} (in the overrides of auto)") from None
    setting = Setting(cfg.setting)
    methods = [name for name, cls in sorted(registry.methods().items()) if setting in cls.supported_settings]
    return str(cfg.dataset.name), setting.value, methods


def restrict(methods: list[str], asked: list[str] | None, setting: str) -> list[str]:
    if asked is None:
        return methods
    unknown = [m for m in asked if m not in methods]
    if unknown:
        raise UserError(
            f"methods={','.join(asked)}: {', '.join(unknown)} is not a method for setting={setting}; "
            f"choose from {', '.join(methods)}"
        )
    return asked


def sweep_command(method: str, budget: str, runs: Path, overrides: list[str]) -> list[str]:
    from mmc_bench import registry

    profile, seeds = BUDGETS[budget]
    schedule = list(registry.methods()[method].schedules.get(profile, [])) if profile else []
    return [
        sys.executable, "-m", "mmc_bench", "-m", f"method={method}", *schedule, *overrides,
        f"seed={','.join(map(str, seeds))}", "plots=none", f"hydra.sweep.dir={runs}",
    ]  # fmt: skip


def search_command(method: str, budget: str, runs: Path, overrides: list[str]) -> list[str] | None:
    """The budget's label-free search of ``method`` (its conf/hparams_search YAML), or None."""
    import mmc_bench

    trials = SEARCH_TRIALS.get(budget, 0)
    space = Path(mmc_bench.__file__).parent / "conf" / "hparams_search" / f"{method}.yaml"
    if not trials or not space.is_file():
        return None
    return [
        sys.executable, "-m", "mmc_bench", f"hparams_search={method}", *overrides,
        f"hydra.sweeper.n_trials={trials}", f"hydra.sweep.dir={runs / 'search' / method}",
    ]  # fmt: skip


def run_portfolio(methods: list[str], budget: str, runs: Path, overrides: list[str]) -> None:
    for i, method in enumerate(methods, 1):
        commands = [
            sweep_command(method, budget, runs, overrides),
            search_command(method, budget, runs, overrides),
        ]
        for command in filter(None, commands):
            print(f"auto [{i}/{len(methods)}] {method}: {shlex.join(command[3:])}", flush=True)
            result = subprocess.run(command, capture_output=True, text=True)
            if result.returncode == 130:
                raise KeyboardInterrupt
            summary = [line for line in result.stdout.splitlines() if line.startswith("sweep:")]
            print(
                f"auto [{i}/{len(methods)}] {method}: {summary[-1] if summary else 'exit ' + str(result.returncode)}"
            )


def decide(runs_dir: Path, seed: int = 0) -> dict[str, Any]:
    """The choice over the runs in ``runs_dir`` (their labels read only after it, for the report)."""
    from mmc_bench.analysis.choose import CRITERIA, select_dataset
    from mmc_bench.analysis.collect import collect_runs, display_rows

    runs = collect_runs(runs_dir)
    if runs.empty:
        raise UserError(f"no run finished in {runs_dir}; see the runs' messages above")
    runs = drop_shared_overrides(runs)
    failed = runs[runs["status"] != "completed"]
    done = display_rows(runs[runs["status"] == "completed"])
    if done.empty:
        raise UserError(f"every candidate failed in {runs_dir}; see their metrics.json for the reasons")
    result = select_dataset(done, seed)
    column, higher = CRITERIA[CRITERION]
    table = pd.DataFrame(result["candidates"]).set_index("candidate")
    # collapsed candidates are excluded, so they take no rank
    order = table[column].mask(table["collapsed"].astype(bool)).rank(ascending=not higher, method="min")
    candidates = []
    for name, row in table.iterrows():
        cell = done[done["row"] == name]
        candidates.append(
            {
                "candidate": name,
                "method": str(cell["method"].iloc[0]),
                "overrides": str(cell["variant"].iloc[0] if "variant" in cell else ""),
                "rank": None if pd.isna(order[name]) else int(order[name]),
                **{k: _plain(v) for k, v in row.items() if k not in ("acc", "consensus_of_seeds_acc")},
                # read after the choice, for the reader
                "acc": _mean(cell, "acc"),
                "nmi": _mean(cell, "nmi"),
                "consensus_of_seeds_acc": _plain(row.get("consensus_of_seeds_acc")),
            }
        )
    chosen = result["chosen"][CRITERION]
    reasons = failed.get("error", pd.Series(dtype=str)).fillna("").tolist()
    return {
        "n_clusters": result["n_clusters"],
        "criterion": f"{column} ({'higher' if higher else 'lower'} is better; collapsed candidates excluded)",
        "chosen": chosen,
        "why": _why(table, chosen, column, higher),
        "candidates": sorted(candidates, key=lambda c: (c["rank"] is None, c["rank"] or 0)),
        "failed": [{"run_dir": d, "reason": r} for d, r in zip(failed.get("run_dir", []), reasons)],
        "hopkins": result["hopkins"],
    }


def drop_shared_overrides(runs: pd.DataFrame) -> pd.DataFrame:
    """Runs whose variant no longer lists the overrides every run has (the command's own, e.g. dataset.path),
    so that candidates are named by what sets them apart. The variant is recomputed as collect does."""
    from mmc_bench.analysis.collect import row_label

    variants = runs.get("variant", pd.Series("", index=runs.index)).fillna("")
    items = [[i for i in v.split(",") if i] for v in variants]
    shared = set.intersection(*(set(i) for i in items)) if items else set()
    kept = [",".join(i for i in parts if i not in shared) for parts in items]
    rows = [row_label(m, v) for m, v in zip(runs["method"], kept)]
    return runs.assign(variant=kept, row=rows)


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python value json writes (NaN as None)."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and np.isnan(value) else value


def _mean(cell: pd.DataFrame, metric: str) -> float | None:
    values = pd.to_numeric(cell.get(metric, pd.Series(dtype=float)), errors="coerce").dropna()
    return float(values.mean()) if len(values) else None


def _why(table: pd.DataFrame, chosen: str | None, column: str, higher: bool) -> str:
    if chosen is None:
        return "every candidate collapsed: none is chosen"
    others = table.drop(index=chosen)
    others = others[~others["collapsed"]][column].dropna()
    runner_up = (others.idxmax() if higher else others.idxmin()) if len(others) else None
    text = f"{chosen} has the best {column}, {table.loc[chosen, column]:.3f}"
    if runner_up is not None:
        text += f" (next: {runner_up}, {others[runner_up]:.3f})"
    collapsed = list(table.index[table["collapsed"]])
    return text + (f"; excluded as collapsed: {', '.join(collapsed)}" if collapsed else "")


def write_choice(out: Path, choice: dict[str, Any], n_clusters: int, seed: int = 0) -> None:
    """choice.json, and the chosen candidate's consensus of its seeds as predictions.csv/.npz."""
    from mmc_bench.analysis.selection import consensus_partition

    write_json_atomic(out / "choice.json", choice)
    if choice["chosen"] is None:
        return
    chosen = next(c for c in choice["candidates"] if c["candidate"] == choice["chosen"])
    partitions = []
    for run_dir in chosen["run_dirs"]:
        with np.load(Path(run_dir) / "predictions.npz") as saved:
            partitions.append(saved["labels"])
    labels = consensus_partition(partitions, n_clusters, seed)
    table = pd.DataFrame({"sample": np.arange(len(labels)), "predicted": labels})
    write_text_atomic(out / "predictions.csv", table.to_csv(index=False))
    write_atomic(out / "predictions.npz", lambda handle: np.savez_compressed(handle, labels=labels))


def summary(choice: dict[str, Any]) -> str:
    rows = [
        {
            "rank": c["rank"] if c["rank"] is not None else "excluded",
            "candidate": c["candidate"],
            "consensus_nmi": c["consensus_nmi"],
            "cross_space_rank": c["cross_space_rank"],
            "stability_ari": c["stability_ari"],
            "acc (after)": c["acc"],
        }
        for c in choice["candidates"]
    ]
    lines = [pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}")]
    lines.append(f"chosen: {choice['chosen']} — {choice['why']}")
    lines += [f"failed: {f['run_dir']}: {f['reason']}" for f in choice["failed"]]
    return "\n".join(lines)


def main(args: list[str], compose: Callable[..., Any]) -> int:
    try:
        budget, out, asked, overrides = parse(args)
        dataset, setting, methods = portfolio(overrides, compose)
        methods = restrict(methods, asked, setting)
        out = out or Path("outputs") / "auto" / dataset
        runs = out / "runs"
        print(
            f"auto: {len(methods)} methods on {dataset} (setting={setting}, budget={budget}); outputs in {out}"
        )
        run_portfolio(methods, budget, runs, overrides)
        choice = {"dataset": dataset, "setting": setting, "budget": budget, **decide(runs)}
        write_choice(out, choice, choice.pop("n_clusters"))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; run the same command again to continue (finished runs are kept)", file=sys.stderr)
        return 130
    print(summary(choice))
    print(f"choice written to {out / 'choice.json'}; the chosen partition to {out / 'predictions.csv'}")
    return 0
