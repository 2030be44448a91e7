"""Label-free scores of a clustering: what a researcher may select on, since deep clustering has no
validation labels. Internal validity indices on the method's embedding (the concatenated views where a
method has none), how the clusters are used, and the method's final training loss."""

from __future__ import annotations

import argparse
import json
import math
import sys
import warnings
from pathlib import Path

import numpy as np

from mmc_bench.analysis.selection import clusters_in_use, effective_clusters, partial_collapse

# Silhouette is O(n^2 d): above this many samples it is computed on a seeded sample of this size.
SILHOUETTE_SAMPLE = 4000
# The scores a run can hand to Hydra as its objective, and whether higher is better. Label-based ones read
# the labels: selecting on them is tuning on the test set, so they are never the default and warn.
OBJECTIVES = {
    "silhouette": True,
    "calinski_harabasz": True,
    "davies_bouldin": False,
    "final_loss": False,
    "size_entropy": True,
    "view_silhouette": True,
}
LABEL_BASED_OBJECTIVES = {"acc": True, "nmi": True, "ari": True}
# The label-free block of metrics.json that summaries and tables show (never ranked against label scores).
LABEL_FREE_SCORES = (
    "silhouette",
    "view_silhouette",
    "calinski_harabasz",
    "davies_bouldin",
    "size_entropy",
    "clusters_used",
)


def cluster_usage(labels: np.ndarray, n_clusters: int | None = None) -> dict[str, float | int | bool]:
    """How many clusters hold a sample, the largest one's share, whether all fell in one, the entropy of the
    cluster sizes normalised by log(clusters used) (1 = equal sizes), the effective number of clusters
    (exp of that entropy) and, given K, the clusters in use and whether fewer than K / 2 are (a partial
    collapse; mmc_bench.analysis.selection)."""
    _, sizes = np.unique(labels, return_counts=True)
    shares = sizes / sizes.sum()
    entropy = float(-(shares * np.log(shares)).sum())
    usage = {
        "clusters_used": int(len(sizes)),
        "largest_cluster_fraction": float(shares.max()),
        "collapsed": bool(len(sizes) == 1),
        "size_entropy": entropy / math.log(len(sizes)) if len(sizes) > 1 else 0.0,
        "effective_clusters": effective_clusters(labels),
    }
    if n_clusters is not None:
        usage["clusters_in_use"] = clusters_in_use(labels, n_clusters)
        usage["partial_collapse"] = partial_collapse(labels, n_clusters)
    return usage


def internal_indices(features: np.ndarray, labels: np.ndarray, seed: int) -> dict[str, float | None]:
    """Silhouette (higher is better, in [-1, 1]), Calinski-Harabasz (higher is better) and Davies-Bouldin
    (lower is better) of ``labels`` on ``features``; None where they are undefined (one cluster, or as many
    clusters as samples)."""
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    n, k = len(labels), len(np.unique(labels))
    if not 2 <= k < n:
        return {"silhouette": None, "calinski_harabasz": None, "davies_bouldin": None}
    features = np.asarray(features, dtype=np.float64)
    sample = min(n, SILHOUETTE_SAMPLE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a cluster of identical points divides by zero
        silhouette = silhouette_score(
            features, labels, sample_size=sample if sample < n else None, random_state=seed
        )
        scores = {
            "silhouette": float(silhouette),
            "calinski_harabasz": float(calinski_harabasz_score(features, labels)),
            "davies_bouldin": float(davies_bouldin_score(features, labels)),
        }
    return {k: v if math.isfinite(v) else None for k, v in scores.items()}


def label_free_scores(
    features: np.ndarray,
    labels: np.ndarray,
    final_loss: float | None,
    seed: int,
    source: str,
    n_clusters: int | None = None,
) -> dict[str, float | int | bool | str | None]:
    """Every label-free score of a run; ``source`` names the features (the method's embedding or the
    concatenated views); ``n_clusters`` (K) adds the partial-collapse flag."""
    return {
        **internal_indices(features, labels, seed),
        **cluster_usage(labels, n_clusters),
        "final_loss": final_loss,
        "indices_on": source,
    }


def objective_value(record: dict, name: str) -> float:
    """The number a run returns to Hydra (a sweeper maximises it): the score, negated where lower is better;
    NaN when the run failed or the score is undefined (Optuna then marks the trial failed)."""
    if name in LABEL_BASED_OBJECTIVES:
        value, higher = record.get(name), True
    else:
        value, higher = (record.get("label_free") or {}).get(name), OBJECTIVES[name]
    if value is None or record.get("status") not in (None, "completed"):
        return float("nan")
    return float(value) if higher else -float(value)


def backfill(run_dir: Path) -> bool:
    """Add the label-free block to a completed run recorded before it existed, from its saved predictions
    (the embedding and labels in predictions.npz; the run's own seed samples the silhouette)."""
    from mmc_bench.run.storage import write_json_atomic

    path = run_dir / "metrics.json"
    record = json.loads(path.read_text())
    saved = run_dir / "predictions.npz"
    if record.get("status") != "completed" or "label_free" in record or not saved.is_file():
        return False
    arrays = np.load(saved)
    if "embedding" not in arrays:
        return False
    record["label_free"] = label_free_scores(
        arrays["embedding"], arrays["labels"], record.get("final_loss"), int(record["seed"]), "embedding"
    )
    write_json_atomic(path, record)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Add label-free scores to completed runs recorded before they existed (from predictions.npz)."
    )
    parser.add_argument("roots", type=Path, nargs="+", help="folders searched for metrics.json")
    args = parser.parse_args(argv)
    done = sum(backfill(p.parent) for root in args.roots for p in root.rglob("metrics.json"))
    print(f"label-free scores added to {done} run(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
