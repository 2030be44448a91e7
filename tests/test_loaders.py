"""Loaders on small synthetic files of every community layout, and the bad-input messages."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp

from mmc_bench.config import DatasetConfig
from mmc_bench.data.build import load_dataset
from mmc_bench.errors import UserError

RNG = np.random.default_rng(0)
N, K = 12, 3
LABELS = np.arange(N) % K
A = RNG.normal(size=(N, 5))
B = RNG.normal(size=(N, 4))


def load(path: Path, **kw):
    return load_dataset(DatasetConfig(name="t", path=str(path), **kw), path.parent)


def assert_views(data, labels=LABELS):
    assert data.n_samples == N
    np.testing.assert_allclose(data.dense_view(0), A.astype(np.float32))
    np.testing.assert_allclose(data.dense_view(1), B.astype(np.float32))
    np.testing.assert_array_equal(data.labels, labels)
    assert data.n_clusters == K
    assert data.mask.all()


def test_npz_canonical(tmp_path):
    is_train = np.arange(N) < 8
    np.savez(tmp_path / "d.npz", view_0=A, view_1=B, labels=LABELS, is_train=is_train)
    data = load(tmp_path / "d.npz")
    assert_views(data)
    np.testing.assert_array_equal(data.is_train, is_train)


def test_npz_mask_is_read(tmp_path):
    mask = np.ones((N, 2), bool)
    mask[0, 1] = False
    np.savez(tmp_path / "d.npz", view_0=A, view_1=B, labels=LABELS, mask=mask)
    assert not load(tmp_path / "d.npz").mask[0, 1]


def test_natively_mixed_file_with_a_modality_flag(tmp_path):
    from mmc_bench.data.settings import apply_setting

    flags = np.arange(N) % 2
    scipy.io.savemat(tmp_path / "m.mat", {"X1": A, "X2": B, "Y": LABELS, "modality": flags})
    data = load(tmp_path / "m.mat")
    np.testing.assert_array_equal(data.mask, np.eye(2, dtype=bool)[flags])
    np.testing.assert_array_equal(apply_setting(data, "mixed", seed=5).mask, data.mask)  # kept as is
    np.savez(tmp_path / "bad.npz", view_0=A, view_1=B, labels=LABELS, modality=flags + 1)
    with pytest.raises(UserError, match="'modality' holds values 1..2 but the file has views 0..1"):
        load(tmp_path / "bad.npz")


def _cell(*arrays):
    cell = np.empty((1, len(arrays)), dtype=object)
    for i, a in enumerate(arrays):
        cell[0, i] = a
    return cell


def test_mat_cell_x_rows_one_based(tmp_path):
    scipy.io.savemat(tmp_path / "d.mat", {"X": _cell(A, B), "Y": (LABELS + 1)[:, None]})
    assert_views(load(tmp_path / "d.mat"))


def test_mat_numbered_keys_row_labels(tmp_path):
    scipy.io.savemat(tmp_path / "d.mat", {"X1": A, "X2": B, "Y": LABELS[None, :]})
    assert_views(load(tmp_path / "d.mat"))


def test_mat_cell_data_columns_truth(tmp_path):
    # samples as columns (d x n), detected from the label count
    scipy.io.savemat(tmp_path / "d.mat", {"data": _cell(A.T, B.T), "truth": (LABELS + 1)[:, None]})
    assert_views(load(tmp_path / "d.mat"))


def test_mat_sparse_views_stay_sparse(tmp_path):
    sa = sp.csc_matrix(np.where(A > 0, A, 0))
    scipy.io.savemat(tmp_path / "d.mat", {"X": _cell(sa, B), "gt": LABELS[:, None]})
    data = load(tmp_path / "d.mat")
    assert sp.issparse(data.views[0])
    np.testing.assert_allclose(data.dense_view(0), sa.toarray().astype(np.float32))


def test_mat_train_test_pairs_with_label_lists(tmp_path):
    scipy.io.savemat(tmp_path / "d.mat", {"I_tr": A[:8], "I_te": A[8:], "T_tr": B[:8], "T_te": B[8:]})
    (tmp_path / "train.list").write_text("".join(f"a{i} b{i} {LABELS[i] + 1}\n" for i in range(8)))
    (tmp_path / "test.list").write_text("".join(f"a{i} b{i} {LABELS[i] + 1}\n" for i in range(8, N)))
    data = load(tmp_path / "d.mat", labels_files=["train.list", "test.list"], labels_column=2)
    assert_views(data)
    np.testing.assert_array_equal(data.is_train, np.arange(N) < 8)
    assert data.view_names == ["I", "T"]


def _write_v73(path: Path, views, labels, sparse_second=False):
    """A MATLAB v7.3 layout: HDF5, column-major storage (arrays appear transposed), cells as references."""
    with h5py.File(path, "w") as f:
        refs = f.create_group("#refs#")
        cell = f.create_dataset("X", (len(views), 1), dtype=h5py.ref_dtype)
        for i, view in enumerate(views):
            if sparse_second and i == 1:
                csc = sp.csc_matrix(view)
                g = refs.create_group(f"v{i}")
                g.attrs["MATLAB_sparse"] = view.shape[0]
                g.create_dataset("data", data=csc.data)
                g.create_dataset("ir", data=csc.indices.astype(np.uint64))
                g.create_dataset("jc", data=csc.indptr.astype(np.uint64))
                cell[i, 0] = g.ref
            else:
                cell[i, 0] = refs.create_dataset(f"v{i}", data=view.T).ref
        f.create_dataset("Y", data=labels[None, :].T.astype(np.float64))


def test_mat_v73_cell_and_sparse(tmp_path):
    _write_v73(tmp_path / "d.mat", [A, np.where(B > 0, B, 0)], LABELS + 1, sparse_second=True)
    data = load(tmp_path / "d.mat")
    np.testing.assert_allclose(data.dense_view(0), A.astype(np.float32))
    np.testing.assert_allclose(data.dense_view(1), np.where(B > 0, B, 0).astype(np.float32))
    np.testing.assert_array_equal(data.labels, LABELS)


# ---------------------------------------------------------------- bad input: one sentence, names the fix


def error_of(path: Path, **kw) -> str:
    with pytest.raises(UserError) as info:
        load(path, **kw)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_file_names_expected_paths(tmp_path):
    cfg = DatasetConfig(name="nwc", files=["NWC/nwc.npz", "NWC/nwc.mat"], origin="the EAMC paper")
    with pytest.raises(UserError, match=r"expected .*NWC/nwc.npz or .*NWC/nwc.mat.*source: the EAMC paper"):
        load_dataset(cfg, tmp_path)


def test_corrupt_file(tmp_path):
    (tmp_path / "d.mat").write_bytes(b"this is not a mat file at all" * 10)
    assert "unreadable or corrupt" in error_of(tmp_path / "d.mat")
    (tmp_path / "d.npz").write_bytes(b"PK\x03\x04 broken zip")
    assert "unreadable or corrupt" in error_of(tmp_path / "d.npz")


def test_unknown_layout_lists_keys(tmp_path):
    scipy.io.savemat(tmp_path / "d.mat", {"features": A, "classes": LABELS})
    assert "keys found: ['classes', 'features']" in error_of(tmp_path / "d.mat")


def test_views_with_different_sample_counts(tmp_path):
    scipy.io.savemat(tmp_path / "d.mat", {"X1": A, "X2": B[:-1], "Y": LABELS[:, None]})
    message = error_of(tmp_path / "d.mat")
    assert "different sample counts" in message and "view 1 is 11x4" in message


def test_nan_in_a_view_names_view_and_count(tmp_path):
    bad = B.copy()
    bad[0, 0] = np.nan
    bad[3, 1] = np.inf
    np.savez(tmp_path / "d.npz", view_0=A, view_1=bad, labels=LABELS)
    assert "view 1 ('view_1') has 2 NaN/Inf values" in error_of(tmp_path / "d.npz")


def test_labels_not_integers(tmp_path):
    np.savez(tmp_path / "d.npz", view_0=A, view_1=B, labels=LABELS + 0.5)
    assert "not integers (found 0.5)" in error_of(tmp_path / "d.npz")


def test_more_clusters_than_samples(tmp_path):
    # With labels K is read off them (so K <= n); an unlabelled file asking for more clusters than samples is refused.
    np.savez(tmp_path / "u.npz", view_0=A[:3], view_1=B[:3])
    assert "K=5 clusters is larger than the 3 samples" in error_of(tmp_path / "u.npz", n_clusters=5)


def test_single_class_is_refused(tmp_path):
    np.savez(tmp_path / "d.npz", view_0=A, view_1=B, labels=np.zeros(N, int))
    assert "at least 2" in error_of(tmp_path / "d.npz")


def test_constant_view(tmp_path):
    np.savez(tmp_path / "d.npz", view_0=A, view_1=np.ones_like(B), labels=LABELS)
    assert "view 1 ('view_1') is constant" in error_of(tmp_path / "d.npz")


def test_spec_mismatch_names_the_yaml_key(tmp_path):
    np.savez(tmp_path / "d.npz", view_0=A, view_1=B, labels=LABELS)
    assert "(dataset.view_dims)" in error_of(tmp_path / "d.npz", view_dims=[5, 7])
    assert "(dataset.n_samples)" in error_of(tmp_path / "d.npz", n_samples=100)
    assert "expects n_clusters=4" in error_of(tmp_path / "d.npz", n_clusters=4)


def test_unlabelled_file_needs_n_clusters(tmp_path):
    np.savez(tmp_path / "d.npz", view_0=A, view_1=B)
    assert "set dataset.n_clusters=K" in error_of(tmp_path / "d.npz")
    assert load(tmp_path / "d.npz", n_clusters=3).labels is None


def test_synthetic_views_do_not_depend_on_the_generation_block(monkeypatch):
    from mmc_bench.data import embedded

    whole = embedded.gaussian_mixture(200, [7, 5], 4, 1.0, seed=3)
    monkeypatch.setattr(embedded, "GENERATION_BLOCK", 13)
    blocked = embedded.gaussian_mixture(200, [7, 5], 4, 1.0, seed=3)
    np.testing.assert_array_equal(whole.labels, blocked.labels)
    for a, b in zip(whole.views, blocked.views):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "name, arrays",
    [
        ("one.mat", {"X": A, "Y": LABELS + 1}),  # n x d
        ("one_dn.mat", {"fea": A.T, "gnd": LABELS}),  # d x n, Deng Cai's key names
        ("one.npz", {"X": A, "labels": LABELS}),
    ],
)
def test_a_single_matrix_file_is_a_one_view_dataset(tmp_path, name, arrays):
    path = tmp_path / name
    scipy.io.savemat(path, arrays) if name.endswith(".mat") else np.savez(path, **arrays)
    data = load(path)
    assert data.n_views == 1 and data.view_dims == [5]
    np.testing.assert_allclose(data.dense_view(0), A.astype(np.float32))
    np.testing.assert_array_equal(data.labels, LABELS)


def spconvert_triplets(matrix: sp.coo_matrix, size_row: bool) -> np.ndarray:
    """``matrix`` as MATLAB's spconvert stores it: 1-based (row, column, value), optionally (n, d, 0) last."""
    triplets = np.column_stack([matrix.row + 1, matrix.col + 1, matrix.data])
    return np.vstack([triplets, [matrix.shape[0], matrix.shape[1], 0]]) if size_row else triplets


@pytest.mark.parametrize("size_row", [True, False])
def test_a_view_stored_as_triplets_is_rebuilt(tmp_path, size_row):
    words = sp.random(N, 40, density=0.2, random_state=1, format="coo", dtype=np.float64)
    words = sp.coo_matrix(
        words.toarray()[:, :-2] if not size_row else words.toarray()
    )  # no size row: d from indices
    scipy.io.savemat(tmp_path / "t.mat", {"X1": A, "X2": spconvert_triplets(words, size_row), "Y": LABELS})
    data = load(tmp_path / "t.mat")
    assert sp.issparse(data.views[1])
    expected = words.toarray()
    if not size_row:  # d is the largest column index that occurs
        expected = expected[:, : int(words.col.max()) + 1]
    assert data.views[1].shape == (N, expected.shape[1])
    np.testing.assert_allclose(data.dense_view(1), expected.astype(np.float32))


def test_triplets_that_do_not_fit_the_labels_are_one_sentence(tmp_path):
    triplets = np.array([[1, 1, 0.5], [N + 3, 2, 0.25], [2, 3, 1.0]])
    scipy.io.savemat(tmp_path / "t.mat", {"X1": A, "X2": triplets, "Y": LABELS})
    with pytest.raises(
        UserError, match=r"view 1 looks like \(row, column, value\) triplets, but its row indices"
    ):
        load(tmp_path / "t.mat")


def test_minmax_keeps_a_non_negative_sparse_view_sparse_with_the_dense_values():
    from mmc_bench.data.preprocess import _apply_step

    words = sp.random(50, 30, density=0.2, random_state=2, format="csr", dtype=np.float32)
    rows = np.arange(50) < 40
    sparse = _apply_step("minmax", words, rows, 0)
    dense = _apply_step("minmax", words.toarray(), rows, 0)
    assert sp.issparse(sparse)
    np.testing.assert_array_equal(sparse.toarray(), dense)  # bit for bit
    shifted = sp.csr_matrix(words.toarray() - 0.5)  # negative values: the dense path
    assert not sp.issparse(_apply_step("minmax", shifted, rows, 0))


@pytest.mark.parametrize("method", ["kmeans", "kmeans_view", "spectral"])
def test_a_sparse_view_reaches_scikit_learn_sparse(method, monkeypatch):
    from sklearn.cluster import KMeans, SpectralClustering

    from mmc_bench.run.runner import build_method, prepare_dataset
    from tests.conftest import compose_config

    seen = []
    for estimator in (KMeans, SpectralClustering):
        original = estimator.fit
        monkeypatch.setattr(
            estimator, "fit", lambda self, x, *a, _f=original, **k: seen.append(x) or _f(self, x, *a, **k)
        )
    words = sp.random(60, 10_000, density=0.01, random_state=3, format="csr", dtype=np.float32)
    cfg = compose_config(f"method={method}", "dataset=synthetic", "dataset.n_samples=60")
    data = prepare_dataset(cfg).with_views(
        [words, sp.random(60, 20, density=0.5, random_state=4, format="csr")]
    )
    model = build_method(cfg.method, 0, "cpu")
    model.fit_dataset(data)
    assert seen and sp.issparse(
        seen[0]
    )  # the method's own call (spectral's inner k-means gets its embedding)
    assert model.predict_dataset(data).labels.shape == (60,)
