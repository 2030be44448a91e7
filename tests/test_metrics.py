import numpy as np
import pytest

from mmc_bench.metrics import (
    clustering_accuracy,
    evaluate,
    hungarian_map,
    pairwise_scores,
    purity,
)


def test_accuracy_is_invariant_to_cluster_names():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert clustering_accuracy(y, np.array([2, 2, 0, 0, 1, 1])) == 1.0


def test_accuracy_hand_computed_case():
    # classes 0,0,0,1,1,1 ; clusters 0,0,1,1,1,1 -> best map 0->0, 1->1 gives 2 + 3 = 5 of 6
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0, 0, 1, 1, 1, 1])
    assert clustering_accuracy(y, p) == pytest.approx(5 / 6)
    assert purity(y, p) == pytest.approx(5 / 6)


def test_more_clusters_than_classes():
    y = np.array([0, 0, 1, 1])
    p = np.array([0, 1, 2, 3])  # four singletons: only two can be matched
    assert clustering_accuracy(y, p) == 0.5
    assert purity(y, p) == 1.0
    assert evaluate(y, p)["n_clusters_found"] == 4


def test_fewer_clusters_than_classes():
    y = np.array([0, 1, 2, 2])
    p = np.array([0, 0, 0, 0])
    assert clustering_accuracy(y, p) == 0.5
    assert purity(y, p) == 0.5


def test_pairwise_scores_hand_computed():
    # contingency [[2, 1], [0, 3]]: n=6, sum c^2 = 14 -> TP = 8 (ordered pairs)
    # predicted sizes 2, 4 -> 4 + 16 - 6 = 14 ; class sizes 3, 3 -> 9 + 9 - 6 = 12
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0, 0, 1, 1, 1, 1])
    precision, recall, f = pairwise_scores(y, p)
    assert precision == pytest.approx(8 / 14)
    assert recall == pytest.approx(8 / 12)
    assert f == pytest.approx(2 * (8 / 14) * (8 / 12) / (8 / 14 + 8 / 12))


def test_pairwise_scores_all_singletons_have_no_predicted_pairs():
    # No pair is joined, so none is joined wrongly (precision 1); the one same-class pair is missed.
    precision, recall, f = pairwise_scores(np.array([0, 0, 1]), np.array([0, 1, 2]))
    assert (precision, recall, f) == (1.0, 0.0, 0.0)


def test_pairwise_scores_of_a_perfect_singleton_clustering_are_one():
    # Five samples, five classes, five singleton clusters: ACC 1, and no pair to get wrong either way.
    y = np.arange(5)
    assert pairwise_scores(y, y[::-1]) == (1.0, 1.0, 1.0)
    assert evaluate(y, y)["f_score"] == 1.0 and evaluate(y, y)["acc"] == 1.0


def test_pairwise_scores_count_unordered_pairs():
    # true pairs {01, 23}; predicted pairs {01}: precision 1/1, recall 1/2
    assert pairwise_scores(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 2])) == pytest.approx((1.0, 0.5, 2 / 3))


def test_nmi_averagings_differ_when_entropies_differ():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 0, 1, 1, 1, 1])
    m = evaluate(y, p)
    # H(Y)=log 3, H(P)=H(1/3,2/3), I = H(P) because P is a function of Y.
    hy = np.log(3)
    hp = -(1 / 3) * np.log(1 / 3) - (2 / 3) * np.log(2 / 3)
    assert m["nmi"] == pytest.approx(hp / ((hy + hp) / 2))
    assert m["nmi_geometric"] == pytest.approx(hp / np.sqrt(hy * hp))
    assert m["ari"] < 1.0


def test_hungarian_map_recovers_permutation():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([1, 1, 2, 2, 0, 0])
    assert hungarian_map(y, p) == {1: 0, 2: 1, 0: 2}
