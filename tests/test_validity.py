"""Label-free scores: hand-computed cases, undefined cases, and the objective a run hands to Hydra."""

import math

import numpy as np
import pytest

from mmc_bench.analysis.validity import cluster_usage, internal_indices, label_free_scores, objective_value


def test_cluster_usage_reports_a_collapse_without_labels():
    assert cluster_usage(np.zeros(6, int)) == {
        "clusters_used": 1,
        "largest_cluster_fraction": 1.0,
        "collapsed": True,
        "size_entropy": 0.0,
        "effective_clusters": 1.0,
    }
    usage = cluster_usage(np.array([0, 0, 0, 2]))
    assert (usage["clusters_used"], usage["largest_cluster_fraction"], usage["collapsed"]) == (2, 0.75, False)
    # H(3/4, 1/4) / log 2
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)) / math.log(2)
    assert usage["size_entropy"] == pytest.approx(expected)
    assert usage["effective_clusters"] == pytest.approx(math.exp(expected * math.log(2)))
    assert cluster_usage(np.array([0, 1, 2, 0, 1, 2]))["size_entropy"] == pytest.approx(1.0)


def test_internal_indices_on_a_hand_computed_layout():
    # Two clusters on a line: {0, 1} and {10, 11}.
    x = np.array([[0.0], [1.0], [10.0], [11.0]])
    labels = np.array([0, 0, 1, 1])
    scores = internal_indices(x, labels, seed=0)
    # silhouette: the point at 0 has a = 1, b = mean(10, 11) = 10.5; the point at 1 has a = 1, b = 9.5;
    # the other cluster mirrors them
    assert scores["silhouette"] == pytest.approx(((1 - 1 / 10.5) + (1 - 1 / 9.5)) / 2)
    # CH = [B / (k-1)] / [W / (n-k)]: B = 4 * 5^2 = 100, W = 4 * 0.25 = 1 -> 100 / (1/2) = 200
    assert scores["calinski_harabasz"] == pytest.approx(200.0)
    # DB: scatter 0.5 each, centroid distance 10 -> (0.5 + 0.5) / 10
    assert scores["davies_bouldin"] == pytest.approx(0.1)
    swapped = internal_indices(x, np.array([0, 1, 0, 1]), seed=0)
    assert swapped["silhouette"] < 0 < scores["silhouette"]


@pytest.mark.parametrize("labels", [np.zeros(4, int), np.arange(4)])
def test_indices_are_undefined_for_one_cluster_or_all_singletons(labels):
    scores = internal_indices(np.arange(8.0).reshape(4, 2), labels, seed=0)
    assert scores == {"silhouette": None, "calinski_harabasz": None, "davies_bouldin": None}


def test_silhouette_is_sampled_reproducibly_on_large_data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6000, 3))
    labels = (x[:, 0] > 0).astype(int)
    first, second = internal_indices(x, labels, seed=3), internal_indices(x, labels, seed=3)
    assert first == second and 0 < first["silhouette"] < 1


def test_objective_negates_lower_is_better_scores_and_is_nan_for_failed_runs():
    record = {"status": "completed", "acc": 0.7, "label_free": label_free_scores(
        np.array([[0.0], [1.0], [10.0], [11.0]]), np.array([0, 0, 1, 1]), 2.5, 0, "views")}  # fmt: skip
    assert objective_value(record, "silhouette") == pytest.approx(((1 - 1 / 10.5) + (1 - 1 / 9.5)) / 2)
    assert objective_value(record, "davies_bouldin") == pytest.approx(-0.1)
    assert objective_value(record, "final_loss") == -2.5
    assert objective_value(record, "acc") == 0.7
    assert math.isnan(objective_value({"status": "failed"}, "silhouette"))


def test_backfill_adds_the_block_from_saved_predictions(tmp_path):
    import json

    from mmc_bench.analysis.validity import backfill

    x = np.array([[0.0], [1.0], [10.0], [11.0]])
    np.savez(tmp_path / "predictions.npz", labels=np.array([0, 0, 1, 1]), embedding=x)
    (tmp_path / "metrics.json").write_text(json.dumps({"status": "completed", "seed": 0, "final_loss": 2.0}))
    assert backfill(tmp_path)
    block = json.loads((tmp_path / "metrics.json").read_text())["label_free"]
    assert (
        block["silhouette"] == pytest.approx(((1 - 1 / 10.5) + (1 - 1 / 9.5)) / 2)
        and block["final_loss"] == 2.0
    )
    assert not backfill(tmp_path)  # already there: left alone


def test_the_objective_choices_are_the_scores_validity_knows():
    from mmc_bench.analysis.validity import LABEL_BASED_OBJECTIVES, OBJECTIVES
    from mmc_bench.config import Objective

    assert [o.value for o in Objective] == [*OBJECTIVES, *LABEL_BASED_OBJECTIVES]
