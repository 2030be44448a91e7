"""`mmc-bench-bench-sparse`: k-means on a sparse bag-of-words view, kept sparse (CSR into scikit-learn) against
densified first, as the k-means and spectral baselines did before: seconds and peak memory of each path.

Peak memory is tracemalloc's (numpy and scipy allocate through it), measured from the sparse matrix in hand,
so the dense path's figure includes its densified copy. The two paths reach the same partition up to
floating-point order (their ACC against each other is printed).
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
import pandas as pd
import scipy.sparse as sp


def bag_of_words(
    n: int, d: int, density: float, n_clusters: int, seed: int
) -> tuple[sp.csr_matrix, np.ndarray]:
    """Documents whose words come mostly from their cluster's own vocabulary block (non-negative, sparse)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(n_clusters, size=n)
    words = max(1, int(d * density))
    block = d // n_clusters
    rows, cols = np.repeat(np.arange(n), words), rng.integers(d, size=n * words)
    own = rng.random(n * words) < 0.5
    cols[own] = (labels[rows[own]] * block + rng.integers(block, size=own.sum())) % d
    x = sp.csr_matrix((rng.random(n * words).astype(np.float32), (rows, cols)), shape=(n, d))
    x.sum_duplicates()
    return x, labels


def timed(fit, x) -> tuple[np.ndarray, float, float]:
    tracemalloc.start()
    start = time.perf_counter()
    labels = fit(x)
    seconds = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return labels, seconds, peak / 2**20


def main(argv: list[str] | None = None) -> int:
    from mmc_bench.metrics import clustering_accuracy
    from mmc_bench.nn.kmeans import fit_kmeans

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--features", type=int, default=10000)
    parser.add_argument("--density", type=float, default=0.01)
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--n-init", type=int, default=10)
    args = parser.parse_args(argv)
    x, truth = bag_of_words(args.samples, args.features, args.density, args.clusters, 0)
    fit = lambda features: fit_kmeans(features, args.clusters, args.n_init, 0).labels_  # noqa: E731
    rows = []
    for path, run in (("sparse (CSR)", fit), ("densified", lambda m: fit(m.toarray()))):
        labels, seconds, peak = timed(run, x)
        rows.append(
            {"path": path, "seconds": seconds, "peak MiB": peak, "ACC": clustering_accuracy(truth, labels)}
        )
    table = pd.DataFrame(rows)
    print(
        f"k-means (n_init {args.n_init}) on {args.samples} x {args.features}, density {x.nnz / np.prod(x.shape):.4f}"
    )
    print(table.to_markdown(index=False, floatfmt=".3f"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
