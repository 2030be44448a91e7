import math

import numpy as np
import pytest
import torch
from torch import nn

from mmc_bench.config import DatasetConfig
from mmc_bench.data.build import apply_split, load_dataset
from mmc_bench.data.preprocess import preprocess_views
from mmc_bench.data.settings import apply_setting
from mmc_bench.errors import UserError
from mmc_bench.methods.baselines import KMeansMixed, KMeansMixedConfig, own_modality
from mmc_bench.methods.dm2c import DM2C, DM2CConfig, DM2CNetwork, critic_loss, cycle_term
from mmc_bench.run.engine import Trainer
from mmc_bench.run.runner import prepare_dataset
from mmc_bench.run.tracking import RunLog
from tests.conftest import compose_config


class Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, z):
        return z * self.factor


def fixed_linear(weights: list[float]) -> nn.Linear:
    layer = nn.Linear(len(weights), 1)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([weights]))
        layer.bias.zero_()
    return layer


def tiny_network(n_views=2) -> DM2CNetwork:
    cfg = DM2CConfig(autoencoder_layers=[4, 2], generator_layers=[2], critic_hidden=3)
    return DM2CNetwork(cfg, [5] * n_views)


def test_three_modalities_get_a_generator_pair_and_two_critics_each():
    net = tiny_network(3)
    assert net.others == [1, 2]
    assert (
        set(net.to_target)
        == set(net.from_target)
        == set(net.critic_target)
        == set(net.critic_other)
        == {"1", "2"}
    )


def test_cycle_term_hand_computed():
    net = tiny_network()
    net.to_target["1"], net.from_target["1"] = Scale(2.0), Scale(2.0)
    z = {0: torch.tensor([[1.0, 2.0]]), 1: torch.tensor([[-1.0, 0.0]])}
    t = {"net": net, "z": z}
    # round trips are 4 z: L1 = mean |3 z| = (3 + 6) / 2 for the target code, (3 + 0) / 2 for the other
    t["cycles"] = {1: (4 * z[0], 4 * z[1])}
    assert float(cycle_term(t)) == pytest.approx(4.5 + 1.5)
    t["cycles"] = {1: (z[0], z[1])}  # exact inverses: no cycle loss
    assert float(cycle_term(t)) == 0.0


def test_critic_loss_hand_computed():
    net = tiny_network()
    net.to_target["1"], net.from_target["1"] = Scale(1.0), Scale(-1.0)
    net.critic_target["1"], net.critic_other["1"] = fixed_linear([1.0, 0.0]), fixed_linear([0.0, 1.0])
    z_target = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # column means 2, 3
    z_other = torch.tensor([[0.0, 1.0], [2.0, -3.0], [1.0, 5.0]])  # column means 1, 1
    # target space: D(G_to(z_other)) - D(z_target) = 1 - 2; other space: D(-z_target) - D(z_other) = -3 - 1
    with torch.no_grad():
        value = float(critic_loss(net, {0: z_target, 1: z_other}))
    assert value == pytest.approx((1 - 2) + (-3 - 1))


def mixed_data(n=150, dims=(12, 9), seed=0, noise=0.5):
    cfg = DatasetConfig(
        name="synthetic", source="synthetic", n_samples=n, view_dims=list(dims), n_clusters=3, noise=noise
    )
    data = apply_split(load_dataset(cfg, None), "stratified", 2 / 3, seed)
    return apply_setting(data, "mixed", seed)


FAST = dict(
    autoencoder_layers=[16, 8],
    generator_layers=[8],
    critic_hidden=8,
    pretrain_epochs=5,
    pretrain_lr=[1e-3],
    epochs=6,
    batch_size=32,
    critic_every=2,
    kmeans_n_init=3,
)


def fit(data, **overrides):
    method = DM2C.from_config(DM2CConfig(**{**FAST, **overrides}))
    log = RunLog()
    loss = method.fit_dataset(data.train_part(), Trainer(log)).final_loss
    return method, loss, log


def test_run_maps_every_sample_and_predicts_test_samples():
    data = mixed_data()
    method, loss, log = fit(data)
    assert math.isfinite(loss)
    history = log.history()
    assert {"reconstruction", "cycle", "cycle_reconstruction", "adversarial", "critic"} <= set(
        history.columns
    )
    prediction = method.predict_dataset(data)
    assert prediction.embedding.shape == (150, 8) and set(prediction.labels) <= {0, 1, 2}


def test_weight_clipping_holds_after_every_critic_step():
    checked = []

    class Checked(DM2C):
        def _critic_step(self, x):
            loss = super()._critic_step(x)
            values = torch.cat([p.detach().flatten() for p in self.net.critic_parameters()])
            bound = torch.tensor(0.05)  # the clamp's float32 value
            checked.append(((values.abs() <= bound).all().item(), (values.abs() == bound).any().item()))
            return loss

    method = Checked.from_config(DM2CConfig(**{**FAST, "lr_critic": 0.5}))
    method.fit_dataset(mixed_data().train_part(), Trainer(RunLog()))
    assert len(checked) >= 6
    assert all(inside for inside, _ in checked)
    assert all(at_bound for _, at_bound in checked)  # the large rate pushes weights out: the clamp acted


def test_no_test_sample_influences_the_fitted_model():
    """Two datasets that differ only in their test samples give the same PCA, networks and k-means."""
    data = mixed_data()
    test = ~data.is_train
    changed_views = []
    for v, view in enumerate(data.views):
        view = view.copy()
        rows = test & data.mask[:, v]
        view[rows] = np.random.default_rng(v).normal(size=(rows.sum(), view.shape[1])) * 10
        changed_views.append(view)
    fitted = []
    for views in (data.views, changed_views):
        prepared = preprocess_views(data.with_views(views), ["pca:6"])
        method, _, _ = fit(prepared)
        fitted.append((method, prepared))
    (first, a), (second, b) = fitted
    for key, value in first.net.state_dict().items():
        assert torch.equal(value, second.net.state_dict()[key]), key
    np.testing.assert_array_equal(first.kmeans.cluster_centers_, second.kmeans.cluster_centers_)
    train = data.is_train
    np.testing.assert_array_equal(
        first.predict_dataset(a).labels[train], second.predict_dataset(b).labels[train]
    )


def test_three_modalities_run():
    data = mixed_data(dims=(12, 9, 7))
    assert (data.mask.sum(axis=1) == 1).all() and data.mask.any(axis=0).all()
    method, loss, _ = fit(data, target_modality=1)
    assert math.isfinite(loss) and method.predict_dataset(data).embedding.shape == (150, 8)


def test_ablation_switches():
    data = mixed_data()
    before, loss, log = fit(data, epochs=0)  # k-means on the pre-trained codes, before adversarial training
    assert loss is None and set(log.history().phase) == {"pretrain"}
    own_space, _, _ = fit(data, unify=False)
    unified, _, _ = fit(data, unify=True)
    assert not np.allclose(own_space.predict_dataset(data).embedding, unified.predict_dataset(data).embedding)
    target_rows = data.mask[:, 0]
    np.testing.assert_allclose(  # target-modality samples are embedded the same way either way
        own_space.predict_dataset(data).embedding[target_rows],
        unified.predict_dataset(data).embedding[target_rows],
        rtol=1e-6,
    )


def test_bad_configuration_is_refused():
    data = mixed_data()
    with pytest.raises(UserError, match="target_modality=2"):
        fit(data, target_modality=2)
    with pytest.raises(UserError, match="pretrain_lr has 3 entries"):
        fit(data, pretrain_lr=[1e-3, 1e-3, 1e-3])
    paired = load_dataset(
        DatasetConfig(name="synthetic", source="synthetic", n_samples=30, view_dims=[4, 4], n_clusters=3),
        None,
    )
    with pytest.raises(UserError, match="setting=mixed"):
        fit(paired)


def test_kmeans_mixed_uses_each_samples_own_modality():
    data = preprocess_views(mixed_data(), ["pca:5"])
    features = own_modality(data)
    kept = data.mask.argmax(axis=1)
    for v in range(2):
        np.testing.assert_array_equal(features[kept == v], data.views[v][kept == v])
    method = KMeansMixed.from_config(KMeansMixedConfig())
    method.fit_dataset(data.train_part(), Trainer(RunLog()))
    assert method.predict_dataset(data).labels.shape == (150,)
    with pytest.raises(UserError, match=r"dataset.preprocess=\[pca:D\]"):
        KMeansMixed.from_config(KMeansMixedConfig()).fit_dataset(mixed_data(), Trainer(RunLog()))


def test_dm2c_declares_a_split_for_data_without_a_published_one():
    mixed = prepare_dataset(compose_config("dataset=synthetic", "method=dm2c", "setting=mixed", "seed=3"))
    assert mixed.has_split and mixed.is_train.mean() == pytest.approx(2 / 3, abs=0.01)
    assert not prepare_dataset(compose_config("dataset=synthetic")).has_split


def test_layer_order_follows_the_code():
    net = tiny_network()
    ae = net.autoencoders[0]
    assert [type(m).__name__ for m in ae.encoder] == ["Linear", "LeakyReLU", "BatchNorm1d", "Linear"]
    assert [type(m).__name__ for m in ae.decoder] == [
        "Linear",
        "BatchNorm1d",
        "LeakyReLU",
        "Linear",
        "LeakyReLU",
    ]
    paper_order = DM2CNetwork(DM2CConfig(autoencoder_layers=[4, 2], bn_before_activation=True), [5, 5])
    assert [type(m).__name__ for m in paper_order.autoencoders[0].encoder][1:3] == [
        "BatchNorm1d",
        "LeakyReLU",
    ]
