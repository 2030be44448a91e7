"""The hyper-parameters of the library baselines (k-means, one-view k-means, mixed-modal k-means, spectral
clustering): their YAML keys, defaults and ranges, importable without torch."""

from __future__ import annotations

from dataclasses import dataclass

from mmc_bench.config import MethodConfig, count, positive


@dataclass
class KMeansConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.baselines.KMeansConcat"
    name: str = "kmeans"
    # k-means restarts (the lowest inertia is kept).
    n_init: int = positive(10)
    # Lloyd iterations per restart at most.
    max_iter: int = positive(300)


@dataclass
class KMeansViewConfig(KMeansConfig):
    _target_: str = "mmc_bench.methods.baselines.KMeansView"
    name: str = "kmeans_view"
    # The view k-means runs on (0-based).
    view: int = count(0)


@dataclass
class KMeansMixedConfig(KMeansConfig):
    _target_: str = "mmc_bench.methods.baselines.KMeansMixed"
    name: str = "kmeans_mixed"


@dataclass
class SpectralConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.baselines.SpectralConcat"
    name: str = "spectral"
    # scikit-learn affinity: nearest_neighbors or rbf.
    affinity: str = "nearest_neighbors"
    # Neighbours of the kNN affinity graph.
    n_neighbors: int = positive(10)
    # k-means restarts (the lowest inertia is kept).
    n_init: int = positive(10)
