"""`mmc-bench auto`: a portfolio, one label-free choice, failures listed, resumable, labels never read."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from mmc_bench.run.auto import decide, parse
from tests.conftest import ROOT, run_app, run_cli
from tests.test_selection import poison_the_dataset_labels

AUTO = ["auto", "dataset=synthetic", "dataset.n_samples=90", "methods=kmeans,spectral,kmeans_view,ae_kmeans"]


def test_bad_auto_arguments_are_one_sentence(tmp_path, monkeypatch, capsys):
    for args, sentence in (
        (["budget=huge"], "budget=huge is not a budget; choose quick"),
        (["method=eamc"], "leave out method=eamc"),
        (["methods=kmeans,dm2c"], "dm2c is not a method for setting=paired"),
        (["dataset=nothing"], "in the overrides of auto"),
    ):
        code, _, err = run_app(
            "auto", "dataset=synthetic", *args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys
        )
        assert code == 2 and sentence in err and "Traceback" not in err, (args, err)
    assert parse(["dataset=digits", "hydra.run.dir=d"])[1].name == "d"


def interrupt_after_first_run(args: list[str], cwd, runs) -> subprocess.CompletedProcess:
    """Start ``args`` as a terminal would, press Ctrl-C once a run has completed, and wait for the exit."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mmc_bench", *args], cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if any('"completed"' in p.read_text() for p in runs.rglob("metrics.json")):
            break
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.slow
def test_auto_chooses_writes_its_files_lists_failures_and_resumes(tmp_path):
    stopped = interrupt_after_first_run([*AUTO, "hydra.run.dir=a"], tmp_path, tmp_path / "a")
    assert stopped.returncode == 130 and "run the same command again to continue" in stopped.stderr
    assert not (tmp_path / "a/choice.json").exists()
    first = run_cli(*AUTO, "hydra.run.dir=a", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.stdout.count("auto [") == 8  # a line before and after each of the 4 methods
    kept = sum(int(n) for n in re.findall(r"(\d+) skipped", first.stdout))
    assert 1 <= kept < 12  # the runs finished before the Ctrl-C are kept, the rest run now
    choice = json.loads((tmp_path / "a/choice.json").read_text())
    names = {c["candidate"] for c in choice["candidates"]}
    assert names == {"k-means", "spectral", "k-means (one view)", "AE + k-means (epochs=10)"}
    assert choice["chosen"] in names and choice["chosen"] in first.stdout
    for candidate in choice["candidates"]:
        assert {"method", "overrides", "run_dirs", "rank", "consensus_nmi", "acc", "nmi"} <= set(candidate)
        assert candidate["acc"] is not None and len(candidate["run_dirs"]) == 3
    # ranks count the candidates that can be chosen, 1 for the chosen one, none for a collapsed one
    ranks = sorted(c["rank"] for c in choice["candidates"] if not c["collapsed"])
    assert ranks[0] == 1 and ranks[-1] <= len(ranks)
    assert all(c["rank"] is None for c in choice["candidates"] if c["collapsed"])
    predictions = (tmp_path / "a/predictions.csv").read_text().splitlines()
    assert predictions[0] == "sample,predicted" and len(predictions) == 91

    # the same command again: every run is skipped, the same choice
    again = run_cli(*AUTO, "hydra.run.dir=a", cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.count("0 completed, 0 failed, 3 skipped") == 4
    assert json.loads((tmp_path / "a/choice.json").read_text())["chosen"] == choice["chosen"]


@pytest.mark.slow
def test_a_failing_candidate_is_listed_and_the_choice_never_reads_labels(tmp_path, monkeypatch):
    # one view: DMIM refuses it (one sentence), the others run
    args = [
        "auto",
        "dataset=synthetic",
        "dataset.n_samples=90",
        "dataset.view_dims=[6]",
        "methods=kmeans,spectral,dmim",
    ]
    result = run_cli(*args, "hydra.run.dir=b", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    choice = json.loads((tmp_path / "b/choice.json").read_text())
    assert len(choice["failed"]) == 3 and all(
        "DMIM" in f["reason"] or "view" in f["reason"] for f in choice["failed"]
    )
    assert choice["chosen"] in {"k-means", "spectral"} and "failed:" in result.stdout
    for path in (tmp_path / "b/runs").rglob("predictions.npz"):  # forget the labels, decide again
        import numpy as np

        arrays = dict(np.load(path))
        arrays.pop("true")
        np.savez(path, **arrays)
    poison_the_dataset_labels(monkeypatch)
    assert decide(tmp_path / "b/runs")["chosen"] == choice["chosen"]


def test_budget_thorough_adds_a_search_for_each_method_with_a_search_space(tmp_path):
    from mmc_bench.run.auto import search_command, sweep_command

    runs = tmp_path / "runs"
    command = search_command("eamc", "thorough", runs, ["dataset=cub"])
    assert command[3:] == [
        "hparams_search=eamc", "dataset=cub", "hydra.sweeper.n_trials=8", f"hydra.sweep.dir={runs}/search/eamc"
    ]  # fmt: skip
    assert search_command("kmeans", "thorough", runs, []) is None  # no search space
    assert search_command("eamc", "standard", runs, []) is None
    assert "seed=0,1,2,3,4" in sweep_command("eamc", "thorough", runs, [])
