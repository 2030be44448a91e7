import math

import numpy as np
import pytest
import torch

from mmc_bench.config import DatasetConfig
from mmc_bench.data.build import load_dataset
from mmc_bench.methods.cmmc import CMMC, CMMCConfig, CMMCNetwork, contrastive_loss
from mmc_bench.metrics import clustering_accuracy
from mmc_bench.nn.contrastive import negative_entropy, nt_xent
from mmc_bench.nn.matching import align_to
from mmc_bench.run.engine import Trainer
from mmc_bench.run.tracking import RunLog


def nt_xent_by_loop(a: torch.Tensor, b: torch.Tensor, tau: float) -> float:
    """Direct definition: for each of the 2n anchors, -log(exp(s_pos) / sum over every row but itself)."""
    rows = torch.cat([a, b]).double()
    n = len(a)
    total = 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        sims = {j: float(rows[i] @ rows[j]) / tau for j in range(2 * n) if j != i}
        total -= sims[positive] - math.log(sum(math.exp(s) for s in sims.values()))
    return total / (2 * n)


def test_nt_xent_hand_computed_2x2():
    eye = torch.eye(2)
    # anchor e1: positive similarity 1/0.5 = 2, negatives e2 (0) and the other e2 (0)
    assert float(nt_xent(eye, eye, 0.5)) == pytest.approx(math.log(2 + math.exp(2)) - 2, rel=1e-6)


def test_nt_xent_uses_the_right_positives_and_negatives():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    assert float(nt_xent(a, b, 0.5)) == pytest.approx(nt_xent_by_loop(a, b, 0.5), rel=1e-5)
    # swapping which row of b pairs with which row of a changes the value: pairs are by index
    assert float(nt_xent(a, b.flip(0), 0.5)) != pytest.approx(float(nt_xent(a, b, 0.5)), rel=1e-3)


def test_cosine_nt_xent_ignores_row_scale():
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(4, 6, generator=g), torch.rand(4, 6, generator=g)
    scaled = a * torch.tensor([[3.0], [0.5], [1.0], [7.0]])
    assert float(nt_xent(scaled, b, 1.0, cosine=True)) == pytest.approx(
        float(nt_xent(a, b, 1.0, cosine=True)), rel=1e-6
    )
    unit_a, unit_b = (torch.nn.functional.normalize(x, dim=1) for x in (a, b))
    assert float(nt_xent(a, b, 1.0, cosine=True)) == pytest.approx(
        nt_xent_by_loop(unit_a, unit_b, 1.0), rel=1e-5
    )


def test_negative_entropy_is_zero_for_uniform_usage_and_log_k_for_one_cluster():
    uniform = torch.eye(4).repeat(3, 1)
    assert float(negative_entropy(uniform)) == pytest.approx(0.0, abs=1e-7)
    one_cluster = torch.zeros(12, 4)
    one_cluster[:, 2] = 1.0
    assert float(negative_entropy(one_cluster)) == pytest.approx(math.log(4), rel=1e-6)  # finite: no log(0)
    skewed = torch.softmax(torch.randn(12, 4, generator=torch.Generator().manual_seed(0)) * 3, dim=1)
    assert 0.0 < float(negative_entropy(skewed)) < math.log(4)


def test_align_to_recovers_a_permutation():
    reference = np.array([2, 2, 0, 0, 1, 1, 1])
    pseudo = np.array([0, 0, 1, 1, 2, 2, 0])  # cluster 0 -> 2, 1 -> 0, 2 -> 1 (one sample disagrees)
    perm = align_to(reference, pseudo, 3)
    assert perm.tolist() == [2, 0, 1]
    assert (perm[pseudo] == reference).sum() == 6


def test_heads_are_shared_and_depth_switch_changes_them():
    linear = CMMCNetwork(CMMCConfig(encoder_layers=[16, 8], feature_dim=4), [5, 7, 3], 3)
    assert len(linear.autoencoders) == 3 and len(linear.feature_head) == 1 and len(linear.label_head) == 1
    deep = CMMCNetwork(CMMCConfig(encoder_layers=[16, 8], feature_dim=4, head_depth="mlp"), [5, 7], 3)
    assert [m.out_features for m in deep.label_head if isinstance(m, torch.nn.Linear)] == [8, 3]
    out = deep([torch.randn(6, 5), torch.randn(6, 7)])
    assert torch.allclose(out[0]["h"].norm(dim=1), torch.ones(6))
    assert torch.allclose(out[1]["q"].sum(dim=1), torch.ones(6))


def test_contrastive_loss_sums_over_every_view_pair():
    torch.manual_seed(0)
    cfg = CMMCConfig(encoder_layers=[16, 8], feature_dim=4)
    net = CMMCNetwork(cfg, [5, 5, 5], 3)
    with torch.no_grad():
        out = net([torch.randn(10, 5) for _ in range(3)])
    _, terms = contrastive_loss(cfg)({"views": out})
    pairs = [(0, 1), (0, 2), (1, 2)]
    expected = sum(float(nt_xent(out[v]["h"], out[w]["h"], 0.5)) for v, w in pairs)
    assert float(terms["feature_contrastive"]) == pytest.approx(expected, rel=1e-6)
    assert float(terms["cluster_balance"]) == pytest.approx(
        2 * sum(float(negative_entropy(o["q"])) for o in out), rel=1e-6
    )


def synthetic(n_views=2, n=120, dims=(12, 9, 6, 8, 10), noise=0.5):
    cfg = DatasetConfig(
        name="synthetic",
        source="synthetic",
        n_samples=n,
        view_dims=list(dims[:n_views]),
        n_clusters=3,
        noise=noise,
    )
    return load_dataset(cfg, None)


FAST = dict(
    encoder_layers=[32, 16],
    feature_dim=8,
    batch_size=32,
    lr=1e-3,
    pretrain_epochs=6,
    contrastive_epochs=8,
    finetune_epochs=6,
    kmeans_n_init=3,
)


def fit(cfg: dict, data, log=None, checkpoint=None):
    method = CMMC.from_config(CMMCConfig(**cfg))
    ctx = Trainer(log or RunLog())
    if checkpoint is not None:
        ctx.checkpoint = checkpoint
    return method, method.fit_dataset(data, ctx).final_loss


def test_short_run_lowers_every_loss_term_and_clusters():
    data = synthetic()
    log = RunLog()
    method, loss = fit(FAST, data, log)
    history = log.history()
    assert list(history.groupby("phase", sort=False).size().items()) == [
        ("pretrain", 6),
        ("contrastive", 8),
        ("finetune", 6),
    ]

    def first_last(phase, term):
        values = history.loc[history.phase == phase, term]
        return values.iloc[0], values.iloc[-1]

    for phase, term in [
        ("pretrain", "mse"),
        ("contrastive", "feature_contrastive"),
        ("contrastive", "label_contrastive"),
        ("contrastive", "mse"),
        ("finetune", "pseudo_ce"),
    ]:
        first, last = first_last(phase, term)
        assert last < first, (phase, term)
    # the balance term starts near its minimum 0 (random heads use every cluster) and must stay there
    assert first_last("contrastive", "cluster_balance")[1] < 0.1
    assert math.isfinite(loss)
    prediction = method.predict_dataset(data)
    assert prediction.soft.shape == (120, 3) and prediction.embedding.shape == (120, 16)
    assert clustering_accuracy(data.labels, prediction.labels) > 0.9


def test_five_views_run():
    data = synthetic(n_views=5, n=60)
    method, loss = fit({**FAST, "pretrain_epochs": 1, "contrastive_epochs": 2, "finetune_epochs": 1}, data)
    assert math.isfinite(loss) and len(method.pseudo_labels) == 5
    assert method.predict_dataset(data).soft.shape == (60, 3)


def test_concat_pseudo_labels_are_shared_by_every_view():
    method, _ = fit(
        {
            **FAST,
            "pretrain_epochs": 1,
            "contrastive_epochs": 1,
            "finetune_epochs": 1,
            "pseudo_label": "concat",
        },
        synthetic(n_views=3, n=60),
    )
    assert all(np.array_equal(p, method.pseudo_labels[0]) for p in method.pseudo_labels)


def test_chunked_full_batch_finetune_step_equals_the_single_pass():
    data = synthetic(n=90)
    cfg = {**FAST, "pretrain_epochs": 2, "contrastive_epochs": 2, "finetune_epochs": 3}
    single, single_loss = fit(cfg, data)
    # 90 samples in chunks of 25 (the last one short): the same gradient, so the same trained network
    chunked, chunked_loss = fit({**cfg, "finetune_chunk": 25}, data)
    assert chunked_loss == pytest.approx(single_loss, rel=1e-5)
    for a, b in zip(single.net.parameters(), chunked.net.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_embedding_is_left_out_above_the_size_limit(monkeypatch):
    data = synthetic()
    method, _ = fit({**FAST, "pretrain_epochs": 1, "contrastive_epochs": 1, "finetune_epochs": 1}, data)
    kept = method.predict_dataset(data)
    assert kept.embedding.shape == (120, 2 * FAST["feature_dim"])
    monkeypatch.setattr("mmc_bench.methods.base.EMBEDDING_MAX_VALUES", 120 * 16 - 1)
    left_out = method.predict_dataset(data)
    assert left_out.embedding is None
    np.testing.assert_array_equal(left_out.soft, kept.soft)
