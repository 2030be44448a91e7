"""`mmc-bench-select`: a label-free choice among the completed runs of a tree, per dataset.

Candidates are configurations (a method with its overrides), each with its seeds' runs. Per candidate,
from the runs' predictions.npz (labels and embedding) and the dataset's preprocessed views, never the
labels:

- ``own_silhouette``: the mean over seeds of each run's silhouette in its own embedding (the old criterion);
- ``view_silhouette``: the mean over seeds of each run's silhouette in the input views (label_free block);
- ``cross_space_rank``: the mean over seeds of the partition's mean silhouette rank across the common spaces
  (mmc_bench.analysis.selection: the views, PCA-reduced, and one embedding per candidate), lower is better;
- ``consensus_nmi``: the mean over seeds of the NMI with the consensus of every run on the dataset;
- ``stability_ari``: the mean pairwise ARI between the candidate's seeds.

A candidate with a collapsed or partially collapsed run is never chosen. Each criterion's choice is
written with every candidate's scores to ``selection.json`` and ``selection.md``; the runs' ACC (from
metrics.json) is added beside them after the choices are made, for the reader, when the data had labels.
The consensus of each candidate's seeds is scored too (``consensus_of_seeds_acc``), since a consensus of a
configuration's runs is a result of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mmc_bench.analysis.collect import display_rows, runs_under
from mmc_bench.analysis.selection import (
    consensus_agreement,
    consensus_partition,
    cross_space_scores,
    partial_collapse,
    stability,
    view_spaces,
)
from mmc_bench.run.storage import write_text_atomic

# Criterion: (column, higher is better).
CRITERIA = {
    "own_silhouette": ("own_silhouette", True),
    "view_silhouette": ("view_silhouette", True),
    "cross_space": ("cross_space_rank", False),
    "consensus": ("consensus_nmi", True),
    "stability": ("stability_ari", True),
}


def load_partitions(cell: pd.DataFrame) -> dict[str, dict[int, dict[str, np.ndarray]]]:
    """{candidate: {seed: {'labels', 'embedding'?}}} from the completed runs' predictions.npz (labels read
    as the predicted ones only; the file's 'true' array is not touched)."""
    out: dict[str, dict[int, dict[str, np.ndarray]]] = {}
    for _, run in cell.iterrows():
        path = Path(run["run_dir"]) / "predictions.npz"
        if not path.is_file():
            continue
        with np.load(path) as saved:
            arrays = {k: saved[k] for k in ("labels", "embedding") if k in saved.files}
        out.setdefault(run["row"], {})[int(run["seed"])] = arrays
    return out


def dataset_views(run_dir: Path) -> tuple[list[Any], list[str]]:
    """The preprocessed views of a run's dataset, rebuilt from its config.yaml as the runner built them."""
    from omegaconf import OmegaConf

    from mmc_bench.run.runner import prepare_dataset

    cfg = OmegaConf.load(run_dir / "config.yaml")
    data = prepare_dataset(cfg)
    return data.views, data.view_names


def score_candidates(
    partitions: dict[str, dict[int, dict[str, np.ndarray]]],
    views: tuple[list[Any], list[str]],
    n_clusters: int,
    per_run: pd.DataFrame,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, float], dict[str, np.ndarray]]:
    """(candidates x scores, each space's Hopkins statistic, each candidate's consensus of its seeds)."""
    spaces = view_spaces(*views, seed=seed)
    for name, runs in partitions.items():
        first = runs[min(runs)]
        if "embedding" in first:
            spaces[f"embedding:{name}"] = view_spaces([first["embedding"]], [name], seed)[f"view:{name}"]
    flat = {f"{name}#{s}": run["labels"] for name, runs in partitions.items() for s, run in runs.items()}
    table, structure = cross_space_scores(flat, spaces, seed)
    agreement, _ = consensus_agreement(flat, n_clusters, seed)
    rows, consensus_of_seeds = [], {}
    for name, runs in partitions.items():
        keys = [f"{name}#{s}" for s in runs]
        labels = [runs[s]["labels"] for s in runs]
        consensus_of_seeds[name] = consensus_partition(labels, n_clusters, seed)
        rows.append(
            {
                "candidate": name,
                "seeds": len(runs),
                "own_silhouette": per_run.at[name, "silhouette"] if name in per_run.index else np.nan,
                "view_silhouette": per_run.at[name, "view_silhouette"] if name in per_run.index else np.nan,
                "cross_space_rank": float(table.loc[keys, "mean_rank"].mean()),
                "cross_space_silhouette": float(table.loc[keys, "mean_silhouette"].mean()),
                "consensus_nmi": float(np.mean([agreement[k] for k in keys])),
                **stability(labels),
                "collapsed": any(partial_collapse(lab, n_clusters) for lab in labels),
            }
        )
    return pd.DataFrame(rows).set_index("candidate"), structure, consensus_of_seeds


def choose(scores: pd.DataFrame) -> dict[str, str | None]:
    """Each criterion's pick among the candidates that did not collapse (ties: the first in name order)."""
    allowed = scores[~scores["collapsed"]]
    picks: dict[str, str | None] = {}
    for criterion, (column, higher) in CRITERIA.items():
        values = allowed[column].dropna()
        if values.empty:
            picks[criterion] = None
            continue
        best = values.max() if higher else values.min()
        picks[criterion] = sorted(values.index[values == best])[0]
    return picks


def select_dataset(cell: pd.DataFrame, seed: int = 0) -> dict[str, Any]:
    """The choice on one dataset column, then (after it) the candidates' ACC for the reader."""
    n_clusters = int(cell["n_clusters"].dropna().iloc[0])
    partitions = load_partitions(cell)
    per_run = cell.reindex(columns=["row", "silhouette", "view_silhouette"]).groupby("row").mean()
    views = dataset_views(Path(cell["run_dir"].iloc[0]))
    scores, structure, consensus_of_seeds = score_candidates(partitions, views, n_clusters, per_run, seed)
    picks = choose(scores)
    # Labels enter only here, after every choice is fixed: the runs' recorded ACC, and the ACC of each
    # candidate's consensus of seeds scored against the labels its runs saved.
    scores["acc"] = cell.groupby("row")["acc"].mean() if "acc" in cell else np.nan
    scores["consensus_of_seeds_acc"] = [
        consensus_accuracy(cell, name, consensus_of_seeds[name]) for name in scores.index
    ]
    return {
        "n_clusters": n_clusters,
        "hopkins": structure,
        "chosen": picks,
        "candidates": json.loads(scores.reset_index().to_json(orient="records")),
    }


def consensus_accuracy(cell: pd.DataFrame, name: str, labels: np.ndarray) -> float | None:
    from mmc_bench.metrics import clustering_accuracy

    run_dir = Path(cell.loc[cell["row"] == name, "run_dir"].iloc[0])
    with np.load(run_dir / "predictions.npz") as saved:
        if "true" not in saved.files:
            return None
        return float(clustering_accuracy(saved["true"], labels))


def markdown(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "# Label-free selection",
        "",
        "Per dataset: every candidate configuration's label-free scores, and each criterion's choice "
        "(collapsed candidates excluded). ACC columns are read after the choices, for reference only.",
    ]
    for column, result in results.items():
        table = pd.DataFrame(result["candidates"]).set_index("candidate")
        picks = ", ".join(f"{c}: {p}" for c, p in result["chosen"].items())
        hopkins = ", ".join(f"{s} {h:.2f}" for s, h in result["hopkins"].items())
        lines += ["", f"## {column}", "", f"Chosen — {picks}.", "", f"Hopkins per space: {hopkins}.", ""]
        lines.append(table.to_markdown(floatfmt=".3f"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Label-free choice among the runs of a tree, per dataset.")
    parser.add_argument(
        "roots", type=Path, nargs="+", metavar="ROOT", help="folders searched for metrics.json"
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: ROOT/selection)")
    parser.add_argument("--datasets", default="", help="only these datasets (comma list)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the sampled scores and the consensus")
    parser.add_argument("--quiet", action="store_true", help="print each dataset's choices only")
    args = parser.parse_args(argv)
    try:
        runs = runs_under(args.roots, "", args.datasets)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    runs = runs[runs["status"] == "completed"]
    if runs.empty:
        print(f"error: no completed run under {', '.join(map(str, args.roots))}", file=sys.stderr)
        return 2
    runs = display_rows(runs)
    results = {column: select_dataset(cell, args.seed) for column, cell in runs.groupby("column", sort=True)}
    out = args.out or args.roots[0] / "selection"
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "selection.json", json.dumps(results, indent=2))
    text = markdown(results)
    write_text_atomic(out / "selection.md", text)
    if args.quiet:
        for column, result in results.items():
            print(f"{column}: " + ", ".join(f"{c}: {p}" for c, p in result["chosen"].items()))
    else:
        print(text)
    print(f"selection written to {out}: selection.json, selection.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
