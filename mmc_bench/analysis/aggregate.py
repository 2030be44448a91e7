"""`mmc-bench-aggregate`: a tree of run folders into per-seed rows and paper-style tables (collect, summarise,
render: the three modules beside this one)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mmc_bench.analysis.collect import display_names, load_paper_results, runs_under
from mmc_bench.analysis.render import LAYOUTS, TexOptions, agreement_markdown, write_tables
from mmc_bench.analysis.summarise import CANDIDATE_CRITERIA, DEFAULT_METRICS, PROTOCOLS, label_free_agreement
from mmc_bench.analysis.validity import OBJECTIVES
from mmc_bench.metrics import METRIC_NAMES
from mmc_bench.run.storage import write_text_atomic


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
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="mean",
        metavar="{mean,best-loss,both,select:KEY}",
        help=f"select:KEY picks per method and dataset the run with the best label-free KEY ({', '.join(OBJECTIVES)}), "
        f"or the configuration a candidate criterion chooses ({', '.join(CANDIDATE_CRITERIA)}; docs/selection.md)",
    )
    parser.add_argument("--percent", action="store_true", help="write values x 100 with one decimal")
    parser.add_argument("--tex-runs", action="store_true", help="add the runs columns to table.tex")
    parser.add_argument(
        "--tex-width",
        choices=("column", "page"),
        default="column",
        help="table.tex fits one column of a two-column paper (table) or the page width (table*); wider "
        "tables are split into stacked blocks",
    )
    parser.add_argument(
        "--tex-caption", default=None, help="table.tex's caption (default: what the cells are)"
    )
    parser.add_argument("--tex-label", default="tab:mmc-bench", help="table.tex's \\label")
    parser.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="ROW=NAME",
        help="table.tex's name for a row (repeatable), e.g. 'eamc [method.epochs=20]=EAMC-20'; default: the "
        "method's display name and its variant's keys",
    )
    parser.add_argument(
        "--agreement",
        action="store_true",
        help="also write agreement.md: per method and dataset, Spearman's rho between each label-free index and ACC",
    )
    parser.add_argument(
        "--rows",
        choices=LAYOUTS,
        default="methods",
        help="what the table's rows are (the other goes in columns)",
    )
    parser.add_argument(
        "--cols",
        choices=LAYOUTS,
        default=None,
        help="what the columns are (the opposite of --rows by default)",
    )
    parser.add_argument(
        "--paper",
        action="store_true",
        help="add the papers' numbers (mmc_bench/resources/paper_results.yaml) with the difference",
    )
    parser.add_argument(
        "--significance-vs",
        default=None,
        metavar="ROW",
        help="mark rows that differ from ROW (e.g. kmeans) by Wilcoxon",
    )
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
    try:
        runs = runs_under(args.roots, args.methods, args.datasets)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.cols is not None and args.cols == args.rows:
        print(
            f"error: --rows and --cols are both '{args.rows}'; give one of them methods, the other datasets",
            file=sys.stderr,
        )
        return 2
    out = args.out or args.roots[0]
    paper = load_paper_results() if args.paper else None
    tex = TexOptions(args.tex_width, args.tex_caption, args.tex_label, args.name)
    try:
        display_names(runs, args.name)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(
        write_tables(
            runs,
            out,
            metrics,
            args.protocol,
            args.rows,
            paper,
            args.significance_vs,
            args.percent,
            args.tex_runs,
            tex,
        )
    )
    written = "per_seed.csv, table.md, table.tex, table.csv"
    if args.agreement:
        agreement = label_free_agreement(runs)
        text = agreement_markdown(agreement)
        write_text_atomic(out / "agreement.md", text)
        print(text)
        written += ", agreement.md"
    print(f"tables written to {out}: {written}")
    return 0
