"""`mmc-bench-compare`: many methods on many datasets, compared as a benchmark paper does.

Per dataset, each method's score is its mean over completed seeds; methods are ranked within each dataset
(1 = best) and the ranks averaged. The Friedman test (scipy) asks whether any method ranks differently from
the others; a post-hoc test (scikit-posthocs: Nemenyi, or Conover with Holm's correction) gives every pair's
p-value, and the critical-difference diagram (Demšar 2006, drawn by scikit-posthocs) joins the methods no
test tells apart. Beside it, one panel per dataset shows every method's seeds, the reference baseline
(k-means for paired data) drawn as a dashed line.

Writes comparison.md, comparison.csv (average ranks), posthoc.csv, cd_diagram.FORMAT and per_dataset.FORMAT.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmc_bench.analysis.collect import display_rows, runs_under
from mmc_bench.metrics import METRIC_NAMES
from mmc_bench.run.storage import write_text_atomic

POSTHOC = ("nemenyi", "conover-holm")


@dataclass
class Comparison:
    """Scores (datasets x methods), average ranks, the Friedman test, pairwise p-values and the notes."""

    scores: pd.DataFrame
    ranks: pd.Series
    friedman_p: float | None = None
    friedman_statistic: float | None = None
    posthoc: pd.DataFrame | None = None
    critical_difference: float | None = None
    notes: list[str] = field(default_factory=list)


def score_matrix(runs: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, list[str]]:
    """Datasets x methods of seed means, only methods with a value on every dataset (the tests compare
    complete blocks); the notes say what was left out."""
    done = runs[runs["status"] == "completed"]
    if metric not in done:
        return pd.DataFrame(), [f"no completed run has {metric}"]
    means = done.assign(value=pd.to_numeric(done[metric], errors="coerce")).pivot_table(
        index="column", columns="row", values="value", aggfunc="mean"
    )
    notes = []
    partial = [m for m in means.columns if means[m].isna().any()]
    if partial:
        notes.append(
            f"left out for lacking a dataset ({metric} on every dataset is needed): {', '.join(partial)}"
        )
    return means.drop(columns=partial), notes


def friedman_floor(n_datasets: int, n_methods: int) -> float:
    """The smallest p-value Friedman's chi-square test can give with these counts (every dataset ranking the
    methods the same way): the statistic is then N (k - 1)."""
    from scipy.stats import chi2

    return float(chi2.sf(n_datasets * (n_methods - 1), n_methods - 1))


def nemenyi_cd(n_datasets: int, n_methods: int, alpha: float) -> float:
    """Nemenyi's critical difference of average ranks, q_alpha sqrt(k (k + 1) / (6 N)) (Demšar 2006)."""
    from scipy.stats import studentized_range

    q = studentized_range.ppf(1 - alpha, n_methods, np.inf) / math.sqrt(2)
    return float(q * math.sqrt(n_methods * (n_methods + 1) / (6 * n_datasets)))


def compare(
    runs: pd.DataFrame, metric: str = "acc", posthoc: str = "nemenyi", alpha: float = 0.05
) -> Comparison:
    """Average ranks (higher ``metric`` ranks better), Friedman's test and the post-hoc p-values."""
    from scipy.stats import friedmanchisquare

    scores, notes = score_matrix(runs, metric)
    if scores.empty:
        return Comparison(scores, pd.Series(dtype=float), notes=notes)
    ranks = scores.rank(axis=1, ascending=False, method="average").mean().sort_values()
    result = Comparison(scores, ranks, notes=notes)
    n, k = scores.shape
    if k < 3 or n < 2:
        result.notes.append(
            f"{k} methods on {n} datasets: Friedman's test needs at least 3 methods and 2 datasets; "
            "only the average ranks are given"
        )
        return result
    result.friedman_statistic, result.friedman_p = map(float, friedmanchisquare(*scores.to_numpy().T))
    floor = friedman_floor(n, k)
    if floor >= alpha:
        result.notes.append(
            f"with {n} datasets and {k} methods Friedman's smallest possible p is {floor:.3g} >= {alpha}: "
            "the test cannot reject; add datasets"
        )
    result.posthoc = pairwise(scores, posthoc)
    if posthoc == "nemenyi":
        result.critical_difference = nemenyi_cd(n, k, alpha)
        if result.critical_difference > k - 1:
            result.notes.append(
                f"Nemenyi's critical difference {result.critical_difference:.2f} exceeds the largest possible "
                f"rank difference {k - 1}: no pair can differ with {n} datasets"
            )
    return result


def pairwise(scores: pd.DataFrame, posthoc: str) -> pd.DataFrame:
    """Every pair's p-value (methods x methods) from scikit-posthocs, on the datasets as blocks."""
    import scikit_posthocs

    # scikit-posthocs ranks within a block in ascending order; the tests are symmetric in the direction.
    if posthoc == "nemenyi":
        table = scikit_posthocs.posthoc_nemenyi_friedman(scores.to_numpy())
    else:
        table = scikit_posthocs.posthoc_conover_friedman(scores.to_numpy(), p_adjust="holm")
    table.index = table.columns = scores.columns
    return table


def comparison_markdown(result: Comparison, metric: str, posthoc: str, alpha: float) -> str:
    ranks = result.ranks.rename("average rank").to_frame()
    ranks["mean " + metric] = result.scores.mean().reindex(ranks.index)
    lines = [
        f"# Comparison on {metric.upper()} over {result.scores.shape[0]} datasets",
        "",
        f"Each method's {metric} is its mean over completed seeds per dataset; ranks within a dataset, "
        "1 = best, averaged over datasets.",
        "",
        ranks.rename_axis("method").to_markdown(floatfmt=".3f"),
        "",
    ]
    if result.friedman_p is not None:
        lines += [
            f"Friedman test: chi2 = {result.friedman_statistic:.3f}, p = {result.friedman_p:.3g} "
            f"({'some method ranks differently' if result.friedman_p < alpha else 'no difference shown'} at {alpha}).",
            "",
            f"Post-hoc p-values ({posthoc}; scikit-posthocs):",
            "",
            result.posthoc.rename_axis("method").to_markdown(floatfmt=".3f"),
            "",
        ]
        if result.critical_difference is not None:
            lines += [f"Nemenyi critical difference at {alpha}: {result.critical_difference:.3f} ranks.", ""]
    lines += [f"Note: {note}." for note in result.notes]
    lines += [
        "",
        f"Scores ({metric}, seed means):",
        "",
        result.scores.rename_axis("dataset").to_markdown(floatfmt=".3f"),
    ]
    return "\n".join(lines) + "\n"


def cd_figure(result: Comparison, alpha: float) -> Any:
    """The critical-difference diagram: methods on the average-rank axis, bars joining those no post-hoc
    test tells apart (scikit-posthocs draws it)."""
    import scikit_posthocs

    k = len(result.ranks)
    fig, ax = plt().subplots(figsize=(max(6.0, 0.9 * k + 3), 0.35 * k + 1.8))
    scikit_posthocs.critical_difference_diagram(result.ranks, result.posthoc, alpha=alpha, ax=ax)
    ax.set_xlabel(f"average rank over {result.scores.shape[0]} datasets (1 = best)")
    ax.xaxis.set_label_position("top")
    ax.set_title(f"Critical-difference diagram (Friedman p = {result.friedman_p:.3g})", fontsize=10, pad=28)
    return fig


def per_dataset_figure(runs: pd.DataFrame, metric: str) -> Any:
    """One panel per dataset: every method's seeds (box and points) on a shared method axis, named once on
    the left; the reference baseline's mean (k-means for paired data) dashed."""
    done = runs[runs["status"] == "completed"].assign(
        value=lambda d: pd.to_numeric(d[metric], errors="coerce")
    )
    datasets = sorted(done["column"].unique())
    cols = min(3, len(datasets))
    rows = math.ceil(len(datasets) / cols)
    methods = sorted(done["row"].unique())
    fig, axes = plt().subplots(
        rows,
        cols,
        sharey=True,
        squeeze=False,
        figsize=(3.6 * cols + 0.07 * max(map(len, methods)), 0.3 * len(methods) * rows + 1.3 * rows + 0.6),
        layout="constrained",
    )
    reference_line = None
    for index, (ax, dataset) in enumerate(zip(axes.flat, datasets)):
        cell = done[done["column"] == dataset]
        present = [(i, m) for i, m in enumerate(methods, start=1) if (cell["row"] == m).any()]
        values = [cell.loc[cell["row"] == m, "value"].dropna().to_numpy() for _, m in present]
        positions = [i for i, _ in present]
        ax.boxplot(values, positions=positions, orientation="horizontal", widths=0.6)
        for i, v in zip(positions, values):
            ax.plot(v, np.full(len(v), i), "o", ms=3, alpha=0.7, color="tab:blue")
        reference = reference_row(cell)
        if reference is not None:
            mean = cell.loc[cell["row"] == reference, "value"].mean()
            reference_line = ax.axvline(
                mean, ls="--", color="tab:red", label=f"{reference} (mean over seeds)"
            )
        ax.set_title(dataset, fontsize=10)
        ax.set_xlabel(metric.upper())
        if index % cols == 0:
            ax.set_ylabel("method")
    axes[0][0].set_yticks(range(1, len(methods) + 1), methods)
    for ax in list(axes.flat)[len(datasets) :]:
        ax.set_visible(False)
    fig.suptitle(f"{metric.upper()} of every seed, per dataset", fontsize=11)
    if reference_line is not None:
        fig.legend(handles=[reference_line], loc="outside lower center", fontsize=8)
    return fig


def plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot

    return matplotlib.pyplot


def write_figure(fig: Any, path: Path, dpi: int) -> None:
    from mmc_bench.analysis.plots import save_figure

    save_figure(fig, path, dpi)
    plt().close(fig)


def reference_row(cell: pd.DataFrame) -> str | None:
    """The row of the baseline the runs themselves name as their setting's reference (metrics.json)."""
    if "reference_baseline" not in cell:
        return None
    names = cell["reference_baseline"].dropna().unique()
    rows = cell.loc[cell["method"].isin(names), "row"].unique() if len(names) else []
    return rows[0] if len(rows) else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Compare methods across datasets: average ranks, Friedman + post-hoc test, CD diagram."
    )
    parser.add_argument(
        "roots", type=Path, nargs="+", metavar="ROOT", help="folders searched for metrics.json"
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: ROOT/comparison)")
    parser.add_argument("--metric", default="acc", help=f"one of {', '.join(METRIC_NAMES)} (default acc)")
    parser.add_argument("--posthoc", choices=POSTHOC, default="nemenyi")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--format", choices=("png", "pdf", "svg"), default="png", help="figure file format")
    parser.add_argument("--dpi", type=int, default=200, help="resolution of PNG figures")
    parser.add_argument("--methods", default="", help="keep only these methods (comma list)")
    parser.add_argument("--datasets", default="", help="keep only these datasets (comma list)")
    parser.add_argument("--name", action="append", default=[], metavar="ROW=NAME",
                        help="display NAME for a table row (repeatable), e.g. 'eamc [method.epochs=20]=EAMC-20'")  # fmt: skip
    args = parser.parse_args(argv)
    if args.metric not in METRIC_NAMES:
        print(
            f"error: --metric {args.metric} is not a metric; choose from {', '.join(METRIC_NAMES)}",
            file=sys.stderr,
        )
        return 2
    if not 0 < args.alpha < 1:
        print(f"error: --alpha {args.alpha} must lie between 0 and 1, e.g. 0.05", file=sys.stderr)
        return 2
    try:
        runs = display_rows(runs_under(args.roots, args.methods, args.datasets), args.name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out or args.roots[0] / "comparison"
    out.mkdir(parents=True, exist_ok=True)
    result = compare(runs, args.metric, args.posthoc, args.alpha)
    text = comparison_markdown(result, args.metric, args.posthoc, args.alpha)
    write_text_atomic(out / "comparison.md", text)
    write_text_atomic(out / "comparison.csv", result.ranks.rename("average_rank").to_csv())
    written = ["comparison.md", "comparison.csv"]
    if result.posthoc is not None:
        write_text_atomic(out / "posthoc.csv", result.posthoc.to_csv())
        write_figure(cd_figure(result, args.alpha), out / f"cd_diagram.{args.format}", args.dpi)
        written += ["posthoc.csv", f"cd_diagram.{args.format}"]
    write_figure(per_dataset_figure(runs, args.metric), out / f"per_dataset.{args.format}", args.dpi)
    written.append(f"per_dataset.{args.format}")
    print(text)
    print(f"comparison written to {out}: {', '.join(written)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
