"""Paper-style tables, the reproduction report, the benchmark plan and the figures."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from mmc_bench.analysis.aggregate import main
from mmc_bench.analysis.collect import collect_runs, load_paper_results
from mmc_bench.analysis.plots import main as plot_main
from mmc_bench.analysis.report import main as report_main
from mmc_bench.analysis.summarise import add_paper_rows, add_significance, summarize
from mmc_bench.perf.plan import PLAN, sweep_commands
from mmc_bench.run.app import CONFIG_DIR
from tests.conftest import run_cli


def fake_run(root, method, dataset, seed, acc, loss=1.0, variant="", setting="paired", status="completed"):
    d = root / dataset / method / setting / f"seed{seed}" / (variant or "default")
    d.mkdir(parents=True)
    record = dict(
        status=status,
        method=method,
        dataset=dataset,
        setting=setting,
        seed=seed,
        variant=variant,
        missing_rate=0.0,
        final_loss=loss,
        wall_time_s=10.0,
    )
    if status == "completed":
        record.update(acc=acc, nmi=acc - 0.1, ari=acc - 0.2, purity=acc)
    (d / "metrics.json").write_text(json.dumps(record))


@pytest.fixture
def tree(tmp_path):
    for seed, acc in enumerate([0.97, 0.98, 0.99]):
        fake_run(tmp_path, "cmmc", "bdgp", seed, acc, loss=1.0 + seed)
        fake_run(tmp_path, "cmmc", "bdgp", seed, acc - 0.1, variant="method.pseudo_label=concat")
        fake_run(tmp_path, "kmeans", "bdgp", seed, 0.50)
        fake_run(tmp_path, "cmmc", "cub", seed, 0.60 + seed / 100)
        fake_run(tmp_path, "kmeans", "cub", seed, 0.70)
    return tmp_path


def test_paper_results_file_is_well_formed():
    paper = load_paper_results()
    assert set(paper.columns) == {"paper", "protocol", "method", "dataset", "metric", "value"}
    assert paper["value"].between(0, 1).all()
    assert not paper.duplicated(["method", "dataset", "metric"]).any()
    row = paper[(paper.method == "cmmc") & (paper.dataset == "bdgp") & (paper.metric == "acc")]
    assert row["value"].item() == 0.989 and row["protocol"].item() == "mean of 10"


def test_paper_rows_join_on_method_dataset_metric(tree):
    summary = add_paper_rows(summarize(collect_runs(tree), ["acc", "nmi"], "mean"), load_paper_results())
    paper_rows = summary[summary["row"] == "cmmc (paper)"]
    # CMMC reports bdgp only (of these datasets); the variant row and k-means on cub get no paper row
    assert sorted(zip(paper_rows["column"], paper_rows["metric"])) == [("bdgp", "acc"), ("bdgp", "nmi")]
    acc = paper_rows[paper_rows["metric"] == "acc"].iloc[0]
    assert acc["value"] == 0.989 and acc["diff"] == pytest.approx(0.98 - 0.989)
    kmeans_paper = summary[summary["row"] == "kmeans (paper)"]
    assert kmeans_paper[kmeans_paper["metric"] == "acc"]["value"].item() == 0.432


def test_layout_with_datasets_as_rows(tree):
    assert main([str(tree), "--rows", "datasets", "--metrics", "acc", "--paper"]) == 0
    table = (tree / "table.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("|")]
    assert lines[0].startswith("| dataset") and "cmmc acc" in lines[0] and "cmmc (paper) acc" in lines[0]
    bdgp = next(line for line in lines if line.startswith("| bdgp"))
    assert "0.989 (Δ -0.009)" in bdgp and "**0.980 ± 0.010**" in bdgp
    assert "\\toprule" in (tree / "table.tex").read_text()  # booktabs rules
    assert main([str(tree), "--rows", "datasets", "--cols", "datasets"]) == 2


def test_both_protocols_side_by_side(tree):
    summary = summarize(collect_runs(tree), ["acc"], "both")
    best = summary[(summary["row"] == "cmmc (best-loss)") & (summary["column"] == "bdgp")].iloc[0]
    assert best["value"] == 0.97 and best["seed"] == 0  # lowest loss (seed 0), not highest accuracy


def significance_tree(root, n_seeds, ours, theirs):
    for seed in range(n_seeds):
        fake_run(root, "ours", "bdgp", seed, ours[seed])
        fake_run(root, "kmeans", "bdgp", seed, theirs[seed])
    runs = collect_runs(root)
    return add_significance(summarize(runs, ["acc"], "mean"), runs, "kmeans")


def test_significance_marker_only_when_p_below_005(tmp_path):
    better = [0.60 + 0.01 * s for s in range(8)]
    summary = significance_tree(tmp_path / "eight", 8, better, [0.5] * 8)
    p = summary.loc[summary["row"] == "ours", "p_value"].item()
    assert p == pytest.approx(2 / 2**8)  # exact two-sided signed-rank p: all 8 differences positive
    assert main([str(tmp_path / "eight"), "--metrics", "acc", "--significance-vs", "kmeans"]) == 0
    assert "†" in (tmp_path / "eight" / "table.md").read_text().split("\n\n", 1)[1]
    # five seeds can never reach p < 0.05 (smallest p = 2/32); mixed signs are not significant either
    five = significance_tree(tmp_path / "five", 5, better, [0.5] * 5)
    assert five.loc[five["row"] == "ours", "p_value"].item() == pytest.approx(0.0625)
    assert main([str(tmp_path / "five"), "--metrics", "acc", "--significance-vs", "kmeans"]) == 0
    assert "†" not in (tmp_path / "five" / "table.md").read_text().split("\n\n", 1)[1]
    mixed = significance_tree(tmp_path / "mixed", 8, [0.5 + (-1) ** s * 0.05 for s in range(8)], [0.5] * 8)
    assert mixed.loc[mixed["row"] == "ours", "p_value"].item() > 0.05


def test_report_lists_ours_kmeans_paper_and_variants(tree, tmp_path):
    out = tmp_path / "REPORT.md"
    assert report_main([str(tree), "--out", str(out)]) == 0
    report = out.read_text()
    cmmc = report.split("\n## CMMC")[1].split("\n## ")[0]
    bdgp = next(line for line in cmmc.splitlines() if line.startswith("| bdgp"))
    cells = [c.strip() for c in bdgp.split("|")[1:-1]]
    assert cells[:6] == ["bdgp", "3/3", "0.980 ± 0.010", "0.970", "0.500 ± 0.000", "0.989 (Δ -0.009)"]
    assert "method.pseudo_label=concat" in cmmc and "0.880 ± 0.010 (3)" in cmmc
    assert "## Baselines" in report
    assert report_main([str(tmp_path / "absent"), "--out", str(out)]) == 2


def test_benchmark_plan_composes_single_method_sweeps():
    plan = yaml.safe_load(PLAN.read_text())
    commands = sweep_commands(plan, "quick", PLAN.parent / "out", 1, {"cmmc"})
    assert len(commands) == 3 and all("method=cmmc" in c for c in commands)
    first = commands[0]
    assert (
        "seed=0,1,2,3,4,5,6,7,8,9" in first and "method.pretrain_epochs=20" in first and "threads=1" in first
    )
    with pytest.raises(SystemExit, match="profile 'slow'"):
        sweep_commands(plan, "slow", PLAN.parent, 1, set())
    # every method of the plan is a registered method with a YAML
    methods = {s["method"] for s in plan["sweeps"]}
    assert all((Path(CONFIG_DIR) / "method" / f"{m}.yaml").is_file() for m in methods)


@pytest.mark.slow
def test_plot_script_writes_the_figures_of_a_tiny_run(tmp_path):
    run_dir = tmp_path / "run"
    result = run_cli(
        "method=cmmc",
        "dataset=synthetic",
        "dataset.n_samples=60",
        "method.encoder_layers=[16,8]",
        "method.feature_dim=4",
        "method.batch_size=20",
        "method.pretrain_epochs=2",
        "method.contrastive_epochs=2",
        "method.finetune_epochs=2",
        "method.kmeans_n_init=2",
        "plots=fast",
        f"hydra.run.dir={run_dir}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    figures = {"loss_curves.png", "confusion.png", "confusion_normalised.png"}
    assert {p.name for p in run_dir.glob("*.png")} == figures
    for png in run_dir.glob("*.png"):
        png.unlink()
    assert plot_main([str(run_dir)]) == 0
    assert {p.name for p in run_dir.glob("*.png")} == figures | {"tsne.png"}
    assert np.load(run_dir / "predictions.npz")["true"].shape == (60,)
    assert plot_main([str(tmp_path)]) == 2  # not a run folder


def test_bench_phase_medians_skip_each_phases_first_epoch():
    from mmc_bench.perf.timing import _phase_medians, matmul_peak

    marks = [("pretrain", 9.0), ("pretrain", 1.0), ("pretrain", 3.0), ("pretrain", 2.0), ("finetune", 5.0)]
    assert _phase_medians(marks) == {"pretrain": (2.0, 4), "finetune": (5.0, 1)}
    assert matmul_peak(torch.device("cpu"), size=128, seconds=0.05) > 1e6


def test_swept_and_typed_booleans_are_one_configuration(tmp_path):
    fake_run(tmp_path, "jecl", "cub", 0, 0.7, variant="method.alignment=False,method.regularizer=False")
    fake_run(tmp_path, "jecl", "cub", 1, 0.8, variant="method.alignment=false,method.regularizer=false")
    runs = collect_runs(tmp_path)
    assert set(runs["row"]) == {"jecl [method.alignment=false,method.regularizer=false]"}


def test_figure_helpers_match_clusters_to_classes_and_name_the_run():
    from mmc_bench.analysis.plots import matched_to_classes, run_title

    true = np.array([0, 0, 1, 1, 2, 2])
    predicted = np.array([5, 5, 3, 3, 3, 9])  # 5 -> class 0, 3 -> class 1, 9 -> class 2
    np.testing.assert_array_equal(matched_to_classes(true, predicted), [0, 0, 1, 1, 1, 2])
    extra = matched_to_classes(np.array([0, 0, 1, 1]), np.array([0, 1, 2, 3]))  # 4 clusters, 2 classes
    assert sorted(set(extra[:2])) != sorted(set(extra[2:])) and len(set(extra)) == 4
    title = run_title({"method": "eamc", "dataset": "bdgp", "seed": 3, "acc": 0.5, "nmi": 0.25})
    assert title == "eamc on bdgp, seed 3: ACC 0.500, NMI 0.250"


def test_loss_panels_draw_each_term_times_its_weight(tmp_path):
    import pandas as pd

    from mmc_bench.analysis.plots import plot_loss_curves

    history = pd.DataFrame({"phase": ["train"] * 3, "epoch": [0, 1, 2], "total": [30.0, 20.0, 10.0],
                            "gen": [2.0, 1.5, 1.0], "ddc1": [0.9, 0.8, 0.7]})  # fmt: skip
    record = {"method": "eamc", "dataset": "d", "seed": 0, "loss_weights": {"gen": 10.0, "ddc1": 1.0}}
    drawn = plot_loss_curves(history, tmp_path / "l.png", record)
    assert drawn == {"train: total": [30.0, 20.0, 10.0], "train: 10 × gen": [20.0, 15.0, 10.0],
                     "train: ddc1": [0.9, 0.8, 0.7]}  # fmt: skip
    assert (tmp_path / "l.png").stat().st_size > 0


def test_selection_section_is_rewritten_alone(tmp_path):
    for seed, (acc, sil) in enumerate([(0.5, 0.1), (0.6, 0.3), (0.4, 0.2)]):
        d = tmp_path / "runs" / f"s{seed}"
        d.mkdir(parents=True)
        d.joinpath("metrics.json").write_text(json.dumps(dict(
            status="completed", method="eamc", dataset="cub", setting="paired", seed=seed, variant="",
            missing_rate=0.0, final_loss=1.0, acc=acc, label_free={"silhouette": sil})))  # fmt: skip
    out = tmp_path / "REPORT.md"
    out.write_text("# Reproduction report\n\n## EAMC\n\nkept as it is\n")
    for _ in range(2):  # a second rewrite replaces the section, it does not add another
        assert report_main([str(tmp_path / "runs"), "--out", str(out), "--section", "selection"]) == 0
    report = out.read_text()
    assert report.count("## Label-free selection") == 1 and "kept as it is" in report
    row = next(line for line in report.splitlines() if line.startswith("| eamc"))
    assert "0.600 (default, seed 1)" in row  # the best silhouette (0.3) is seed 1
    assert "default: 0.500 ± 0.100 (3)" in row and "not run" in row


def test_every_figure_panel_has_axis_labels_plain_ticks_view_names_and_the_chosen_format(
    tmp_path, monkeypatch
):
    import matplotlib.pyplot as plt

    import mmc_bench.analysis.plots as plots

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    epochs = np.arange(20)
    history = pd.DataFrame({"phase": "train", "epoch": epochs, "total": 0.98 + 0.001 * epochs,
                            "att": 1 / (1 + epochs), "w_view0": 0.4, "w_view1": 0.6})  # fmt: skip
    history.to_csv(run_dir / "history.csv", index=False)
    record = {"method": "m", "dataset": "d", "seed": 0, "acc": 0.5, "view_weight_prefix": "w_view",
              "view_names": ["image", "text"], "loss_weights": {"att": 2.0}}  # fmt: skip
    (run_dir / "metrics.json").write_text(json.dumps(record))
    rng = np.random.default_rng(0)
    true = np.repeat(np.arange(3), 10)
    np.savez(run_dir / "predictions.npz", labels=rng.permutation(true), true=true,
             embedding=rng.normal(size=(30, 4)))  # fmt: skip
    drawn = []
    save = plots.save_figure

    def keep(fig, path, dpi=plots.DEFAULT_DPI):
        fig.canvas.draw()
        drawn.append((path.name, fig))
        save(fig, path, dpi)

    monkeypatch.setattr(plots, "save_figure", keep)
    monkeypatch.setattr(plt, "close", lambda *a: None)
    written = plots.plot_run(run_dir, tsne=True, fmt="svg", dpi=72)
    assert set(written) == {
        f"{n}.svg" for n in ("loss_curves", "view_weights", "tsne", "confusion", "confusion_normalised")
    }
    assert all((run_dir / name).read_text().lstrip().startswith("<?xml") for name in written)
    for name, fig in drawn:
        for ax in fig.axes:
            if not ax.get_visible() or not ax.axison or ax.get_label() == "<colorbar>":
                continue
            assert ax.get_xlabel() and ax.get_ylabel(), (name, ax.get_title())
            ticks = [t.get_text() for t in ax.get_yticklabels(which="both")]
            assert not any("times" in t or "$" in t for t in ticks), (name, ticks)
    legend = dict(drawn)["view_weights.svg"].axes[0].get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["image", "text"]
    assert plot_main([str(run_dir), "--format", "pdf", "--no-tsne"]) == 0
    assert (run_dir / "loss_curves.pdf").read_bytes()[:4] == b"%PDF"
