"""Readers for multi-view files in the community's formats, turned into plain arrays.

Layouts are recognised by their keys, never by file names; the orientation of each view (samples as
rows or as columns) is read off the number of labels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import scipy.sparse as sp

from mmc_bench.errors import UserError

LABEL_KEYS = ("Y", "y", "gt", "GT", "truth", "labels", "label", "gnd", "gnd_truth")
CELL_KEYS = ("X", "data", "x", "views")
# A single data matrix (a one-view file): X n x d or d x n, as most single-view benchmark files store it.
MATRIX_KEYS = ("X", "x", "data", "fea")
ACCEPTED_FORMATS = ".npz (view_0, view_1, ..., labels, optional mask or modality, is_train) or .mat v5/v7.3"
KNOWN_LAYOUTS = (
    "cell 'X' or 'data' of views + labels 'Y'/'gt'/'truth'; keys X1..Xn + 'Y'; "
    "pairs K_tr/K_te per view; one matrix 'X'/'data'/'fea' + labels (one view); "
    "or the .npz keys view_0, view_1, ..., labels"
)


@dataclass
class RawArrays:
    """What a file holds, before validation against the dataset's YAML."""

    views: list[Any]
    labels: np.ndarray | None
    mask: np.ndarray | None
    is_train: np.ndarray | None
    view_names: list[str] | None


def read_arrays(path: Path) -> dict[str, Any]:
    """Every top-level array of an .npz or .mat file, by key."""
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise UserError(f"{path} is empty (0 bytes); copy or export the file again")
    try:
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                return {k: npz[k] for k in npz.files}
        if suffix == ".mat":
            return _read_h5_mat(path) if _is_hdf5(path) else _read_v5_mat(path)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - a reader fed foreign bytes can raise anything (IndexError on a tiny .mat)
        raise UserError(
            f"cannot read {path}: the file is unreadable or corrupt ({type(exc).__name__}: {exc}); "
            f"re-export it as {ACCEPTED_FORMATS}"
        ) from None
    raise UserError(f"{path} has an unsupported extension '{suffix}'; use {ACCEPTED_FORMATS}")


def _is_hdf5(path: Path) -> bool:
    import h5py

    return h5py.is_hdf5(path)


def _read_v5_mat(path: Path) -> dict[str, Any]:
    raw = scipy.io.loadmat(path, squeeze_me=False)
    return {k: v for k, v in raw.items() if not k.startswith("__")}


def _read_h5_mat(path: Path) -> dict[str, Any]:
    import h5py

    with h5py.File(path, "r") as h5:
        return {k: _h5_value(h5, h5[k]) for k in h5.keys() if not k.startswith("#")}


def _h5_value(h5: Any, node: Any) -> Any:
    """A MATLAB v7.3 variable as numpy/scipy: cells hold references, sparse matrices are ir/jc/data groups."""
    import h5py

    if isinstance(node, h5py.Group):
        if "MATLAB_sparse" in node.attrs:
            n_rows = int(node.attrs["MATLAB_sparse"])
            jc = node["jc"][()]
            data = node["data"][()] if "data" in node else np.ones(len(node["ir"]))
            return sp.csc_matrix((data, node["ir"][()], jc), shape=(n_rows, len(jc) - 1))
        raise UserError(
            f"unsupported MATLAB struct '{node.name}' in {h5.filename}; store views as matrices or a cell"
        )
    if node.dtype == h5py.ref_dtype or node.dtype.kind == "O":
        refs = node[()]
        cell = np.empty(refs.shape, dtype=object)
        for idx, ref in np.ndenumerate(refs):
            cell[idx] = _h5_value(h5, h5[ref])
        return cell
    return node[()]


def modality_mask(flags: Any, n_views: int, where: str) -> np.ndarray:
    """A natively mixed file's per-sample modality flag (0-based view index) as a view-presence mask."""
    flags = np.asarray(flags).ravel()
    if not np.issubdtype(flags.dtype, np.number) or np.any(flags != np.round(flags)):
        raise UserError(f"{where}: 'modality' must hold one integer view index per sample")
    flags = flags.astype(np.int64)
    if flags.min() < 0 or flags.max() >= n_views:
        raise UserError(
            f"{where}: 'modality' holds values {flags.min()}..{flags.max()} but the file has views 0..{n_views - 1}"
        )
    return np.eye(n_views, dtype=bool)[flags]


def parse_layout(arrays: dict[str, Any], where: str) -> RawArrays:
    """Find views, labels, mask and split in a file's arrays, whatever the community layout."""
    label_key = next((k for k in LABEL_KEYS if k in arrays), None)
    labels = None if label_key is None else to_int_labels(arrays[label_key], f"key '{label_key}' of {where}")
    mask = arrays.get("mask")
    is_train = arrays.get("is_train")
    view_names = None
    numbered = sorted(
        ((int(m.group(1)), k) for k in arrays if (m := re.fullmatch(r"[Xx](\d+)", k))), key=lambda t: t[0]
    )
    cell_key = next((k for k in CELL_KEYS if k in arrays and _is_cell(arrays[k])), None)
    split_prefixes = sorted(
        k[:-3] for k in arrays if k.endswith("_tr") and k[:-3] + "_te" in arrays and k[:-3] not in LABEL_KEYS
    )
    view_keys = sorted(int(m.group(1)) for k in arrays if (m := re.fullmatch(r"view_(\d+)", k)))
    if view_keys:
        missing = sorted(set(range(max(view_keys) + 1)) - set(view_keys))
        if missing:
            found = ", ".join(f"view_{i}" for i in view_keys)
            raise UserError(
                f"{where} has the views {found} but no view_{missing[0]}; number the views view_0, view_1, ... "
                "without gaps"
            )
        views = [arrays[f"view_{i}"] for i in view_keys]
        if "view_names" in arrays:
            view_names = [str(s) for s in np.asarray(arrays["view_names"]).ravel()]
    elif cell_key is not None:
        views = [v for v in arrays[cell_key].ravel()]
    elif numbered:
        views = [arrays[k] for _, k in numbered]
    elif split_prefixes:
        views = [_stack_rows(arrays[p + "_tr"], arrays[p + "_te"]) for p in split_prefixes]
        n_train = _n_rows(arrays[split_prefixes[0] + "_tr"])
        is_train = np.arange(_n_rows(views[0])) < n_train
        view_names = list(split_prefixes)
        label_prefix = next((k for k in LABEL_KEYS if k + "_tr" in arrays and k + "_te" in arrays), None)
        if label_prefix is not None:
            both = np.concatenate(
                [np.ravel(arrays[label_prefix + "_tr"]), np.ravel(arrays[label_prefix + "_te"])]
            )
            labels = to_int_labels(both, f"keys '{label_prefix}_tr/_te' of {where}")
    elif (
        matrix_key := next((k for k in MATRIX_KEYS if k in arrays and not _is_cell(arrays[k])), None)
    ) is not None:
        views = [arrays[matrix_key]]
    else:
        raise UserError(f"{where}: unknown layout, keys found: {sorted(arrays)}; expected {KNOWN_LAYOUTS}")
    views = orient_views(views, None if labels is None else len(labels), where)
    if mask is None and "modality" in arrays:
        mask = modality_mask(arrays["modality"], len(views), where)
    return RawArrays(
        views=views,
        labels=labels,
        mask=None if mask is None else np.asarray(mask).astype(bool),
        is_train=None if is_train is None else np.asarray(is_train).ravel().astype(bool),
        view_names=view_names,
    )


def _is_cell(value: Any) -> bool:
    return isinstance(value, np.ndarray) and value.dtype == object


def _n_rows(matrix: Any) -> int:
    return matrix.shape[0]


def _stack_rows(a: Any, b: Any) -> Any:
    return sp.vstack([a, b]) if sp.issparse(a) or sp.issparse(b) else np.vstack([a, b])


def orient_views(views: list[Any], n_samples: int | None, where: str) -> list[Any]:
    """Each view as samples x features; the sample count comes from the labels when there are any."""
    views = [_as_matrix(v, i, where) for i, v in enumerate(views)]
    if n_samples is None:
        rows = {v.shape[0] for v in views}
        cols = {v.shape[1] for v in views}
        if len(rows) == 1:
            return views
        if len(cols) == 1:
            return [v.T for v in views]
        counts = ", ".join(f"view {i}: {v.shape[0]}x{v.shape[1]}" for i, v in enumerate(views))
        raise UserError(
            f"{where}: views have different sample counts ({counts}); every view needs one row per sample"
        )
    oriented = []
    for i, v in enumerate(views):
        if v.shape[0] == n_samples:
            oriented.append(v)
        elif v.shape[1] == n_samples:
            oriented.append(v.T)
        elif (rebuilt := from_triplets(v, n_samples, i, where)) is not None:
            oriented.append(rebuilt)
        else:
            raise UserError(
                f"{where}: views have different sample counts: view {i} is {v.shape[0]}x{v.shape[1]} but there "
                f"are {n_samples} labels; every view needs one row (or column) per labelled sample"
            )
    return oriented


def from_triplets(view: Any, n_samples: int, index: int, where: str) -> sp.csr_matrix | None:
    """A sparse view stored as an nnz x 3 matrix of (row, column, value) triplets, MATLAB's ``spconvert``
    layout: indices 1-based (0-based when a 0 index occurs), a last triplet (n, d, 0) states the size, else d
    is the largest column index. None when ``view`` is not such a matrix for ``n_samples`` samples."""
    if sp.issparse(view) or view.ndim != 2 or view.shape[1] != 3 or len(view) == 0:
        return None
    rows, cols, values = view[:, 0], view[:, 1], view[:, 2]
    if (
        not (np.all(rows == np.round(rows)) and np.all(cols == np.round(cols)))
        or min(rows.min(), cols.min()) < 0
    ):
        return None
    rows, cols = rows.astype(np.int64), cols.astype(np.int64)
    stated = values[-1] == 0 and len(view) > 1
    base = 1 if stated or min(rows.min(), cols.min()) > 0 else 0
    n_rows = int(rows[-1]) if stated else n_samples
    if stated:
        rows, cols, values, d = rows[:-1], cols[:-1], values[:-1], int(cols[-1])
    else:
        d = int(cols.max()) - base + 1
    if n_rows != n_samples or rows.max() - base >= n_samples or cols.max() - base >= d:
        raise UserError(
            f"{where}: view {index} looks like (row, column, value) triplets, but its row indices reach "
            f"{int(rows.max())} (size row: {n_rows}) for {n_samples} labelled samples; store one triplet per "
            "non-zero with 1-based indices, and optionally a last triplet (n, d, 0) for the size"
        )
    return sp.csr_matrix((values, (rows - base, cols - base)), shape=(n_samples, d))


def _as_matrix(value: Any, index: int, where: str) -> Any:
    if sp.issparse(value):
        return sp.csr_matrix(value)
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise UserError(
            f"{where}: view {index} is not numeric (dtype {array.dtype}); store views as numeric matrices"
        )
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim > 2:
        array = array.reshape(array.shape[0], -1)
    return array


def to_int_labels(raw: Any, where: str) -> np.ndarray:
    """Labels as 0..K-1 int64, whatever their base (0 or 1) or gaps; non-integers are refused."""
    array = np.asarray(raw.toarray() if sp.issparse(raw) else raw)
    if array.ndim > 1 and sorted(array.shape)[-2] > 1:
        raise UserError(
            f"labels in {where} have shape {array.shape}, but one class id per sample is needed: store a vector "
            "(n,) or (n, 1) of class ids (one-hot or multi-label columns are not labels of a clustering)"
        )
    values = array.ravel()
    if values.dtype.kind not in "biuf":
        raise UserError(
            f"labels in {where} are not numbers (dtype {values.dtype}); store class ids as integers"
        )
    if values.dtype.kind == "f":
        if not np.all(np.isfinite(values)) or np.any(values != np.round(values)):
            bad = values[~np.isfinite(values) | (values != np.round(values))][0]
            raise UserError(
                f"labels in {where} are not integers (found {bad}); store class ids as whole numbers"
            )
    classes, dense = np.unique(values, return_inverse=True)
    return dense.astype(np.int64).ravel()


def read_label_lists(paths: list[Path], column: int) -> np.ndarray:
    """Labels from whitespace-separated text files (one row per sample, files concatenated in order)."""
    labels: list[str] = []
    for path in paths:
        for line_no, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split()
            if column >= len(fields):
                raise UserError(
                    f"{path}:{line_no} has {len(fields)} columns, but dataset.labels_column is {column}"
                )
            labels.append(fields[column])
    try:
        values = np.array([float(s) for s in labels])
    except ValueError:
        raise UserError(
            f"labels in {paths[0]} column {column} are not numbers; set dataset.labels_column"
        ) from None
    return to_int_labels(values, ", ".join(map(str, paths)))
