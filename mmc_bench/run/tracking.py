"""Per-run logging: every loss term per epoch to the chosen trackers (``logger=``) and to history.csv.

Trackers: ``tensorboard`` (the default; events in RUN/tensorboard), ``csv`` (RUN/csv/metrics.csv, one row
per epoch written as it ends, and hparams.yaml), ``mlflow`` (params, per-epoch metrics and the run's files
as artifacts, in a local store: ``logger.mlflow.uri``, default SQLite in outputs/mlflow.db) and ``wandb``
(offline mode, files in RUN/wandb; ``wandb sync`` uploads them later). Several at once:
``logger=[tensorboard,mlflow]`` (Hydra merges the chosen files of conf/logger/).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from mmc_bench.errors import UserError
from mmc_bench.run.storage import write_text_atomic

TRACKERS = ("tensorboard", "csv", "mlflow", "wandb")
# The tag prefix of a run's final metrics (ACC, NMI, ..., the label-free scores) in every tracker.
FINAL_TAG = "metrics"


class Tracker:
    """One backend: scalars with a step, the run's hyper-parameters with its final metrics, its files."""

    def scalars(self, values: dict[str, float], step: int) -> None: ...

    def hparams(self, params: dict[str, Any], metrics: dict[str, float]) -> None: ...

    def close(self, files: list[Path]) -> None: ...


class TensorBoardTracker(Tracker):
    def __init__(self, run_dir: Path):
        from torch.utils.tensorboard import SummaryWriter

        self.writer = SummaryWriter(log_dir=str(run_dir / "tensorboard"))

    def scalars(self, values: dict[str, float], step: int) -> None:
        for tag, value in values.items():
            self.writer.add_scalar(tag, value, step)

    def hparams(self, params: dict[str, Any], metrics: dict[str, float]) -> None:
        """The HParams tab's entry, in this run's own event file: its metrics columns read the final
        metrics' scalars (``metrics/acc``, ...), each logged once by the run (add_hparams would log them
        again, as ``acc``, in a second run folder)."""
        from torch.utils.tensorboard.summary import hparams

        shown = {k: v for k, v in params.items() if v is not None}
        for summary in hparams(shown, {f"{FINAL_TAG}/{k}": v for k, v in metrics.items()}):
            self.writer.file_writer.add_summary(summary)
        self.scalars({f"{FINAL_TAG}/{k}": v for k, v in metrics.items()}, 0)

    def close(self, files: list[Path]) -> None:
        self.writer.flush()
        self.writer.close()


class CSVTracker(Tracker):
    """Long format (step, tag, value), appended and flushed as each epoch ends, so a running job can be read."""

    def __init__(self, run_dir: Path):
        self.folder = run_dir / "csv"
        self.folder.mkdir(exist_ok=True)
        self.handle = open(self.folder / "metrics.csv", "w", newline="")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(["step", "tag", "value"])

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.writer.writerows([step, tag, value] for tag, value in values.items())
        self.handle.flush()

    def hparams(self, params: dict[str, Any], metrics: dict[str, float]) -> None:
        write_text_atomic(self.folder / "hparams.yaml", yaml.safe_dump(params, sort_keys=True))
        self.scalars({f"{FINAL_TAG}/{k}": v for k, v in metrics.items()}, 0)

    def close(self, files: list[Path]) -> None:
        self.handle.close()


class MLflowTracker(Tracker):
    def __init__(self, run_dir: Path, uri: str, experiment: str, run_name: str, artifacts: str | None = None):
        try:
            import mlflow
        except ImportError:
            raise UserError("logger=mlflow needs the mlflow client: pip install -e '.[trackers]'") from None
        if uri.startswith("file:"):
            # A file store (chosen by hand) is in maintenance mode in MLflow 3: its readers need the same switch.
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        self.client = mlflow.tracking.MlflowClient(uri)
        found = self.client.get_experiment_by_name(experiment)
        experiment_id = (
            found.experiment_id
            if found
            else self.client.create_experiment(
                experiment, artifact_location=artifact_location(uri, artifacts)
            )
        )
        self.run_id = self.client.create_run(experiment_id, run_name=run_name).info.run_id
        write_text_atomic(run_dir / "mlflow_run_id", self.run_id + "\n")

    def scalars(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(tag, value, now, step) for tag, value in values.items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def hparams(self, params: dict[str, Any], metrics: dict[str, float]) -> None:
        from mlflow.entities import Param

        self.client.log_batch(self.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        self.scalars({f"{FINAL_TAG}/{k}": v for k, v in metrics.items()}, 0)

    def close(self, files: list[Path]) -> None:
        for path in files:
            if path.is_file():
                self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id)


def artifact_location(uri: str, artifacts: str | None) -> str | None:
    """Where a new experiment keeps its files: ``artifacts`` when given, else a folder beside a SQLite store
    (MLflow's own default is ./mlruns under whichever folder the run started in)."""
    if artifacts:
        return Path(artifacts).resolve().as_uri()
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "mlartifacts").as_uri()
    return None


class WandbTracker(Tracker):
    def __init__(self, run_dir: Path, project: str, run_name: str):
        try:
            import wandb
        except ImportError:
            raise UserError("logger=wandb needs the wandb client: pip install wandb") from None
        self.run = wandb.init(
            project=project, name=run_name, dir=str(run_dir), mode="offline", reinit="create_new"
        )

    def scalars(self, values: dict[str, float], step: int) -> None:
        self.run.log(values, step=step)

    def hparams(self, params: dict[str, Any], metrics: dict[str, float]) -> None:
        self.run.config.update(params, allow_val_change=True)
        self.run.summary.update(metrics)

    def close(self, files: list[Path]) -> None:
        self.run.finish()


class RunLog:
    """Collects per-epoch scalars; with a directory it also sends them to the chosen trackers.

    ``step`` counts epochs over the whole run, across phases, so that every tracker's curve is monotone.
    """

    def __init__(
        self,
        run_dir: Path | None = None,
        trackers: Mapping[str, Mapping[str, Any]] | None = None,
        run_name: str = "run",
    ):
        """``trackers`` maps a tracker name to its settings (conf/logger/*.yaml); default TensorBoard only."""
        self.run_dir = run_dir
        self.rows: list[dict[str, Any]] = []
        self.trackers: list[Tracker] = []
        if run_dir is None:
            return
        for name, settings in (trackers if trackers is not None else {"tensorboard": {}}).items():
            settings = dict(settings or {})
            if name == "tensorboard":
                self.trackers.append(TensorBoardTracker(run_dir))
            elif name == "csv":
                self.trackers.append(CSVTracker(run_dir))
            elif name == "mlflow":
                uri = settings.get("uri", "sqlite:///outputs/mlflow.db")
                experiment = settings.get("experiment", "mmc_bench")
                artifacts = settings.get("artifacts")
                self.trackers.append(MLflowTracker(run_dir, uri, experiment, run_name, artifacts))
            elif name == "wandb":
                self.trackers.append(WandbTracker(run_dir, settings.get("project", "mmc_bench"), run_name))
            else:
                raise UserError(f"logger={name} is not a tracker; choose from {', '.join(TRACKERS)}")

    def epoch(self, epoch: int, scalars: dict[str, float], phase: str = "train") -> None:
        """Record one epoch's scalars (the engine has already stopped a diverged run)."""
        self.rows.append({"phase": phase, "epoch": epoch, **scalars})
        self._send({f"{phase}/{name}": value for name, value in scalars.items()}, epoch)

    def restore(self, rows: list[dict[str, Any]]) -> None:
        """A resumed run's history so far (its trackers already hold those epochs)."""
        self.rows = list(rows)

    def scalar(self, tag: str, value: float, step: int = 0) -> None:
        self._send({tag: value}, step)

    def scalars(self, tag: str, values: dict[str, float], step: int = 0) -> None:
        self._send({f"{tag}/{name}": value for name, value in values.items()}, step)

    def _send(self, values: dict[str, float], step: int) -> None:
        for tracker in self.trackers:
            tracker.scalars(values, step)

    def hparams(self, params: dict[str, Any], metrics: dict[str, float]) -> None:
        """The run's hyper-parameters and final metrics (TensorBoard's HPARAMS tab, MLflow params)."""
        for tracker in self.trackers:
            tracker.hparams(params, metrics)

    def history(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=None if self.rows else ["phase", "epoch"])

    def close(self, files: Iterable[Path] = ()) -> None:
        """Flush every tracker; ``files`` (metrics.json, config.yaml, history.csv, figures) become artifacts."""
        files = list(files)
        for tracker in self.trackers:
            tracker.close(files)
        self.trackers = []
