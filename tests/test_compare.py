"""Cross-method comparison (average ranks, Friedman + post-hoc, CD diagram) and the HTML report, opened in
headless Chromium."""

import json
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy.stats import friedmanchisquare

from mmc_bench.analysis.collect import collect_runs
from mmc_bench.analysis.compare import compare, friedman_floor, main, nemenyi_cd
from mmc_bench.analysis.report import main as report_main

# datasets x methods: a strictly better than b better than c on every dataset but the last
ACC = {
    "d1": {"a": 0.9, "b": 0.6, "c": 0.3},
    "d2": {"a": 0.8, "b": 0.7, "c": 0.2},
    "d3": {"a": 0.7, "b": 0.5, "c": 0.4},
    "d4": {"a": 0.6, "b": 0.4, "c": 0.5},
}


def fake_tree(root, acc=ACC, seeds=(0, 1, 2)):
    for dataset, by_method in acc.items():
        for method, value in by_method.items():
            for seed in seeds:
                d = root / dataset / method / f"seed{seed}"
                d.mkdir(parents=True)
                record = dict(status="completed", method=method, dataset=dataset, setting="paired", seed=seed,
                              variant="", acc=value + 0.01 * (seed - 1), nmi=value - 0.1, final_loss=1.0, wall_time_s=1.0,
                              reference_baseline="c", display_name=method.upper())  # fmt: skip
                (d / "metrics.json").write_text(json.dumps(record))
    return root


def test_average_ranks_and_friedman_match_a_hand_computation(tmp_path):
    runs = collect_runs(fake_tree(tmp_path))
    result = compare(runs, "acc")
    # ranks per dataset: a 1,1,1,1; b 2,2,2,3; c 3,3,3,2
    assert result.ranks.to_dict() == pytest.approx({"a": 1.0, "b": 2.25, "c": 2.75})
    scores = np.array([[0.9, 0.6, 0.3], [0.8, 0.7, 0.2], [0.7, 0.5, 0.4], [0.6, 0.4, 0.5]])
    expected = friedmanchisquare(*scores.T)
    assert result.friedman_statistic == pytest.approx(expected.statistic)
    assert result.friedman_p == pytest.approx(expected.pvalue)
    # chi2_F = 12 N / (k (k + 1)) * sum R_j^2 - 3 N (k + 1) = 12*4/12 * (1 + 5.0625 + 7.5625) - 48 = 6.5
    assert result.friedman_statistic == pytest.approx(6.5)
    assert result.posthoc.shape == (3, 3) and (np.diag(result.posthoc) == 1).all()
    # Nemenyi CD for k = 3, N = 4 at 0.05: q = 2.343, CD = 2.343 * sqrt(3 * 4 / 24) = 1.657 (Demšar's table)
    assert result.critical_difference == pytest.approx(1.657, abs=1e-3)


def test_the_floor_of_friedmans_p_and_notes_when_a_test_cannot_reject():
    # N = 2, k = 3: the largest statistic is N (k - 1) = 4, p = exp(-2) for 2 degrees of freedom
    assert friedman_floor(2, 3) == pytest.approx(np.exp(-2))
    assert nemenyi_cd(2, 3, 0.05) > 2  # larger than any rank difference with 3 methods
    runs = collect_runs(fake_tree_from({"d1": ACC["d1"], "d2": ACC["d2"]}))
    notes = " ".join(compare(runs, "acc").notes)
    assert "Friedman's smallest possible p is 0.135" in notes and "no pair can differ" in notes


def fake_tree_from(acc):
    import tempfile
    from pathlib import Path

    return fake_tree(Path(tempfile.mkdtemp()), acc)


def test_a_method_missing_a_dataset_is_left_out_and_named(tmp_path):
    acc = {k: dict(v) for k, v in ACC.items()}
    acc["d4"].pop("b")
    result = compare(collect_runs(fake_tree(tmp_path, acc)), "acc")
    assert list(result.scores.columns) == ["a", "c"] and "lacking a dataset" in result.notes[0]
    assert result.friedman_p is None and "at least 3 methods" in result.notes[-1]


def test_one_command_writes_the_comparison_with_its_figures(tmp_path, capsys):
    fake_tree(tmp_path / "runs")
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "c"), "--format", "svg"]) == 0
    out = capsys.readouterr().out
    assert "Friedman test: chi2 = 6.500" in out
    for name in ("comparison.md", "comparison.csv", "posthoc.csv", "cd_diagram.svg", "per_dataset.svg"):
        assert (tmp_path / "c" / name).stat().st_size > 0, name
    ranks = pd.read_csv(tmp_path / "c/comparison.csv", index_col=0)["average_rank"]
    assert ranks.to_dict() == pytest.approx({"A": 1.0, "B": 2.25, "C": 2.75})  # display names
    assert "<svg" in (tmp_path / "c/cd_diagram.svg").read_text()


def test_bad_arguments_are_one_sentence(tmp_path, capsys):
    assert main([str(tmp_path / "nothing")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    fake_tree(tmp_path / "runs")
    assert main([str(tmp_path / "runs"), "--metric", "accuracy"]) == 2
    assert "--metric accuracy is not a metric" in capsys.readouterr().err


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chromium-headless-shell"):
        if shutil.which(name):
            return shutil.which(name)
    pytest.skip(
        "no Chromium installed (apt-get install chromium); the HTML report is not opened in a browser"
    )


@pytest.mark.slow
def test_the_html_report_opens_in_headless_chromium_and_sorts(tmp_path):
    root = fake_tree(tmp_path / "runs")
    figure = root / "d1/a/seed0/loss_curves.png"
    shutil.copy(next((tmp_path / "runs").glob("*/*/*/metrics.json")), figure)  # any file stands for a figure
    html_path = tmp_path / "report/REPORT.html"
    assert report_main([str(root), "--out", str(tmp_path / "report/REPORT.md")]) == 0
    page = html_path.read_text()
    assert page.count("<table") >= 3 and "data:image/png;base64," in page  # tables, embedded CD diagram
    assert 'href="../runs/d1/a/seed0/loss_curves.png"' in page  # per-run figures linked, relative
    browser = chromium()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1800"]
    shot = tmp_path / "report/screenshot.png"
    subprocess.run([browser, *flags, f"--screenshot={shot}", html_path.as_uri()], capture_output=True,
                   timeout=120, check=True)  # fmt: skip
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (1800, 1280) and pixels[..., :3].std() > 0.05  # a rendered page, not blank
    # The script ran: every table sortable; "#sort=T,C" sorts table T by column C as a click does.
    table = page[: page.index("Comparison on ACC")].count("<table")  # the first comparison table
    dom = subprocess.run([browser, *flags, "--dump-dom", html_path.as_uri() + f"#sort={table},2"],
                         capture_output=True, text=True, timeout=120, check=True).stdout  # fmt: skip
    assert 'data-sortable="ready"' in dom
    sorted_table = dom.split(f'id="table-{table}"')[1].split("</table>")[0]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", sorted_table)
    # written a, b, c (by average rank); sorted by mean ACC ascending: c, b, a
    assert cells[0::3] == ["C", "B", "A"] and cells[2::3] == ["0.350", "0.550", "0.750"]
