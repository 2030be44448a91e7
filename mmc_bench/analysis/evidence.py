"""The report section on label-free choice (`mmc-bench-report ROOTS --section choice`): does a choice made
without labels hold up when labels check it?

Two tables, from what the roots hold:

- **searches** (folders with an ``optuna.db``): per search, the default configuration's mean ACC over its
  seeds (runs outside any search with the search's fixed overrides), the ACC of the configuration each
  criterion of mmc_bench.analysis.choose selects among the trials and the search's confirmation runs (the
  mean over every seed of that configuration found in the roots, since a trial is one seed and the default
  is several; a pick replaces the search's default only when ahead of it by more than seed noise), the best
  trial's ACC (read with labels, for reference only), k-means on the same data, and Spearman's rho of each
  criterion with ACC over the trials;
- **auto** (folders with a ``choice.json``): the chosen candidate's ACC against the best candidate's and
  k-means'.

Labels enter after every choice is fixed: the choices are those of ``select_dataset``, which reads none.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from mmc_bench.analysis.choose import CRITERIA, recorded_incumbent, select_dataset
from mmc_bench.analysis.collect import display_rows

# The criteria in the order the table shows them (the new ones first, the old own-embedding silhouette last).
SHOWN = ("view_silhouette", "cross_space", "consensus", "own_silhouette")
# A chosen candidate counts as near the best within this much ACC (issue #28's target).
NEAR_BEST = 0.05


def folders_with(roots: list[Path], name: str) -> list[Path]:
    return sorted({p.parent for root in roots for p in root.rglob(name)})


def inside(runs: pd.DataFrame, folders: list[Path]) -> pd.Series:
    """Which runs lie under one of ``folders``."""
    prefixes = tuple(f"{f}/" for f in folders)
    return runs["run_dir"].map(lambda d: bool(prefixes) and f"{d}/".startswith(prefixes))


def fixed_overrides(trials: pd.DataFrame) -> str:
    """The overrides every trial shares (the searched keys vary), as a run's ``variant`` writes them."""
    parts = [set(str(v).split(",")) if v else set() for v in trials["variant"].fillna("")]
    common = set.intersection(*parts) if parts else set()
    return ",".join(sorted(common))


@cache
def method_config(run_dir: str) -> str:
    """A run's resolved method configuration (config.yaml), as a key: runs with the same key are seeds of
    one configuration however their overrides were written."""
    import yaml

    path = Path(run_dir) / "config.yaml"
    return (
        json.dumps(yaml.safe_load(path.read_text())["method"], sort_keys=True) if path.is_file() else run_dir
    )


def seeds_of(configuration: str, column: str, runs: pd.DataFrame) -> pd.DataFrame:
    """Every completed run of ``configuration`` on ``column`` in ``runs``, one per seed."""
    same = runs[(runs["column"] == column) & (runs["status"] == "completed")]
    same = same[same["run_dir"].map(method_config) == configuration]
    return same.drop_duplicates("seed")


def _mean(cell: pd.DataFrame) -> tuple[float, float, int]:
    acc = pd.to_numeric(cell.get("acc", pd.Series(dtype=float)), errors="coerce").dropna()
    return (
        float(acc.mean()) if len(acc) else np.nan,
        float(acc.std(ddof=1)) if len(acc) > 1 else np.nan,
        len(acc),
    )


def _fmt(value: float, std: float = np.nan, n: int | None = None) -> str:
    if pd.isna(value):
        return "–"
    text = f"{value:.3f}" + (f" ± {std:.3f}" if pd.notna(std) else "")
    return text + (f" ({n})" if n is not None else "")


def search_row(
    trials: pd.DataFrame,
    outside: pd.DataFrame,
    everywhere: pd.DataFrame,
    reference: str,
    incumbent_run: str | None = None,
) -> dict[str, Any]:
    """One search's line of the table (module doc); ``incumbent_run``: the search's default run, which a
    pick must beat by more than seed noise."""
    trials = display_rows(trials)
    result = select_dataset(trials, incumbent_run=incumbent_run)
    scores = pd.DataFrame(result["candidates"]).set_index("candidate")
    method, column = trials["method"].iloc[0], trials["column"].iloc[0]
    here = outside[(outside["method"] == method) & (outside["column"] == column)]
    default = _mean(here[here["variant"].fillna("") == fixed_overrides(trials)])
    kmeans = _mean(outside[(outside["method"] == reference) & (outside["column"] == column)])
    row: dict[str, Any] = {
        "method": method,
        "dataset": column,
        "trials": len(scores),
        "default ACC": _fmt(*default),
    }
    for criterion in SHOWN:
        pick = result["chosen"].get(criterion)
        if pick is None:
            row[criterion], row[f"_{criterion}"], row[f"_{criterion}_kept"] = "–", np.nan, None
            continue
        configuration = method_config(trials.loc[trials["row"] == pick, "run_dir"].iloc[0])
        selected = _mean(seeds_of(configuration, column, everywhere))
        kept = pick == result.get("incumbent")
        row[criterion] = _fmt(*selected) + (" (default)" if kept else "")
        row[f"_{criterion}"], row[f"_{criterion}_kept"] = selected[0], kept
    row["best trial"] = _fmt(scores["acc"].max())
    row["k-means"] = _fmt(*kmeans)
    for criterion in SHOWN:
        column_name, higher = CRITERIA[criterion]
        both = pd.concat([scores[column_name] * (1 if higher else -1), scores["acc"]], axis=1).dropna()
        rho = spearmanr(both.iloc[:, 0], both.iloc[:, 1]).statistic if len(both) > 2 else np.nan
        row[f"ρ {criterion}"] = "–" if pd.isna(rho) else f"{rho:.2f}"
    row["_default"] = default[0]
    return row


def searches_table(runs: pd.DataFrame, searches: list[Path], reference: str) -> tuple[str, list[str]]:
    """(the searches' Markdown table, one line per criterion: on how many searches it reached the default)."""
    outside = runs[~inside(runs, searches)]
    rows = []
    for folder in searches:
        trials = runs[inside(runs, [folder]) & (runs["status"] == "completed")]
        for _, cell in trials.groupby("column", sort=True):
            rows.append(search_row(cell, outside, runs, reference, recorded_incumbent(folder)))
    if not rows:
        return "No search.", []
    table = pd.DataFrame(rows).sort_values(["method", "dataset"])
    tally = []
    for criterion in SHOWN:
        held = (table[f"_{criterion}"] >= table["_default"]).sum()
        moved = table[table[f"_{criterion}_kept"].eq(False)]
        better = (moved[f"_{criterion}"] >= moved["_default"]).sum()
        tally.append(
            f"- {criterion}: selected ACC ≥ the default's mean on {held} of {len(table)} searches; it replaced "
            f"the default on {len(moved)}, and {better} of those reached the default's mean"
        )
    shown = table[[c for c in table.columns if not c.startswith("_")]]
    return shown.to_markdown(index=False, disable_numparse=True), tally


def auto_table(folders: list[Path]) -> tuple[str, list[str]]:
    """(the auto runs' Markdown table, the two counts of issue #28's target)."""
    rows, consensus_better, multi_seed = [], 0, 0
    for folder in folders:
        choice = json.loads((folder / "choice.json").read_text())
        for c in choice["candidates"]:
            if c.get("acc") is not None and c.get("consensus_of_seeds_acc") is not None and c["seeds"] > 1:
                multi_seed += 1
                consensus_better += c["consensus_of_seeds_acc"] >= c["acc"]
        acc = {c["candidate"]: c.get("acc") for c in choice["candidates"] if c.get("acc") is not None}
        if not acc:
            continue
        best = max(acc, key=acc.get)
        kmeans = next((acc[c["candidate"]] for c in choice["candidates"] if c["method"] == "kmeans"), np.nan)
        chosen = acc.get(choice["chosen"], np.nan)
        answer = next(
            c.get("consensus_of_seeds_acc")
            for c in choice["candidates"]
            if c["candidate"] == choice["chosen"]
        )
        rows.append(
            {
                "dataset": choice["dataset"],
                "budget": choice["budget"],
                "chosen": f"{choice['chosen']} {_fmt(chosen)}",
                "its seeds' consensus": _fmt(answer if answer is not None else np.nan),
                "best candidate": f"{best} {_fmt(acc[best])}",
                "k-means": _fmt(kmeans),
                "within 0.05 of best": "yes" if chosen >= acc[best] - NEAR_BEST else "no",
                "≥ k-means": "yes" if chosen >= kmeans else "no",
            }
        )
    if not rows:
        return "No auto run.", []
    table = pd.DataFrame(rows)
    counts = [
        f"- within {NEAR_BEST} of the best candidate on {(table['within 0.05 of best'] == 'yes').sum()} of "
        f"{len(table)}; at least k-means on {(table['≥ k-means'] == 'yes').sum()} of {len(table)}",
        f"- a candidate's consensus of its seeds scores at least its seeds' mean ACC for {consensus_better} of "
        f"{multi_seed} candidates",
    ]
    return table.to_markdown(index=False, disable_numparse=True), counts


def choice_section(runs: pd.DataFrame, roots: list[Path], reference: str = "kmeans") -> str:
    """The report section (module doc)."""
    autos = folders_with(roots, "choice.json")
    runs = runs[~inside(runs, autos)]
    searches = folders_with(roots, "optuna.db")
    command = f"mmc-bench-report {' '.join(map(str, roots))} --section choice"
    search_md, search_tally = searches_table(runs, searches, reference)
    auto_md, auto_counts = auto_table(autos)
    return "\n".join(
        [
            "## Label-free choice",
            "",
            f"Regenerate: `{command}` (only this section is rewritten). Searches: each criterion's pick "
            "among the trials (mmc-bench-select; partially collapsed trials excluded; where the search "
            "recorded its default, a pick replaces it only when ahead by more than seed noise over the "
            "confirmation seeds, and `(default)` marks a criterion that kept it), scored with labels "
            "only after the choice; `default ACC` is the default configuration's mean ± std (seeds) run "
            "outside the search with the same fixed overrides; ρ is Spearman's rank correlation of the "
            "criterion with ACC over the trials; `best trial` is for reference only (it reads labels).",
            "",
            search_md,
            "",
            *search_tally,
            "",
            "`mmc-bench auto`: the chosen candidate's ACC (mean of its seeds) against the best candidate's "
            "and k-means'.",
            "",
            auto_md,
            "",
            *auto_counts,
            "",
        ]
    )
