"""Library baselines: k-means on concatenated views or on one view, spectral clustering on concatenated views."""

from __future__ import annotations

import numpy as np
from sklearn.cluster import SpectralClustering
from sklearn.neighbors import KNeighborsClassifier

from mmc_bench.config import KMeansConfig, KMeansViewConfig, Setting, SpectralConfig
from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.errors import UserError
from mmc_bench.methods.base import ClusteringMethod, FitContext, Prediction
from mmc_bench.nn.kmeans import fit_kmeans


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


def present_means(data: MultiViewDataset) -> list[np.ndarray]:
    return [data.dense_view(v)[data.mask[:, v]].mean(axis=0) for v in range(data.n_views)]


class KMeansConcat(ClusteringMethod):
    """k-means on the concatenated views; the final loss is k-means' inertia."""

    supported_settings = frozenset({Setting.paired, Setting.incomplete})
    config: KMeansConfig

    def fit(self, data: MultiViewDataset, ctx: FitContext) -> float:
        self._means = present_means(data)
        features = concatenate_imputed(data, self._means)
        self._model = fit_kmeans(
            features, data.n_clusters, self.config.n_init, ctx.seed, max_iter=self.config.max_iter
        )
        ctx.log.scalar("train/inertia", float(self._model.inertia_))
        return float(self._model.inertia_)

    def predict(self, data: MultiViewDataset) -> Prediction:
        features = concatenate_imputed(data, self._means)
        return Prediction(labels=self._model.predict(features), embedding=features)


class KMeansView(ClusteringMethod):
    """k-means on one chosen view (sweep ``method.view`` for each view)."""

    config: KMeansViewConfig

    def fit(self, data: MultiViewDataset, ctx: FitContext) -> float:
        self._check_view(data)
        self._model = fit_kmeans(
            data.dense_view(self.config.view),
            data.n_clusters,
            self.config.n_init,
            ctx.seed,
            max_iter=self.config.max_iter,
        )
        return float(self._model.inertia_)

    def predict(self, data: MultiViewDataset) -> Prediction:
        features = data.dense_view(self.config.view)
        return Prediction(labels=self._model.predict(features), embedding=features)

    def _check_view(self, data: MultiViewDataset) -> None:
        from mmc_bench.errors import UserError

        if not 0 <= self.config.view < data.n_views:
            raise UserError(f"method.view={self.config.view} but {data.name} has views 0..{data.n_views - 1}")


class SpectralConcat(ClusteringMethod):
    """Spectral clustering on the concatenated views; samples outside the fitted part get their nearest
    training neighbour's cluster (spectral clustering has no out-of-sample rule of its own)."""

    config: SpectralConfig

    def fit(self, data: MultiViewDataset, ctx: FitContext) -> None:
        features = data.concatenated()
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
        return None

    def predict(self, data: MultiViewDataset) -> Prediction:
        features = data.concatenated()
        return Prediction(labels=self._neighbours.predict(features), embedding=features)


class KMeansMixed(ClusteringMethod):
    """k-means for mixed-modal data: each sample's one modality, all in a common space (DM2C's baseline).

    Every modality must have the same dimension (PCA them to a common size with dataset.preprocess=[pca:D]).
    """

    supported_settings = frozenset({Setting.mixed})
    config: KMeansConfig

    def fit(self, data: MultiViewDataset, ctx: FitContext) -> float:
        if len(set(data.view_dims)) != 1:
            raise UserError(
                f"kmeans_mixed needs every modality in one space, but {data.name} has view dims {data.view_dims}; "
                "set dataset.preprocess=[pca:D] with D at most the smallest dim"
            )
        self._model = fit_kmeans(
            own_modality(data), data.n_clusters, self.config.n_init, ctx.seed, max_iter=self.config.max_iter
        )
        return float(self._model.inertia_)

    def predict(self, data: MultiViewDataset) -> Prediction:
        features = own_modality(data)
        return Prediction(labels=self._model.predict(features), embedding=features)


def own_modality(data: MultiViewDataset) -> np.ndarray:
    """Row i is sample i's values in the one modality it has."""
    kept = data.mask.argmax(axis=1)
    out = np.zeros((data.n_samples, data.view_dims[0]), np.float32)
    for v in range(data.n_views):
        out[kept == v] = data.dense_view(v)[kept == v]
    return out
