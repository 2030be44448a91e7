"""Library baselines: k-means on concatenated views or on one view, spectral clustering on concatenated views."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import SpectralClustering
from sklearn.neighbors import KNeighborsClassifier

from mmc_bench.config import Setting, Split
from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.errors import UserError
from mmc_bench.methods.base import ClusteringMethod, Prediction, schedules
from mmc_bench.methods.schemas.baselines import (
    KMeansConfig,
    KMeansMixedConfig,
    KMeansViewConfig,
    SpectralConfig,
)
from mmc_bench.nn.kmeans import fit_kmeans
from mmc_bench.run.engine import FitContext, Phase


def concatenate_imputed(data: MultiViewDataset, view_means: list[np.ndarray]) -> np.ndarray:
    """Views side by side; an absent view is replaced by its mean over the training samples that have it."""
    parts = []
    for v in range(data.n_views):
        view = data.dense_view(v)
        absent = ~data.mask[:, v]
        if absent.any():
            view = view.copy()
            view[absent] = view_means[v]
        parts.append(view)
    return np.hstack(parts)


def cluster_features(data: MultiViewDataset, view_means: list[np.ndarray]) -> np.ndarray | sp.csr_matrix:
    """The concatenated views that k-means and spectral clustering read: sparse (CSR) when a view is sparse
    and no view is absent, since both take sparse input and densifying a bag-of-words view multiplies
    memory and time; otherwise dense, with absent views imputed by their means."""
    if any(sp.issparse(v) for v in data.views) and data.mask.all():
        return sp.hstack([sp.csr_matrix(v) for v in data.views], format="csr", dtype=np.float32)
    return concatenate_imputed(data, view_means)


def as_embedding(features: np.ndarray | sp.csr_matrix) -> np.ndarray | None:
    """Features as the saved embedding: a sparse matrix is left out (the label-free scores then use the views)."""
    return None if sp.issparse(features) else features


def present_means(data: MultiViewDataset) -> list[np.ndarray]:
    return [data.dense_view(v)[data.mask[:, v]].mean(axis=0) for v in range(data.n_views)]


class LibraryBaseline(ClusteringMethod):
    """A baseline fitted by a library call in ``setup`` (no training epochs); its loss is the inertia."""

    is_baseline = True
    uses_device = False

    def final_loss(self) -> dict[str, float] | None:
        model = getattr(self, "_model", None)
        return None if model is None else {"total": float(model.inertia_)}


class KMeansConcat(LibraryBaseline):
    """k-means on the concatenated views; the final loss is k-means' inertia."""

    api_name = "KMeans"
    display_name = "k-means"
    reference_for = frozenset({Setting.paired, Setting.incomplete})
    config_class = KMeansConfig
    supported_settings = frozenset({Setting.paired, Setting.incomplete})
    config: KMeansConfig

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        self._means = present_means(data)
        features = cluster_features(data, self._means)
        self._model = fit_kmeans(
            features, data.n_clusters, self.config.n_init, ctx.seed, max_iter=self.config.max_iter
        )
        return []

    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        features = cluster_features(data, self._means)
        return Prediction(labels=self._model.predict(features), embedding=as_embedding(features))


class KMeansView(LibraryBaseline):
    """k-means on one chosen view (sweep ``method.view`` for each view)."""

    config_class = KMeansViewConfig
    display_name = "k-means (one view)"
    config: KMeansViewConfig

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        self._check_view(data)
        self._model = fit_kmeans(
            self._features(data),
            data.n_clusters,
            self.config.n_init,
            ctx.seed,
            max_iter=self.config.max_iter,
        )
        return []

    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        features = self._features(data)
        return Prediction(labels=self._model.predict(features), embedding=as_embedding(features))

    def _features(self, data: MultiViewDataset) -> np.ndarray | sp.csr_matrix:
        view = data.views[self.config.view]
        return (
            sp.csr_matrix(view, dtype=np.float32) if sp.issparse(view) else data.dense_view(self.config.view)
        )

    def _check_view(self, data: MultiViewDataset) -> None:
        if not 0 <= self.config.view < data.n_views:
            raise UserError(f"method.view={self.config.view} but {data.name} has views 0..{data.n_views - 1}")


class SpectralConcat(ClusteringMethod):
    """Spectral clustering on the concatenated views; samples outside the fitted part get their nearest
    training neighbour's cluster (spectral clustering has no out-of-sample rule of its own)."""

    api_name = "Spectral"
    display_name = "spectral"
    uses_device = False
    config_class = SpectralConfig
    is_baseline = True
    config: SpectralConfig

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        features = cluster_features(data, present_means(data))
        model = SpectralClustering(
            data.n_clusters,
            affinity=self.config.affinity,
            n_neighbors=min(self.config.n_neighbors, data.n_samples - 1),
            n_init=self.config.n_init,
            random_state=ctx.seed,
            assign_labels="kmeans",
        )
        labels = model.fit_predict(features)
        self._neighbours = KNeighborsClassifier(n_neighbors=1).fit(features, labels)
        return []

    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        features = cluster_features(data, present_means(data))
        return Prediction(labels=self._neighbours.predict(features), embedding=as_embedding(features))


class KMeansMixed(LibraryBaseline):
    """k-means for mixed-modal data: each sample's one modality, all in a common space (DM2C's baseline).

    Every modality must have the same dimension (PCA them to a common size with dataset.preprocess=[pca:D]).
    """

    config_class = KMeansMixedConfig
    display_name = "k-means (mixed)"
    supported_settings = frozenset({Setting.mixed})
    # Scored on held-out samples, as DM2C is, so that the two share every split.
    default_split = Split.stratified
    reference_for = frozenset({Setting.mixed})
    schedules = schedules(test="dataset.preprocess=[pca:5]")
    config: KMeansMixedConfig

    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        if len(set(data.view_dims)) != 1:
            raise UserError(
                f"kmeans_mixed needs every modality in one space, but {data.name} has view dims {data.view_dims}; "
                "set dataset.preprocess=[pca:D] with D at most the smallest dim"
            )
        self._model = fit_kmeans(
            own_modality(data), data.n_clusters, self.config.n_init, ctx.seed, max_iter=self.config.max_iter
        )
        return []

    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        features = own_modality(data)
        return Prediction(labels=self._model.predict(features), embedding=features)


def own_modality(data: MultiViewDataset) -> np.ndarray:
    """Row i is sample i's values in the one modality it has."""
    kept = data.mask.argmax(axis=1)
    out = np.zeros((data.n_samples, data.view_dims[0]), np.float32)
    for v in range(data.n_views):
        out[kept == v] = data.dense_view(v)[kept == v]
    return out
