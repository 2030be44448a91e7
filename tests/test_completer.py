"""COMPLETER: the cross-view contrastive and dual-prediction terms on hand-made cases, training on the
complete pairs only, the recovery of a missing view's code, the warm-up, and the two-view refusal."""

import math
from dataclasses import replace

import numpy as np
import pytest
import torch

from mmc_bench.config import DatasetConfig
from mmc_bench.data.build import load_dataset
from mmc_bench.data.dataset import zero_absent
from mmc_bench.errors import UserError
from mmc_bench.methods.completer import COMPLETER, _prediction, crossview_contrastive, joint_distribution
from mmc_bench.run.engine import Trainer
from mmc_bench.run.tracking import RunLog

TINY = dict(encoder_layers=(16, 4), prediction_layers=(8,), batch_size=32, kmeans_n_init=2)


def test_joint_distribution_is_symmetric_and_sums_to_one():
    g = torch.Generator().manual_seed(0)
    z1, z2 = (torch.softmax(torch.randn(5, 3, generator=g), dim=1).double() for _ in range(2))
    joint = joint_distribution(z1, z2)
    assert torch.allclose(joint, joint.T) and float(joint.sum()) == pytest.approx(1.0)
    expected = (z1.T @ z2 + z2.T @ z1) / 2
    assert torch.allclose(joint, expected / expected.sum())


def test_contrastive_loss_hand_cases():
    # Identical one-hot codes over two units: P = diag(1/2, 1/2), I = log 2, each marginal entropy log 2:
    # loss = -(I + alpha (H1 + H2)) = -(1 + 2 alpha) log 2 (the zero entries floored at machine epsilon).
    codes = torch.eye(2).double()
    assert float(crossview_contrastive(codes, codes, alpha=9.0)) == pytest.approx(
        -19 * math.log(2), abs=1e-12
    )
    assert float(crossview_contrastive(codes, codes, alpha=0.0)) == pytest.approx(-math.log(2), abs=1e-12)
    # Independent codes (every sample uniform): I = 0, both entropies log 2 -> -2 alpha log 2
    uniform = torch.full((4, 2), 0.5).double()
    assert float(crossview_contrastive(uniform, uniform, alpha=9.0)) == pytest.approx(-18 * math.log(2))


def test_dual_prediction_term_hand_case_and_its_gradients_reach_both_codes():
    z1 = torch.tensor([[1.0, 0.0]], requires_grad=True)
    z2 = torch.tensor([[0.0, 1.0]], requires_grad=True)
    predicted = [torch.tensor([[0.5, 0.5]]), torch.tensor([[1.0, 0.0]])]
    # mse([.5,.5], [0,1]) = .25 ; mse([1,0], [1,0]) = 0
    value = _prediction({"codes": [z1, z2], "predicted": predicted})
    assert float(value.detach()) == pytest.approx(0.25)
    value.backward()
    assert z2.grad is not None and z2.grad.abs().sum() > 0


def data(n=96, missing=None):
    cfg = DatasetConfig(name="synthetic", source="synthetic", n_samples=n, view_dims=[6, 5], n_clusters=3)
    d = load_dataset(cfg, None)
    if missing is not None:
        mask = np.ones((n, 2), bool)
        mask[missing] = False
        d = replace(d, mask=mask, views=[zero_absent(v, mask[:, i]) for i, v in enumerate(d.views)])
    return d


def test_training_reads_only_the_complete_pairs():
    incomplete = (np.arange(0, 96, 3), np.repeat([1], 32))  # every third sample lacks view 1
    base = data(missing=incomplete)
    changed = replace(base, views=[base.views[0].copy(), base.views[1]])
    changed.views[0][incomplete[0]] += 5.0  # the present view of the incomplete samples
    nets = []
    for d in (base, changed):
        method = COMPLETER(n_clusters=3, epochs=3, start_dual_prediction=1, random_state=0, **TINY)
        method.fit_dataset(d)
        nets.append(method.net.state_dict())
    for key in nets[0]:
        assert torch.equal(nets[0][key], nets[1][key]), key


def test_a_missing_views_code_is_predicted_from_the_present_one():
    d = data(missing=(np.array([0, 1]), np.array([1, 0])))  # sample 0 lacks view 1, sample 1 lacks view 0
    method = COMPLETER(n_clusters=3, epochs=2, start_dual_prediction=0, random_state=0, **TINY)
    method.fit_dataset(d)
    codes = method._codes(d.view_tensors("cpu"), torch.from_numpy(d.mask))
    net = method.net.eval()
    x0, x1 = (torch.from_numpy(v[:2]) for v in d.views)
    with torch.no_grad():
        own0, own1 = net.autoencoders[0].encoder(x0), net.autoencoders[1].encoder(x1)
        assert np.allclose(codes[0, 4:], net.predictors[0](own0)[0].numpy(), atol=1e-6)
        assert np.allclose(codes[1, :4], net.predictors[1](own1)[1].numpy(), atol=1e-6)
        assert np.allclose(codes[0, :4], own0[0].numpy(), atol=1e-6)
    assert codes.shape == (96, 8)


def test_dual_prediction_joins_at_its_start_epoch():
    log = RunLog()
    method = COMPLETER(n_clusters=3, epochs=4, start_dual_prediction=2, random_state=0, **TINY)
    method.fit_dataset(data(), Trainer(log))
    train = log.history().query("phase == 'train'").sort_values("epoch")
    assert train["prediction"].isna().tolist() == [True, True, False, False]
    assert np.isfinite(train["contrastive"]).all() and np.isfinite(train["reconstruction"]).all()


def test_more_than_two_views_is_refused_naming_dataset_views():
    cfg = DatasetConfig(name="synthetic", source="synthetic", n_samples=60, view_dims=[4, 4, 4], n_clusters=3)
    with pytest.raises(UserError, match=r"two views.*has 3.*dataset.views=\[i,j\]"):
        COMPLETER(n_clusters=3, epochs=1).fit_dataset(load_dataset(cfg, None))
