"""The aggregator on a fabricated run tree."""

import json

import numpy as np
import pandas as pd
import pytest

from mmc_bench.analysis.aggregate import main
from mmc_bench.analysis.collect import collect_runs
from mmc_bench.analysis.summarise import summarize


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


def label_free_run(root, method, dataset, seed, acc, silhouette, variant=""):
    d = root / dataset / method / "paired" / f"seed{seed}" / (variant or "default")
    d.mkdir(parents=True)
    record = dict(status="completed", method=method, dataset=dataset, setting="paired", seed=seed,
                  variant=variant, missing_rate=0.0, final_loss=1.0, acc=acc, nmi=acc, ari=acc, purity=acc,
                  label_free={"silhouette": silhouette, "davies_bouldin": 1 - silhouette, "clusters_used": 3})  # fmt: skip
    (d / "metrics.json").write_text(json.dumps(record))


@pytest.fixture
def selection_tree(tmp_path):
    # The configuration with the best silhouette (lr=0.1, seed 1) is not the most accurate (lr=0.01, seed 0).
    label_free_run(tmp_path, "eamc", "cub", 0, 0.40, 0.10)
    label_free_run(tmp_path, "eamc", "cub", 1, 0.50, 0.20)
    label_free_run(tmp_path, "eamc", "cub", 0, 0.90, 0.15, variant="method.lr=0.01")
    label_free_run(tmp_path, "eamc", "cub", 1, 0.30, 0.60, variant="method.lr=0.1")
    label_free_run(tmp_path, "kmeans", "cub", 0, 0.70, 0.30)
    return tmp_path


def test_select_protocol_picks_by_the_label_free_key_never_by_accuracy(selection_tree):
    summary = summarize(collect_runs(selection_tree), ["acc"], "select:silhouette")
    chosen = summary[summary["row"] == "eamc (select: silhouette)"].iloc[0]
    assert (chosen["value"], chosen["seed"], chosen["selected_variant"]) == (0.30, 1, "method.lr=0.1")
    lower_is_better = summarize(collect_runs(selection_tree), ["acc"], "select:davies_bouldin")
    assert lower_is_better[lower_is_better["row"] == "eamc (select: davies_bouldin)"]["value"].item() == 0.30
    means = summary[summary["protocol"] == "mean"].set_index("row")["value"]
    assert means["eamc"] == pytest.approx(0.45) and means["eamc [method.lr=0.01]"] == 0.90


def test_marks_stay_within_one_protocol(selection_tree):
    assert main([str(selection_tree), "--out", str(selection_tree / "t"), "--metrics", "acc",
                 "--protocol", "select:silhouette"]) == 0  # fmt: skip
    md = (selection_tree / "t/table.md").read_text()
    scored = md.split("Label-free scores")[0]
    lines = {line.split("|")[1].strip(): line for line in scored.splitlines() if line.startswith("| ")}
    assert "**0.900**" in lines["eamc [method.lr=0.01]"]  # best mean
    # selected rows are ranked among themselves: kmeans' selected run (0.700) beats eamc's (0.300)
    assert "**0.700**" in lines["kmeans (select: silhouette)"]
    assert "<u>0.300</u>" in lines["eamc (select: silhouette)"]
    assert "Label-free scores" in md and "silhouette" in md


def test_agreement_is_spearman_over_runs(selection_tree):
    from mmc_bench.analysis.summarise import label_free_agreement

    agreement = label_free_agreement(collect_runs(selection_tree)).set_index("method")
    # eamc's silhouettes 0.10, 0.20, 0.15, 0.60 rank 1, 3, 2, 4; its ACCs 0.40, 0.50, 0.90, 0.30 rank 2, 3, 4, 1:
    # sum d^2 = 1 + 0 + 4 + 9 = 14, rho = 1 - 6 * 14 / (4 * 15) = -0.4
    assert agreement.loc["eamc", "silhouette"] == pytest.approx(-0.4)
    assert agreement.loc["eamc", "davies_bouldin"] == pytest.approx(-0.4)  # 1 - silhouette, negated: the same
    assert np.isnan(agreement.loc["kmeans", "silhouette"])  # one run: no correlation


def test_latex_names_are_escaped_and_numbers_right_aligned(tmp_path):
    fake_run(tmp_path, "eamc_small", "mnist_usps", 0, 0.5, 1.0)
    fake_run(tmp_path, "eamc_small", "mnist_usps", 1, 0.7, 1.0)
    assert main([str(tmp_path), "--out", str(tmp_path / "t"), "--metrics", "acc,nmi", "--percent"]) == 0
    tex = (tmp_path / "t/table.tex").read_text()
    body = tex.replace("\\_", "")
    assert "_" not in body and "eamc\\_small" in tex and "mnist\\_usps" in tex
    assert "\\begin{tabular}{lrr}" in tex and "60.0 $\\pm$ 14.1" in tex
    assert "\\\\\nmethod &  &" not in tex.replace(" ", "").replace("&&", "& &")  # no empty index-name row
    assert "runs" not in tex
    assert main([str(tmp_path), "--out", str(tmp_path / "r"), "--tex-runs"]) == 0
    assert "runs" in (tmp_path / "r/table.tex").read_text()


def compile_latex(folder, body: str):
    """pdflatex on a two-column paper (10 pt, 237 pt columns, 496 pt text width, as CVPR's) around ``body``;
    (return code, log)."""
    import shutil
    import subprocess

    engine = shutil.which("pdflatex")
    if engine is None:
        pytest.skip(
            "no LaTeX engine installed (apt-get install texlive-latex-base texlive-latex-recommended)"
        )
    (folder / "doc.tex").write_text(
        "\\documentclass[10pt,twocolumn]{article}\\usepackage{booktabs}"
        "\\usepackage[textwidth=496pt,columnsep=22pt,textheight=650pt]{geometry}"
        f"\\begin{{document}}{body}\\end{{document}}\n"
    )
    result = subprocess.run(
        [engine, "-interaction=nonstopmode", "-halt-on-error", "doc.tex"],
        cwd=folder, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return result.returncode, (folder / "doc.log").read_text(errors="replace")


PAPER_METHODS = ["cmmc", "dec", "eamc", "kmeans", "spectral", "jecl"]
PAPER_DATASETS = ["bdgp", "ccv", "rgbd", "coco_cross", "voc", "mnist_usps"]


@pytest.mark.slow
@pytest.mark.parametrize("width", ["column", "page"])
def test_a_six_by_six_table_with_paper_rows_fits_the_page_with_no_overfull_box(tmp_path, width):
    for i, method in enumerate(PAPER_METHODS):
        for j, dataset in enumerate(PAPER_DATASETS):
            for seed in range(3):
                fake_run(tmp_path / "runs", method, dataset, seed, 0.4 + 0.05 * i + 0.01 * seed, 1.0 + j,
                         variant="method.epochs=20" if method == "eamc" else "")  # fmt: skip
    out = tmp_path / "t"
    assert (
        main([str(tmp_path / "runs"), "--out", str(out), "--paper", "--tex-runs", "--tex-width", width]) == 0
    )
    tex = (out / "table.tex").read_text()
    assert tex.count("(paper)") >= 6  # the papers' rows are there
    assert ("\\begin{table*}" in tex) == (width == "page") and "\\caption{" in tex and "\\label{" in tex
    assert "eamc (epochs=20)" in tex and "[method." not in tex  # readable row names
    assert tex.count("\\begin{tabular}") > 1  # too wide for one block: split
    code, log = compile_latex(out, "\\input{table.tex}")
    assert code == 0, log[-2000:]
    assert "Overfull \\hbox" not in log, log[log.find("Overfull") - 200 :][:1500]
    assert "Float too large" not in log, log[log.find("Float too large") - 200 :][:1500]


@pytest.mark.slow
def test_an_overfull_table_is_caught_by_the_check(tmp_path):
    """The check above can fail: a tabular wider than the column is reported by LaTeX."""
    wide = " & ".join(["0.123 $\\pm$ 0.045"] * 12)
    body = f"\\begin{{tabular}}{{{'r' * 12}}}{wide}\\\\ \\end{{tabular}}"
    code, log = compile_latex(tmp_path, body)
    assert code == 0 and "Overfull \\hbox" in log


def test_row_names_are_readable_and_overridable(tree):
    fake_run(tree, "eamc", "bdgp", 5, 0.5, 1.0, variant="method.epochs=20,method.lr=0.1")
    assert main([str(tree), "--out", str(tree / "t"), "--name", "spectral=Spectral clustering"]) == 0
    tex = (tree / "t/table.tex").read_text()
    assert "eamc (epochs=20, lr=0.1)" in tex and "Spectral clustering" in tex
    assert main([str(tree), "--out", str(tree / "u"), "--name", "nothing=X"]) == 2


def test_too_few_seeds_for_wilcoxon_are_said_in_the_table_notes(tree):
    assert main([str(tree), "--out", str(tree / "t"), "--significance-vs", "kmeans"]) == 0
    md = (tree / "t/table.md").read_text()
    assert (
        "with at most 3 seeds per cell, Wilcoxon's smallest two-sided p is 0.25" in md
        and "no row can be marked significant" in md
    )


def test_paper_option_says_what_it_matched(tree, capsys):
    assert main([str(tree), "--out", str(tree / "t"), "--paper"]) == 0
    assert "--paper: matched" in capsys.readouterr().out
    fake_run(tree / "other", "dmim", "digits", 0, 0.5, 1.0)
    assert main([str(tree / "other"), "--out", str(tree / "u"), "--paper"]) == 0
    assert "matched 0 paper numbers (none of these method and dataset pairs" in capsys.readouterr().out
