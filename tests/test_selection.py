"""Comparable label-free scores on hand-made partitions whose values are known."""

import math

import numpy as np
import pytest

from mmc_bench.analysis.selection import (
    consensus_agreement,
    consensus_partition,
    cross_space_scores,
    effective_clusters,
    hopkins,
    partial_collapse,
    stability,
    view_spaces,
)
from mmc_bench.analysis.validity import cluster_usage

TRUTH = np.repeat(np.arange(4), 25)  # 4 clusters of 25


def permuted(labels, seed=0):
    """The same partition under other cluster names."""
    names = np.random.default_rng(seed).permutation(labels.max() + 1)
    return names[labels]


def test_effective_clusters_and_partial_collapse():
    assert effective_clusters(TRUTH) == pytest.approx(4.0)
    assert effective_clusters(np.zeros(100, int)) == pytest.approx(1.0)
    # 3 of 10 clusters used, equal sizes: 3 in effect < 10 / 2
    three = np.repeat(np.arange(3), 30)
    assert effective_clusters(three) == pytest.approx(3.0) and partial_collapse(three, 10)
    # 91 samples in one cluster and one in each of 9 others: 10 used, about 1.6 in effect
    skewed = np.concatenate([np.zeros(91, int), np.arange(1, 10)])
    shares = np.array([0.91] + [0.01] * 9)
    assert effective_clusters(skewed) == pytest.approx(math.exp(-(shares * np.log(shares)).sum()))
    assert partial_collapse(skewed, 10) and not partial_collapse(TRUTH, 4)
    usage = cluster_usage(three, 10)
    assert usage["clusters_used"] == 3 and usage["partial_collapse"] and not usage["collapsed"]


def test_stability_of_identical_permuted_and_random_partitions():
    assert stability([TRUTH, permuted(TRUTH), permuted(TRUTH, 1)]) == pytest.approx(
        {"stability_ari": 1.0, "stability_nmi": 1.0}
    )
    rng = np.random.default_rng(0)
    noisy = stability([rng.integers(0, 4, 100) for _ in range(3)])
    assert abs(noisy["stability_ari"]) < 0.1 and noisy["stability_nmi"] < 0.15
    assert all(math.isnan(v) for v in stability([TRUTH]).values())


def test_the_consensus_recovers_the_partition_most_candidates_share():
    rng = np.random.default_rng(0)
    noisy = []
    for seed in range(5):  # each candidate: TRUTH with 10 % of the samples moved to a random cluster
        labels = permuted(TRUTH, seed).copy()
        moved = rng.choice(100, size=10, replace=False)
        labels[moved] = rng.integers(0, 4, size=10)
        noisy.append(labels)
    consensus = consensus_partition(noisy, 4, seed=0)
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(TRUTH, consensus) == pytest.approx(1.0)  # better than any single candidate
    assert max(adjusted_rand_score(TRUTH, n) for n in noisy) < 1.0
    candidates = {
        "noisy": noisy[0],
        "same": permuted(TRUTH),
        "again": permuted(TRUTH, 1),
        "one": np.zeros(100, int),
    }
    agreement, consensus = consensus_agreement(candidates, 4)
    assert agreement["same"] == agreement["again"] == pytest.approx(1.0)  # the consensus is TRUTH
    assert agreement["one"] == pytest.approx(0.0) and 0.5 < agreement["noisy"] < 1.0


def test_hopkins_tells_uniform_noise_from_clusters():
    rng = np.random.default_rng(1)
    assert hopkins(rng.uniform(size=(1000, 5))) == pytest.approx(0.5, abs=0.05)
    centres = rng.normal(size=(4, 5)) * 10
    assert hopkins(centres[rng.integers(0, 4, 1000)] + rng.normal(size=(1000, 5))) > 0.85


def test_cross_space_ranks_prefer_the_partition_every_space_supports():
    rng = np.random.default_rng(2)
    centres = rng.normal(size=(4, 6)) * 10
    x = centres[TRUTH] + rng.normal(size=(100, 6))
    spaces = view_spaces([x[:, :3], x[:, 3:]], ["a", "b"], seed=0)
    spaces["noise"] = rng.uniform(size=(100, 4))  # no structure: Hopkins about 0.5, left out
    candidates = {
        "truth": permuted(TRUTH),
        "random": rng.integers(0, 4, 100),
        "collapsed": np.zeros(100, int),
    }
    table, structure = cross_space_scores(candidates, spaces, seed=0)
    assert structure["noise"] < 0.7 <= min(structure["view:a"], structure["view:b"])
    assert list(table.columns[:2]) == ["view:a", "view:b"]  # the noise space is not scored
    assert list(table.index) == ["truth", "random", "collapsed"]
    assert table.loc["truth", "mean_rank"] == 1.0 and table.loc["collapsed", "mean_silhouette"] == -1.0


def test_a_partial_collapse_is_warned_on_the_console(caplog):
    from mmc_bench.run.runner import warn_if_collapsed

    block = cluster_usage(np.repeat(np.arange(3), 30), 10)
    with caplog.at_level("WARNING", logger="mmc_bench"):
        warn_if_collapsed("dmim", block, 10)
        warn_if_collapsed("eamc", cluster_usage(TRUTH, 4), 4)
    assert "dmim used about 3.0 of the K=10 clusters (3 hold a sample; partial collapse" in caplog.text
    assert "eamc" not in caplog.text


@pytest.mark.slow
def test_select_chooses_per_dataset_without_reading_labels(tmp_path, monkeypatch, capsys):
    """The same choices whether or not the runs kept labels: the choice never reads them."""
    import json

    from mmc_bench.analysis.choose import main as select_main
    from tests.conftest import run_app

    sweep = [
        "-m",
        "method=kmeans,spectral,kmeans_view",
        "dataset=synthetic",
        "seed=0,1",
        "hydra.sweep.dir=runs",
    ]
    assert run_app(*sweep, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)[0] == 0
    assert select_main([str(tmp_path / "runs"), "--out", str(tmp_path / "a")]) == 0
    first = json.loads((tmp_path / "a/selection.json").read_text())["synthetic"]
    assert set(first["chosen"]) == {"own_silhouette", "cross_space", "consensus", "stability"}
    names = {c["candidate"] for c in first["candidates"]}
    assert names == {"k-means", "spectral", "k-means (one view)"}
    assert all(c["acc"] is not None for c in first["candidates"])  # read after the choice, for the reader
    for path in (tmp_path / "runs").rglob("predictions.npz"):  # forget the labels
        arrays = dict(np.load(path))
        arrays.pop("true")
        np.savez(path, **arrays)
    for path in (tmp_path / "runs").rglob("metrics.json"):
        record = json.loads(path.read_text())
        record.pop("acc")
        path.write_text(json.dumps(record))
    assert select_main([str(tmp_path / "runs"), "--out", str(tmp_path / "b")]) == 0
    second = json.loads((tmp_path / "b/selection.json").read_text())["synthetic"]
    assert second["chosen"] == first["chosen"]
    keys = ("cross_space_rank", "consensus_nmi", "stability_ari")
    assert [[c[k] for k in keys] for c in second["candidates"]] == [
        [c[k] for k in keys] for c in first["candidates"]
    ]
