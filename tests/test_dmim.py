import math

import numpy as np
import pytest
import torch

from mmc_bench.config import DatasetConfig
from mmc_bench.data.build import load_dataset
from mmc_bench.methods.dmim import DMIM, DMIMConfig, DMIMNetwork, dmim_loss
from mmc_bench.nn.information import iic_loss, sinkhorn_labels
from mmc_bench.run.engine import Trainer
from mmc_bench.run.tracking import RunLog


def test_iic_hand_computed_joint():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    b = torch.tensor([[0.8, 0.2], [0.2, 0.8]], dtype=torch.float64)
    # P = a^T b = [[.8, .2], [.2, .8]] -> normalised [[.4, .1], [.1, .4]], marginals .5
    mi = 2 * 0.4 * math.log(0.4 / 0.25) + 2 * 0.1 * math.log(0.1 / 0.25)
    assert float(iic_loss(a, b)) == pytest.approx(-mi, rel=1e-12)


def test_iic_is_maximal_for_identical_one_hot_and_zero_for_independent():
    one_hot = torch.eye(3, dtype=torch.float64).repeat(4, 1)
    assert float(iic_loss(one_hot, one_hot)) == pytest.approx(-math.log(3), rel=1e-9)
    uniform = torch.full((12, 3), 1 / 3, dtype=torch.float64)
    assert float(iic_loss(one_hot, uniform)) == pytest.approx(0.0, abs=1e-12)
    # any other pair of assignments carries less information than identical balanced one-hot ones
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        x, y = (torch.softmax(torch.randn(12, 3, generator=g, dtype=torch.float64), 1) for _ in range(2))
        assert float(iic_loss(x, y)) > -math.log(3)


def test_iic_has_no_nan_with_empty_clusters():
    a = torch.tensor([[1.0, 0.0, 0.0]] * 5, requires_grad=True)  # clusters 1 and 2 empty
    loss = iic_loss(a, a)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(a.grad).all()


def test_sinkhorn_labels_are_balanced_on_skewed_input():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(300, 3, generator=g) * 0.3
    logits[:, 0] += 2.0  # nearly every sample prefers cluster 0
    probs = torch.softmax(logits, dim=1)
    assert np.bincount(probs.argmax(1).numpy(), minlength=3)[0] > 250
    counts = np.bincount(sinkhorn_labels(probs).numpy(), minlength=3)
    assert counts.min() >= 80 and counts.max() <= 120


@pytest.mark.parametrize("kl_mode", ["softmax_sample", "gaussian_analytic"])
def test_both_kl_modes_give_finite_gradients(kl_mode):
    torch.manual_seed(0)
    cfg = DMIMConfig(input_dim=8, trunk_layers=[8, 8], latent_dim=8, kl_mode=kl_mode)
    net = DMIMNetwork(cfg, n_clusters=3)
    views = [net(torch.randn(16, 8)) for _ in range(2)]
    total, terms = dmim_loss(cfg)(
        {"views": views, "noise": torch.randn(16, 8), "pseudo_labels": torch.zeros(16, dtype=torch.long)}
    )
    total.backward()
    assert terms["sie"] > 0
    assert all(torch.isfinite(p.grad).all() for p in net.parameters() if p.grad is not None)


@pytest.mark.parametrize(
    "switches, removed",
    [
        ({"overcluster_factor": 0}, {"mi_overcluster"}),
        ({"sie": False}, {"sie"}),
        ({"overcluster_factor": 0, "sie": False}, {"mi_overcluster", "sie"}),
        ({"uniform_prior": False}, {"prior"}),
    ],
)
def test_ablation_switches_remove_their_terms(switches, removed):
    full = set(dmim_loss(DMIMConfig()).names)
    assert full == {"mi_cluster", "mi_overcluster", "sie", "prior"}
    assert set(dmim_loss(DMIMConfig(**switches)).names) == full - removed
    assert (DMIMNetwork(DMIMConfig(**switches), 3).overcluster is None) == ("mi_overcluster" in removed)


def synthetic(n_views=3, n=150, dims=(12, 9, 6)):
    cfg = DatasetConfig(
        name="synthetic", source="synthetic", n_samples=n, view_dims=list(dims[:n_views]), n_clusters=3
    )
    return load_dataset(cfg, None)


FAST = dict(input_dim=8, epochs=40)


def test_three_view_run_uses_every_pair_and_clusters():
    data = synthetic()
    log = RunLog()
    method = DMIM.from_config(DMIMConfig(**FAST))
    loss = method.fit_dataset(data, Trainer(log)).final_loss
    history = log.history()
    assert math.isfinite(loss)
    # three views: three pairs, each pair's -MI bounded by -log K for the cluster head
    assert history["mi_cluster"].iloc[-1] < history["mi_cluster"].iloc[0]
    assert history["mi_cluster"].iloc[-1] >= -3 * math.log(3) - 1e-6
    prediction = method.predict_dataset(data)
    assert prediction.soft.shape == (150, 3) and prediction.embedding.shape == (150, 8)


def test_views_with_fewer_dims_than_input_dim_are_padded():
    data = synthetic(n_views=2, dims=(20, 5))
    method = DMIM.from_config(DMIMConfig(input_dim=10, epochs=2))
    method.fit_dataset(data, Trainer(RunLog()))
    views = [method._project(data, v) for v in range(2)]
    assert [v.shape[1] for v in views] == [10, 5]  # kept at their own size, padded batch by batch
    padded = method._padded(views[1])
    assert padded.shape[1] == 10 and torch.all(padded[:, 5:] == 0) and torch.equal(padded[:, :5], views[1])


def test_minibatch_mode_runs():
    method = DMIM.from_config(DMIMConfig(**{**FAST, "epochs": 3, "batch_size": 50}))
    log = RunLog()
    method.fit_dataset(synthetic(), Trainer(log))
    assert len(log.history()) == 3


def test_full_batch_above_the_limit_becomes_mini_batches_of_the_large_data_size():
    def final_loss(**cfg):
        return (
            DMIM.from_config(DMIMConfig(**{**FAST, "epochs": 3, **cfg}))
            .fit_dataset(synthetic(), Trainer(RunLog()))
            .final_loss
        )

    assert final_loss(full_batch_limit=50, large_data_batch_size=40) == final_loss(batch_size=40)
    assert final_loss(full_batch_limit=50, large_data_batch_size=40) != final_loss()
    assert final_loss(full_batch_limit=500, large_data_batch_size=40) == final_loss()  # n = 120: full batch


@pytest.mark.parametrize("mini_batch", [False, True])
def test_pseudo_labels_full_data_every_few_steps_or_per_batch(monkeypatch, mini_batch):
    """Full batch: all n labels refreshed every sinkhorn_every steps (the demo). Mini-batch: never over all n
    (that is O(n^2 / batch) per epoch); each step balances its own batch's labels instead."""
    refreshes, step_labels = [], []
    refresh, labels = DMIM._refresh_pseudo_labels, DMIM._batch_labels
    monkeypatch.setattr(
        DMIM, "_refresh_pseudo_labels", lambda self, x: (refreshes.append(len(x)), refresh(self, x))
    )
    monkeypatch.setattr(
        DMIM, "_batch_labels", lambda self, out: step_labels.append(labels(self, out)) or step_labels[-1]
    )
    cfg = {**FAST, "epochs": 6, "sinkhorn_every": 2, **({"batch_size": 50} if mini_batch else {})}
    DMIM.from_config(DMIMConfig(**cfg)).fit_dataset(synthetic(), Trainer(RunLog()))
    if mini_batch:
        assert refreshes == [] and len(step_labels) == 6 * 3 + 3  # 18 steps, then 3 evaluation batches
        assert all(np.bincount(y.numpy(), minlength=3).min() >= 10 for y in step_labels)
    else:
        assert refreshes == [150] * 3 and step_labels == []
