"""Clustering metrics. Labels are used here, and only here."""

from __future__ import annotations

import numpy as np

METRIC_NAMES = ("acc", "nmi", "nmi_geometric", "ari", "purity", "f_score", "precision", "recall")


def _contingency(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Classes x predicted clusters counts; the two may differ in number."""
    from sklearn.metrics.cluster import contingency_matrix

    return contingency_matrix(y_true, y_pred)


def clustering_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Accuracy under the best one-to-one map of clusters to classes (Hungarian); unmatched clusters count as wrong."""
    from mmc_bench.nn.matching import max_overlap_matching

    counts = _contingency(y_true, y_pred)
    rows, cols = max_overlap_matching(counts)
    return float(counts[rows, cols].sum() / len(y_true))


def hungarian_map(y_true: np.ndarray, y_pred: np.ndarray) -> dict[int, int]:
    """The cluster -> class map behind ``clustering_accuracy`` (for confusion matrices and pseudo-labels)."""
    from mmc_bench.nn.matching import max_overlap_matching

    classes, clusters = np.unique(y_true), np.unique(y_pred)
    counts = _contingency(y_true, y_pred)
    rows, cols = max_overlap_matching(counts)
    return {int(clusters[c]): int(classes[r]) for r, c in zip(rows, cols)}


def purity(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    counts = _contingency(y_true, y_pred)
    return float(counts.max(axis=0).sum() / len(y_true))


def pairwise_scores(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[float, float, float]:
    """Pairwise precision, recall and F-score over sample pairs (DM2C's definition).

    Precision is the share of pairs put in one cluster that share a class, recall the share of same-class
    pairs put in one cluster. With no predicted pair (all singletons) no pair is wrongly joined, so
    precision is 1; likewise recall is 1 when no two samples share a class.
    """
    from sklearn.metrics.cluster import pair_confusion_matrix

    (_, false_positive), (false_negative, true_positive) = pair_confusion_matrix(y_true, y_pred)
    predicted_pairs, actual_pairs = true_positive + false_positive, true_positive + false_negative
    precision = true_positive / predicted_pairs if predicted_pairs > 0 else 1.0
    recall = true_positive / actual_pairs if actual_pairs > 0 else 1.0
    f_score = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return float(precision), float(recall), float(f_score)


def evaluate(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | int]:
    """Every metric of the protocol for one labelling; NMI is reported with both averagings."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    precision, recall, f_score = pairwise_scores(y_true, y_pred)
    return {
        "acc": clustering_accuracy(y_true, y_pred),
        "nmi": float(normalized_mutual_info_score(y_true, y_pred, average_method="arithmetic")),
        "nmi_geometric": float(normalized_mutual_info_score(y_true, y_pred, average_method="geometric")),
        "ari": float(adjusted_rand_score(y_true, y_pred)),
        "purity": purity(y_true, y_pred),
        "f_score": f_score,
        "precision": precision,
        "recall": recall,
        "n_clusters_found": int(len(np.unique(y_pred))),
    }
