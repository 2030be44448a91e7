"""Every tracker's files read back by its own client: pandas for CSV, MlflowClient for MLflow, TensorBoard's
event reader; W&B offline files when the client is installed."""

import json

import pandas as pd
import pytest

from tests.conftest import run_app

RUN = ["method=eamc", "dataset=synthetic", "method.epochs=3", "method.encoder_layers=[8]", "hydra.run.dir=r"]


def test_csv_and_mlflow_trackers_hold_what_the_run_wrote(tmp_path, monkeypatch, capsys):
    mlflow = pytest.importorskip(
        "mlflow", reason="the trackers extra is not installed (pip install -e '.[trackers]')"
    )
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

    client = mlflow.tracking.MlflowClient(f"file:{tmp_path}/outputs/mlruns")
    run_id = (tmp_path / "r/mlflow_run_id").read_text().strip()
    run = client.get_run(run_id)
    assert run.info.run_name == "eamc-synthetic-paired-seed0" and run.info.status == "FINISHED"
    assert run.data.params["method.epochs"] == "3" and run.data.params["dataset"] == "synthetic"
    curve = client.get_metric_history(run_id, "train/ddc1")
    assert [m.step for m in sorted(curve, key=lambda m: m.step)] == [0, 1, 2]
    assert run.data.metrics["final/acc"] == pytest.approx(record["acc"])
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"metrics.json", "config.yaml", "history.csv"} <= artifacts


def test_tensorboard_events_hold_every_epoch(tmp_path, monkeypatch, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    assert run_app(*RUN, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)[0] == 0
    events = EventAccumulator(str(tmp_path / "r/tensorboard")).Reload()
    assert [e.step for e in events.Scalars("train/total")] == [0, 1, 2]
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
