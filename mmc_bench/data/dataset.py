"""The one in-memory multi-view dataset that every method consumes."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp
import torch

View = np.ndarray | sp.csr_matrix


@dataclass
class MultiViewDataset:
    """Views (n x d_v float32, dense or CSR), labels for scoring only, a view-presence mask, an optional split.

    ``mask[i, v]`` is True when sample i has view v; the values of an absent view are zero so that a
    method which forgets the mask cannot read data the setting removed.
    """

    name: str
    views: list[View]
    labels: np.ndarray | None
    n_clusters: int
    mask: np.ndarray
    view_names: list[str]
    is_train: np.ndarray | None = None

    @property
    def n_samples(self) -> int:
        return self.views[0].shape[0]

    @property
    def n_views(self) -> int:
        return len(self.views)

    @property
    def view_dims(self) -> list[int]:
        return [v.shape[1] for v in self.views]

    @property
    def has_split(self) -> bool:
        return self.is_train is not None

    def dense_view(self, v: int) -> np.ndarray:
        view = self.views[v]
        dense = view.toarray() if sp.issparse(view) else view
        return np.ascontiguousarray(dense, dtype=np.float32)

    def concatenated(self) -> np.ndarray:
        return np.hstack([self.dense_view(v) for v in range(self.n_views)])

    def view_tensors(self, device: torch.device | str) -> list[torch.Tensor]:
        """All views as dense float32 tensors on ``device``, moved once so batches are pure indexing."""
        return [torch.from_numpy(self.dense_view(v)).to(device) for v in range(self.n_views)]

    def subset(self, index: np.ndarray) -> MultiViewDataset:
        return replace(
            self,
            views=[v[index] for v in self.views],
            labels=None if self.labels is None else self.labels[index],
            mask=self.mask[index],
            is_train=None if self.is_train is None else self.is_train[index],
        )

    def train_part(self) -> MultiViewDataset:
        return self if self.is_train is None else self.subset(np.flatnonzero(self.is_train))

    def test_part(self) -> MultiViewDataset:
        if self.is_train is None:
            raise ValueError("dataset has no train/test split")
        return self.subset(np.flatnonzero(~self.is_train))

    def with_views(self, views: list[View]) -> MultiViewDataset:
        return replace(self, views=views)


def zero_absent(view: View, present: np.ndarray) -> View:
    """An absent view's values are zero in every dataset (the mask says which are absent)."""
    if present.all():
        return view
    if sp.issparse(view):
        return sp.csr_matrix(sp.diags(present.astype(np.float32)) @ view)
    return view * present[:, None].astype(view.dtype)
