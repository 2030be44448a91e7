"""The Python API: scikit-learn conventions, validation at the boundary, sparse views and masks."""

import dataclasses
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClusterMixin, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted, validate_data

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
    assert copy.epochs == 5 and copy.random_state == 1 and model.epochs == 2


@pytest.mark.parametrize("name", sorted(mmc_bench.registry.estimators()))
def test_every_estimator_round_trips_its_parameters_through_repr_clone_and_get_params(name):
    """scikit-learn semantics for every registered method: parameters from the schema's signature, __init__
    only stores them, repr shows the changed ones, clone and set_params keep them."""
    estimator_class = getattr(mmc_bench, name)
    defaults = estimator_class().get_params()
    schema_keys = {f.name for f in dataclasses.fields(estimator_class.config_class)} - {"_target_", "name"}
    assert set(defaults) == schema_keys | {"n_clusters", "random_state", "device", "verbose"}
    changed_key = next(
        k for k in sorted(schema_keys) if isinstance(defaults[k], int) and not isinstance(defaults[k], bool)
    )
    model = estimator_class(n_clusters=4, random_state=3, **{changed_key: defaults[changed_key] + 1})
    changed = {changed_key: defaults[changed_key] + 1, "n_clusters": 4, "random_state": 3}
    shown = ", ".join(f"{k}={v}" for k, v in sorted(changed.items()))
    assert repr(model) == f"{estimator_class.__name__}({shown})"
    copy = clone(model)
    assert copy is not model and copy.get_params() == model.get_params()
    assert copy.set_params(random_state=7).get_params()["random_state"] == 7 and model.random_state == 3
    assert set(vars(estimator_class())) == set(defaults)  # __init__ sets its parameters and nothing else


def test_fit_validates_the_parameters_init_stored():
    xs, _ = views()
    with pytest.raises(
        TypeError, match="epochs: Value 'ten' of type 'str' could not be converted to Integer"
    ):
        AEKMeans(n_clusters=3, epochs="ten").fit(xs)
    with pytest.raises(ValueError, match="epochs=-1 is out of range"):
        AEKMeans(n_clusters=3, epochs=-1).fit(xs)
    with pytest.raises(TypeError, match="has no hyper-parameter 'epoch'"):
        AEKMeans(n_clusters=3, epoch=2)
    with pytest.raises(TypeError, match="n_clusters as an integer >= 2, got 2.5"):
        KMeans(n_clusters=2.5).fit(xs)
    with pytest.raises(ValueError, match="n_clusters <= n_samples = 90, got n_clusters=91"):
        KMeans(n_clusters=91).fit(xs)


class OneView(ClusterMixin, BaseEstimator):
    """A multi-view estimator on one array, for scikit-learn's checks that call fit(X) with a single array."""

    def __init__(self, estimator=None):
        self.estimator = estimator

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def fit(self, X, y=None):
        X = validate_data(self, X, accept_sparse="csr")
        self.estimator_ = clone(self.estimator).fit([X])
        self.labels_ = self.estimator_.labels_
        return self

    def predict(self, X):
        check_is_fitted(self)
        return self.estimator_.predict([validate_data(self, X, accept_sparse="csr", reset=False)])


@pytest.mark.parametrize("estimator", [KMeans(n_clusters=3, n_init=2), AEKMeans(n_clusters=3, epochs=1)])
def test_scikit_learn_estimator_checks_pass(estimator):
    """Every check of sklearn.utils.estimator_checks: on the estimator itself those that need no data, the rest
    through the one-view adapter (array-API input is skipped unless SCIPY_ARRAY_API is set)."""
    from sklearn.utils import estimator_checks as checks

    name = type(estimator).__name__
    checks.check_parameters_default_constructible(name, estimator)
    checks.check_no_attributes_set_in_init(name, estimator)
    checks.check_get_params_invariance(name, estimator)
    checks.check_set_params(name, estimator)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = checks.check_estimator(OneView(estimator), on_fail=None)
    failed = [(r["check_name"], str(r["exception"])[:200]) for r in results if r["status"] == "failed"]
    assert failed == [] and sum(r["status"] == "passed" for r in results) >= 40


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
        (lambda: KMeans(n_clusters=3, n_init=0).fit(views()[0]), ValueError, "n_init=0 is out of range"),
        (lambda: KMeans().fit(views()[0]), ValueError, "needs n_clusters >= 2"),
        (lambda: KMeans(n_clusters=3).fit(np.zeros((5, 2))), ValueError, "list of arrays"),
        (
            lambda: KMeans(n_clusters=3).fit([np.zeros((5, 2)), np.zeros((4, 2))]),
            ValueError,
            "same number of rows",
        ),
        (lambda: KMeans(n_clusters=3).fit([np.full((5, 2), np.nan)]), ValueError, "view 0 holds NaN"),
        (lambda: KMeans(n_clusters=3).predict(views()[0]), NotFittedError, "not fitted"),
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


def test_dm2c_infers_each_samples_modality_from_its_non_zero_view():
    xs, _ = views(n=60)
    xs = [xs[0].copy(), xs[1].copy()]
    xs[0][1::2] = 0
    xs[1][0::2] = 0
    model = mmc_bench.DM2C(n_clusters=3, epochs=1, pretrain_epochs=1, kmeans_n_init=1, random_state=0)
    expected = np.zeros((60, 2), bool)
    expected[0::2, 0] = expected[1::2, 1] = True
    np.testing.assert_array_equal(model.default_mask(xs), expected)
    inferred = model.fit(xs).labels_
    np.testing.assert_array_equal(inferred, model.fit(xs, mask=expected).labels_)


def test_dm2c_refuses_paired_data_without_a_mask_in_one_sentence():
    xs, _ = views(n=60)
    with pytest.raises(ValueError, match=r"row 0 has 2 non-zero views; pass mask="):
        mmc_bench.DM2C(n_clusters=3, epochs=1, pretrain_epochs=1).fit(xs)
