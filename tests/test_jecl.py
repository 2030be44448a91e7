import math

import numpy as np
import pytest
import torch

from mmc_bench.config import DatasetConfig
from mmc_bench.data.build import load_dataset
from mmc_bench.data.settings import apply_setting
from mmc_bench.errors import UserError
from mmc_bench.methods.dec import DEC, DECConfig
from mmc_bench.methods.jecl import JECL, JECLConfig
from mmc_bench.metrics import clustering_accuracy
from mmc_bench.nn.dec import jensen_shannon_rows, student_t_assignment, target_distribution
from mmc_bench.run.engine import Trainer
from mmc_bench.run.tracking import RunLog


def test_student_t_assignment_hand_computed():
    z = torch.tensor([[0.0, 0.0]])
    centroids = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    # alpha = 1: (1 + d^2)^-1 = 1/2 and 1/5, normalised
    assert student_t_assignment(z, centroids).tolist()[0] == pytest.approx([5 / 7, 2 / 7], rel=1e-6)
    # alpha = 3: (1 + d^2/3)^-2 = (3/4)^2 and (3/7)^2
    a, b = (3 / 4) ** 2, (3 / 7) ** 2
    assert student_t_assignment(z, centroids, alpha=3.0).tolist()[0] == pytest.approx(
        [a / (a + b), b / (a + b)], rel=1e-6
    )


def test_target_distribution_hand_computed():
    q = torch.tensor([[0.6, 0.4], [0.2, 0.8]], dtype=torch.float64)
    # column sums 0.8 and 1.2; row 0: (.36/.8, .16/1.2) = (.45, .1333); row 1: (.05, .5333)
    expected = [
        [0.45 / (0.45 + 0.16 / 1.2), (0.16 / 1.2) / (0.45 + 0.16 / 1.2)],
        [0.05 / (0.05 + 0.64 / 1.2), 0],
    ]
    expected[1][1] = 1 - expected[1][0]
    assert target_distribution(q).tolist() == [pytest.approx(row, rel=1e-12) for row in expected]


def test_jensen_shannon_is_symmetric_zero_on_equal_and_finite_on_one_hot():
    g = torch.Generator().manual_seed(0)
    q, r = (torch.softmax(torch.randn(6, 4, generator=g), dim=1) for _ in range(2))
    assert torch.allclose(jensen_shannon_rows(q, r), jensen_shannon_rows(r, q))
    assert torch.allclose(jensen_shannon_rows(q, q), torch.zeros(6), atol=1e-7)
    one_hot_a, one_hot_b = torch.eye(4)[[0, 1]], torch.eye(4)[[1, 1]]
    values = jensen_shannon_rows(one_hot_a, one_hot_b)
    assert torch.isfinite(values).all()
    assert values.tolist() == pytest.approx([math.log(2), 0.0], abs=1e-6)  # disjoint supports: log 2


def dataset(n=120, dims=(10, 8), noise=0.5):
    cfg = DatasetConfig(
        name="synthetic", source="synthetic", n_samples=n, view_dims=list(dims), n_clusters=3, noise=noise
    )
    return load_dataset(cfg, None)


FAST = dict(
    encoder_layers=[32, 8],
    pretrain_epochs=8,
    pretrain_batch_size=32,
    batch_size=32,
    update_interval=10,
    max_iter=100,
    kmeans_n_init=3,
)


def fit(method_cls, config_cls, data, log=None, checkpoint=None, **overrides):
    method = method_cls.from_config(config_cls(**{**FAST, **overrides}))
    ctx = Trainer(log or RunLog())
    if checkpoint is not None:
        ctx.checkpoint = checkpoint
    return method, method.fit_dataset(data, ctx).final_loss


def test_initial_alignment_recovers_a_known_permutation_of_centroids():
    method = JECL.from_config(JECLConfig(**FAST))
    method.device_, method.n_clusters = torch.device("cpu"), 3
    method.centroids = torch.nn.Parameter(torch.arange(12.0).reshape(2, 3, 2))
    original = method.centroids[1].detach().clone()
    view0 = np.array([0, 0, 1, 1, 2, 2, 2])
    view1 = np.array([2, 2, 0, 0, 1, 1, 0])  # view 1's cluster 2 is view 0's cluster 0, 0 -> 1, 1 -> 2
    method._align_initial([view0, view1], torch.ones(7, 2, dtype=torch.bool))
    assert torch.equal(method.centroids[1], original[[2, 0, 1]])
    assert torch.equal(method.centroids[0], torch.arange(6.0).reshape(3, 2))


def test_jecl_clusters_and_its_views_agree():
    data = dataset()
    log = RunLog()
    method, loss = fit(JECL, JECLConfig, data, log)
    assert math.isfinite(loss)
    history = log.history()
    assert set(history.phase) == {"pretrain", "cluster"}
    assert {"cluster", "align", "balance"} <= set(history.columns)
    prediction = method.predict_dataset(data)
    assert clustering_accuracy(data.labels, prediction.labels) > 0.9
    inputs, _ = method._inputs(data)
    q0, q1 = method._assignments(inputs)
    assert (q0.argmax(1) == q1.argmax(1)).float().mean() > 0.9  # aligned clusters, without labels


@pytest.mark.parametrize(
    "switches, removed",
    [
        ({"alignment": False}, {"align"}),
        ({"regularizer": False}, {"balance"}),
        ({"alignment": False, "regularizer": False}, {"align", "balance"}),
    ],
)
def test_ablation_switches_remove_their_terms(switches, removed):
    method = JECL.from_config(JECLConfig(**switches))
    assert set(method._loss(2).names) == {"cluster", "align", "balance"} - removed


def test_view_weights_are_validated():
    with pytest.raises(UserError, match="view_weights"):
        JECL.from_config(JECLConfig(view_weights=[0.7, 0.7]))._stack_weights(2)
    assert JECL.from_config(JECLConfig(view_weights=[0.25, 0.75]))._stack_weights(2).tolist() == [0.25, 0.75]


def test_missing_views_give_no_nan_and_absent_values_are_never_read():
    data = apply_setting(dataset(), "incomplete", seed=3, missing_rate=0.5, missing_views=[1])
    absent = ~data.mask[:, 1]
    assert 30 < absent.sum() < 90 and data.mask[:, 0].all()
    method, loss = fit(JECL, JECLConfig, data, RunLog())  # RunLog refuses any non-finite scalar
    prediction = method.predict_dataset(data)
    assert math.isfinite(loss) and np.isfinite(prediction.soft).all()
    # p of a sample without view 1 is lambda_0 f(q_0) alone, not renormalised: its rows sum to 1/2
    np.testing.assert_allclose(prediction.soft[absent].sum(axis=1), 0.5, rtol=1e-5)
    # garbage in the absent entries changes nothing: a missing view contributes nothing
    noisy = data.views[1].copy()
    noisy[absent] = np.random.default_rng(0).normal(size=(absent.sum(), noisy.shape[1])) * 100
    other, other_loss = fit(JECL, JECLConfig, data.with_views([data.views[0], noisy]), RunLog())
    assert other_loss == loss
    np.testing.assert_array_equal(other.predict_dataset(data).labels, prediction.labels)


def test_dec_on_concatenated_views_clusters():
    data = dataset()
    method, loss = fit(DEC, DECConfig, data)
    assert math.isfinite(loss) and len(method.autoencoders) == 1
    assert method.autoencoders[0].encoder[0].in_features == 18
    assert clustering_accuracy(data.labels, method.predict_dataset(data).labels) > 0.9


def test_stops_when_labels_stop_changing_or_at_max_iter():
    data = dataset()
    method, _ = fit(DEC, DECConfig, data, max_iter=5000, tol=0.01)
    assert method.state["iteration"] < 5000 and method.state["label_change"] < 0.01
    assert method.state["iteration"] % 10 == 0  # it stops at a target refresh
    never, _ = fit(DEC, DECConfig, data, max_iter=45, tol=0.0)
    assert never.state["iteration"] == 45  # 4 full rounds of 10 and a last one of 5
