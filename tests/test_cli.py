"""The runner as a user drives it: python -m mmc_bench ... in a fresh folder."""

import json

import pandas as pd
import pytest

from tests.conftest import compose_config, run_cli

FAST = ["dataset=synthetic", "method=kmeans", "method.n_init=2"]


@pytest.mark.slow
def test_end_to_end_run_writes_every_output(tmp_path):
    result = run_cli(*FAST, "seed=3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    run_dir = tmp_path / "outputs/runs/synthetic/kmeans/paired/seed3/method.n_init=2"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "completed"
    for key in (
        "method",
        "dataset",
        "setting",
        "seed",
        "n_samples",
        "acc",
        "nmi",
        "nmi_geometric",
        "ari",
        "purity",
        "f_score",
        "precision",
        "recall",
        "final_loss",
        "wall_time_s",
        "device",
        "versions",
        "git_commit",
    ):
        assert key in metrics, key
    assert metrics["seed"] == 3 and metrics["n_samples"] == 300 and metrics["device"] == "cpu"
    assert metrics["acc"] > 0.9  # three well-separated Gaussian clusters
    assert "acc=" in result.stdout
    assert (run_dir / "config.yaml").read_text().count("seed: 3") == 1
    assert len(pd.read_csv(run_dir / "predictions.csv")) == 300
    assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert (run_dir / "history.csv").exists()


@pytest.mark.slow
def test_two_seed_multirun_and_rerun_skips_completed(tmp_path):
    args = ["-m", *FAST, "seed=0,1", "sweep_name=s"]
    assert run_cli(*args, cwd=tmp_path).returncode == 0
    root = tmp_path / "outputs/sweeps/s/synthetic/kmeans/paired"
    records = [json.loads((root / f"seed{s}/method.n_init=2/metrics.json").read_text()) for s in (0, 1)]
    assert [r["seed"] for r in records] == [0, 1] and all(r["status"] == "completed" for r in records)
    again = run_cli(*args, cwd=tmp_path)
    assert again.stdout.count("already completed") == 2


@pytest.mark.slow
def test_same_config_twice_gives_identical_metrics(tmp_path):
    runs = []
    for sub in ("a", "b"):
        result = run_cli("dataset=digits", "method=kmeans", f"hydra.run.dir={sub}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        runs.append(json.loads((tmp_path / sub / "metrics.json").read_text()))
    for key in ("acc", "nmi", "ari", "final_loss"):
        assert runs[0][key] == runs[1][key]


@pytest.mark.slow
def test_missing_data_file_is_one_sentence_and_nonzero(tmp_path):
    result = run_cli("dataset=nwc", f"data_dir={tmp_path}", cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    line = result.stderr.strip()
    assert line.startswith("error: data file for dataset 'nwc' not found") and "\n" not in line
    assert "NUS-WIDE-C5/nwc.npz" in line


@pytest.mark.slow
def test_unknown_dataset_and_bad_override(tmp_path):
    for args, expected in (
        (["dataset=nope"], "Could not find 'dataset/nope'"),
        (["method=kmeans", "method.n_inti=3"], "Key 'n_inti' not in 'KMeansConfig'"),
        (["seed=abc"], "could not be converted to Integer"),
    ):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode != 0 and expected in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_unsupported_setting_is_refused(tmp_path):
    result = run_cli("dataset=synthetic", "method=spectral", "setting=mixed", cwd=tmp_path)
    assert result.returncode == 2
    assert "method 'spectral' does not support setting=mixed; it supports: paired" in result.stderr


@pytest.mark.slow
def test_help_lists_datasets_and_methods(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert (
        "dataset: bbcsport, bdgp" in result.stdout
        and "method: " in result.stdout
        and "kmeans" in result.stdout
    )


@pytest.mark.slow
def test_incomplete_setting_runs(tmp_path):
    result = run_cli(*FAST, "setting=incomplete", "missing_rate=0.3", "hydra.run.dir=inc", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "inc/metrics.json").read_text())["setting"] == "incomplete"


@pytest.mark.slow
def test_failure_never_replaces_a_completed_result(tmp_path):
    run_dir = tmp_path / "done"
    run_dir.mkdir()
    completed = {
        "status": "completed",
        "method": "kmeans",
        "dataset": "nwc",
        "setting": "paired",
        "seed": 0,
        "acc": 0.9,
    }
    (run_dir / "metrics.json").write_text(json.dumps(completed))
    result = run_cli(
        "dataset=nwc", f"data_dir={tmp_path}", "skip_completed=false", "hydra.run.dir=done", cwd=tmp_path
    )
    assert result.returncode == 2 and "not found" in result.stderr
    assert json.loads((run_dir / "metrics.json").read_text()) == completed


@pytest.mark.slow
def test_bad_input_records_a_failed_run(tmp_path):
    result = run_cli("dataset=nwc", f"data_dir={tmp_path}", "hydra.run.dir=bad", cwd=tmp_path)
    assert result.returncode == 2
    record = json.loads((tmp_path / "bad/metrics.json").read_text())
    assert record["status"] == "failed" and "not found" in record["error"]


@pytest.mark.slow
def test_joblib_sweep_matches_sequential(tmp_path):
    common = ["dataset=synthetic", "method=kmeans", "seed=0,1"]
    assert run_cli("-m", *common, "sweep_name=seq", cwd=tmp_path).returncode == 0
    par = run_cli(
        "-m", *common, "sweep_name=par", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", cwd=tmp_path
    )
    assert par.returncode == 0, par.stderr
    for seed in (0, 1):
        seq_m, par_m = (
            json.loads(
                (
                    tmp_path / f"outputs/sweeps/{name}/synthetic/kmeans/paired/seed{seed}/metrics.json"
                ).read_text()
            )
            for name in ("seq", "par")
        )
        for metric in ("acc", "nmi", "ari", "purity"):
            assert seq_m[metric] == par_m[metric]
        # k-means sums its float32 inertia over threads: one thread per job changes the summation order only
        assert par_m["final_loss"] == pytest.approx(seq_m["final_loss"], rel=1e-6)
        assert yaml_threads(tmp_path / f"outputs/sweeps/par/synthetic/kmeans/paired/seed{seed}") >= 1


def yaml_threads(run_dir):
    import yaml

    return yaml.safe_load((run_dir / "config.yaml").read_text())["threads"]


@pytest.mark.slow
def test_submitit_local_launcher_runs_the_sweep(tmp_path):
    result = run_cli(
        "-m",
        "dataset=synthetic",
        "method=kmeans",
        "seed=0,1",
        "sweep_name=sub",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=5",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    for seed in (0, 1):
        record = json.loads(
            (tmp_path / f"outputs/sweeps/sub/synthetic/kmeans/paired/seed{seed}/metrics.json").read_text()
        )
        assert record["status"] == "completed" and record["seed"] == seed


def test_methods_never_receive_labels(tmp_path, monkeypatch):

    from mmc_bench.methods.baselines import KMeansConcat
    from mmc_bench.run.runner import run_experiment

    seen = []
    fit, predict = KMeansConcat.fit_dataset, KMeansConcat.predict_dataset
    monkeypatch.setattr(
        KMeansConcat,
        "fit_dataset",
        lambda self, data, trainer: seen.append(data.labels) or fit(self, data, trainer),
    )
    monkeypatch.setattr(
        KMeansConcat, "predict_dataset", lambda self, data: seen.append(data.labels) or predict(self, data)
    )
    cfg = compose_config("method=kmeans", "dataset=synthetic")
    record = run_experiment(cfg, tmp_path)
    assert seen == [None, None] and record["acc"] > 0.9  # scored with labels the method never saw


def test_dataset_views_on_a_users_file(tmp_path):
    """COMPLETER's papers run two of a file's three views: dataset.views picks and orders them."""
    import numpy as np

    rng = np.random.default_rng(0)
    views = {f"view_{v}": rng.normal(size=(40, 3 + v)) for v in range(3)}
    np.savez(tmp_path / "three.npz", labels=np.repeat([0, 1], 20), **views)
    ok = run_cli(
        "method=kmeans",
        "dataset=file",
        "dataset.path=three.npz",
        "dataset.views=[2,1]",
        "hydra.run.dir=r",
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    record = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert record["view_dims"] == [5, 4] and record["view_names"] == ["view_2", "view_1"]
    bad = run_cli(
        "method=kmeans", "dataset=file", "dataset.path=three.npz", "dataset.views=[0,3]", cwd=tmp_path
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "dataset.views names view 3, but" in bad.stderr and "has views 0..2" in bad.stderr
