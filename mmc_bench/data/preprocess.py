"""Per-view preprocessing, fitted on the training part (and on samples that have the view) only."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler, StandardScaler, normalize

from mmc_bench.data.dataset import MultiViewDataset, View
from mmc_bench.errors import UserError

STEPS = "none, standardize, minmax, l2 or pca:D (joined by '+', e.g. 'standardize+pca:100')"


def preprocess_views(data: MultiViewDataset, specs: list[str]) -> MultiViewDataset:
    """Apply ``specs`` (one per view, or one for all) and return a dataset with the transformed views."""
    if len(specs) == 1:
        specs = specs * data.n_views
    if len(specs) != data.n_views:
        raise UserError(
            f"dataset.preprocess has {len(specs)} entries but {data.name} has {data.n_views} views; "
            "give one entry per view or a single entry for all"
        )
    train = np.ones(data.n_samples, bool) if data.is_train is None else data.is_train
    views = []
    for v, spec in enumerate(specs):
        fit_rows = train & data.mask[:, v]
        view = data.views[v]
        for step in spec.split("+"):
            view = _apply_step(step.strip(), view, fit_rows, v)
        views.append(_zero_absent(view, data.mask[:, v]))
    return data.with_views(views)


def _apply_step(step: str, view: View, fit_rows: np.ndarray, v: int) -> View:
    if step in ("", "none"):
        return view
    if step == "l2":
        return normalize(view, norm="l2").astype(np.float32)
    dense = view.toarray() if sp.issparse(view) else view
    if step == "standardize":
        model = StandardScaler().fit(dense[fit_rows])
    elif step == "minmax":
        model = MinMaxScaler().fit(dense[fit_rows])
    elif step.startswith("pca:") and step[4:].isdigit():
        n_components = min(int(step[4:]), int(fit_rows.sum()), dense.shape[1])
        model = PCA(n_components=n_components, random_state=0).fit(dense[fit_rows])
    else:
        raise UserError(f"dataset.preprocess entry '{step}' for view {v} is unknown; use {STEPS}")
    return model.transform(dense).astype(np.float32)


def _zero_absent(view: View, present: np.ndarray) -> View:
    if present.all():
        return view
    if sp.issparse(view):
        return sp.csr_matrix(sp.diags(present.astype(np.float32)) @ view)
    return view * present[:, None].astype(view.dtype)
