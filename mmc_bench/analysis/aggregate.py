"""Turn a tree of run folders into per-seed rows and a paper-style table (mean ± std, best bold)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from scipy.stats import spearmanr, wilcoxon

from mmc_bench.analysis.validity import OBJECTIVES
from mmc_bench.metrics import METRIC_NAMES

DEFAULT_METRICS = ("acc", "nmi", "ari", "purity")
# The label-free block of metrics.json, shown in its own table (never ranked against label scores).
LABEL_FREE_METRICS = ("silhouette", "calinski_harabasz", "davies_bouldin", "size_entropy", "clusters_used")
PROTOCOLS = ("mean", "best-loss", "both", *(f"select:{k}" for k in OBJECTIVES))
LAYOUTS = ("methods", "datasets")
PAPER_RESULTS = Path(__file__).resolve().parent.parent / "resources" / "paper_results.yaml"
SIGNIFICANCE_LEVEL = 0.05


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
        for name, value in (record.get("label_free") or {}).items():
            if name not in flat:  # final_loss is already a top-level column
                flat[name] = value
        flat["run_dir"] = str(path.parent)
        rows.append(flat)
    runs = pd.DataFrame(rows)
    if runs.empty:
        return runs
    if "variant" in runs:
        # A swept boolean is written True/False, a single one as typed: the same configuration either way.
        runs["variant"] = (
            runs["variant"]
            .fillna("")
            .str.replace(r"=(True|False)(?=,|$)", lambda m: "=" + m.group(1).lower(), regex=True)
        )
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
    final training loss (ties to the lowest seed) — selected by loss, never by a metric. ``both``: the two
    stacked, best-loss rows labelled as such. ``select:KEY``: per method and dataset, the one run (any
    configuration, any seed) with the best label-free KEY, stacked under the mean rows.
    """
    if protocol == "both":
        best = summarize(runs, metrics, "best-loss")
        best["row"] = best["row"] + " (best-loss)"
        return pd.concat([summarize(runs, metrics, "mean"), best], ignore_index=True)
    if protocol.startswith("select:"):
        return pd.concat(
            [summarize(runs, metrics, "mean"), select_by_label_free(runs, metrics, protocol[7:])],
            ignore_index=True,
        )
    out = []
    for (row, column), cell in runs.groupby(["row", "column"], sort=True):
        done = cell[cell["status"] == "completed"]
        failed = int((cell["status"] != "completed").sum())
        chosen = None
        if protocol == "best-loss" and not done.empty and done["final_loss"].notna().any():
            chosen = done.sort_values(["final_loss", "seed"]).iloc[0]
        out += _cells(cell.iloc[0], row, column, done, failed, metrics, protocol, chosen)
    return pd.DataFrame(out)


def _cells(first, row, column, done, failed, metrics, protocol, chosen) -> list[dict]:
    """The summary rows of one (row, column) cell: a chosen run's values, or the mean and std."""
    out = []
    for metric in metrics:
        values = pd.to_numeric(done.get(metric, pd.Series(dtype=float)), errors="coerce").dropna()
        if protocol != "mean":
            value = float(chosen[metric]) if chosen is not None and pd.notna(chosen.get(metric)) else np.nan
            std = np.nan
        else:
            value = float(values.mean()) if len(values) else np.nan
            std = float(values.std(ddof=1)) if len(values) > 1 else np.nan
        out.append(
            dict(
                row=row,
                column=column,
                method=first["method"],
                dataset=first["dataset"],
                variant=first.get("variant", "") if isinstance(first.get("variant", ""), str) else "",
                metric=metric,
                value=value,
                std=std,
                n_completed=len(done),
                n_failed=failed,
                protocol=protocol,
                seed=None if chosen is None else int(chosen["seed"]),
                selected_variant=None if chosen is None else chosen.get("variant", ""),
            )
        )
    return out


def select_by_label_free(runs: pd.DataFrame, metrics: list[str], key: str) -> pd.DataFrame:
    """Per method and dataset column, the completed run with the best label-free ``key`` (its variant and
    seed recorded), and its label-scored metrics. Labels play no part in the choice."""
    if key not in OBJECTIVES:
        raise ValueError(f"select:{key}: choose a label-free key from {', '.join(OBJECTIVES)}")
    higher = OBJECTIVES[key]
    out = []
    for (method, column), cell in runs.groupby(["method", "column"], sort=True):
        done = cell[cell["status"] == "completed"]
        scored = done[
            pd.to_numeric(done.get(key, pd.Series(np.nan, index=done.index)), errors="coerce").notna()
        ]
        chosen = None
        if not scored.empty:
            order = scored.assign(_key=pd.to_numeric(scored[key]) * (-1 if higher else 1))
            chosen = order.sort_values(["_key", "seed"]).iloc[0]
        row = f"{method} (select: {key})"
        failed = int((cell["status"] != "completed").sum())
        out += _cells(cell.iloc[0], row, column, done, failed, metrics, f"select:{key}", chosen)
    return pd.DataFrame(out)


def label_free_agreement(runs: pd.DataFrame, reference: str = "acc") -> pd.DataFrame:
    """Per method and dataset column: Spearman's rank correlation, over completed runs (configurations and
    seeds), between each label-free index (oriented so that higher is better) and ``reference``.

    A label-free selection can only pick good configurations where this is clearly positive."""
    done = runs[runs["status"] == "completed"]
    rows = []
    for (method, column), cell in done.groupby(["method", "column"], sort=True):
        truth = pd.to_numeric(cell.get(reference), errors="coerce")
        row = {
            "method": method,
            "dataset": column,
            "runs": len(cell),
            "configurations": cell["row"].nunique(),
        }
        for key, higher in OBJECTIVES.items():
            score = pd.to_numeric(cell.get(key, pd.Series(np.nan, index=cell.index)), errors="coerce")
            both = pd.concat([score * (1 if higher else -1), truth], axis=1).dropna()
            if len(both) < 3 or both.iloc[:, 0].nunique() < 2 or both.iloc[:, 1].nunique() < 2:
                row[key] = np.nan
            else:
                row[key] = float(spearmanr(both.iloc[:, 0], both.iloc[:, 1]).statistic)
        rows.append(row)
    return pd.DataFrame(rows)


def load_paper_results(path: Path = PAPER_RESULTS) -> pd.DataFrame:
    """The papers' headline numbers (mmc_bench/resources/paper_results.yaml) as a table: paper, protocol, method, dataset, metric, value."""
    with open(path) as handle:
        return pd.DataFrame(yaml.safe_load(handle)["results"])


def add_paper_rows(summary: pd.DataFrame, paper: pd.DataFrame) -> pd.DataFrame:
    """A 'METHOD (paper)' row beside each of our plain method rows where the paper reports that
    method × dataset × metric; its ``diff`` is ours minus the paper's."""
    ours = summary[(summary["variant"] == "") & (summary["protocol"] == "mean")]
    joined = ours.merge(paper, on=["method", "dataset", "metric"], suffixes=("", "_paper"))
    pairs = sorted(set(zip(joined["method"], joined["dataset"])))
    print(
        f"--paper: matched {len(joined)} paper numbers "
        + (
            f"({', '.join(f'{m} on {d}' for m, d in pairs)})"
            if pairs
            else "(none of these method and dataset pairs is in paper_results.yaml)"
        )
    )
    if joined.empty:
        return summary
    rows = joined.assign(
        row=joined["method"] + " (paper)",
        diff=joined["value"] - joined["value_paper"],
        value=joined["value_paper"],
        std=np.nan,
        protocol="paper: " + joined["protocol_paper"],
        n_completed=0,
        n_failed=0,
    )
    return pd.concat([summary, rows[summary.columns.tolist() + ["diff"]]], ignore_index=True)


def add_significance(summary: pd.DataFrame, runs: pd.DataFrame, reference: str) -> pd.DataFrame:
    """p-value of a two-sided Wilcoxon signed-rank test of each row against row ``reference`` in the same
    column, pairing completed runs by seed (NaN with fewer than 2 pairs or all differences 0). With n
    paired seeds the smallest possible p is 2 / 2**n, so p < 0.05 needs at least 6 seeds."""
    done = runs[runs["status"] == "completed"]
    p_values = []
    for _, r in summary.iterrows():
        p_values.append(_paired_p(done, r["row"], reference, r["column"], r["metric"]))
    return summary.assign(p_value=p_values)


def _paired_p(done: pd.DataFrame, row: str, reference: str, column: str, metric: str) -> float:
    if row == reference or metric not in done:
        return np.nan
    cell = done[done["column"] == column]
    ours = cell[cell["row"] == row].set_index("seed")[metric]
    theirs = cell[cell["row"] == reference].set_index("seed")[metric]
    pairs = pd.concat([ours, theirs], axis=1, join="inner").dropna()
    if len(pairs) < 2 or (pairs.iloc[:, 0] == pairs.iloc[:, 1]).all():
        return np.nan
    return float(wilcoxon(pairs.iloc[:, 0], pairs.iloc[:, 1]).pvalue)


def _ranks(values: pd.Series) -> pd.Series:
    """1 for the best (highest) value in a column, 2 for the second best distinct value, 0 otherwise."""
    distinct = sorted(values.dropna().unique(), reverse=True)
    rank = {v: i + 1 for i, v in enumerate(distinct[:2])}
    return values.map(lambda v: rank.get(v, 0) if pd.notna(v) else 0)


LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip


def latex_escape(text: str) -> str:
    """A name (method, dataset, variant, metric) as LaTeX text: every special character escaped."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in str(text))


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


def to_latex(wide: pd.DataFrame, index_label: str) -> str:
    """A booktabs table that compiles: names escaped, the label column left-aligned, numbers right-aligned,
    no empty index-name row."""
    table = wide.copy()
    table.index = [latex_escape(i) for i in table.index]
    table.columns = pd.MultiIndex.from_tuples([(latex_escape(a), latex_escape(b)) for a, b in table.columns])
    table = table.reset_index(names=[(latex_escape(index_label), "")])
    return table.to_latex(
        index=False, escape=False, multicolumn_format="c", column_format="l" + "r" * (table.shape[1] - 1)
    )


def build_summary(
    runs: pd.DataFrame,
    metrics: list[str],
    protocol: str,
    paper: pd.DataFrame | None = None,
    significance_vs: str | None = None,
) -> pd.DataFrame:
    summary = summarize(runs, metrics, protocol)
    if significance_vs:
        summary = add_significance(summary, runs, significance_vs)
    if paper is not None:
        summary = add_paper_rows(summary, paper)
    return summary


def describe_protocol(protocol: str) -> str:
    if protocol.startswith("select:"):
        key = protocol[7:]
        return (
            f"mean ± sample std over completed seeds, and in the '(select: {key})' rows the one run (any "
            f"configuration, any seed) with the best label-free {key}; labels play no part in that choice"
        )
    return {
        "mean": "mean ± sample std over completed seeds",
        "best-loss": "seed with the lowest final training loss",
        "both": "mean ± sample std, and the lowest-final-loss seed in the '(best-loss)' rows",
    }[protocol]


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
) -> str:
    out.mkdir(parents=True, exist_ok=True)
    runs.drop(columns=["row", "column"]).to_csv(out / "per_seed.csv", index=False)
    summary = build_summary(runs, metrics, protocol, paper, significance_vs)
    summary.to_csv(out / "table.csv", index=False)
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
    markdown += label_free_table(runs, layout)
    (out / "table.md").write_text(markdown)
    tex = render(summary, "tex", layout, runs_column=tex_runs, percent=percent)
    (out / "table.tex").write_text(to_latex(tex, index_name(layout)))
    return markdown


def label_free_table(runs: pd.DataFrame, layout: str) -> str:
    """The label-free scores (mean ± std over completed seeds), apart from the label-scored table."""
    present = [m for m in LABEL_FREE_METRICS if m in runs]
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
        help=f"select:KEY picks per method and dataset the run with the best label-free KEY ({', '.join(OBJECTIVES)})",
    )
    parser.add_argument("--percent", action="store_true", help="write values x 100 with one decimal")
    parser.add_argument("--tex-runs", action="store_true", help="add the runs columns to table.tex")
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
    if args.cols is not None and args.cols == args.rows:
        print(
            f"error: --rows and --cols are both '{args.rows}'; give one of them methods, the other datasets",
            file=sys.stderr,
        )
        return 2
    out = args.out or args.roots[0]
    paper = load_paper_results() if args.paper else None
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
        )
    )
    written = "per_seed.csv, table.md, table.tex, table.csv"
    if args.agreement:
        agreement = label_free_agreement(runs)
        text = agreement_markdown(agreement)
        (out / "agreement.md").write_text(text)
        print(text)
        written += ", agreement.md"
    print(f"tables written to {out}: {written}")
    return 0
