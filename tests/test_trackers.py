"""Every tracker's files read back by its own client: pandas for CSV, MlflowClient for MLflow, TensorBoard's
event reader; W&B offline files when the client is installed."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from tests.conftest import run_app

RUN = ["method=eamc", "dataset=synthetic", "method.epochs=3", "method.encoder_layers=[8]", "hydra.run.dir=r"]


def test_csv_and_mlflow_trackers_hold_what_the_run_wrote(tmp_path, monkeypatch, capsys):
    pytest.importorskip("mlflow", reason="the trackers extra is not installed (pip install -e '.[trackers]')")
    code, _, err = run_app(
        *RUN, "logger=[tensorboard,csv,mlflow]", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0, err
    history = pd.read_csv(tmp_path / "r/history.csv")
    record = json.loads((tmp_path / "r/metrics.json").read_text())

    logged = pd.read_csv(tmp_path / "r/csv/metrics.csv")
    totals = logged[logged["tag"] == "train/total"].sort_values("step")
    assert totals["step"].tolist() == [0, 1, 2]
    assert totals["value"].tolist() == pytest.approx(history["total"].tolist())

    # A plain client in a fresh interpreter, with no MLflow environment variable, reads the default store.
    script = f"""
import json, mlflow
client = mlflow.MlflowClient("sqlite:///{tmp_path}/outputs/mlflow.db")
run = client.search_runs([client.get_experiment_by_name("mmc_bench").experiment_id])[0]
curve = client.get_metric_history(run.info.run_id, "train/ddc1")
artifacts = [a.path for a in client.list_artifacts(run.info.run_id)]
print(json.dumps({{"id": run.info.run_id, "name": run.info.run_name, "status": run.info.status,
    "params": run.data.params, "metrics": run.data.metrics, "steps": sorted(m.step for m in curve),
    "artifacts": artifacts}}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    run = json.loads(out.stdout.strip().splitlines()[-1])
    assert run["id"] == (tmp_path / "r/mlflow_run_id").read_text().strip()
    assert run["name"] == "eamc-synthetic-paired-seed0" and run["status"] == "FINISHED"
    assert run["params"]["method.epochs"] == "3" and run["params"]["dataset"] == "synthetic"
    assert run["steps"] == [0, 1, 2]
    assert run["metrics"]["metrics/acc"] == pytest.approx(record["acc"])
    assert run["metrics"]["metrics/label_free/silhouette"] == pytest.approx(
        record["label_free"]["silhouette"]
    )
    assert {"metrics.json", "config.yaml", "history.csv"} <= set(run["artifacts"])
    assert (tmp_path / "outputs/mlartifacts").is_dir()


def test_tensorboard_holds_every_epoch_each_final_metric_once_and_the_runs_keys(
    tmp_path, monkeypatch, capsys
):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata

    assert run_app(*RUN, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)[0] == 0
    record = json.loads((tmp_path / "r/metrics.json").read_text())
    # one event file, in the run's folder (add_hparams used to open a second one)
    assert [p.parent for p in (tmp_path / "r/tensorboard").rglob("events.out.tfevents.*")] == [
        tmp_path / "r/tensorboard"
    ]
    events = EventAccumulator(str(tmp_path / "r/tensorboard")).Reload()
    assert [e.step for e in events.Scalars("train/total")] == [0, 1, 2]
    tags = events.Tags()["scalars"]
    finals = [t for t in tags if t.endswith("/acc") or t == "acc"]
    assert finals == ["metrics/acc"] and len(events.Scalars("metrics/acc")) == 1
    assert events.Scalars("metrics/acc")[0].value == pytest.approx(record["acc"])
    silhouette = events.Scalars("metrics/label_free/silhouette")[0].value
    assert silhouette == pytest.approx(record["label_free"]["silhouette"])
    assert not any("missing_rate" in t for t in tags)

    content = events.PluginTagToContent("hparams")
    experiment = metadata.parse_experiment_plugin_data(content[metadata.EXPERIMENT_TAG])
    keys = {h.name for h in experiment.hparam_infos}
    assert {"method.epochs", "method.gamma", "dataset.n_samples", "dataset.preprocess", "seed"} <= keys
    columns = {m.name.tag for m in experiment.metric_infos}
    assert {"metrics/acc", "metrics/nmi", "metrics/label_free/silhouette"} <= columns
    session = metadata.parse_session_start_info_plugin_data(content[metadata.SESSION_START_INFO_TAG])
    assert session.hparams["method.epochs"].number_value == 3
    assert not (tmp_path / "r/csv").exists()  # only the chosen trackers write


def test_wandb_offline_run_is_written_to_the_run_folder(tmp_path, monkeypatch, capsys):
    pytest.importorskip("wandb", reason="wandb is not installed (pip install wandb)")
    monkeypatch.setenv("WANDB_SILENT", "true")
    code, _, err = run_app(*RUN, "logger=wandb", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0, err
    runs = list((tmp_path / "r/wandb").glob("offline-run-*"))
    assert len(runs) == 1 and list(runs[0].glob("*.wandb"))


def test_an_unknown_tracker_is_refused(tmp_path, monkeypatch, capsys):
    code, _, err = run_app(*RUN, "logger=neptune", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code != 0 and "Could not find 'logger/neptune'" in err
