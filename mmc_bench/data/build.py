"""From a dataset config to a validated MultiViewDataset: locate, read, check against the YAML, split."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import train_test_split

from mmc_bench.config import DatasetConfig, NonFinite, Source, Split
from mmc_bench.data import embedded
from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.data.loaders import ACCEPTED_FORMATS, RawArrays, parse_layout, read_arrays, read_label_lists
from mmc_bench.errors import UserError

log = logging.getLogger(__name__)


def load_dataset(cfg: DatasetConfig, data_dir: Path) -> MultiViewDataset:
    """Read the dataset ``cfg`` describes and check it against the YAML's sample count, dims and K."""
    where, raw = _read_raw(cfg, data_dir)
    views = [_as_float32(v) for v in raw.views]
    n = views[0].shape[0]
    n_clusters = _n_clusters(cfg, raw.labels, where)
    names = list(cfg.view_names or raw.view_names or [f"view_{v}" for v in range(len(views))])
    _check_spec(cfg, views, names, where)
    mask = np.ones((n, len(views)), bool) if raw.mask is None else raw.mask
    check_mask(mask, n, len(views), where)
    chosen = chosen_views(cfg.views, len(views), where)
    views, names, mask = [views[v] for v in chosen], [names[v] for v in chosen], mask[:, chosen]
    views = check_values(views, names, n_clusters, where, NonFinite(cfg.on_nonfinite))
    return MultiViewDataset(
        name=cfg.name,
        views=views,
        labels=raw.labels,
        n_clusters=n_clusters,
        mask=mask,
        view_names=names,
        is_train=raw.is_train,
    )


def chosen_views(views: list[int] | None, n_views: int, where: str) -> list[int]:
    """The indices dataset.views names (all views when null), checked against the data's view count."""
    if views is None:
        return list(range(n_views))
    chosen = [int(v) for v in views]
    if not chosen:
        raise UserError(
            "dataset.views=[] chooses no view; name at least one, e.g. dataset.views=[0,1], or null"
        )
    for v in chosen:
        if not 0 <= v < n_views:
            raise UserError(
                f"dataset.views names view {v}, but {where} has views 0..{n_views - 1}; "
                f"choose indices from that range"
            )
    if len(set(chosen)) != len(chosen):
        raise UserError(f"dataset.views={chosen} names a view twice; name each view once")
    return chosen


def _read_raw(cfg: DatasetConfig, data_dir: Path) -> tuple[str, RawArrays]:
    source = Source(cfg.source)
    if source == Source.digits:
        return "embedded dataset digits", embedded.digits()
    if source == Source.synthetic:
        dims = list(cfg.view_dims) if cfg.view_dims else [10] * cfg.n_views
        return "synthetic dataset", embedded.gaussian_mixture(
            cfg.n_samples or 500, dims, cfg.n_clusters or 4, cfg.noise, cfg.data_seed
        )
    path = locate_file(cfg, data_dir)
    raw = parse_layout(read_arrays(path), str(path))
    if cfg.labels_files:
        label_paths = [_existing(data_dir / p, cfg) for p in cfg.labels_files]
        raw = replace(raw, labels=read_label_lists(label_paths, cfg.labels_column))
        if len(raw.labels) != raw.views[0].shape[0]:
            raise UserError(
                f"{', '.join(map(str, label_paths))} hold {len(raw.labels)} labels but {path} has "
                f"{raw.views[0].shape[0]} samples; check dataset.labels_files"
            )
    return str(path), raw


def locate_file(cfg: DatasetConfig, data_dir: Path) -> Path:
    if cfg.path:
        path = Path(cfg.path).expanduser()
        if path.is_dir():
            raise UserError(
                f"dataset.path={cfg.path} is a folder; give the path of one {ACCEPTED_FORMATS} file inside it"
            )
        if not path.is_file():
            raise UserError(
                f"dataset.path={cfg.path} does not exist; give the path of a {ACCEPTED_FORMATS} file"
            )
        return path
    if not cfg.files:
        raise UserError(
            f"dataset '{cfg.name}' names no file: set dataset.path=/path/to/file or 'files' in its YAML"
        )
    for candidate in cfg.files:
        if (data_dir / candidate).is_file():
            return data_dir / candidate
    expected = " or ".join(str(data_dir / c) for c in cfg.files)
    raise UserError(
        f"data file for dataset '{cfg.name}' not found: expected {expected} ({ACCEPTED_FORMATS}); "
        f"source: {cfg.origin or 'not recorded'}; set data_dir=DIR or MMC_DATA_DIR to the folder that holds it"
    )


def _existing(path: Path, cfg: DatasetConfig) -> Path:
    if not path.is_file():
        raise UserError(
            f"label file {path} for dataset '{cfg.name}' not found; source: {cfg.origin or 'not recorded'}"
        )
    return path


def _as_float32(view):
    if sp.issparse(view):
        return sp.csr_matrix(view, dtype=np.float32)
    return np.ascontiguousarray(view, dtype=np.float32)


def _n_clusters(cfg: DatasetConfig, labels: np.ndarray | None, where: str) -> int:
    if labels is None:
        if cfg.n_clusters is None:
            raise UserError(
                f"{where} holds no labels, so the number of clusters is unknown; set dataset.n_clusters=K "
                "(the run then clusters and reports no metrics) or dataset.labels_files=[...] to score it"
            )
        return int(cfg.n_clusters)
    found = int(labels.max()) + 1
    if cfg.n_clusters is not None and cfg.n_clusters != found:
        raise UserError(
            f"{where} has {found} classes but dataset '{cfg.name}' expects n_clusters={cfg.n_clusters}; "
            "check the file or set dataset.n_clusters"
        )
    return found


def _check_spec(cfg: DatasetConfig, views: list, names: list[str], where: str) -> None:
    n = views[0].shape[0]
    if cfg.n_samples is not None and cfg.source == Source.file and n != cfg.n_samples:
        raise UserError(
            f"{where} has {n} samples but dataset '{cfg.name}' expects {cfg.n_samples} (dataset.n_samples); "
            "check that this is the right file"
        )
    if len(names) != len(views):
        raise UserError(f"dataset.view_names has {len(names)} names but {where} has {len(views)} views")
    if cfg.view_dims is not None and cfg.source == Source.file:
        dims = [v.shape[1] for v in views]
        if list(cfg.view_dims) != dims:
            raise UserError(
                f"{where} has view dims {dims} but dataset '{cfg.name}' expects {list(cfg.view_dims)} "
                "(dataset.view_dims); check that this is the right file and the view order"
            )


def check_mask(mask: np.ndarray, n: int, n_views: int, where: str) -> None:
    """A view-presence mask is n x V and gives every sample at least one view."""
    if mask.shape != (n, n_views):
        raise UserError(
            f"{where}: 'mask' has shape {mask.shape} but the data has {n} samples and {n_views} views"
        )
    if not mask.any(axis=1).all():
        raise UserError(
            f"{where}: {int((~mask.any(axis=1)).sum())} samples have no view at all in 'mask'; drop them"
        )


def check_values(
    views: list, names: list[str], n_clusters: int, where: str, on_nonfinite: NonFinite = NonFinite.error
) -> list:
    """Refuse data no method can cluster: non-finite values (unless imputed), constant views, K > n."""
    n = views[0].shape[0]
    views = list(views)
    for v, view in enumerate(views):
        values = view.data if sp.issparse(view) else view
        bad = int(np.count_nonzero(~np.isfinite(values)))
        if bad and on_nonfinite == NonFinite.error:
            raise UserError(
                f"{where}: view {v} ('{names[v]}') has {bad} NaN/Inf values; clean them in the file or set "
                "dataset.on_nonfinite=impute_zero"
            )
        if bad:
            log.warning("%s: view %d ('%s'): %d NaN/Inf values replaced by 0", where, v, names[v], bad)
            values[~np.isfinite(values)] = 0.0  # in place: the arrays are this loader's own float32 copies
        if n > 1 and _is_constant(view):
            raise UserError(
                f"{where}: view {v} ('{names[v]}') is constant (every sample has the same values) and carries "
                "no information; remove it from the file"
            )
    _check_counts(n, n_clusters, where)
    return views


def _check_counts(n: int, n_clusters: int, where: str) -> None:
    if n_clusters > n:
        raise UserError(
            f"{where}: K={n_clusters} clusters is larger than the {n} samples; check the labels or n_clusters"
        )
    if n_clusters < 2:
        raise UserError(
            f"{where}: only {n_clusters} class found; clustering needs at least 2 (check the labels)"
        )


def _is_constant(view) -> bool:
    if sp.issparse(view):
        return view.nnz == 0 or (view.max(axis=0) - view.min(axis=0)).count_nonzero() == 0
    return bool(np.all(view.max(axis=0) == view.min(axis=0)))


def apply_split(data: MultiViewDataset, split: Split, train_fraction: float, seed: int) -> MultiViewDataset:
    """The published split (when the file has one), a seeded stratified split, or none."""
    split = Split(split)
    if split == Split.auto:
        return data
    if split == Split.none:
        return replace(data, is_train=None)
    if split == Split.published:
        if data.is_train is None:
            raise UserError(
                f"dataset '{data.name}' has no published split; use dataset.split=stratified or none"
            )
        return data
    if not 0.0 < train_fraction < 1.0:
        raise UserError(f"dataset.train_fraction={train_fraction} must lie strictly between 0 and 1")
    # Stratifying only balances the class proportions of the two parts; training never sees labels.
    stratify = data.labels if data.labels is not None else None
    train_idx, _ = train_test_split(
        np.arange(data.n_samples), train_size=train_fraction, random_state=seed, stratify=stratify
    )
    is_train = np.zeros(data.n_samples, bool)
    is_train[train_idx] = True
    return replace(data, is_train=is_train)
