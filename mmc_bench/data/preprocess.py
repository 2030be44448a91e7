"""Per-view preprocessing, fitted on the training part (and on samples that have the view) only."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import PCA
from sklearn.preprocessing import MinMaxScaler, StandardScaler, normalize

from mmc_bench.data.dataset import MultiViewDataset, View, zero_absent
from mmc_bench.errors import UserError

STEPS = "none, standardize, minmax, l2 or pca:D (joined by '+', e.g. 'standardize+pca:100')"
# Column ranges (max - min) of one view that differ by this factor or more are on different scales.
SCALE_SPREAD_WARNING = 1e3

log = logging.getLogger("mmc_bench")


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
        if spec.strip() in ("", "none"):
            warn_on_scale_spread(view, fit_rows, data.name, v, data.view_names[v])
        for step in spec.split("+"):
            view = _apply_step(step.strip(), view, fit_rows, v)
        views.append(zero_absent(view, data.mask[:, v]))
    return data.with_views(views)


def _apply_step(step: str, view: View, fit_rows: np.ndarray, v: int) -> View:
    if step in ("", "none"):
        return view
    if step == "l2":
        return normalize(view, norm="l2").astype(np.float32)
    if step == "minmax" and sp.issparse(view):
        scaled = sparse_minmax(view, fit_rows)
        if scaled is not None:
            return scaled
    dense = view.toarray() if sp.issparse(view) else view
    if step == "standardize":
        model = StandardScaler().fit(dense[fit_rows])
    elif step == "minmax":
        model = MinMaxScaler().fit(dense[fit_rows])
    elif step.startswith("pca:") and step[4:].isdigit():
        model = PCA(
            n_components=_pca_size(int(step[4:]), dense.shape[1], int(fit_rows.sum()), v), random_state=0
        )
        model.fit(dense[fit_rows])
    else:
        raise UserError(f"dataset.preprocess entry '{step}' for view {v} is unknown; use {STEPS}")
    return model.transform(dense).astype(np.float32)


def sparse_minmax(view: sp.csr_matrix, fit_rows: np.ndarray) -> sp.csr_matrix | None:
    """Min-max scaling that keeps a sparse view sparse, when every column's minimum over the fitting rows is
    0 (non-negative data with a zero in each column, as bag-of-words views are): each column times 1/max, in
    MinMaxScaler's own arithmetic and dtype, so the non-zeros equal the dense path's values. None otherwise
    (the caller then scales densely)."""
    part = view if fit_rows.all() else view[np.flatnonzero(fit_rows)]
    low = part.min(axis=0).toarray().ravel()
    if np.any(low != 0):
        return None
    span = part.max(axis=0).toarray().ravel().astype(view.dtype)
    # MinMaxScaler's _handle_zeros_in_scale: a constant column keeps its values.
    span[span < 10 * np.finfo(span.dtype).eps] = 1
    return sp.csr_matrix(view.multiply((1 / span).astype(view.dtype)), dtype=np.float32)


def _pca_size(asked: int, dims: int, rows: int, v: int) -> int:
    largest = min(dims, rows)
    if not 1 <= asked <= largest:
        raise UserError(
            f"dataset.preprocess entry 'pca:{asked}' for view {v} asks for {asked} components, but the view has "
            f"{dims} dims and {rows} training samples; use pca:D with 1 <= D <= {largest}"
        )
    return asked


def warn_on_scale_spread(view: View, rows: np.ndarray, dataset: str, v: int, name: str) -> float:
    """Warn when raw columns of a view differ in range by orders of magnitude; return that spread."""
    part = view if rows.all() else view[np.flatnonzero(rows)]
    if sp.issparse(part):
        spans = (part.max(axis=0) - part.min(axis=0)).toarray().ravel()
    else:
        spans = part.max(axis=0) - part.min(axis=0) if len(part) else np.zeros(0)
    spans = spans[spans > 0]
    if len(spans) < 2:
        return 1.0
    spread = float(spans.max() / spans.min())
    if spread >= SCALE_SPREAD_WARNING:
        log.warning(
            "%s: view %d ('%s') is used unscaled and its columns' ranges differ by a factor of %.0e; "
            "distance-based methods will see mostly the widest columns (dataset.preprocess=[minmax] scales them)",
            dataset,
            v,
            name,
            spread,
        )
    return spread
