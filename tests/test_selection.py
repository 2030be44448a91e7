"""Comparable label-free scores on hand-made partitions whose values are known."""

import math

import numpy as np
import pytest

from mmc_bench.analysis.selection import (
    clusters_in_use,
    consensus_agreement,
    consensus_partition,
    cross_space_scores,
    effective_clusters,
    hopkins,
    partial_collapse,
    present_rows,
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
    # 181 samples in one cluster and one in each of 9 others: 10 hold a sample, 1 in use (a tenth of an
    # equal share is 1.9 samples), about 1.4 in effect
    skewed = np.concatenate([np.zeros(181, int), np.arange(1, 10)])
    shares = np.array([181] + [1] * 9) / 190
    assert effective_clusters(skewed) == pytest.approx(math.exp(-(shares * np.log(shares)).sum()))
    assert (
        clusters_in_use(skewed, 10) == 1 and partial_collapse(skewed, 10) and not partial_collapse(TRUTH, 4)
    )
    # unbalanced but every cluster in use: 85/5/5/5 of 100 with K=4 (a tenth of a share is 2.5 samples),
    # about 1.8 in effect
    unbalanced = np.repeat(np.arange(4), [85, 5, 5, 5])
    assert effective_clusters(unbalanced) < 2 and not partial_collapse(unbalanced, 4)
    assert clusters_in_use(np.repeat(np.arange(4), [95, 3, 1, 1]), 4) == 2
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


def test_an_incomplete_view_scores_each_partition_on_the_samples_that_have_it():
    from sklearn.metrics import silhouette_score

    rng = np.random.default_rng(3)
    groups = np.repeat([0, 1], 40)
    a = groups[:, None] * 8.0 + rng.normal(size=(80, 2))
    b = groups[:, None] * 8.0 + rng.normal(size=(80, 2))
    mask = np.ones((80, 2), bool)
    mask[::2, 1] = False  # half the samples lack view b; its zeros would be a cluster of their own
    b[~mask[:, 1]] = 0.0
    spaces = view_spaces([a, b], ["a", "b"], seed=0, mask=mask)
    rows = present_rows(mask, ["a", "b"])
    assert list(rows) == ["view:b"] and len(spaces["view:b"]) == 40 and len(spaces["view:a"]) == 80
    candidates = {"truth": permuted(groups), "who_has_b": mask[:, 1].astype(int)}
    table, _ = cross_space_scores(candidates, spaces, seed=0, rows=rows)
    present = rows["view:b"]
    assert table.loc["truth", "view:b"] == pytest.approx(silhouette_score(spaces["view:b"], groups[present]))
    assert table.loc["who_has_b", "view:b"] == -1.0  # one cluster among the samples that have view b
    assert list(table.index) == ["truth", "who_has_b"]


def test_a_partial_collapse_is_warned_on_the_console(caplog):
    from mmc_bench.run.runner import warn_if_collapsed

    block = cluster_usage(np.repeat(np.arange(3), 30), 10)
    with caplog.at_level("WARNING", logger="mmc_bench"):
        warn_if_collapsed("dmim", block, 10)
        warn_if_collapsed("eamc", cluster_usage(TRUTH, 4), 4)
    assert "dmim used 3 of the K=10 clusters (3 hold a sample; partial collapse" in caplog.text
    assert "eamc" not in caplog.text


def poison_the_dataset_labels(monkeypatch) -> None:
    """The datasets that selection rebuilds (for their views) carry labels that fail any use."""
    from dataclasses import replace

    import mmc_bench.run.runner as runner
    from tests.test_contract import Poison

    prepare = runner.prepare_dataset
    monkeypatch.setattr(runner, "prepare_dataset", lambda cfg: replace(prepare(cfg), labels=Poison()))


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
    assert set(first["chosen"]) == {
        "own_silhouette",
        "view_silhouette",
        "cross_space",
        "consensus",
        "stability",
    }
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
    poison_the_dataset_labels(monkeypatch)
    assert select_main([str(tmp_path / "runs"), "--out", str(tmp_path / "b")]) == 0
    second = json.loads((tmp_path / "b/selection.json").read_text())["synthetic"]
    assert second["chosen"] == first["chosen"]
    keys = ("cross_space_rank", "consensus_nmi", "stability_ari")
    assert [[c[k] for k in keys] for c in second["candidates"]] == [
        [c[k] for k in keys] for c in first["candidates"]
    ]


@pytest.mark.slow
def test_the_aggregator_selects_a_configuration_by_consensus(tmp_path, monkeypatch, capsys):
    """select:consensus reports the chosen configuration's mean over its seeds, a choice made by
    mmc_bench.analysis.choose, which never reads labels."""
    from mmc_bench.analysis.choose import select_dataset
    from mmc_bench.analysis.collect import collect_runs
    from mmc_bench.analysis.summarise import summarize
    from tests.conftest import run_app

    sweep = [
        "-m",
        "method=kmeans",
        "method.max_iter=1,300",
        "dataset=synthetic",
        "seed=0,1",
        "hydra.sweep.dir=r",
    ]
    assert run_app(*sweep, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)[0] == 0
    runs = collect_runs(tmp_path / "r")
    pick = select_dataset(runs)["chosen"]["consensus"]
    summary = summarize(runs, ["acc"], "select:consensus").set_index("row")
    chosen = summary.loc["kmeans (select: consensus)"]
    assert chosen["selected_variant"] == pick and pick in set(runs["row"])
    assert chosen["value"] == pytest.approx(runs.loc[runs["row"] == pick, "acc"].mean())
    assert chosen["n_completed"] == 2 and chosen["protocol"] == "select:consensus"


def test_view_silhouette_uses_the_structured_views_and_only_present_samples():
    from mmc_bench.analysis.selection import view_silhouette

    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    # view a: two tight groups (silhouette 1, Hopkins 1); sample 6 does not have it and would sit in the
    # wrong group if it were read
    a = np.array([[0.0], [0.0], [0.0], [10.0], [10.0], [10.0], [0.0]], dtype=np.float32)
    # view b: an even grid, no cluster structure (every nearest-neighbour distance is 1, every uniform
    # point lies within 0.5 of the grid, so Hopkins < 0.5)
    b = np.arange(7, dtype=np.float32)[:, None]
    mask = np.ones((7, 2), bool)
    mask[6, 0] = False
    assert view_silhouette([a, b], mask, labels) == pytest.approx(1.0)
    # with both views unstructured, every view counts
    assert view_silhouette([b, b], np.ones((7, 2), bool), labels) < 1.0
    assert view_silhouette([a, b], mask, np.zeros(7, int)) is None


def test_the_evidence_section_counts_auto_choices_against_the_best_and_k_means(tmp_path):
    import json

    from mmc_bench.analysis.evidence import auto_table

    def candidate(name, method, acc):
        return {"candidate": name, "method": method, "acc": acc, "seeds": 3, "consensus_of_seeds_acc": 0.71}

    for name, chosen in (("a", "EAMC"), ("b", "spectral")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "choice.json").write_text(json.dumps({
            "dataset": name, "budget": "quick", "chosen": chosen,
            "candidates": [candidate("EAMC", "eamc", 0.70), candidate("spectral", "spectral", 0.76),
                           candidate("k-means", "kmeans", 0.72)]}))  # fmt: skip
    table, counts = auto_table([tmp_path / "a", tmp_path / "b"])
    rows = [line for line in table.splitlines() if line.startswith("| a ") or line.startswith("| b ")]
    assert "EAMC 0.700" in rows[0] and "| no " in rows[0]  # 0.06 below the best, below k-means
    assert rows[1].count("| yes") == 2
    assert counts == [
        "- within 0.05 of the best candidate on 1 of 2; at least k-means on 1 of 2",
        "- a candidate's consensus of its seeds scores at least its seeds' mean ACC for 2 of 6 candidates",
    ]


def _scores(**candidates):
    """A hand-made score table: candidate=(seeds, consensus mean, its seed std, collapsed)."""
    import pandas as pd

    rows = {
        name: {
            "seeds": seeds,
            "consensus_nmi": mean,
            "consensus_nmi_std": std,
            "own_silhouette": np.nan,
            "view_silhouette": np.nan,
            "cross_space_rank": np.nan,
            "stability_ari": np.nan,
            "collapsed": collapsed,
        }
        for name, (seeds, mean, std, collapsed) in candidates.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def test_a_pick_replaces_the_incumbent_only_beyond_seed_noise():
    from mmc_bench.analysis.choose import choose

    # ahead by 0.10 with seed spreads 0.04 and 0.06: confirmed
    picks, why = choose(_scores(default=(3, 0.50, 0.04, False), b=(3, 0.60, 0.06, False)), "default")
    assert picks["consensus"] == "b"
    assert why["consensus"] == pytest.approx(
        {"challenger": "b", "contender": "b", "gain": 0.10, "noise": 0.06, "seeds": 3, "confirmed": True}
    )
    # ahead by 0.10 but a spread of 0.12: within seed noise, the default stays
    picks, why = choose(_scores(default=(3, 0.50, 0.04, False), b=(3, 0.60, 0.12, False)), "default")
    assert picks["consensus"] == "default" and not why["consensus"]["confirmed"]
    # a one-seed trial leads: it is the challenger to run again, but cannot replace the default itself;
    # the best candidate with several seeds (c) is weighed against the default instead
    table = _scores(default=(3, 0.50, 0.04, False), b=(1, 0.90, np.nan, False), c=(3, 0.70, 0.05, False))
    picks, why = choose(table, "default")
    assert picks["consensus"] == "c" and why["consensus"]["challenger"] == "b"
    assert why["consensus"]["contender"] == "c" and why["consensus"]["gain"] == pytest.approx(0.2)
    picks, why = choose(table.drop(index="c"), "default")
    assert picks["consensus"] == "default" and why["consensus"]["contender"] is None
    # a collapsed default does not hold its place; without an incumbent the best is taken as before
    only = _scores(default=(3, 0.5, 0.04, True), b=(1, 0.6, np.nan, False))
    assert choose(only, "default")[0]["consensus"] == "b"
    assert choose(table)[0]["consensus"] == "b"
    # stability has no per-seed value to weigh a gain against, so it cannot confirm a contender
    table = _scores(default=(3, 0.5, 0.04, False), b=(3, 0.6, 0.0, False))
    table["stability_ari"] = [0.2, 0.9]
    picks, why = choose(table, "default")
    assert picks["stability"] == "default" and why["stability"]["contender"] == "b"
