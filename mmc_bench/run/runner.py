"""One experiment: data in, method fitted, labels scored, every output written into the run directory."""

from __future__ import annotations

import json
import logging
import platform
import subprocess
import time
from dataclasses import replace
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from hydra.utils import get_class, to_absolute_path
from omegaconf import DictConfig, OmegaConf

from mmc_bench import __version__, registry
from mmc_bench.analysis.selection import view_silhouette
from mmc_bench.analysis.validity import label_free_scores
from mmc_bench.config import (
    FigureFormat,
    MissingScheme,
    Plots,
    Setting,
    Split,
    resume_mode,
    validate_run_config,
)
from mmc_bench.data.build import apply_split, load_dataset
from mmc_bench.data.dataset import MultiViewDataset
from mmc_bench.data.preprocess import preprocess_views
from mmc_bench.data.settings import apply_setting
from mmc_bench.errors import TrainingDiverged, UserError
from mmc_bench.methods.base import ClusteringMethod, Prediction, keeps_embedding
from mmc_bench.metrics import evaluate
from mmc_bench.run.checkpoint import CHECKPOINT_FILE, Checkpointer, Interrupted
from mmc_bench.run.engine import Trainer, resolve_device, seed_everything
from mmc_bench.run.identity import run_identity
from mmc_bench.run.storage import METRICS_FILE, write_atomic, write_json_atomic, write_text_atomic
from mmc_bench.run.tracking import RunLog

# Lines for the console and app.log (Hydra sends this logger to both).
console = logging.getLogger("mmc_bench")


def prepare_dataset(cfg: DictConfig) -> MultiViewDataset:
    """Load, split, draw the setting's view mask, then preprocess (fitted on the training part)."""
    data_dir = Path(to_absolute_path(cfg.data_dir))
    data = load_dataset(cfg.dataset, data_dir)
    split = Split(cfg.dataset.split)
    if split == Split.auto and not data.has_split:
        # What the method declares for data without a published split (DM2C: a seeded stratified split).
        split = get_class(cfg.method._target_).default_split
    data = apply_split(data, split, cfg.dataset.train_fraction, cfg.seed)
    data = apply_setting(
        data,
        Setting(cfg.setting),
        cfg.seed,
        missing_rate=cfg.missing_rate,
        missing_views=None if cfg.missing_views is None else list(cfg.missing_views),
        scheme=MissingScheme(cfg.missing_scheme),
    )
    check_views_present(data, cfg)
    return preprocess_views(data, preprocess_specs(cfg, data.n_views))


def preprocess_specs(cfg: DictConfig, n_views: int) -> list[str]:
    """The preprocessing of each view as configured (one entry for all views is repeated)."""
    specs = list(cfg.dataset.preprocess)
    return specs * n_views if len(specs) == 1 else specs


def check_views_present(data: MultiViewDataset, cfg: DictConfig) -> None:
    """Every view needs training samples that have it, or no part of a method can be fitted on it."""
    train = np.ones(data.n_samples, bool) if data.is_train is None else data.is_train
    for v, name in enumerate(data.view_names):
        if not (data.mask[:, v] & train).any():
            raise UserError(
                f"view {v} ('{name}') of {data.name} has no training sample left after setting={cfg.setting} "
                f"(missing_rate={cfg.missing_rate}); lower missing_rate, or leave view {v} out of missing_views"
            )


def build_method(method_cfg: DictConfig, seed: int = 0, device: str = "auto") -> ClusteringMethod:
    """The method object of a run: the same class, config and seed that the Python API builds."""
    method_class = get_class(method_cfg._target_)
    return method_class.from_config(OmegaConf.to_object(method_cfg), random_state=seed, device=device)


def check_setting(method: ClusteringMethod, name: str, setting: Setting) -> None:
    if setting not in method.supported_settings:
        allowed = ", ".join(sorted(s.value for s in method.supported_settings))
        raise UserError(f"method '{name}' does not support setting={setting.value}; it supports: {allowed}")


def read_completed(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / METRICS_FILE
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return record if record.get("status") == "completed" else None


def run_experiment(cfg: DictConfig, run_dir: Path, variant: str = "") -> dict[str, Any]:
    """Run one configured experiment in ``run_dir`` and return its metrics record (also written there)."""
    start = time.perf_counter()
    validate_run_config(cfg)
    record = _base_record(cfg, variant)
    write_text_atomic(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    seed_everything(cfg.seed)
    # The methods' libraries (scikit-learn's OpenMP k-means among them) load before the thread count is set,
    # as they did when the app imported them at start-up: with threads=N they then keep the same thread
    # count, so results stay as before the app's imports became lazy.
    registry.methods()
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    record["device"] = str(device)
    record["identity"] = run_identity(cfg, device.type)
    method = build_method(cfg.method, cfg.seed, cfg.device)
    check_setting(method, cfg.method.name, Setting(cfg.setting))
    data = prepare_dataset(cfg)
    record.update(
        n_samples=data.n_samples,
        n_clusters=data.n_clusters,
        view_dims=data.view_dims,
        view_names=data.view_names,
    )
    record["preprocess"] = dict(zip(data.view_names, preprocess_specs(cfg, data.n_views)))
    console.info("preprocess per view: %s", ", ".join(f"{k}: {v}" for k, v in record["preprocess"].items()))
    announce_resume(cfg, run_dir)
    log = RunLog(run_dir, OmegaConf.to_container(cfg.logger, resolve=True), run_name=run_name(cfg))
    trainer = Trainer(
        log,
        Checkpointer(
            run_dir, cfg.checkpoint_every, cfg.resume, identity=record["identity"]["settings_sha256"]
        ),
        cfg.log_every,
        cfg.eval_chunk,
        compile=cfg.compile,
        describe_run=f"on {describe_data(data, cfg.setting)}; outputs in {run_dir}",
    )
    try:
        # Methods never see labels: they are kept here for scoring only.
        result = method.fit_dataset(replace(data.train_part(), labels=None), trainer)
        prediction = method.predict_dataset(replace(data, labels=None))
    except TrainingDiverged as exc:
        record.update(status="failed", error=str(exc), failed_epoch=exc.epoch)
        return _finish(record, log, run_dir, start)
    except Interrupted as exc:
        record.update(status="interrupted", error=str(exc), interrupted_epoch=exc.epoch)
        return _finish(record, log, run_dir, start)
    final_loss = result.final_loss
    record["final_loss"] = None if final_loss is None else float(final_loss)
    record["timing"] = result.timing
    scores = score(data, prediction.labels)
    record.update(scores)
    record["label_free"] = label_free(data, prediction, record["final_loss"], cfg.seed)
    warn_if_collapsed(cfg.method.name, record["label_free"], data.n_clusters)
    record["final_loss_terms"] = result.final_terms
    record.update(method.summary())
    record.update(method.declared(), reference_baseline=reference_baseline(Setting(cfg.setting)))
    if cfg.save_predictions:
        save_predictions(run_dir, data, prediction)
    log.hparams(hyper_parameters(cfg), final_metrics(scores, record["label_free"]))
    record["status"] = "completed"
    record = _finish(record, log, run_dir, start)
    if Plots(cfg.plots) != Plots.none:
        draw_figures(
            run_dir, Plots(cfg.plots) == Plots.all, FigureFormat(cfg.figure_format).value, cfg.figure_dpi
        )
    return record


def final_metrics(scores: dict[str, Any], label_free_block: dict[str, Any]) -> dict[str, float]:
    """What trackers get once at the end: the label scores (test part when split) and the label-free scores."""
    numbers = (int, float, np.integer, np.floating)
    metrics = {k: float(v) for k, v in scores.items() if isinstance(v, numbers) and not k.startswith("n_")}
    for k, v in label_free_block.items():
        if isinstance(v, numbers) and not isinstance(v, bool) and v is not None:
            metrics[f"label_free/{k}"] = float(v)
    return metrics


def describe_data(data: MultiViewDataset, setting: str) -> str:
    views = ", ".join(f"{name} {dim}-d" for name, dim in zip(data.view_names, data.view_dims))
    return f"{data.name} (setting={setting}, {data.n_samples} samples, K={data.n_clusters}, views: {views})"


def reference_baseline(setting: Setting) -> str | None:
    """The baseline that reports set beside every method in this setting (declared by its class)."""
    return next((name for name, cls in registry.methods().items() if setting in cls.reference_for), None)


def label_free(data: MultiViewDataset, prediction: Prediction, final_loss: float | None, seed: int) -> dict:
    """The label-free block of metrics.json: indices on the method's embedding (or else the concatenated
    views), and the partition's silhouette in the input views, which compares runs of any configuration."""
    k = data.n_clusters
    if prediction.embedding is not None:
        block = label_free_scores(prediction.embedding, prediction.labels, final_loss, seed, "embedding", k)
    else:
        block = label_free_scores(data.concatenated(), prediction.labels, final_loss, seed, "views", k)
    block["view_silhouette"] = view_silhouette(data.views, data.mask, prediction.labels)
    return block


def warn_if_collapsed(name: str, block: dict[str, Any], n_clusters: int) -> None:
    """A console warning when a run used one cluster, or clearly fewer than K (label_free in metrics.json)."""
    if block["collapsed"]:
        console.warning(
            "%s put every sample in one cluster (collapsed; see clusters_used in metrics.json)", name
        )
    elif block.get("partial_collapse"):
        console.warning(
            "%s used %d of the K=%d clusters (%d hold a sample; partial collapse, flagged in metrics.json)",
            name,
            block["clusters_in_use"],
            n_clusters,
            block["clusters_used"],
        )


def announce_resume(cfg: DictConfig, run_dir: Path) -> None:
    """What happens to the folder's checkpoint, when the run's resume setting does not speak for itself
    (the checkpointer says when it continues from one)."""
    mode, found = resume_mode(cfg.resume), (run_dir / CHECKPOINT_FILE).is_file()
    if mode == "true" and not found:
        console.warning(
            "resume=true, but %s holds no %s: the run starts from the beginning", run_dir, CHECKPOINT_FILE
        )
    elif mode == "false" and found:
        console.warning(
            "resume=false: the run starts from the beginning and replaces %s", run_dir / CHECKPOINT_FILE
        )


def draw_figures(run_dir: Path, tsne: bool, fmt: str = "png", dpi: int = 150) -> None:
    """Figures are a convenience: a failure to draw them is reported and never fails the run."""
    from mmc_bench.analysis.plots import plot_run

    try:
        plot_run(run_dir, tsne=tsne, fmt=fmt, dpi=dpi)
    except Exception as exc:  # noqa: BLE001 - any plotting problem only costs the figures
        print(f"warning: figures for {run_dir} were not drawn ({exc}); retry with mmc-bench-plot {run_dir}")


def hyper_parameters(cfg: DictConfig) -> dict[str, Any]:
    """The method's and the dataset's keys plus what names the run, flattened to TensorBoard's hparams types
    (None stays None: TensorBoard leaves it out, MLflow records 'None')."""
    method = OmegaConf.to_container(cfg.method, resolve=True)
    dataset = OmegaConf.to_container(cfg.dataset, resolve=True)
    params: dict[str, Any] = {f"method.{k}": v for k, v in method.items() if k != "_target_"}
    params.update({f"dataset.{k}": v for k, v in dataset.items() if k != "_target_"})
    params.update(
        dataset=cfg.dataset.name, setting=str(cfg.setting), seed=cfg.seed, missing_rate=cfg.missing_rate
    )
    plain = {k: v.value if isinstance(v, Enum) else v for k, v in params.items()}
    return {
        k: v if v is None or isinstance(v, bool | int | float | str) else str(v) for k, v in plain.items()
    }


def _finish(record: dict[str, Any], log: RunLog, run_dir: Path, start: float) -> dict[str, Any]:
    record["wall_time_s"] = round(time.perf_counter() - start, 3)
    write_text_atomic(run_dir / "history.csv", log.history().to_csv(index=False))
    write_json_atomic(run_dir / METRICS_FILE, record)
    log.close([run_dir / name for name in ("config.yaml", METRICS_FILE, "history.csv", "predictions.csv")])
    return record


def run_name(cfg: DictConfig) -> str:
    """How trackers name a run: method, dataset, setting and seed."""
    return f"{cfg.method.name}-{cfg.dataset.name}-{cfg.setting}-seed{cfg.seed}"


def score(data: MultiViewDataset, labels: np.ndarray) -> dict[str, Any]:
    """Metrics on the test part when there is a split (train metrics under 'train'), else on all samples."""
    if data.labels is None:
        return {"note": "the data has no labels: metrics were not computed"}
    if not data.has_split:
        return evaluate(data.labels, labels)
    test, train = ~data.is_train, data.is_train
    metrics = evaluate(data.labels[test], labels[test])
    metrics["train"] = evaluate(data.labels[train], labels[train])
    metrics.update(n_train=int(train.sum()), n_test=int(test.sum()))
    return metrics


def save_predictions(run_dir: Path, data: MultiViewDataset, prediction: Prediction) -> None:
    table = pd.DataFrame({"sample": np.arange(data.n_samples), "predicted": prediction.labels})
    if data.has_split:
        table["part"] = np.where(data.is_train, "train", "test")
    write_text_atomic(run_dir / "predictions.csv", table.to_csv(index=False))
    arrays = {"labels": prediction.labels}
    if data.labels is not None:
        arrays["true"] = data.labels  # for the figures (t-SNE, confusion matrix); never shown to a method
    if prediction.soft is not None:
        arrays["soft"] = prediction.soft.astype(np.float32)
    if prediction.embedding is not None and keeps_embedding(*prediction.embedding.shape):
        arrays["embedding"] = prediction.embedding.astype(np.float32)
    write_atomic(run_dir / "predictions.npz", lambda handle: np.savez_compressed(handle, **arrays))


def failure_record(cfg: DictConfig, variant: str, message: str) -> dict[str, Any]:
    return {**_base_record(cfg, variant), "status": "failed", "error": message}


def _base_record(cfg: DictConfig, variant: str) -> dict[str, Any]:
    return {
        "status": "running",
        "method": cfg.method.name,
        "dataset": cfg.dataset.name,
        "setting": str(cfg.setting),
        "missing_rate": cfg.missing_rate,
        "seed": cfg.seed,
        "variant": variant,
        "experiment": cfg.get("experiment_name"),
        "versions": versions(),
        "git_commit": git_commit(),
    }


def versions() -> dict[str, str]:
    import hydra
    import sklearn

    return {
        "mmc_bench": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scikit_learn": sklearn.__version__,
        "hydra": hydra.__version__,
    }


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{out}-dirty" if dirty else out
