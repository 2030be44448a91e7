"""Turn a tree of run folders into per-seed rows and a paper-style table (mean ± std, best bold)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mmc_bench.metrics import METRIC_NAMES

DEFAULT_METRICS = ("acc", "nmi", "ari", "purity")
PROTOCOLS = ("mean", "best-loss")


def collect_runs(*roots: Path) -> pd.DataFrame:
    """One row per metrics.json under the ``roots`` (completed and failed), nested 'train' metrics flattened."""
    rows = []
    for path in sorted(p for root in roots for p in root.rglob("metrics.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        flat = {k: v for k, v in record.items() if not isinstance(v, dict | list)}
        for name, value in (record.get("train") or {}).items():
            flat[f"train_{name}"] = value
        flat["run_dir"] = str(path.parent)
        rows.append(flat)
    runs = pd.DataFrame(rows)
    if runs.empty:
        return runs
    runs["row"] = [
        _row_label(m, v) for m, v in zip(runs["method"], runs.get("variant", pd.Series([""] * len(runs))))
    ]
    runs["column"] = [
        _column_label(d, s, r)
        for d, s, r in zip(runs["dataset"], runs["setting"], runs.get("missing_rate", 0.0))
    ]
    return runs


def select(runs: pd.DataFrame, methods: str, datasets: str) -> pd.DataFrame:
    """Rows whose method and dataset are in the comma lists (an empty list keeps everything)."""
    for column, wanted in (("method", methods), ("dataset", datasets)):
        names = [n.strip() for n in wanted.split(",") if n.strip()]
        if names and not runs.empty:
            runs = runs[runs[column].isin(names)]
    return runs


def _row_label(method: str, variant: object) -> str:
    return f"{method} [{variant}]" if isinstance(variant, str) and variant else method


def _column_label(dataset: str, setting: str, missing_rate: object) -> str:
    if setting == "paired":
        return dataset
    if setting == "incomplete":
        return f"{dataset} (incomplete {float(missing_rate):g})"
    return f"{dataset} ({setting})"


def summarize(runs: pd.DataFrame, metrics: list[str], protocol: str) -> pd.DataFrame:
    """Long table: one row per (method row, dataset column, metric) with the protocol's value.

    ``mean``: mean and sample std over completed seeds. ``best-loss``: the completed seed with the lowest
    final training loss (ties to the lowest seed) — selected by loss, never by a metric.
    """
    out = []
    for (row, column), cell in runs.groupby(["row", "column"], sort=True):
        done = cell[cell["status"] == "completed"]
        failed = int((cell["status"] != "completed").sum())
        chosen_seed = None
        if protocol == "best-loss" and not done.empty and done["final_loss"].notna().any():
            best = done.sort_values(["final_loss", "seed"]).iloc[0]
            chosen_seed = int(best["seed"])
        for metric in metrics:
            values = pd.to_numeric(done.get(metric, pd.Series(dtype=float)), errors="coerce").dropna()
            if protocol == "best-loss":
                value = float(best[metric]) if chosen_seed is not None and metric in best else np.nan
                std = np.nan
            else:
                value = float(values.mean()) if len(values) else np.nan
                std = float(values.std(ddof=1)) if len(values) > 1 else np.nan
            out.append(
                dict(
                    row=row,
                    column=column,
                    metric=metric,
                    value=value,
                    std=std,
                    n_completed=len(done),
                    n_failed=failed,
                    protocol=protocol,
                    seed=chosen_seed,
                )
            )
    return pd.DataFrame(out)


def _ranks(values: pd.Series) -> pd.Series:
    """1 for the best (highest) value in a column, 2 for the second best distinct value, 0 otherwise."""
    distinct = sorted(values.dropna().unique(), reverse=True)
    rank = {v: i + 1 for i, v in enumerate(distinct[:2])}
    return values.map(lambda v: rank.get(v, 0) if pd.notna(v) else 0)


def render(summary: pd.DataFrame, fmt: str) -> pd.DataFrame:
    """Wide table of strings: rows = methods, columns = (dataset, metric) plus each dataset's run count."""
    best, second = {"md": ("**{}**", "<u>{}</u>"), "tex": ("\\textbf{{{}}}", "\\underline{{{}}}")}[fmt]
    pm = " ± " if fmt == "md" else " $\\pm$ "
    cells = summary.copy()
    cells["rank"] = cells.groupby(["column", "metric"])["value"].transform(_ranks)

    def text(r: pd.Series) -> str:
        if pd.isna(r["value"]):
            return "–"
        s = f"{r['value']:.3f}" + (f"{pm}{r['std']:.3f}" if pd.notna(r["std"]) else "")
        return best.format(s) if r["rank"] == 1 else second.format(s) if r["rank"] == 2 else s

    cells["text"] = cells.apply(text, axis=1)
    wide = cells.pivot_table(index="row", columns=["column", "metric"], values="text", aggfunc="first")
    counts = cells.drop_duplicates(["row", "column"]).assign(
        text=lambda d: d["n_completed"].astype(str) + "/" + (d["n_completed"] + d["n_failed"]).astype(str)
    )
    runs = counts.pivot_table(index="row", columns="column", values="text", aggfunc="first")
    runs.columns = pd.MultiIndex.from_tuples([(c, "runs") for c in runs.columns])
    metric_order = list(dict.fromkeys(summary["metric"])) + ["runs"]
    wide = pd.concat([wide, runs], axis=1)
    ordered = sorted(wide.columns, key=lambda c: (c[0], metric_order.index(c[1])))
    return wide[ordered].fillna("–")


def write_tables(runs: pd.DataFrame, out: Path, metrics: list[str], protocol: str) -> str:
    out.mkdir(parents=True, exist_ok=True)
    runs.drop(columns=["row", "column"]).to_csv(out / "per_seed.csv", index=False)
    summary = summarize(runs, metrics, protocol)
    summary.to_csv(out / "table.csv", index=False)
    md = render(summary, "md")
    md_flat = md.copy()
    md_flat.columns = [f"{d} {m}" for d, m in md.columns]
    header = (
        f"Protocol: {protocol} ({'mean ± sample std over completed seeds' if protocol == 'mean' else 'seed with the lowest final training loss'}); "
        "best **bold**, second <u>underlined</u>; runs = completed/total (failed runs are not averaged).\n\n"
    )
    markdown = header + md_flat.rename_axis("method").to_markdown() + "\n"
    (out / "table.md").write_text(markdown)
    (out / "table.tex").write_text(
        render(summary, "tex").rename_axis("method").to_latex(escape=False, multicolumn_format="c")
    )
    return markdown


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Aggregate mmc_bench runs into per-seed and paper-style tables."
    )
    parser.add_argument(
        "roots", type=Path, nargs="+", metavar="ROOT", help="folders searched for metrics.json"
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write the tables (default: the first ROOT)"
    )
    parser.add_argument("--protocol", choices=PROTOCOLS, default="mean")
    parser.add_argument(
        "--metrics", default=",".join(DEFAULT_METRICS), help=f"comma list from {', '.join(METRIC_NAMES)}"
    )
    parser.add_argument("--methods", default="", help="keep only these methods (comma list; default all)")
    parser.add_argument("--datasets", default="", help="keep only these datasets (comma list; default all)")
    args = parser.parse_args(argv)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()]
    unknown = [m for m in metrics if m not in METRIC_NAMES]
    if unknown:
        print(
            f"error: unknown metric(s) {', '.join(unknown)}; choose from {', '.join(METRIC_NAMES)}",
            file=sys.stderr,
        )
        return 2
    for root in args.roots:
        if not root.is_dir():
            print(f"error: {root} is not a folder; give the folder of a sweep or of runs", file=sys.stderr)
            return 2
    runs = select(collect_runs(*args.roots), args.methods, args.datasets)
    if runs.empty:
        print(
            f"error: no metrics.json found under {', '.join(map(str, args.roots))}; run an experiment first",
            file=sys.stderr,
        )
        return 2
    out = args.out or args.roots[0]
    print(write_tables(runs, out, metrics, args.protocol))
    print(f"tables written to {out}: per_seed.csv, table.md, table.tex, table.csv")
    return 0
