"""Per-cell statistics of collected runs under a protocol (mean ± std, best-loss, label-free selection),
the papers' rows, significance and agreement of label-free scores with ACC."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr, wilcoxon

from mmc_bench.analysis.validity import OBJECTIVES

DEFAULT_METRICS = ("acc", "nmi", "ari", "purity")


# Criteria that score a configuration against the other candidates (mmc_bench.analysis.choose), not one run.
CANDIDATE_CRITERIA = ("cross_space", "consensus", "stability")
PROTOCOLS = ("mean", "best-loss", "both", *(f"select:{k}" for k in (*OBJECTIVES, *CANDIDATE_CRITERIA)))


SIGNIFICANCE_LEVEL = 0.05


def summarize(runs: pd.DataFrame, metrics: list[str], protocol: str) -> pd.DataFrame:
    """Long table: one row per (method row, dataset column, metric) with the protocol's value.

    ``mean``: mean and sample std over completed seeds. ``best-loss``: the completed seed with the lowest
    final training loss (ties to the lowest seed) — selected by loss, never by a metric. ``both``: the two
    stacked, best-loss rows labelled as such. ``select:KEY``: per method and dataset, the one run (any
    configuration, any seed) with the best label-free KEY, stacked under the mean rows; for a criterion
    that compares configurations (``CANDIDATE_CRITERIA``) the chosen configuration's mean over its seeds.
    """
    if protocol == "both":
        best = summarize(runs, metrics, "best-loss")
        best["row"] = best["row"] + " (best-loss)"
        return pd.concat([summarize(runs, metrics, "mean"), best], ignore_index=True)
    if protocol.startswith("select:"):
        key = protocol[7:]
        select = select_configuration if key in CANDIDATE_CRITERIA else select_by_label_free
        return pd.concat([summarize(runs, metrics, "mean"), select(runs, metrics, key)], ignore_index=True)
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


def select_configuration(runs: pd.DataFrame, metrics: list[str], key: str) -> pd.DataFrame:
    """Per method and dataset column, the configuration that the candidate criterion ``key`` chooses among
    the method's configurations (mmc_bench.analysis.choose; collapsed ones excluded), with the mean and std
    of its seeds. Labels play no part in the choice."""
    from mmc_bench.analysis.choose import select_dataset

    out = []
    for (method, column), cell in runs.groupby(["method", "column"], sort=True):
        done = cell[cell["status"] == "completed"]
        pick = select_dataset(done)["chosen"][key] if not done.empty else None
        chosen = done[done["row"] == pick]
        failed = int((cell["status"] != "completed").sum())
        rows = _cells(
            cell.iloc[0], f"{method} (select: {key})", column, chosen, failed, metrics, "mean", None
        )
        out += [dict(r, protocol=f"select:{key}", selected_variant=pick) for r in rows]
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
