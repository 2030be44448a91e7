"""What a user sees while a run trains: the plan line, the first-epoch estimate, log lines that never share a
line with a progress bar, a bar of constant width, --version."""

import numpy as np
import pytest

from mmc_bench import EAMC
from mmc_bench.run.engine import Phase, estimate_line, format_seconds, plan_line
from tests.conftest import ROOT, run_app, run_cli


def views(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(n, 4)), rng.normal(size=(n, 3))]


def test_the_plan_line_names_phases_epochs_and_outputs():
    phases = [Phase("pretrain", 150, lambda e: {}), Phase("adversarial", 1, lambda e: {}, unit="round")]
    line = plan_line("dm2c", phases, "on cub (setting=mixed); outputs in /x")
    assert line == "dm2c on cub (setting=mixed); outputs in /x: pretrain 150 epochs + adversarial 1 round"
    assert plan_line("kmeans", []) == "kmeans: fitted directly, no training epochs"


def test_the_estimate_after_the_first_epoch():
    line = estimate_line("eamc", Phase("train", 500, lambda e: {}), 0.25, 499)
    assert line == "eamc train: first epoch took 0.25 s; the other 499 epochs of this phase take about 2 min"
    assert [format_seconds(s) for s in (12, 125, 7200)] == ["12 s", "2 min", "2.0 h"]


def test_a_verbose_fit_from_python_says_what_it_does_and_keeps_log_lines_off_the_bar(capsys):
    EAMC(n_clusters=3, epochs=12, random_state=0, verbose=True).fit(views())
    err = capsys.readouterr().err
    assert "eamc on 60 samples x 2 views, K=3: train 12 epochs" in err
    assert "eamc train: first epoch took" in err
    lines = [line for line in err.split("\n") if "eamc train epoch" in line]
    assert len(lines) == 2  # log_every 10: epoch 10 and the last one
    for line in lines:
        # tqdm.write clears the bar (\r) before a log line: after the last \r the line is the log line alone
        shown = line.split("\r")[-1]
        assert shown.startswith("[") and "it/s" not in shown, repr(line)
        assert "ddc1=" in shown and "att=" in shown  # the log line has every term
    bars = [part for part in err.replace("\n", "\r").split("\r") if "it/s" in part]
    assert bars and all("ddc1=" not in bar for bar in bars)  # the bar shows the main term only
    assert any("total=" in bar for bar in bars)


def test_a_quiet_fit_prints_nothing(capsys):
    EAMC(n_clusters=3, epochs=2, random_state=0, verbose=False).fit(views())
    assert capsys.readouterr().err == ""


def test_a_run_names_its_plan_and_output_folder_in_its_log(tmp_path, monkeypatch, capsys):
    args = [
        "method=eamc",
        "dataset=synthetic",
        "method.epochs=2",
        "method.encoder_layers=[8]",
        "hydra.run.dir=r",
    ]
    assert run_app(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)[0] == 0
    log = (tmp_path / "r/app.log").read_text()
    assert "eamc on synthetic (setting=paired, 300 samples, K=3, views: view_0 10-d, view_1 8-d); " in log
    assert f"outputs in {tmp_path / 'r'}: train 2 epochs" in log


@pytest.mark.slow
def test_version_prints_mmc_benchs_version_with_torch_and_cuda(tmp_path):
    import torch

    from mmc_bench import __version__

    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    first, second = result.stdout.splitlines()[:2]
    assert first == f"mmc_bench {__version__}"
    assert f"torch {torch.__version__}, CUDA " in second and "hydra-core" in second
    assert ROOT.exists()
