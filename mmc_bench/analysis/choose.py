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

A candidate with a collapsed or partially collapsed run is never chosen. With an incumbent (``--incumbent
RUN_DIR``, or the ``incumbent_run`` a search writes to ROOT/search.json: the paper's default), a criterion
picks its best candidate among those run over at least two seeds (its contender) only when the contender is
ahead of the incumbent (also run over two or more) by more than either's seed-to-seed standard deviation;
otherwise it keeps the incumbent. Its best candidate overall (the challenger, often a one-seed trial) is
what a search runs again with more seeds. Each criterion's choice is
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
    present_rows,
    stability,
    view_spaces,
)
from mmc_bench.run.storage import write_text_atomic

# A search's record beside its trials (mmc_bench.run.search): the incumbent run, the confirmation runs.
SEARCH_FILE = "search.json"

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


def dataset_views(run_dir: Path) -> tuple[list[Any], list[str], np.ndarray]:
    """The preprocessed views of a run's dataset and their presence mask, rebuilt from its config.yaml as
    the runner built them."""
    from omegaconf import OmegaConf

    from mmc_bench.run.runner import prepare_dataset

    cfg = OmegaConf.load(run_dir / "config.yaml")
    data = prepare_dataset(cfg)
    return data.views, data.view_names, data.mask


def score_candidates(
    partitions: dict[str, dict[int, dict[str, np.ndarray]]],
    views: tuple[list[Any], list[str], np.ndarray],
    n_clusters: int,
    per_run: dict[str, pd.Series],
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, float], dict[str, np.ndarray]]:
    """(candidates x scores, each space's Hopkins statistic, each candidate's consensus of its seeds)."""
    arrays, names, mask = views
    spaces = view_spaces(arrays, names, seed, mask)
    for name, runs in partitions.items():
        first = runs[min(runs)]
        if "embedding" in first:
            spaces[f"embedding:{name}"] = view_spaces([first["embedding"]], [name], seed)[f"view:{name}"]
    flat = {f"{name}#{s}": run["labels"] for name, runs in partitions.items() for s, run in runs.items()}
    table, structure = cross_space_scores(flat, spaces, seed, present_rows(mask, names))
    agreement, _ = consensus_agreement(flat, n_clusters, seed)
    rows, consensus_of_seeds = [], {}
    for name, runs in partitions.items():
        keys = [f"{name}#{s}" for s in runs]
        labels = [runs[s]["labels"] for s in runs]
        consensus_of_seeds[name] = consensus_partition(labels, n_clusters, seed)
        per_seed = {
            "own_silhouette": per_run["silhouette"].get(name, []),
            "view_silhouette": per_run["view_silhouette"].get(name, []),
            "cross_space_rank": table.loc[keys, "mean_rank"],
            "consensus_nmi": [agreement[k] for k in keys],
        }
        rows.append(
            {
                "candidate": name,
                "seeds": len(runs),
                **{column: _mean_of(values) for column, values in per_seed.items()},
                "cross_space_silhouette": float(table.loc[keys, "mean_silhouette"].mean()),
                **stability(labels),
                "collapsed": any(partial_collapse(lab, n_clusters) for lab in labels),
                **{f"{column}_std": _std_of(values) for column, values in per_seed.items()},
            }
        )
    return pd.DataFrame(rows).set_index("candidate"), structure, consensus_of_seeds


def _mean_of(values: Any) -> float:
    values = pd.Series(values, dtype=float).dropna()
    return float(values.mean()) if len(values) else np.nan


def _std_of(values: Any) -> float:
    """The seed-to-seed standard deviation (n - 1), NaN below two seeds."""
    values = pd.Series(values, dtype=float).dropna()
    return float(values.std(ddof=1)) if len(values) > 1 else np.nan


def choose(
    scores: pd.DataFrame, incumbent: str | None = None
) -> tuple[dict[str, str | None], dict[str, Any]]:
    """(each criterion's pick among the candidates that did not collapse, ties to the first in name order;
    with an ``incumbent``, each criterion's confirmation against it, see the module doc). A collapsed
    incumbent does not hold its place."""
    allowed = scores[~scores["collapsed"]]
    holds = incumbent is not None and incumbent in allowed.index
    picks: dict[str, str | None] = {}
    confirmation: dict[str, Any] = {}
    for criterion, (column, higher) in CRITERIA.items():
        values = allowed[column].dropna()
        picks[criterion] = leader = _best(values, higher)
        if not holds:
            continue
        # The leader may be a one-seed trial: it is the challenger a search runs again. The contender is
        # the best candidate already run over several seeds; only a contender can replace the incumbent.
        several = values[(allowed.loc[values.index, "seeds"] >= 2) & (values.index != incumbent)]
        contender = _best(several, higher)
        check = confirm(scores, contender, incumbent, column, higher) if contender else {"confirmed": False}
        picks[criterion] = contender if check["confirmed"] else incumbent
        confirmation[criterion] = {"challenger": leader, "contender": contender, **check}
    return picks, confirmation


def _best(values: pd.Series, higher: bool) -> str | None:
    if values.empty:
        return None
    best = values.max() if higher else values.min()
    return str(sorted(values.index[values == best])[0])


def confirm(
    scores: pd.DataFrame, contender: str, incumbent: str, column: str, higher: bool
) -> dict[str, Any]:
    """Whether ``contender`` beats ``incumbent`` on ``column`` by more than seed noise: both over at least two
    seeds, and the gain larger than the larger of their seed-to-seed standard deviations. A criterion with
    no per-seed value (stability) cannot confirm a contender."""
    gain = scores.at[contender, column] - scores.at[incumbent, column]
    gain = float(gain if higher else -gain)
    spread = scores.get(f"{column}_std", pd.Series(np.nan, index=scores.index))  # none for stability
    noise = float(np.max([spread[contender], spread[incumbent]]))
    seeds = int(min(scores.at[contender, "seeds"], scores.at[incumbent, "seeds"]))
    return {
        "gain": gain,
        "noise": noise,
        "seeds": seeds,
        "confirmed": bool(seeds >= 2 and np.isfinite(noise) and gain > noise),
    }


def select_dataset(cell: pd.DataFrame, seed: int = 0, incumbent_run: str | None = None) -> dict[str, Any]:
    """The choice on one dataset column (``incumbent_run``: the run folder of the configuration a pick must
    beat, see the module doc), then (after it) the candidates' ACC for the reader."""
    n_clusters = int(cell["n_clusters"].dropna().iloc[0])
    partitions = load_partitions(cell)
    per_run = {
        key: cell.reindex(columns=["row", key]).groupby("row")[key].apply(list)
        for key in ("silhouette", "view_silhouette")
    }
    views = dataset_views(Path(cell["run_dir"].iloc[0]))
    scores, structure, consensus_of_seeds = score_candidates(partitions, views, n_clusters, per_run, seed)
    incumbent = incumbent_row(cell, incumbent_run)
    picks, confirmation = choose(scores, incumbent)
    scores["run_dirs"] = [sorted(cell.loc[cell["row"] == name, "run_dir"]) for name in scores.index]
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
        "incumbent": incumbent,
        "confirmation": confirmation,
        "candidates": json.loads(scores.reset_index().to_json(orient="records")),
    }


def incumbent_row(cell: pd.DataFrame, run_dir: str | None) -> str | None:
    """The candidate (row) whose runs include ``run_dir``; None without one or when it is not in ``cell``."""
    if run_dir is None:
        return None
    same = cell[cell["run_dir"].map(lambda d: Path(d).resolve() == Path(run_dir).resolve())]
    return str(same["row"].iloc[0]) if len(same) else None


def recorded_incumbent(root: Path) -> str | None:
    """The incumbent run a search recorded in ROOT/search.json (its first trial: the paper's default)."""
    path = root / SEARCH_FILE
    return json.loads(path.read_text()).get("incumbent_run") if path.is_file() else None


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
    parser.add_argument(
        "--incumbent",
        default=None,
        metavar="RUN_DIR",
        help="a run of the configuration each pick must beat by more than seed noise (default: the "
        "incumbent_run of ROOT/search.json, which a search writes)",
    )
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
    incumbent = args.incumbent or recorded_incumbent(args.roots[0])
    results = {
        column: select_dataset(cell, args.seed, incumbent)
        for column, cell in runs.groupby("column", sort=True)
    }
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
