import numpy as np
import pytest

from mmc_bench.config import DatasetConfig, MissingScheme, Setting, Split
from mmc_bench.data.build import apply_split, load_dataset
from mmc_bench.data.preprocess import preprocess_views
from mmc_bench.data.settings import apply_setting
from mmc_bench.errors import UserError


def synthetic(n=400, dims=(6, 5, 4)):
    cfg = DatasetConfig(name="synthetic", source="synthetic", n_samples=n, view_dims=list(dims), n_clusters=4)
    return load_dataset(cfg, data_dir=None)


def test_mixed_keeps_exactly_one_view_and_is_reproducible():
    data = synthetic()
    a = apply_setting(data, Setting.mixed, seed=3)
    b = apply_setting(data, Setting.mixed, seed=3)
    c = apply_setting(data, Setting.mixed, seed=4)
    assert (a.mask.sum(axis=1) == 1).all()
    np.testing.assert_array_equal(a.mask, b.mask)
    assert not np.array_equal(a.mask, c.mask)
    # uniform over 3 views: each view kept by roughly a third of the samples
    assert np.all(np.abs(a.mask.mean(axis=0) - 1 / 3) < 0.08)
    # absent views are zeroed, present ones untouched
    for v in range(3):
        assert np.all(a.dense_view(v)[~a.mask[:, v]] == 0)
        np.testing.assert_array_equal(a.dense_view(v)[a.mask[:, v]], data.dense_view(v)[a.mask[:, v]])


def test_incomplete_rate_and_at_least_one_view():
    data = synthetic(n=4000)
    out = apply_setting(data, Setting.incomplete, seed=0, missing_rate=0.5)
    assert out.mask.any(axis=1).all()
    # each view lost with p=0.5, except when all three were lost (p=1/8) and one is given back
    assert 0.35 < 1 - out.mask.mean() < 0.5


def test_incomplete_only_drops_listed_views():
    data = synthetic(n=1000)
    out = apply_setting(data, Setting.incomplete, seed=0, missing_rate=0.3, missing_views=[2])
    assert out.mask[:, :2].all()
    assert 0.2 < 1 - out.mask[:, 2].mean() < 0.4


def test_setting_arguments_are_validated():
    data = synthetic()
    with pytest.raises(UserError, match="only apply to setting=incomplete"):
        apply_setting(data, Setting.paired, seed=0, missing_rate=0.2)
    with pytest.raises(UserError, match="out of range"):
        apply_setting(data, Setting.incomplete, seed=0, missing_rate=1.0)
    with pytest.raises(UserError, match="names view 7"):
        apply_setting(data, Setting.incomplete, seed=0, missing_rate=0.1, missing_views=[7])


def test_stratified_split_is_seeded_and_balanced():
    data = synthetic(n=300)
    a = apply_split(data, Split.stratified, 2 / 3, seed=1)
    b = apply_split(data, Split.stratified, 2 / 3, seed=1)
    np.testing.assert_array_equal(a.is_train, b.is_train)
    assert a.is_train.sum() == 200
    for k in range(4):
        share = a.is_train[a.labels == k].mean()
        assert abs(share - 2 / 3) < 0.02


def test_preprocessing_is_fitted_on_the_training_part_only():
    data = apply_split(synthetic(n=300), Split.stratified, 0.5, seed=0)
    out = preprocess_views(data, ["minmax"])
    train = out.dense_view(0)[data.is_train]
    np.testing.assert_allclose(train.min(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(train.max(axis=0), 1, atol=1e-6)
    # a test sample beyond the training range maps outside [0, 1]: the scaler never saw test data
    test = out.dense_view(0)[~data.is_train]
    assert test.min() < 0 or test.max() > 1


def test_preprocessing_per_view_chain_and_pca():
    data = synthetic()
    out = preprocess_views(data, ["standardize+pca:3", "l2", "none"])
    assert out.view_dims == [3, 5, 4]
    np.testing.assert_allclose(np.linalg.norm(out.dense_view(1), axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(out.dense_view(2), data.dense_view(2))


def test_preprocessing_errors():
    data = synthetic()
    with pytest.raises(UserError, match="'zscore' for view 0 is unknown"):
        preprocess_views(data, ["zscore"])
    with pytest.raises(UserError, match="has 2 entries but synthetic has 3 views"):
        preprocess_views(data, ["none", "l2"])


def test_preprocessing_keeps_absent_views_zero():
    data = apply_setting(synthetic(), Setting.mixed, seed=0)
    out = preprocess_views(data, ["standardize"])
    for v in range(3):
        assert np.all(out.dense_view(v)[~out.mask[:, v]] == 0)


def test_per_sample_scheme_makes_exactly_that_share_incomplete():
    data = synthetic(n=400, dims=(6, 5))
    a = apply_setting(data, Setting.incomplete, seed=1, missing_rate=0.3, scheme=MissingScheme.per_sample)
    assert (~a.mask.all(axis=1)).sum() == 120 and a.mask.any(axis=1).all()
    # two views: an incomplete sample keeps exactly one, each view lost about equally often
    assert (a.mask.sum(axis=1) >= 1).all() and abs((~a.mask[:, 0]).sum() - 60) < 25
    b = apply_setting(data, Setting.incomplete, seed=1, missing_rate=0.3, scheme=MissingScheme.per_sample)
    np.testing.assert_array_equal(a.mask, b.mask)
    only_1 = apply_setting(
        data, Setting.incomplete, seed=1, missing_rate=0.5, missing_views=[1], scheme=MissingScheme.per_sample
    )
    assert only_1.mask[:, 0].all() and (~only_1.mask[:, 1]).sum() == 200
    assert np.all(only_1.dense_view(1)[~only_1.mask[:, 1]] == 0)


def test_per_sample_scheme_with_three_views_drops_one_view_of_each_chosen_sample():
    a = apply_setting(synthetic(n=300), Setting.incomplete, seed=0, missing_rate=0.5, scheme="per_sample")
    assert sorted(np.unique(a.mask.sum(axis=1))) == [2, 3] and (a.mask.sum(axis=1) == 2).sum() == 150


def test_dataset_views_chooses_and_orders_views():
    cfg = DatasetConfig(
        name="synthetic", source="synthetic", n_samples=50, view_dims=[6, 5, 4], n_clusters=4, views=[2, 0]
    )
    data = load_dataset(cfg, data_dir=None)
    full = synthetic(n=50)
    assert data.view_dims == [4, 6] and data.view_names == ["view_2", "view_0"] and data.mask.shape == (50, 2)
    np.testing.assert_array_equal(data.dense_view(0), full.dense_view(2))


@pytest.mark.parametrize(
    "views, message",
    [
        (
            [3],
            r"dataset.views names view 3, but synthetic dataset has views 0..2; choose indices from that range",
        ),
        ([-1], r"names view -1"),
        ([0, 0], r"dataset.views=\[0, 0\] names a view twice; name each view once"),
        ([], r"dataset.views=\[\] chooses no view"),
    ],
)
def test_dataset_views_out_of_range_is_one_sentence(views, message):
    cfg = DatasetConfig(
        name="synthetic", source="synthetic", n_samples=50, view_dims=[6, 5, 4], n_clusters=4, views=views
    )
    with pytest.raises(UserError, match=message):
        load_dataset(cfg, data_dir=None)
