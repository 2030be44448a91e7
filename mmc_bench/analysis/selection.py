"""Label-free scores that compare candidate partitions of one dataset with each other (issue #28's first part).

A run's own silhouette is computed in the embedding the run itself shaped, so it does not compare runs: a
collapsed, tight embedding scores high. These scores put every candidate on common ground:

- **cross-space rank**: every candidate partition is scored (silhouette) in the same set of spaces, the
  dataset's views (each reduced by PCA so that distances mean something) and every candidate's embedding;
  spaces without cluster structure (Hopkins statistic below ``HOPKINS_MIN``) are left out; a candidate's
  score is its mean rank over the remaining spaces (1 = best). After Wang, Zhang & Ye (2024), "Deep
  Clustering Evaluation: How to Validate Internal Clustering Validation Measures", arXiv 2403.14830.
- **stability**: the mean pairwise ARI (and NMI) between the partitions one configuration gives with
  different seeds (1 = every seed finds the same clusters).
- **consensus agreement**: the NMI of each partition with the consensus of all candidates.
- **consensus partition**: k-means on the samples' one-hot memberships across partitions. Two samples'
  squared distance there is twice the number of partitions that separate them, so k-means groups the
  samples that the partitions put together: the co-association consensus (Fred & Jain 2005) without the
  n x n matrix.
- **clusters in use**: clusters holding at least a tenth of an equal share (n / 10K samples), so that a few
  stray samples do not make a cluster; a partition with fewer than half of K clusters in use is a partial
  collapse. The **effective clusters**, exp(entropy of the cluster sizes), are reported beside it; they are
  not the rule because they also fall for partitions that use every cluster with unequal sizes, as
  unbalanced classes do.

Nothing here reads labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

# Hopkins statistic above which a space shows cluster structure (0.5: uniform noise, 1: tight clusters).
HOPKINS_MIN = 0.7
# Samples per silhouette and per Hopkins estimate (both are sampled with the caller's seed).
SAMPLE = 2000
# A cluster is in use when it holds at least this fraction of an equal share n / K.
IN_USE_SHARE = 0.1
# Components kept per view for the view spaces.
VIEW_COMPONENTS = 50


def effective_clusters(labels: np.ndarray) -> float:
    """exp(Shannon entropy of the cluster-size shares): 1 when every sample is in one cluster, K for K equal
    clusters; tiny clusters barely count."""
    _, sizes = np.unique(labels, return_counts=True)
    shares = sizes / sizes.sum()
    return float(math.exp(-(shares * np.log(shares)).sum()))


def clusters_in_use(labels: np.ndarray, n_clusters: int) -> int:
    """Clusters holding at least IN_USE_SHARE of an equal share of the samples (n / K)."""
    _, sizes = np.unique(labels, return_counts=True)
    return int((sizes >= IN_USE_SHARE * len(labels) / n_clusters).sum())


def partial_collapse(labels: np.ndarray, n_clusters: int) -> bool:
    """Fewer than half of the requested clusters in use (see :func:`clusters_in_use`)."""
    return clusters_in_use(labels, n_clusters) < n_clusters / 2


def stability(partitions: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean pairwise ARI and NMI between partitions of the same samples (NaN for fewer than two)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    pairs = list(combinations(partitions, 2))
    if not pairs:
        return {"stability_ari": math.nan, "stability_nmi": math.nan}
    return {
        "stability_ari": float(np.mean([adjusted_rand_score(a, b) for a, b in pairs])),
        "stability_nmi": float(np.mean([normalized_mutual_info_score(a, b) for a, b in pairs])),
    }


def memberships(partitions: Sequence[np.ndarray]) -> object:
    """n x (sum of cluster counts) sparse one-hot matrix: row i marks sample i's cluster in each partition."""
    import scipy.sparse as sp

    blocks = []
    for labels in partitions:
        _, codes = np.unique(labels, return_inverse=True)
        n = len(codes)
        blocks.append(sp.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, codes.max() + 1)))
    return sp.hstack(blocks).tocsr()


def consensus_partition(partitions: Sequence[np.ndarray], n_clusters: int, seed: int = 0) -> np.ndarray:
    """The partition that best agrees with all of ``partitions`` in the co-association sense (module doc)."""
    from sklearn.cluster import KMeans

    if len(partitions) == 1:
        return np.unique(partitions[0], return_inverse=True)[1]
    model = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    return model.fit_predict(memberships(partitions))


def consensus_agreement(
    candidates: Mapping[str, np.ndarray], n_clusters: int, seed: int = 0
) -> tuple[dict[str, float], np.ndarray]:
    """({candidate: NMI with the consensus of all candidates}, that consensus partition)."""
    from sklearn.metrics import normalized_mutual_info_score

    consensus = consensus_partition(list(candidates.values()), n_clusters, seed)
    return {k: float(normalized_mutual_info_score(v, consensus)) for k, v in candidates.items()}, consensus


def hopkins(features: np.ndarray, seed: int = 0, m: int | None = None) -> float:
    """Hopkins statistic H = sum u / (sum u + sum w) (Hopkins & Skellam 1954), with distances to the first
    power as in common implementations: u are the nearest-data distances of m points drawn uniformly in the
    data's bounding box, w those of m data points to their nearest other data point. About 0.5 for
    uniform data, near 1 for clustered data."""
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng([seed, 1954])  # apart from any stream the caller drew the data with
    x = np.asarray(features, dtype=np.float64)
    n = len(x)
    m = m or min(SAMPLE, n // 2, max(50, n // 10))
    tree = NearestNeighbors(n_neighbors=2).fit(x)
    uniform = rng.uniform(x.min(axis=0), x.max(axis=0), size=(m, x.shape[1]))
    u = tree.kneighbors(uniform, n_neighbors=1)[0][:, 0]
    w = tree.kneighbors(x[rng.choice(n, size=m, replace=False)], n_neighbors=2)[0][:, 1]
    return float(u.sum() / (u.sum() + w.sum()))


def view_spaces(
    views: Sequence[object], names: Sequence[str], seed: int = 0, mask: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """Each view reduced to at most VIEW_COMPONENTS dimensions (PCA, or truncated SVD for sparse views) and
    standardised, so that no view's scale or dimension dominates a distance. With a presence mask, a view
    that some samples lack is reduced on the samples that have it (its rows: :func:`present_rows`); the
    zeros that stand for an absent view would otherwise form a cluster of their own."""
    import scipy.sparse as sp
    from sklearn.decomposition import PCA, TruncatedSVD
    from sklearn.preprocessing import StandardScaler

    spaces = {}
    for v, (name, view) in enumerate(zip(names, views)):
        if mask is not None and not mask[:, v].all():
            view = view[np.flatnonzero(mask[:, v])]
        k = min(VIEW_COMPONENTS, view.shape[1], view.shape[0] - 1)
        if sp.issparse(view):
            reduced = TruncatedSVD(
                n_components=max(1, min(k, view.shape[1] - 1)), random_state=seed
            ).fit_transform(view)
        elif view.shape[1] > k:
            reduced = PCA(n_components=k, random_state=seed).fit_transform(view)
        else:
            reduced = np.asarray(view, dtype=np.float64)
        spaces[f"view:{name}"] = StandardScaler().fit_transform(reduced)
    return spaces


def present_rows(mask: np.ndarray, names: Sequence[str]) -> dict[str, np.ndarray]:
    """The samples each incomplete view's space holds (complete views are left out: they hold all)."""
    return {
        f"view:{name}": np.flatnonzero(mask[:, v]) for v, name in enumerate(names) if not mask[:, v].all()
    }


def admissible(spaces: Mapping[str, np.ndarray], seed: int = 0) -> dict[str, float]:
    """Hopkins statistic of every space; the admissible ones are those at or above HOPKINS_MIN."""
    return {name: hopkins(x, seed) for name, x in spaces.items()}


def silhouette_or_worst(features: np.ndarray, labels: np.ndarray, seed: int) -> float:
    """Silhouette on a seeded sample; -1 (the worst) for a partition with one cluster or one per sample."""
    from sklearn.metrics import silhouette_score

    k = len(np.unique(labels))
    if k < 2 or k >= len(labels):
        return -1.0
    size = min(SAMPLE, len(labels))
    return float(silhouette_score(features, labels, sample_size=size if size < len(labels) else None,
                                  random_state=seed))  # fmt: skip


def view_silhouette(
    views: Sequence[object], mask: np.ndarray, labels: np.ndarray, seed: int = 0
) -> float | None:
    """The mean silhouette of one partition over the dataset's views that show cluster structure (each view
    on the samples that have it, reduced as in :func:`view_spaces`; Hopkins at least HOPKINS_MIN, or every
    view when none does). The spaces do not depend on the run, so unlike a run's own silhouette this
    compares runs with different hyper-parameters; None when no view has two clusters."""
    values, structured = [], []
    for v, view in enumerate(views):
        rows = np.flatnonzero(mask[:, v])
        space = view_spaces([view], ["v"], seed, mask[:, [v]])["view:v"]
        if len(np.unique(labels[rows])) < 2:
            continue
        values.append(silhouette_or_worst(space, labels[rows], seed))
        structured.append(hopkins(space, seed) >= HOPKINS_MIN)
    if not values:
        return None
    kept = [x for x, ok in zip(values, structured) if ok] or values
    return float(np.mean(kept))


def cross_space_scores(
    candidates: Mapping[str, np.ndarray],
    spaces: Mapping[str, np.ndarray],
    seed: int = 0,
    rows: Mapping[str, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """(table: candidates x admissible spaces of silhouettes, plus ``mean_rank`` and ``mean_silhouette``;
    the Hopkins statistic of every space). A space named in ``rows`` holds only those samples (a view some
    samples lack), and each partition is scored on them. With no admissible space every space is used, and
    said so by the Hopkins values."""
    rows = rows or {}
    structure = admissible(spaces, seed)
    used = [s for s, h in structure.items() if h >= HOPKINS_MIN] or list(spaces)
    table = pd.DataFrame(
        {
            s: {
                c: silhouette_or_worst(spaces[s], labels[rows[s]] if s in rows else labels, seed)
                for c, labels in candidates.items()
            }
            for s in used
        }
    )
    ranks = table.rank(axis=0, ascending=False, method="average")
    table["mean_rank"] = ranks.mean(axis=1)
    table["mean_silhouette"] = table[used].mean(axis=1)
    return table.sort_values("mean_rank"), structure
