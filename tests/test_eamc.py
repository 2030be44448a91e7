import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import mmc_bench.run.app  # noqa: F401
from mmc_bench.config import DatasetConfig
from mmc_bench.data.build import load_dataset
from mmc_bench.errors import TrainingDiverged
from mmc_bench.methods.eamc import EAMC, EAMCConfig, EAMCNetwork, generator_loss
from mmc_bench.nn.kernels import cs_divergence, ddc_orthogonality, ddc_simplex, gaussian_kernel
from mmc_bench.run.engine import Trainer, stop_if_diverged
from mmc_bench.run.runner import run_experiment
from mmc_bench.run.tracking import RunLog
from tests.conftest import compose_config


def test_cs_divergence_equals_double_loop():
    g = torch.Generator().manual_seed(0)
    a = torch.softmax(torch.randn(7, 4, generator=g), dim=1).double()
    x = torch.randn(7, 3, generator=g).double()
    kernel = gaussian_kernel(x)
    k = a.shape[1]
    total = 0.0
    for i in range(k):
        for j in range(i + 1, k):
            num = float(a[:, i] @ kernel @ a[:, j])
            den = math.sqrt(float(a[:, i] @ kernel @ a[:, i]) * float(a[:, j] @ kernel @ a[:, j]))
            total += num / den
    assert float(cs_divergence(a, kernel)) == pytest.approx(total * 2 / (k * (k - 1)), rel=1e-10)


def test_orthogonality_and_simplex_terms_hand_cases():
    one_hot = torch.eye(3).repeat(2, 1).double()  # six samples, perfectly separated
    assert float(ddc_orthogonality(one_hot)) == 0.0
    uniform = torch.full((4, 2), 0.5).double()
    # A^T A = [[1, 1], [1, 1]] -> mean off-diagonal 1
    assert float(ddc_orthogonality(uniform)) == pytest.approx(1.0)
    # one-hot rows: M = exp(-||a - e||^2) is 1 at its own corner and e^-2 elsewhere
    kernel = torch.eye(6).double()
    m = torch.where(one_hot > 0, 1.0, math.exp(-2)).double()
    expected = float(cs_divergence(m, kernel))
    assert float(ddc_simplex(one_hot, kernel)) == pytest.approx(expected)


def test_kernel_bandwidth_is_fraction_of_median_squared_distance():
    x = torch.tensor([[0.0], [1.0], [3.0]]).double()
    d2 = torch.tensor([[0, 1, 9], [1, 0, 4], [9, 4, 0]]).double()
    sigma2 = 0.15 * d2.median()  # torch's lower median of the 9 entries = 1
    np.testing.assert_allclose(gaussian_kernel(x, 0.15).numpy(), torch.exp(-d2 / (2 * sigma2)).numpy())


def net(n_views=3, **kw):
    torch.manual_seed(0)
    return EAMCNetwork(EAMCConfig(**kw), [6] * n_views, n_clusters=4)


def test_attention_weights_are_positive_and_sum_to_one():
    out = net()([torch.randn(10, 6) for _ in range(3)])
    w = out["weights"].detach()
    assert w.shape == (3,) and bool((w > 0).all())
    assert float(w.sum()) == pytest.approx(1.0, abs=1e-6)
    assert out["assignments"].shape == (10, 4)


def test_attention_off_gives_equal_weights():
    out = net(attention=False)([torch.randn(10, 6) for _ in range(3)])
    np.testing.assert_allclose(out["weights"].numpy(), [1 / 3] * 3)


def test_three_views_build_two_discriminators():
    assert len(net(n_views=3).discriminators) == 2
    assert len(net(n_views=3, adversarial=False).discriminators) == 0


@pytest.mark.parametrize(
    "switch, removed",
    [
        ("adversarial", {"gen"}),
        ("attention", {"att"}),
        ("ddc1", {"ddc1"}),
        ("ddc2", {"ddc2"}),
        ("ddc3", {"ddc3"}),
    ],
)
def test_each_ablation_switch_removes_exactly_its_term(switch, removed):
    full = set(generator_loss(EAMCConfig()).names)
    assert full == {"ddc1", "ddc2", "ddc3", "att", "gen"}
    assert set(generator_loss(EAMCConfig(**{switch: False})).names) == full - removed


def synthetic(n_views=3, n=120):
    cfg = DatasetConfig(
        name="synthetic", source="synthetic", n_samples=n, view_dims=[8] * n_views, n_clusters=3
    )
    return load_dataset(cfg, None)


FAST = dict(epochs=8, batch_size=40, lr_encoder=1e-3, lr_clustering=1e-3, encoder_layers=[32, 32])


def fit(data, seed=0, **kw):
    method = EAMC.from_config(EAMCConfig(**{**FAST, **kw}), random_state=seed)
    loss = method.fit_dataset(data, Trainer(RunLog())).final_loss
    return method, loss


def test_short_run_on_three_views_lowers_the_clustering_loss():
    data = synthetic()
    method, _ = fit(data, epochs=0)
    views = data.view_tensors("cpu")
    before = method.evaluate_loss(views)
    method, _ = fit(data, epochs=30)
    after = method.evaluate_loss(views)
    clustering = lambda t: t["ddc1"] + t["ddc2"] + t["ddc3"]  # noqa: E731
    assert clustering(after) < clustering(before) - 0.05


def test_prediction_does_not_depend_on_the_evaluation_chunk():
    data = synthetic(n=120)
    method, _ = fit(data)
    whole = method.predict_dataset(data)
    method.eval_chunk = 7  # 18 chunks, the last one short
    chunked = method.predict_dataset(data)
    np.testing.assert_array_equal(chunked.labels, whole.labels)
    np.testing.assert_allclose(chunked.soft, whole.soft, rtol=1e-5, atol=1e-6)


def test_predictions_of_two_halves_match_the_whole():
    data = synthetic(n=120)
    method, _ = fit(data)
    whole = method.predict_dataset(data).labels
    halves = np.concatenate(
        [
            method.predict_dataset(data.subset(np.arange(0, 60))).labels,
            method.predict_dataset(data.subset(np.arange(60, 120))).labels,
        ]
    )
    # weights are the mean over the data given; with the same weights the labels match sample by sample
    assert (whole == halves).mean() > 0.95


def test_history_logs_every_term_and_view_weights():
    log = RunLog()
    method = EAMC.from_config(EAMCConfig(**FAST, checkpoint="lowest_loss"))
    method.fit_dataset(synthetic(), Trainer(log))
    history = log.history()
    train = history[history["phase"] == "train"]
    for column in ("ddc1", "ddc2", "ddc3", "att", "gen", "disc", "w_view0", "w_view1", "w_view2"):
        assert column in train and train[column].notna().all(), column
    assert len(train) == FAST["epochs"]
    # the full-data loss is evaluated every eval_interval epochs and after the last one: epochs 0, 5 and 7
    assert history[history["phase"] == "eval"]["epoch"].tolist() == [0, 5, 7]


def test_checkpoint_is_the_lowest_evaluated_loss():
    log = RunLog()
    method = EAMC.from_config(EAMCConfig(**FAST, checkpoint="lowest_loss"))
    final = method.fit_dataset(synthetic(), Trainer(log)).final_loss
    evaluated = log.history().query("phase == 'eval'")
    assert final == pytest.approx(evaluated["total"].min(), rel=1e-5)
    assert method.summary()["selected_epoch"] == int(evaluated.loc[evaluated["total"].idxmin(), "epoch"])


def test_diverging_run_is_recorded_as_failed(tmp_path):
    cfg = compose_config(
        "dataset=synthetic",
        "method=eamc",
        "method.epochs=3",
        "method.lr_encoder=1e30",
        "method.clip_norm=1e30",
        "method.lr_clustering=1e30",
    )
    record = run_experiment(cfg, tmp_path)
    assert record["status"] == "failed"
    assert record["failed_epoch"] == 0 and "became nan" in record["error"]
    assert "acc" not in record


def test_the_engine_stops_on_non_finite_and_the_log_only_records():
    with pytest.raises(TrainingDiverged, match="train/total' became inf at epoch 4"):
        stop_if_diverged(4, "train", {"total": float("inf")})
    log = RunLog()
    log.epoch(4, {"total": float("inf")})
    assert log.rows == [{"phase": "train", "epoch": 4, "total": float("inf")}]


def test_conv_encoder_on_image_views():
    cfg = DatasetConfig(
        name="synthetic", source="synthetic", n_samples=40, view_dims=[784, 784], n_clusters=2
    )
    data = load_dataset(cfg, None)
    method, loss = fit(
        data, epochs=1, batch_size=20, encoder="conv", image_shape=[1, 28, 28], encoder_layers=[64]
    )
    assert math.isfinite(loss)
    assert method.predict_dataset(data).embedding.shape == (40, 64)


def test_conv_encoder_needs_a_matching_image_shape():
    from mmc_bench.errors import UserError

    with pytest.raises(UserError, match=r"method.image_shape=\[C,H,W\] with C\*H\*W equal to the view dim 8"):
        fit(synthetic(), encoder="conv", image_shape=[1, 28, 28])


def test_embedding_is_left_out_above_the_size_limit(monkeypatch):
    data = synthetic(n=120)
    method, _ = fit(data, epochs=1)
    kept = method.predict_dataset(data)
    assert kept.embedding.shape == (120, FAST["encoder_layers"][-1])
    monkeypatch.setattr("mmc_bench.methods.base.EMBEDDING_MAX_VALUES", 120 * 32 - 1)
    left_out = method.predict_dataset(data)
    assert left_out.embedding is None
    np.testing.assert_array_equal(left_out.soft, kept.soft)


def test_reference_bce_saturates_where_the_logit_form_does_not():
    from mmc_bench.methods.eamc import DiscriminatorLoss, binary_cross_entropy

    moderate = torch.tensor([[-2.0], [0.5], [3.0]])
    reference = binary_cross_entropy(moderate, 1.0, DiscriminatorLoss.reference)
    stable = binary_cross_entropy(moderate, 1.0, DiscriminatorLoss.logits)
    torch.testing.assert_close(reference, stable)  # the same loss where sigmoid does not round to 0
    expected = -torch.log(torch.sigmoid(moderate)).mean()
    torch.testing.assert_close(stable, expected)

    # A discriminator that has won: D(h_v) = sigmoid(-200) rounds to 0 in float32.
    won = torch.tensor([[-200.0]], requires_grad=True)
    saturated = binary_cross_entropy(won, 1.0, DiscriminatorLoss.reference)
    assert saturated.item() == 100.0  # log clamped at -100
    saturated.backward()
    assert won.grad.item() == 0.0  # no push left on the encoders
    won.grad = None
    unsaturated = binary_cross_entropy(won, 1.0, DiscriminatorLoss.logits)
    assert unsaturated.item() == pytest.approx(200.0)
    unsaturated.backward()
    assert won.grad.item() == pytest.approx(-1.0)


@pytest.mark.parametrize("target", [0.0, 1.0])
def test_saturating_bce_is_torchs_binary_cross_entropy_and_keeps_nan(target):
    from mmc_bench.nn.losses import SaturatingBCE

    logits = torch.tensor([-200.0, -40.0, -27.0, -3.0, 0.0, 2.5, 16.0, 40.0, 200.0])
    ours, theirs = (logits.clone().requires_grad_() for _ in range(2))
    targets = torch.full_like(logits, target)
    mine = SaturatingBCE.apply(torch.sigmoid(ours), targets)
    torchs = F.binary_cross_entropy(torch.sigmoid(theirs), targets)
    mine.backward()
    torchs.backward()
    torch.testing.assert_close(mine, torchs)
    torch.testing.assert_close(ours.grad, theirs.grad)
    nan = SaturatingBCE.apply(torch.sigmoid(torch.tensor([float("nan"), 1.0])), torch.ones(2))
    assert math.isnan(nan.item())  # a diverged discriminator is a diverged run, not a range error
