"""The aggregator on a fabricated run tree."""

import json

import pandas as pd
import pytest

from mmc_bench.aggregate import collect_runs, main, summarize


def fake_run(root, method, dataset, seed, acc, loss, status="completed", variant=""):
    d = root / dataset / method / "paired" / f"seed{seed}"
    d.mkdir(parents=True)
    record = dict(
        status=status,
        method=method,
        dataset=dataset,
        setting="paired",
        seed=seed,
        variant=variant,
        missing_rate=0.0,
        final_loss=loss,
    )
    if status == "completed":
        record.update(acc=acc, nmi=acc - 0.1, ari=acc - 0.2, purity=acc)
    (d / "metrics.json").write_text(json.dumps(record))


@pytest.fixture
def tree(tmp_path):
    for seed, (acc, loss) in enumerate([(0.80, 5.0), (0.90, 3.0), (0.70, 4.0)]):
        fake_run(tmp_path, "eamc", "bdgp", seed, acc, loss)
    for seed, acc in enumerate([0.50, 0.52]):
        fake_run(tmp_path, "kmeans", "bdgp", seed, acc, 100.0 + seed)
    fake_run(tmp_path, "kmeans", "bdgp", 2, None, None, status="failed")
    fake_run(tmp_path, "spectral", "bdgp", 0, 0.60, None)
    return tmp_path


def test_mean_protocol_and_failed_runs_are_counted_not_averaged(tree):
    s = summarize(collect_runs(tree), ["acc"], "mean").set_index("row")
    assert s.loc["eamc", "value"] == pytest.approx(0.80)
    assert s.loc["eamc", "std"] == pytest.approx(pd.Series([0.8, 0.9, 0.7]).std())
    assert s.loc["kmeans", "value"] == pytest.approx(0.51)
    assert (s.loc["kmeans", "n_completed"], s.loc["kmeans", "n_failed"]) == (2, 1)


def test_best_loss_protocol_picks_lowest_loss_not_highest_accuracy(tree):
    # EAMC seed 1 has the lowest loss (3.0); make a different seed the most accurate to be sure.
    fake_run(tree, "eamc", "cub", 0, 0.95, 9.0)
    fake_run(tree, "eamc", "cub", 1, 0.60, 1.0)
    s = summarize(collect_runs(tree), ["acc"], "best-loss").set_index(["row", "column"])
    assert s.loc[("eamc", "bdgp"), "value"] == pytest.approx(0.90)
    assert s.loc[("eamc", "cub"), "value"] == pytest.approx(0.60)
    assert s.loc[("eamc", "cub"), "seed"] == 1


def test_tables_are_written_with_best_bold_and_second_underlined(tree, capsys):
    assert main([str(tree), "--out", str(tree / "t"), "--metrics", "acc,nmi"]) == 0
    md = (tree / "t/table.md").read_text()
    eamc = next(line for line in md.splitlines() if line.startswith("| eamc"))
    spectral = next(line for line in md.splitlines() if line.startswith("| spectral"))
    kmeans = next(line for line in md.splitlines() if line.startswith("| kmeans"))
    assert "**0.800 ± 0.100**" in eamc
    assert "<u>0.600</u>" in spectral
    assert "0.510 ± 0.014" in kmeans and "**" not in kmeans and "2/3" in kmeans
    tex = (tree / "t/table.tex").read_text()
    assert "\\textbf{0.800 $\\pm$ 0.100}" in tex and "\\underline{0.600}" in tex
    per_seed = pd.read_csv(tree / "t/per_seed.csv")
    assert len(per_seed) == 7 and (per_seed["status"] == "failed").sum() == 1


def test_aggregator_errors(tmp_path, capsys):
    assert main([str(tmp_path / "missing")]) == 2
    assert main([str(tmp_path)]) == 2
    assert "no metrics.json found" in capsys.readouterr().err
    assert main([str(tmp_path), "--metrics", "accuracy"]) == 2


def test_several_roots_are_joined(tmp_path):
    fake_run(tmp_path / "a", "dmim", "cub", 0, 0.4, 1.0)
    fake_run(tmp_path / "b", "kmeans", "cub", 0, 0.7, 9.0)
    assert main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "t")]) == 0
    assert set(collect_runs(tmp_path / "a", tmp_path / "b")["method"]) == {"dmim", "kmeans"}
    assert (tmp_path / "t/table.md").exists()


def test_methods_and_datasets_filters(tree):
    main([str(tree), "--out", str(tree / "f"), "--methods", "eamc,spectral", "--datasets", "bdgp"])
    per_seed = pd.read_csv(tree / "f/per_seed.csv")
    assert set(per_seed["method"]) == {"eamc", "spectral"} and set(per_seed["dataset"]) == {"bdgp"}
