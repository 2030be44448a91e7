"""The reproduction report: for every method and dataset it was run on, our numbers (mean ± std and the
lowest-loss run), k-means on the same data, the paper's number where the paper used that dataset, and the
ablation/variant tables. Built from metrics.json files only: regenerate it, never edit it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mmc_bench.analysis.collect import collect_runs, load_paper_results
from mmc_bench.analysis.evidence import choice_section
from mmc_bench.analysis.html import html_report
from mmc_bench.analysis.summarise import label_free_agreement, select_by_label_free, summarize
from mmc_bench.analysis.validity import OBJECTIVES
from mmc_bench.perf.plan import PLAN as BENCHMARK_PLAN
from mmc_bench.run.storage import write_text_atomic

# The report's method order is the benchmark plan's; which methods are baselines, and which baseline a
# setting is compared with, each run's metrics.json says (declared by the method classes).
PLAN = yaml.safe_load(BENCHMARK_PLAN.read_text())
PLAN_ORDER = tuple(dict.fromkeys(s["method"] for s in PLAN["sweeps"]))
REPORT_METRICS = ("acc", "nmi", "ari", "purity")
MAIN_METRICS = ("acc", "nmi")


def _fmt(value: float, std: float = np.nan) -> str:
    if pd.isna(value):
        return "–"
    return f"{value:.3f}" + (f" ± {std:.3f}" if pd.notna(std) else "")


def baseline_methods(runs: pd.DataFrame) -> set[str]:
    """Methods whose runs say they are baselines (runs written before metrics.json said so: the plan's
    reference baselines)."""
    flags = runs["is_baseline"] if "is_baseline" in runs else pd.Series(False, index=runs.index)
    declared = flags.fillna(False).astype(bool)
    return set(runs.loc[declared, "method"]) | set(PLAN["reference_baseline"].values()) & set(runs["method"])


def _baseline_for(runs: pd.DataFrame, setting: str) -> str:
    """The baseline a setting's runs name as their reference (else resources/benchmark.yaml's)."""
    if "reference_baseline" in runs:
        named = runs.loc[runs["setting"] == setting, "reference_baseline"].dropna()
        if not named.empty:
            return str(named.iloc[0])
    return PLAN["reference_baseline"].get(setting, PLAN["reference_baseline"]["paired"])


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
            (runs["method"] == _baseline_for(runs, setting))
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
                row[f"{metric} {_baseline_for(runs, setting)}"] = _fmt(b["value"], b["std"])
            else:
                row[f"{metric} {_baseline_for(runs, setting)}"] = "not run"
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
    base = runs[runs["method"].isin(baseline_methods(runs))]
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
        f"Generated by `mmc-bench-report {' '.join(map(str, roots))}` from "
        f"{len(runs)} `metrics.json` files ({completed} completed runs). Do not edit by hand: every number "
        "below is read from those files, and the paper numbers from `mmc_bench/resources/paper_results.yaml`.",
        "",
        "Columns: our mean ± sample std over completed seeds; the seed with the lowest final training loss "
        "(best-loss, selected by loss, never by a metric); k-means on the same data (on mixed-modal data "
        "`kmeans_mixed`, same split, same PCA); the paper's number where the paper used that dataset, with "
        "Δ = ours − paper (paper protocols differ: see `mmc_bench/resources/paper_results.yaml`). With a train/test split "
        "the metrics are on the test part. `runs` = completed/total.",
    ]
    baselines = baseline_methods(runs)
    methods = [m for m in PLAN_ORDER if m in set(runs["method"]) - baselines]
    methods += sorted(set(runs["method"]) - set(methods) - baselines)
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


SECTION_BEGIN = "<!-- {name}: generated by mmc-bench-report --section {name}; do not edit -->"
SECTION_END = "<!-- {name}: end -->"
SELECTION_KEYS = tuple(OBJECTIVES)


def selection_section(runs: pd.DataFrame, roots: list[Path]) -> str:
    """Label-free selection on these runs: per method and dataset, every configuration's mean ACC, the run
    each label-free key selects (and its ACC), k-means on the same data, and Spearman's rho of each key with
    ACC over the runs. Labels score the chosen runs; they choose nothing."""
    command = f"mmc-bench-report {' '.join(map(str, roots))} --section selection"
    parts = [
        "## Label-free selection",
        "",
        f"Regenerate: `{command}` (only this section of the report is rewritten). Each row: one method "
        "on one dataset over every configuration and seed found; `configurations` gives each one's mean ACC "
        "± std (seeds); `select: KEY` is the ACC of the single run with the best label-free KEY "
        "(its configuration and seed in brackets); `reference` the setting's reference baseline (k-means; on mixed-modal data `kmeans_mixed`) on the same data.",
        "",
    ]
    methods = sorted(set(runs["method"]) - baseline_methods(runs))
    rows = []
    for method in methods:
        mine = runs[runs["method"] == method]
        for column, cell in mine.groupby("column", sort=True):
            means = summarize(cell, ["acc"], "mean")
            configurations = "; ".join(
                f"{(r['variant'] or 'default')}: {_fmt(r['value'], r['std'])} ({r['n_completed']})"
                for _, r in means.iterrows()
            )
            row = {"method": method, "dataset": column, "configurations": configurations}
            for key in SELECTION_KEYS:
                chosen = select_by_label_free(cell, ["acc"], key)
                c = chosen.iloc[0] if not chosen.empty else None
                row[f"select: {key}"] = (
                    f"{_fmt(c['value'])} ({c['selected_variant'] or 'default'}, seed {c['seed']})"
                    if c is not None and pd.notna(c["value"])
                    else "–"
                )
            reference = _baseline_for(runs, cell["setting"].iloc[0])
            baseline = runs[(runs["method"] == reference) & (runs["column"] == column)]
            b = summarize(baseline, ["acc"], "mean") if not baseline.empty else None
            row["reference"] = (
                f"{reference}: {_fmt(b['value'].iloc[0], b['std'].iloc[0])}"
                if b is not None
                else f"{reference}: not run"
            )
            rows.append(row)
    parts.append(pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True) if rows else "No runs.")
    agreement = label_free_agreement(runs[~runs["method"].isin(baseline_methods(runs))])
    parts += [
        "",
        "Spearman's ρ between each label-free index (higher-is-better orientation) and ACC, over runs:",
        "",
    ]
    parts.append(agreement.to_markdown(index=False, floatfmt=".2f") if not agreement.empty else "No runs.")
    return "\n".join(parts) + "\n"


def replace_section(report: str, name: str, body: str) -> str:
    """``report`` with the generated section ``name`` replaced by ``body`` (appended when absent)."""
    begin, end = SECTION_BEGIN.format(name=name), SECTION_END.format(name=name)
    block = f"{begin}\n{body}{end}\n"
    if begin in report and end in report:
        head, rest = report.split(begin, 1)
        return head + block + rest.split(end, 1)[1].lstrip("\n")
    return report.rstrip("\n") + "\n\n" + block


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the reproduction report from run outputs.")
    parser.add_argument(
        "roots", type=Path, nargs="+", metavar="ROOT", help="folders searched for metrics.json"
    )
    parser.add_argument("--out", type=Path, default=Path("outputs/REPORT.md"))
    parser.add_argument(
        "--html",
        type=Path,
        default=None,
        help="the HTML report (default: --out with .html; sortable tables, the cross-method comparison, "
        "links to every run's figures)",
    )
    parser.add_argument("--no-html", action="store_true", help="write the Markdown report only")
    parser.add_argument(
        "--section",
        choices=["selection", "choice"],
        default=None,
        help="rewrite only this generated section of --out from ROOT (the rest of the report is kept): "
        "selection (per-run label-free keys), choice (searches' and auto's label-free choices against labels)",
    )
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
    if args.section:
        current = args.out.read_text() if args.out.is_file() else "# Reproduction report\n"
        build = {"selection": selection_section, "choice": choice_section}[args.section]
        text = replace_section(current, args.section, build(runs, args.roots))
        write_text_atomic(args.out, text)
        print(f"section '{args.section}' of {args.out} rewritten")
    else:
        text = build_report(runs, load_paper_results(), args.roots)
        write_text_atomic(args.out, text)
        print(f"report written to {args.out}")
    if not args.no_html:
        html_path = args.html or args.out.with_suffix(".html")
        write_text_atomic(html_path, html_report(text, runs, html_path))
        print(f"HTML report written to {html_path}")
    return 0
