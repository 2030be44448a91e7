"""Datasets that need no file: scikit-learn's bundled digits and seeded Gaussian mixtures."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.datasets import load_digits

from mmc_bench.data.loaders import RawArrays


def digits() -> RawArrays:
    """8x8 digits: view 0 the pixels, view 1 the Sobel edge magnitude of the same image (as Edge-MNIST)."""
    bunch = load_digits()
    images = bunch.images.astype(np.float32) / 16.0
    edges = np.hypot(ndimage.sobel(images, axis=1), ndimage.sobel(images, axis=2))
    edges /= edges.max()
    n = len(images)
    return RawArrays(
        views=[images.reshape(n, -1), edges.reshape(n, -1).astype(np.float32)],
        labels=bunch.target.astype(np.int64),
        mask=None,
        is_train=None,
        view_names=["pixels", "edges"],
    )


GENERATION_BLOCK = 65536


def gaussian_mixture(
    n_samples: int, view_dims: list[int], n_clusters: int, noise: float, seed: int
) -> RawArrays:
    """Balanced clusters; in each view the cluster means are N(0, I) draws and samples add noise * N(0, I)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n_samples) % n_clusters)
    views = []
    for dim in view_dims:
        means = rng.normal(size=(n_clusters, dim))
        view = np.empty((n_samples, dim), np.float32)
        # Row blocks draw the same stream as one call, without float64 temporaries of the whole view.
        for start in range(0, n_samples, GENERATION_BLOCK):
            rows = slice(start, min(start + GENERATION_BLOCK, n_samples))
            view[rows] = means[labels[rows]] + noise * rng.normal(size=(rows.stop - rows.start, dim))
        views.append(view)
    return RawArrays(
        views=views,
        labels=labels.astype(np.int64),
        mask=None,
        is_train=None,
        view_names=[f"view_{v}" for v in range(len(view_dims))],
    )
