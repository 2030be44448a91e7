"""The Python API: scikit-learn conventions, validation at the boundary, sparse views and masks."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone

import mmc_bench
from mmc_bench import AEKMeans, KMeans
from mmc_bench.metrics import clustering_accuracy


def views(n=90, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, 6)) * 4
    labels = np.repeat(np.arange(3), n // 3)
    x = centres[labels] + rng.normal(size=(n, 6))
    return [x[:, :3], x[:, 3:]], labels


def test_every_public_estimator_is_importable_and_documented():
    for name in (
        "EAMC",
        "CMMC",
        "DMIM",
        "DM2C",
        "JECL",
        "DEC",
        "KMeans",
        "KMeansView",
        "KMeansMixed",
        "Spectral",
        "AEKMeans",
    ):
        estimator = getattr(mmc_bench, name)
        assert estimator.__doc__ and hasattr(estimator, "fit_predict"), name
    with pytest.raises(AttributeError):
        mmc_bench.NotAMethod  # noqa: B018


def test_fit_returns_self_sets_labels_and_recovers_clear_clusters():
    xs, truth = views()
    model = KMeans(n_clusters=3, n_init=2, random_state=0)
    assert model.fit(xs) is model
    assert model.labels_.shape == (90,)
    assert clustering_accuracy(truth, model.labels_) == 1.0
    np.testing.assert_array_equal(model.predict(xs), model.labels_)
    assert model.transform(xs).shape == (90, 6)


def test_clone_and_params_follow_scikit_learn():
    model = AEKMeans(n_clusters=3, epochs=2, random_state=4)
    params = model.get_params()
    assert params["epochs"] == 2 and params["n_clusters"] == 3 and params["random_state"] == 4
    copy = clone(model)
    assert copy.get_params() == params and copy is not model
    copy.set_params(epochs=5, random_state=1)
    assert copy.config.epochs == 5 and copy.random_state == 1 and model.config.epochs == 2


def test_sparse_views_give_the_dense_result():
    xs, _ = views()
    dense = KMeans(n_clusters=3, n_init=2).fit_predict(xs)
    sparse = KMeans(n_clusters=3, n_init=2).fit_predict([sp.csr_matrix(x) for x in xs])
    np.testing.assert_array_equal(dense, sparse)


def test_an_absent_view_is_zeroed_so_its_values_change_nothing():
    xs, _ = views()
    mask = np.ones((90, 2), bool)
    mask[::3, 1] = False
    noisy = xs[1].copy()
    noisy[~mask[:, 1]] = 1e6
    a = KMeans(n_clusters=3, n_init=2).fit_predict(xs, mask=mask)
    b = KMeans(n_clusters=3, n_init=2).fit_predict([xs[0], noisy], mask=mask)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: KMeans(n_clusters=3, n_inti=2), TypeError, "no hyper-parameter 'n_inti'"),
        (lambda: KMeans(n_clusters=3, n_init=0), ValueError, "n_init=0 is out of range"),
        (lambda: KMeans().fit(views()[0]), ValueError, "needs n_clusters >= 2"),
        (lambda: KMeans(n_clusters=3).fit(np.zeros((5, 2))), ValueError, "list of arrays"),
        (
            lambda: KMeans(n_clusters=3).fit([np.zeros((5, 2)), np.zeros((4, 2))]),
            ValueError,
            "same number of rows",
        ),
        (lambda: KMeans(n_clusters=3).fit([np.full((5, 2), np.nan)]), ValueError, "view 0 holds NaN"),
        (lambda: KMeans(n_clusters=3).predict(views()[0]), RuntimeError, "not fitted"),
        (
            lambda: KMeans(n_clusters=3, n_init=1).fit(views()[0]).predict([np.zeros((4, 3))]),
            ValueError,
            "fitted on",
        ),
    ],
)
def test_bad_input_is_one_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()
