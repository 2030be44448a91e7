"""k-means for every method: scikit-learn's exact KMeans up to a size limit, MiniBatchKMeans above it.

Exact Lloyd iterations with many restarts cost O(n_init * iterations * n * K * d) and hold several n x K
buffers; past a few hundred thousand samples that is what stops a run, not the networks. Above
``FULL_LIMIT`` samples the mini-batch variant (same k-means++ initialisation, the same number of
initialisations scored on a subsample) keeps time linear in n and memory bounded.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.cluster import KMeans, MiniBatchKMeans

FULL_LIMIT = 100_000
MINIBATCH_SIZE = 8192
# Seconds of every fit in this process, read by `make bench` (mmc_bench/perf/timing.py) to report time in k-means.
SECONDS_SPENT: list[float] = []


def fit_kmeans(
    x: np.ndarray,
    n_clusters: int,
    n_init: int,
    seed: int,
    max_iter: int = 300,
    tol: float = 1e-4,
    full_limit: int = FULL_LIMIT,
) -> KMeans | MiniBatchKMeans:
    """A fitted k-means model (``labels_``, ``cluster_centers_``, ``inertia_``, ``predict``) of ``x``."""
    start = time.perf_counter()
    model = _fit(x, n_clusters, n_init, seed, max_iter, tol, full_limit)
    SECONDS_SPENT.append(time.perf_counter() - start)
    return model


def _fit(
    x: np.ndarray, n_clusters: int, n_init: int, seed: int, max_iter: int, tol: float, full_limit: int
) -> KMeans | MiniBatchKMeans:
    if x.shape[0] <= full_limit:
        return KMeans(n_clusters, n_init=n_init, max_iter=max_iter, tol=tol, random_state=seed).fit(x)
    # compute_labels (the default) assigns every sample once more after fitting, so labels_ and inertia_
    # are the full-data quantities KMeans reports.
    return MiniBatchKMeans(
        n_clusters, n_init=n_init, max_iter=max_iter, batch_size=MINIBATCH_SIZE, random_state=seed
    ).fit(x)
