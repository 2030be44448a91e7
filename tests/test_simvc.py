"""SiMVC and CoMVC: DDC's sample-level term, the cluster-restricted contrastive term on hand-made cases,
fusion weights, the learning-rate steps, the lowest-loss state kept, and the refusals."""

import math

import pytest
import torch

from mmc_bench.config import DatasetConfig
from mmc_bench.data.build import load_dataset
from mmc_bench.errors import UserError
from mmc_bench.methods.schemas.simvc import CoMVCConfig, Fusion, SiMVCConfig
from mmc_bench.methods.simvc import (
    CoMVC,
    SiMVC,
    SiMVCNetwork,
    _contrast,
    cluster_contrastive,
    positive_pairs,
)
from mmc_bench.nn.contrastive import nt_xent
from mmc_bench.nn.kernels import ddc_sample_orthogonality
from mmc_bench.run.engine import Trainer
from mmc_bench.run.tracking import RunLog

# Two views of two samples: sample 0 is e1 in both views, sample 1 is e2; predicted clusters 0 and 1.
TWO_BY_TWO = [torch.eye(2).double(), torch.eye(2).double()]


def test_sample_orthogonality_hand_cases():
    assert float(ddc_sample_orthogonality(torch.eye(3).double())) == 0.0
    # every row (0.5, 0.5): each off-diagonal entry of A A^T is 0.5
    assert float(ddc_sample_orthogonality(torch.full((4, 2), 0.5).double())) == pytest.approx(0.5)
    a = torch.tensor([[1.0, 0.0], [0.6, 0.4], [0.0, 1.0]]).double()
    # off-diagonal (i<j): 0.6, 0, 0.4 -> mean 1/3
    assert float(ddc_sample_orthogonality(a)) == pytest.approx(1 / 3)


def test_positive_pairs_cover_every_ordered_view_pair():
    anchors, partners = positive_pairs(3, 2)
    assert len(anchors) == 3 * 2 * 2
    pairs = set(zip(anchors.tolist(), partners.tolist()))
    assert (0, 2) in pairs and (2, 0) in pairs and (5, 1) in pairs and (0, 1) not in pairs


def test_cluster_contrastive_hand_case():
    # Every anchor: positive cosine 1, its only allowed negatives (the other cluster) cosine 0; tau = 1:
    # -log(e / (e + e^0)) = log(1 + 1/e), whichever negative is drawn.
    value = cluster_contrastive(TWO_BY_TWO, torch.tensor([0, 1]), tau=1.0, negative_ratio=0.25)
    assert float(value) == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-12)
    # two negatives drawn per anchor (ratio 0.5 of V*n = 4): log(1 + 2/e)
    value = cluster_contrastive(TWO_BY_TWO, torch.tensor([0, 1]), tau=1.0, negative_ratio=0.5)
    assert float(value) == pytest.approx(math.log(1 + 2 * math.exp(-1)), rel=1e-12)
    # tau = 0.5 doubles the logits: log(1 + e^-2)
    value = cluster_contrastive(TWO_BY_TWO, torch.tensor([0, 1]), tau=0.5, negative_ratio=0.25)
    assert float(value) == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-12)


def test_negatives_never_share_the_anchors_cluster():
    # Samples 0 and 1 share cluster 0 and are identical; were sample 1 drawn as a negative of sample 0 the
    # loss would exceed log(1 + 1/e) (its cosine is 1, not 0).
    views = [torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]]).double()] * 2
    torch.manual_seed(0)
    value = cluster_contrastive(views, torch.tensor([0, 0, 1]), tau=1.0, negative_ratio=1.0)
    # sample 2's anchors draw samples 0/1 (cosine 0); samples 0/1 draw sample 2 (cosine 0): 6 negatives each
    assert float(value) == pytest.approx(math.log(1 + 6 * math.exp(-1)), rel=1e-12)


def test_one_predicted_cluster_gives_no_negatives_and_zero():
    assert float(cluster_contrastive(TWO_BY_TWO, torch.tensor([1, 1]), 0.1, 0.25)) == 0.0


def test_all_pairs_form_is_the_reference_sum_of_both_directions():
    # anchor e1: positive cosine 1, the other two rows cosine 0 -> log(1 + 2/e) per direction, summed
    value = cluster_contrastive(TWO_BY_TWO, torch.tensor([0, 1]), tau=1.0, negative_ratio=-1)
    assert float(value) == pytest.approx(2 * math.log(1 + 2 * math.exp(-1)), rel=1e-12)
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(5, 3, generator=g), torch.randn(5, 3, generator=g)
    value = cluster_contrastive([a, b], torch.zeros(5, dtype=torch.long), 0.1, -1)
    assert torch.allclose(value, 2 * nt_xent(a, b, 0.1, cosine=True))


def test_adaptive_weight_scales_by_the_smallest_fusion_weight():
    cfg = CoMVCConfig(tau=1.0, negative_ratio=0.25)
    t = {
        "config": cfg,
        "assignments": torch.eye(2).double(),
        "hidden": TWO_BY_TWO,
        "projector": torch.nn.Identity(),
        "weights": torch.tensor([0.3, 0.7], dtype=torch.float64),
    }
    assert float(_contrast(t)) == pytest.approx(0.3 * math.log(1 + math.exp(-1)), rel=1e-12)
    cfg.adaptive_weight = False
    assert float(_contrast(t)) == pytest.approx(math.log(1 + math.exp(-1)), rel=1e-12)


def test_fusion_weights_start_equal_and_learn_only_for_weighted_mean():
    net = SiMVCNetwork(SiMVCConfig(encoder_layers=[4]), [3, 5, 2], n_clusters=3)
    assert net.view_weights().tolist() == pytest.approx([1 / 3] * 3)
    assert net.fusion_logits.requires_grad
    out = net([torch.randn(6, 3), torch.randn(6, 5), torch.randn(6, 2)])
    assert out["fused"].shape == (6, 4) and out["assignments"].sum(dim=1).tolist() == pytest.approx([1.0] * 6)
    fixed = SiMVCNetwork(SiMVCConfig(encoder_layers=[4], fusion=Fusion.mean), [3, 5], n_clusters=3)
    assert not fixed.fusion_logits.requires_grad


def test_learning_rate_steps():
    method = SiMVC(lr=1e-3, lr_step=50, lr_gamma=0.1)
    method.config = method._validated_config()
    assert [method._learning_rate(e) for e in (0, 49, 50, 99, 100)] == pytest.approx(
        [1e-3, 1e-3, 1e-4, 1e-4, 1e-5]
    )


def synthetic(dims=(6, 5)):
    cfg = DatasetConfig(
        name="synthetic", source="synthetic", n_samples=120, view_dims=list(dims), n_clusters=3
    )
    return load_dataset(cfg, None)


@pytest.mark.parametrize("cls", [SiMVC, CoMVC])
def test_the_kept_state_is_the_evaluated_one_with_the_lowest_ddc1(cls):
    log = RunLog()
    method = cls(n_clusters=3, epochs=6, eval_interval=1, encoder_layers=(16,), batch_size=40, random_state=0)
    result = method.fit_dataset(synthetic(), Trainer(log))
    evals = log.history().query("phase == 'eval'")
    assert len(evals) == 6
    best = evals.loc[evals["ddc1"].idxmin()]
    assert method.best[2] == int(best["epoch"])
    # the final loss is the kept state's evaluation: its ddc1 again, and total = ddc1 (the selection term)
    assert result.final_terms["ddc1"] == pytest.approx(best["ddc1"], rel=1e-5)
    assert result.final_terms["total"] == result.final_terms["ddc1"]


def test_comvc_refusals_are_one_sentence():
    with pytest.raises(UserError, match="CoMVC aligns views"):
        CoMVC(n_clusters=3, epochs=1).fit_dataset(synthetic(dims=(6,)))
    with pytest.raises(UserError, match=r"negative_ratio=-1 .* needs 2 views.*dataset.views"):
        CoMVC(n_clusters=3, epochs=1, negative_ratio=-1).fit_dataset(synthetic(dims=(6, 5, 4)))
    with pytest.raises(UserError, match="must be -1 .* or above 0"):
        CoMVC(n_clusters=3, epochs=1, negative_ratio=-0.5).fit_dataset(synthetic())


def test_no_gradient_clip_by_default_as_the_reference_effectively_runs():
    """The reference's clip never acts (its parameter generator is spent by Adam): the default clip_norm=0 must
    train exactly as an unreachable clip does, and a tight clip must change the weights."""

    def weights(**clip):
        method = SiMVC(n_clusters=3, epochs=2, encoder_layers=(16,), batch_size=40, random_state=0, **clip)
        method.fit_dataset(synthetic(), Trainer(RunLog()))
        return torch.cat([p.detach().flatten() for p in method.net.parameters()])

    default = weights()
    assert torch.equal(default, weights(clip_norm=1e12))
    assert not torch.allclose(default, weights(clip_norm=1e-3))
