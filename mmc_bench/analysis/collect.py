"""Reading a tree of run folders: one row per metrics.json, and the papers' numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

PAPER_RESULTS = Path(__file__).resolve().parent.parent / "resources" / "paper_results.yaml"


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
        row_label(m, v) for m, v in zip(runs["method"], runs.get("variant", pd.Series([""] * len(runs))))
    ]
    runs["column"] = [
        _column_label(d, s, r)
        for d, s, r in zip(
            runs["dataset"], runs["setting"], runs.get("missing_rate", pd.Series(0.0, index=runs.index))
        )
    ]
    return runs


def runs_under(roots: list[Path], methods: str = "", datasets: str = "") -> pd.DataFrame:
    """The runs of the command-line tools' ROOT folders (filtered by the comma lists); a ValueError in one
    sentence when a root is not a folder or holds no run."""
    for root in roots:
        if not root.is_dir():
            raise ValueError(f"{root} is not a folder; give the folder of a sweep, a benchmark or runs")
    runs = select(collect_runs(*roots), methods, datasets)
    if runs.empty:
        raise ValueError(f"no metrics.json found under {', '.join(map(str, roots))}; run experiments first")
    return runs


def select(runs: pd.DataFrame, methods: str, datasets: str) -> pd.DataFrame:
    """Rows whose method and dataset are in the comma lists (an empty list keeps everything)."""
    for column, wanted in (("method", methods), ("dataset", datasets)):
        names = [n.strip() for n in wanted.split(",") if n.strip()]
        if names and not runs.empty:
            runs = runs[runs[column].isin(names)]
    return runs


def display_names(runs: pd.DataFrame, overrides: list[str] = ()) -> dict[str, str]:
    """Each table row's readable name: the method's declared display name (metrics.json; else its name) and
    its variant's keys without the ``method.`` prefix, e.g. 'NAME [method.lr=0.1]' -> 'DISPLAY (lr=0.1)'.
    ``overrides`` are 'ROW=NAME' (ROW raw or readable); an unknown ROW is a ValueError naming the rows."""
    names = {}
    shown = (
        runs["display_name"] if "display_name" in runs else pd.Series([None] * len(runs), index=runs.index)
    )
    for row, method, display, variant in zip(runs["row"], runs["method"], shown, runs.get("variant", shown)):
        base = display if isinstance(display, str) and display else method
        keys = variant.replace("method.", "").replace(",", ", ") if isinstance(variant, str) else ""
        names[row] = f"{base} ({keys})" if keys else base
    for item in overrides:
        row, sep, name = item.rpartition("=")
        if not sep or not row or not name:
            raise ValueError(f"--name {item!r} is not ROW=NAME, e.g. 'eamc [method.epochs=20]=EAMC-20'")
        matches = [raw for raw, readable in names.items() if row in (raw, readable)]
        if not matches:
            raise ValueError(
                f"--name {item!r}: no row {row!r}; the rows are {', '.join(sorted(set(names.values())))}"
            )
        for raw in matches:
            names[raw] = name
    return names


def relabel(rows: pd.Series, names: dict[str, str]) -> pd.Series:
    """Summary row labels renamed, keeping a protocol suffix: 'cmmc (paper)' -> 'CMMC (paper)'."""

    def one(row: str) -> str:
        if row in names:
            return names[row]
        raw = max((r for r in names if row.startswith(r + " (")), key=len, default=None)
        return names[raw] + row[len(raw) :] if raw else row

    return rows.map(one)


def display_rows(runs: pd.DataFrame, overrides: list[str] = ()) -> pd.DataFrame:
    """``runs`` with readable row names (see :func:`display_names`)."""
    return runs.assign(row=relabel(runs["row"], display_names(runs, overrides)))


def row_label(method: str, variant: object) -> str:
    return f"{method} [{variant}]" if isinstance(variant, str) and variant else method


def _column_label(dataset: str, setting: str, missing_rate: object) -> str:
    if setting == "paired":
        return dataset
    if setting == "incomplete":
        return f"{dataset} (incomplete {float(missing_rate):g})"
    return f"{dataset} ({setting})"


def load_paper_results(path: Path = PAPER_RESULTS) -> pd.DataFrame:
    """The papers' headline numbers (mmc_bench/resources/paper_results.yaml) as a table: paper, protocol, method, dataset, metric, value."""
    with open(path) as handle:
        return pd.DataFrame(yaml.safe_load(handle)["results"])
