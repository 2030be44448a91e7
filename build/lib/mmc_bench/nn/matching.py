"""Hungarian alignment of two clusterings of the same samples (training side: never reads ground truth)."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment


def cluster_overlap(a: np.ndarray, b: np.ndarray, k: int) -> np.ndarray:
    """k x k counts: entry [m, n] is the number of samples in cluster m of ``a`` and cluster n of ``b``."""
    return np.bincount(a.astype(np.int64) * k + b.astype(np.int64), minlength=k * k).reshape(k, k)


def align_to(reference: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """perm with perm[c] = the reference cluster that cluster c of ``labels`` overlaps most, one to one.

    ``perm[labels]`` renames ``labels`` into the reference's cluster indices (cost max C - C, as in the notes).
    """
    overlap = cluster_overlap(labels, reference, k)
    rows, cols = linear_sum_assignment(overlap.max() - overlap)
    perm = np.empty(k, dtype=np.int64)
    perm[rows] = cols
    return perm
