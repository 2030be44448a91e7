"""The reproduction report: for every method and dataset it was run on, our numbers (mean ± std and the
lowest-loss run), k-means on the same data, the paper's number where the paper used that dataset, and the
ablation/variant tables. Built from metrics.json files only: regenerate it, never edit it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mmc_bench.aggregate import collect_runs, load_paper_results, summarize

BASELINES = ("kmeans", "kmeans_view", "kmeans_mixed", "spectral")
METHOD_ORDER = ("eamc", "dmim", "cmmc", "jecl", "dec", "dm2c")
REPORT_METRICS = ("acc", "nmi", "ari", "purity")
MAIN_METRICS = ("acc", "nmi")


def _fmt(value: float, std: float = np.nan) -> str:
    if pd.isna(value):
        return "–"
    return f"{value:.3f}" + (f" ± {std:.3f}" if pd.notna(std) else "")


def _baseline_for(setting: str) -> str:
    return "kmeans_mixed" if setting == "mixed" else "kmeans"


def method_table(runs: pd.DataFrame, method: str, paper: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset column the method's default configuration ran on."""
    mine = runs[(runs["method"] == method) & (runs["variant"].fillna("") == "")]
    if mine.empty:  # only variant runs (e.g. a sweep of method.epochs): they are in the variants table
        return pd.DataFrame()
    mean = summarize(mine, list(REPORT_METRICS), "mean")
    best = summarize(mine, list(REPORT_METRICS), "best-loss")
    rows = []
    for column, cell in mean.groupby("column", sort=True):
        first = mine[mine["column"] == column].iloc[0]
        dataset, setting = first["dataset"], first["setting"]
        baseline_runs = runs[
            (runs["method"] == _baseline_for(setting))
            & (runs["column"] == column)
            & (runs["variant"].fillna("") == "")
        ]
        baseline = summarize(baseline_runs, list(MAIN_METRICS), "mean") if not baseline_runs.empty else None
        done = mine[(mine["column"] == column) & (mine["status"] == "completed")]
        row = {
            "dataset": column,
            "runs": f"{int(cell['n_completed'].iloc[0])}/{int(cell['n_completed'].iloc[0] + cell['n_failed'].iloc[0])}",
        }
        for metric in MAIN_METRICS:
            ours = cell[cell["metric"] == metric].iloc[0]
            chosen = best[(best["column"] == column) & (best["metric"] == metric)].iloc[0]
            row[f"{metric} mean ± std"] = _fmt(ours["value"], ours["std"])
            row[f"{metric} best-loss"] = _fmt(chosen["value"])
            if baseline is not None:
                b = baseline[baseline["metric"] == metric].iloc[0]
                row[f"{metric} {_baseline_for(setting)}"] = _fmt(b["value"], b["std"])
            else:
                row[f"{metric} {_baseline_for(setting)}"] = "not run"
            quoted = paper[
                (paper["method"] == method) & (paper["dataset"] == dataset) & (paper["metric"] == metric)
            ]
            row[f"{metric} paper"] = (
                f"{quoted['value'].iloc[0]:.3f} (Δ {ours['value'] - quoted['value'].iloc[0]:+.3f})"
                if len(quoted) and pd.notna(ours["value"])
                else "–"
            )
        row["purity"] = _fmt(*cell[cell["metric"] == "purity"][["value", "std"]].iloc[0])
        row["ari"] = _fmt(*cell[cell["metric"] == "ari"][["value", "std"]].iloc[0])
        row["wall s/seed"] = f"{done['wall_time_s'].mean():.0f}" if len(done) else "–"
        rows.append(row)
    return pd.DataFrame(rows)


def variants_table(runs: pd.DataFrame, method: str) -> pd.DataFrame | None:
    """Every configuration of the method (default and variants) on the columns where variants exist."""
    mine = runs[runs["method"] == method].assign(variant=lambda d: d["variant"].fillna(""))
    with_variants = mine.loc[mine["variant"] != "", "column"].unique()
    mine = mine[mine["column"].isin(with_variants)]
    if mine.empty:
        return None
    summary = summarize(mine, list(MAIN_METRICS), "mean")
    summary["configuration"] = summary["variant"].replace("", "default")
    summary["text"] = [
        f"{_fmt(v, s)} ({n})" for v, s, n in zip(summary["value"], summary["std"], summary["n_completed"])
    ]
    wide = summary.pivot_table(
        index="configuration", columns=["column", "metric"], values="text", aggfunc="first"
    )
    wide.columns = [f"{c} {m}" for c, m in wide.columns]
    return wide.fillna("–")


def baselines_table(runs: pd.DataFrame) -> pd.DataFrame | None:
    base = runs[runs["method"].isin(BASELINES)]
    if base.empty:
        return None
    summary = summarize(base, list(MAIN_METRICS), "mean")
    summary["text"] = [
        f"{_fmt(v, s)} ({n})" for v, s, n in zip(summary["value"], summary["std"], summary["n_completed"])
    ]
    wide = summary.pivot_table(index="column", columns=["row", "metric"], values="text", aggfunc="first")
    wide.columns = [f"{r} {m}" for r, m in wide.columns]
    return wide.fillna("–").rename_axis("dataset")


def build_report(runs: pd.DataFrame, paper: pd.DataFrame, roots: list[Path]) -> str:
    completed = int((runs["status"] == "completed").sum())
    parts = [
        "# Reproduction report",
        "",
        f"Generated by `make report` (`python scripts/report.py {' '.join(map(str, roots))}`) from "
        f"{len(runs)} `metrics.json` files ({completed} completed runs). Do not edit by hand: every number "
        "below is read from those files, and the paper numbers from `conf/paper_results.yaml`.",
        "",
        "Columns: our mean ± sample std over completed seeds; the seed with the lowest final training loss "
        "(best-loss, selected by loss, never by a metric); k-means on the same data (on mixed-modal data "
        "`kmeans_mixed`, same split, same PCA); the paper's number where the paper used that dataset, with "
        "Δ = ours − paper (paper protocols differ: see `conf/paper_results.yaml`). With a train/test split "
        "the metrics are on the test part. `runs` = completed/total.",
    ]
    methods = [m for m in METHOD_ORDER if m in set(runs["method"])]
    methods += sorted(set(runs["method"]) - set(methods) - set(BASELINES))
    for method in methods:
        parts += ["", f"## {method.upper()}", ""]
        table = method_table(runs, method, paper)
        parts.append(
            table.to_markdown(index=False, disable_numparse=True)
            if not table.empty
            else "No run with the default configuration."
        )
        variants = variants_table(runs, method)
        if variants is not None:
            parts += ["", f"### {method.upper()}: variants and ablations (mean ± std (completed seeds))", ""]
            parts.append(variants.to_markdown(disable_numparse=True))
    baselines = baselines_table(runs)
    if baselines is not None:
        parts += [
            "",
            "## Baselines (mean ± std (completed seeds))",
            "",
            baselines.to_markdown(disable_numparse=True),
        ]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the reproduction report from run outputs.")
    parser.add_argument(
        "roots", type=Path, nargs="+", metavar="ROOT", help="folders searched for metrics.json"
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/REPORT.md"))
    args = parser.parse_args(argv)
    missing = [str(r) for r in args.roots if not r.is_dir()]
    if missing:
        print(
            f"error: {', '.join(missing)} is not a folder; run `make benchmark` first or name run folders",
            file=sys.stderr,
        )
        return 2
    runs = collect_runs(*args.roots)
    if runs.empty:
        print(
            f"error: no metrics.json under {', '.join(map(str, args.roots))}; run `make benchmark` first",
            file=sys.stderr,
        )
        return 2
    runs["variant"] = runs.get("variant", pd.Series([""] * len(runs))).fillna("")
    # The column already names the missing rate, so it is not a variant of the method.
    runs["variant"] = runs["variant"].str.replace(r"(^|,)missing_rate=[^,]*", "", regex=True).str.strip(",")
    runs["row"] = [f"{m} [{v}]" if v else m for m, v in zip(runs["method"], runs["variant"])]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(build_report(runs, load_paper_results(), args.roots))
    print(f"report written to {args.out}")
    return 0
