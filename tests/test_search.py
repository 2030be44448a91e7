"""Hyper-parameter search on a label-free objective, stored in SQLite and resumed after Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, compose_config, run_cli

optuna = pytest.importorskip(
    "optuna", reason="the search extra is not installed (pip install -e '.[search]')"
)

SEARCH = ["hparams_search=eamc", "dataset=synthetic", "method.epochs=30", "method.encoder_layers=[16]"]


def study(tmp_path):
    storage = f"sqlite:///{tmp_path}/outputs/sweeps/search/eamc/synthetic/optuna.db"
    return optuna.load_study(study_name="eamc_synthetic", storage=storage)


@pytest.mark.parametrize("name", ["eamc", "dmim", "cmmc", "jecl", "dm2c"])
def test_every_search_maximises_a_label_free_objective(name):
    extra = ["experiment=dm2c_wikipedia_sift"] if name == "dm2c" else []
    cfg = compose_config(f"hparams_search={name}", *extra)
    from hydra.core.global_hydra import GlobalHydra  # noqa: F401  (compose_config leaves no global state)

    assert cfg.objective.value == "view_silhouette" and cfg.method.name == name


def _a_trial_is_training(sweep: Path) -> bool:
    """A run folder without a completed metrics.json whose log shows its first epoch done."""
    for log in sweep.rglob("app.log"):
        metrics = log.parent / "metrics.json"
        if (
            not (metrics.exists() and '"completed"' in metrics.read_text())
            and "first epoch took" in log.read_text()
        ):
            return True
    return False


@pytest.mark.slow
def test_search_resumes_after_ctrl_c_and_keeps_its_trials(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    # Ctrl-C at a terminal: SIGINT at its default disposition, even when pytest runs as a background job
    # (whose children start with SIGINT ignored, and then rightly ignore it).
    first = subprocess.Popen(
        [sys.executable, "-m", "mmc_bench", *SEARCH, "hydra.sweeper.n_trials=4", "plots=none"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.time() + 300
    sweep = tmp_path / "outputs/sweeps/search/eamc/synthetic"
    # Watch the run folders, not the database: opening it while the sweeper creates it races its schema.
    # Signal once a trial has completed and the next one is training: a signal that lands while Hydra composes
    # the next job is reported by Hydra as a composition error (exit 1), a timing this test is not about.
    while time.time() < deadline and first.poll() is None:
        if any('"completed"' in p.read_text() for p in sweep.rglob("metrics.json")) and _a_trial_is_training(
            sweep
        ):
            break
        time.sleep(0.05)
    first.send_signal(signal.SIGINT)
    assert first.wait(timeout=300) == 130, first.communicate()
    done_before = sum(t.state.name == "COMPLETE" for t in study(tmp_path).trials)
    assert 1 <= done_before < 4

    resumed = run_cli(*SEARCH, "hydra.sweeper.n_trials=4", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"already has {done_before} completed trials" in resumed.stdout + resumed.stderr
    trials = study(tmp_path).trials
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 4 and all(t.state.name in ("COMPLETE", "FAIL") for t in trials)
    # each trial's value is its run's silhouette in the input views, never a label score
    best = study(tmp_path).best_trial
    runs = [
        json.loads(p.read_text()) for p in (tmp_path / "outputs/sweeps/search/eamc").rglob("metrics.json")
    ]
    silhouettes = {round(r["label_free"]["view_silhouette"], 9) for r in runs if r["status"] == "completed"}
    assert round(best.value, 9) in silhouettes
    assert best.value == max(t.value for t in complete)
    # the first trial is the default configuration; a label-free choice among the trials follows them
    assert trials[0].params == {"method.lr_encoder": 1e-05, "method.lr_clustering": 1e-05,
                                "method.lr_discriminator": 0.001, "method.gamma": 10.0}  # fmt: skip
    selection = json.loads((sweep / "selection/selection.json").read_text())["synthetic"]
    assert (
        selection["chosen"]["consensus"] is not None
        and "selection written" in resumed.stdout + resumed.stderr
    )
    # the default is the incumbent; it and every pick that would replace it ran again with seeds 1 and 2
    record = json.loads((sweep / "search.json").read_text())
    incumbent = next(c for c in selection["candidates"] if c["candidate"] == selection["incumbent"])
    assert Path(record["incumbent_run"]) in {tmp_path / d for d in incumbent["run_dirs"]}
    assert incumbent["seeds"] == 3
    seeds = sorted(c["seeds"] for c in selection["candidates"])
    assert seeds == [1] * (4 - len(record["confirmation"]["jobs"]) // 2) + [3] * (
        len(record["confirmation"]["jobs"]) // 2
    )
    # only a candidate run over several seeds, ahead by more than seed noise, replaces the default
    three = {c["candidate"] for c in selection["candidates"] if c["seeds"] == 3}
    for criterion, check in selection["confirmation"].items():
        assert check["contender"] is None or check["contender"] in three
        assert check["confirmed"] == bool(check["contender"] and check["gain"] > check["noise"])
        assert selection["chosen"][criterion] == (
            check["contender"] if check["confirmed"] else selection["incumbent"]
        )

    # the report's evidence section: the default's seeds outside the search against each criterion's pick
    fixed = [a for a in SEARCH if not a.startswith("hparams_search")]
    defaults = run_cli(
        "-m", "method=eamc", *fixed, "seed=0,1", "plots=none", "hydra.sweep.dir=d", cwd=tmp_path
    )
    assert defaults.returncode == 0, defaults.stderr[-2000:]
    from mmc_bench.analysis.report import main as report_main

    out = tmp_path / "R.md"
    assert (
        report_main([str(tmp_path / "d"), str(sweep), "--out", str(out), "--section", "choice", "--no-html"])
        == 0
    )
    row = next(line for line in out.read_text().splitlines() if line.startswith("| eamc"))
    cells = [c.strip() for c in row.split("|")[1:-1]]
    accs = [json.loads(p.read_text())["acc"] for p in (tmp_path / "d").rglob("metrics.json")]
    mean, std = sum(accs) / 2, abs(accs[0] - accs[1]) / 2**0.5
    assert cells[2] == "4" and cells[3] == f"{mean:.3f} ± {std:.3f} (2)"
    # a criterion that kept the search's default says so
    for cell, criterion in zip(cells[4:8], ("view_silhouette", "cross_space", "consensus", "own_silhouette")):
        assert cell.endswith("(default)") == (selection["chosen"][criterion] == selection["incumbent"])


def test_a_new_study_starts_from_the_composed_configuration():
    import yaml

    from mmc_bench.run.search import default_point, search_space

    conf = ROOT / "mmc_bench/conf"
    params = yaml.safe_load((conf / "hparams_search/eamc.yaml").read_text())["hydra"]["sweeper"]["params"]
    cfg = compose_config("hparams_search=eamc", "method.gamma=2.5")
    space, _ = search_space(params, [])
    point = default_point(cfg, space)
    assert point == {
        "method.lr_encoder": cfg.method.lr_encoder,
        "method.lr_clustering": cfg.method.lr_clustering,
        "method.lr_discriminator": cfg.method.lr_discriminator,
        "method.gamma": 2.5,
    }
    sweeper = yaml.safe_load((conf / "hydra/sweeper/optuna.yaml").read_text())
    assert sweeper["enqueue_default"] is True and sweeper["select"] is True


def test_confirmation_runs_the_default_and_each_challenger_again_once(tmp_path):
    from types import SimpleNamespace

    from omegaconf import OmegaConf

    from mmc_bench.run.search import confirmation_jobs, record_runs

    def job(run_dir):
        return SimpleNamespace(
            hydra_cfg=OmegaConf.create({"hydra": {"runtime": {"output_dir": str(run_dir)}}})
        )

    trials = [
        ["method.gamma=10.0", "dataset=d"],
        ["method.gamma=2.0", "dataset=d"],
        ["method.gamma=3.0", "dataset=d"],
    ]
    record_runs(tmp_path, trials[:1], [job(tmp_path / "a")], first=True)
    record_runs(tmp_path, trials[1:], [job(tmp_path / "b"), job(tmp_path / "c")], first=False)
    selection = {
        "d": {
            "incumbent": "A",
            "candidates": [{"candidate": n, "run_dirs": [str(tmp_path / n.lower())]} for n in "ABC"],
            # two criteria lead with B, one with the default itself, one has no leader
            "confirmation": {
                "consensus": {"challenger": "B"},
                "cross_space": {"challenger": "B"},
                "view_silhouette": {"challenger": "A"},
                "stability": {"challenger": None},
            },
        }
    }
    (tmp_path / "selection").mkdir()
    (tmp_path / "selection/selection.json").write_text(json.dumps(selection))
    assert json.loads((tmp_path / "search.json").read_text())["incumbent_run"] == str(tmp_path / "a")
    jobs = confirmation_jobs(tmp_path, [1, 2], trials=3)
    assert jobs == [
        ["method.gamma=10.0", "dataset=d", "seed=1"],
        ["method.gamma=10.0", "dataset=d", "seed=2"],
        ["method.gamma=2.0", "dataset=d", "seed=1"],
        ["method.gamma=2.0", "dataset=d", "seed=2"],
    ]
    # the same command again (after Ctrl-C) finishes these runs even if the choice has moved since
    selection["d"]["confirmation"]["consensus"]["challenger"] = "C"
    (tmp_path / "selection/selection.json").write_text(json.dumps(selection))
    assert confirmation_jobs(tmp_path, [1, 2], trials=3) == jobs
    assert ["method.gamma=3.0", "dataset=d", "seed=1"] in confirmation_jobs(tmp_path, [1, 2], trials=4)
    # a collapsed default holds no place: nothing is confirmed against it
    selection["d"]["candidates"][0]["collapsed"] = True
    (tmp_path / "selection/selection.json").write_text(json.dumps(selection))
    assert confirmation_jobs(tmp_path, [1, 2], trials=5) == []
