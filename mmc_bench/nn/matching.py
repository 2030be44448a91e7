"""The one Hungarian helper: the one-to-one matching of two clusterings' clusters with the most overlap."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def cluster_overlap(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """k x k counts: entry [m, n] is the number of samples in cluster m of ``a`` and cluster n of ``b``."""
    return np.bincount(a.astype(np.int64) * k + b.astype(np.int64), minlength=k * k).reshape(k, k)


def max_overlap_matching(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of the one-to-one matching that maximises the summed counts (cost max C - C); a rectangular table leaves its surplus rows or columns unmatched."""
    return linear_sum_assignment(counts.max() - counts)


def align_to(reference: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """perm with perm[c] = the reference cluster that cluster c of ``labels`` overlaps most, one to one.

    ``perm[labels]`` renames ``labels`` into the reference's cluster indices (training side: the two
    clusterings are a method's own, never the ground truth).
    """
    rows, cols = max_overlap_matching(cluster_overlap(labels, reference, k))
    perm = np.empty(k, dtype=np.int64)
    perm[rows] = cols
    return perm
