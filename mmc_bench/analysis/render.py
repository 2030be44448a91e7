"""Summaries as tables a reader takes in: Markdown and LaTeX (best bold, second underlined), the label-free
table, the agreement table, and writing them to a folder (atomically)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mmc_bench.analysis.collect import display_names, relabel
from mmc_bench.analysis.latex import latex_escape, latex_table
from mmc_bench.analysis.summarise import (
    SIGNIFICANCE_LEVEL,
    build_summary,
    describe_protocol,
    summarize,
)
from mmc_bench.analysis.validity import LABEL_FREE_SCORES
from mmc_bench.run.storage import write_text_atomic

LAYOUTS = ("methods", "datasets")


def _ranks(values: pd.Series) -> pd.Series:
    """1 for the best (highest) value in a column, 2 for the second best distinct value, 0 otherwise."""
    distinct = sorted(values.dropna().unique(), reverse=True)
    rank = {v: i + 1 for i, v in enumerate(distinct[:2])}
    return values.map(lambda v: rank.get(v, 0) if pd.notna(v) else 0)


def render(
    summary: pd.DataFrame, fmt: str, layout: str = "methods", runs_column: bool = True, percent: bool = False,
    rank: bool = True,
) -> pd.DataFrame:  # fmt: skip
    """Wide table of strings. layout=methods: rows = methods, columns = (dataset, metric) plus each dataset's
    run count; layout=datasets: rows = datasets, columns = (method, metric). Best and second best are marked
    within one protocol only (a single selected run is never ranked against means); paper rows are not
    ranked. ``percent`` writes values x 100 with one decimal."""
    best, second = {"md": ("**{}**", "<u>{}</u>"), "tex": ("\\textbf{{{}}}", "\\underline{{{}}}")}[fmt]
    pm = " ± " if fmt == "md" else " $\\pm$ "
    marker = "†" if fmt == "md" else "$^\\dagger$"
    missing = "–" if fmt == "md" else "--"
    scale, digits = (100.0, 1) if percent else (1.0, 3)
    cells = summary.copy()
    for optional in ("diff", "p_value"):
        if optional not in cells:
            cells[optional] = np.nan
    is_paper = cells["protocol"].str.startswith("paper")
    cells["rank"] = 0
    if rank:
        ours = cells[~is_paper]
        cells.loc[~is_paper, "rank"] = ours.groupby(["column", "metric", "protocol"])["value"].transform(
            _ranks
        )

    def text(r: pd.Series) -> str:
        if pd.isna(r["value"]):
            return missing
        s = f"{scale * r['value']:.{digits}f}" + (
            f"{pm}{scale * r['std']:.{digits}f}" if pd.notna(r["std"]) else ""
        )
        if pd.notna(r["diff"]):
            delta = f"{scale * r['diff']:+.{digits}f}"
            s += f" (Δ {delta})" if fmt == "md" else f" ($\\Delta$ {delta})"
        if pd.notna(r["p_value"]) and r["p_value"] < SIGNIFICANCE_LEVEL:
            s += marker
        return best.format(s) if r["rank"] == 1 else second.format(s) if r["rank"] == 2 else s

    cells["text"] = cells.apply(text, axis=1)
    index, group = ("row", "column") if layout == "methods" else ("column", "row")
    wide = cells.pivot_table(index=index, columns=[group, "metric"], values="text", aggfunc="first")
    metric_order = list(dict.fromkeys(summary["metric"])) + ["runs"]
    if runs_column:
        counts = (
            cells[~is_paper]
            .drop_duplicates(["row", "column"])
            .assign(
                text=lambda d: (
                    d["n_completed"].astype(str) + "/" + (d["n_completed"] + d["n_failed"]).astype(str)
                )
            )
        )
        runs = counts.pivot_table(index=index, columns=group, values="text", aggfunc="first")
        runs.columns = pd.MultiIndex.from_tuples([(c, "runs") for c in runs.columns])
        wide = pd.concat([wide, runs], axis=1)
    ordered = sorted(wide.columns, key=lambda c: (c[0], metric_order.index(c[1])))
    return wide[ordered].fillna(missing)


def write_tables(
    runs: pd.DataFrame,
    out: Path,
    metrics: list[str],
    protocol: str,
    layout: str = "methods",
    paper: pd.DataFrame | None = None,
    significance_vs: str | None = None,
    percent: bool = False,
    tex_runs: bool = False,
    tex: TexOptions | None = None,
) -> str:
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "per_seed.csv", runs.drop(columns=["row", "column"]).to_csv(index=False))
    summary = build_summary(runs, metrics, protocol, paper, significance_vs)
    write_text_atomic(out / "table.csv", summary.to_csv(index=False))
    md = render(summary, "md", layout, percent=percent)
    md_flat = md.copy()
    md_flat.columns = [f"{d} {m}" for d, m in md.columns]
    header = (
        f"Protocol: {protocol} ({describe_protocol(protocol)}); best **bold**, second <u>underlined</u>, "
        "within one protocol; runs = completed/total (failed runs are not averaged)."
    )
    if percent:
        header += " Values in %."
    if paper is not None:
        header += " '(paper)' rows: the paper's number and Δ = ours − paper."
    if significance_vs:
        header += (
            f" † = Wilcoxon signed-rank p < {SIGNIFICANCE_LEVEL} against {significance_vs} (paired by seed)."
        )
    markdown = header + "\n\n" + md_flat.rename_axis(index_name(layout)).to_markdown() + "\n"
    markdown += seed_count_note(runs, significance_vs)
    markdown += label_free_table(runs, layout)
    write_text_atomic(out / "table.md", markdown)
    write_text_atomic(
        out / "table.tex", tex_table(runs, summary, layout, tex_runs, percent, tex or TexOptions())
    )
    return markdown


@dataclass
class TexOptions:
    """table.tex's float: ``width`` column (table) or page (table*), caption (default: what the cells are),
    label, and display names 'ROW=NAME' for rows."""

    width: str = "column"
    caption: str | None = None
    label: str = "tab:mmc-bench"
    names: list[str] = field(default_factory=list)


def tex_table(
    runs: pd.DataFrame, summary: pd.DataFrame, layout: str, tex_runs: bool, percent: bool, options: TexOptions
) -> str:
    """The LaTeX float of the summary, rows under their readable names (collect.display_names)."""
    shown = summary.assign(row=relabel(summary["row"], display_names(runs, options.names)))
    wide = render(shown, "tex", layout, runs_column=tex_runs, percent=percent)
    metrics = ", ".join(m.upper() for m in dict.fromkeys(summary["metric"]))
    protocols = sorted({p for p in summary["protocol"] if not str(p).startswith("paper")})
    described = latex_escape("; ".join(describe_protocol(p) for p in protocols)).replace("±", "$\\pm$")
    in_percent = "in \\%; " if percent else ""
    caption = options.caption or f"{metrics} ({in_percent}{described}). Best in bold, second underlined."
    return latex_table(wide, index_name(layout), caption, options.label, options.width)


def seed_count_note(runs: pd.DataFrame, significance_vs: str | None) -> str:
    """A note when the seeds are too few for the Wilcoxon marks to ever appear: with n paired seeds the
    smallest two-sided p is 2 / 2**n."""
    if not significance_vs or runs.empty:
        return ""
    done = runs[runs["status"] == "completed"]
    n = int(done.groupby(["row", "column"])["seed"].nunique().max()) if not done.empty else 0
    floor = 2 / 2**n if n else 1.0
    if floor < SIGNIFICANCE_LEVEL:
        return ""
    return (
        f"\nNote: with at most {n} seeds per cell, Wilcoxon's smallest two-sided p is {floor:.3g} >= "
        f"{SIGNIFICANCE_LEVEL}, so no row can be marked significant; at least 6 seeds are needed.\n"
    )


def label_free_table(runs: pd.DataFrame, layout: str) -> str:
    """The label-free scores (mean ± std over completed seeds), apart from the label-scored table."""
    present = [m for m in LABEL_FREE_SCORES if m in runs]
    if not present:
        return ""
    summary = summarize(runs, present, "mean")
    wide = render(summary, "md", layout, runs_column=False, rank=False)
    wide.columns = [f"{d} {m}" for d, m in wide.columns]
    return (
        "\nLabel-free scores (no labels read; what a selection may use): silhouette and Calinski-Harabasz higher "
        "is better, Davies-Bouldin lower is better, size_entropy 1 = equal cluster sizes.\n\n"
        + wide.rename_axis(index_name(layout)).to_markdown()
        + "\n"
    )


def agreement_markdown(agreement: pd.DataFrame) -> str:
    return (
        "Spearman's rank correlation over completed runs (configurations x seeds) between each label-free "
        "index, oriented so that higher is better (Davies-Bouldin and final loss negated), and ACC. Near 0 or "
        "negative: selecting on that index does not pick the more accurate runs.\n\n"
        + agreement.to_markdown(index=False, floatfmt=".2f")
        + "\n"
    )


def index_name(layout: str) -> str:
    return "method" if layout == "methods" else "dataset"
