"""Structured configs: every group has a dataclass schema, so a mistyped key or a wrong type is refused."""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from hydra.utils import to_absolute_path
from omegaconf import MISSING, DictConfig, OmegaConf

from mmc_bench import registry
from mmc_bench.errors import UserError

# Keys that take auto, true or false (bools from the command line included).
THREE_WAY = ("auto", "true", "false")


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric key: ``low <= v`` (or ``low < v`` when ``low_open``), same for ``high``."""

    low: float = -math.inf
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False

    def admits(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below

    def __str__(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.low_open else '≥'} {self.low:g}"
        left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
        return f"in {left}{self.low:g}, {self.high:g}{right}"


def ranged(default: Any, low: float = -math.inf, high: float = math.inf, **bounds: bool) -> Any:
    """A dataclass field whose value is checked against a Range before a run starts (see check_ranges)."""
    return field(default=default, metadata={"range": Range(low, high, **bounds)})


def count(default: int) -> Any:
    """An integer that counts something and cannot be negative (epochs, restarts)."""
    return ranged(default, 0)


def positive(default: Any) -> Any:
    """A size, interval or rate that must be above 0 (batch sizes, intervals, learning rates)."""
    return ranged(default, 0, low_open=True)


def widths(*default: int, allow_empty: bool = False) -> Any:
    """A list of layer widths (integers ≥ 1), checked before a run starts; ``allow_empty`` for hidden layers
    that may be left out."""
    return field(default_factory=lambda: list(default), metadata={"widths": allow_empty})


def check_widths(key: str, value: Any, allow_empty: bool) -> None:
    values = list(value)
    if (not values and not allow_empty) or any(
        isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in values
    ):
        need = "integers ≥ 1" if allow_empty else "at least one width, each an integer ≥ 1"
        raise UserError(f"{key}={values} is not a list of layer widths: {key} must hold {need}")


def three_way(key: str, value: Any, what: str) -> str:
    """``auto``, ``true`` or ``false`` (bools from the command line included); anything else is refused."""
    mode = str(value).lower()
    if mode not in THREE_WAY:
        raise UserError(f"{key}={value} is not a {what}; use {key}=auto, {key}=true or {key}=false")
    return mode


def compile_mode(value: Any) -> str:
    return three_way("compile", value, "compile mode")


def resume_mode(value: Any) -> str:
    return three_way("resume", value, "resume mode")


def check_ranges(node: Any, prefix: str) -> None:
    """Refuse the first out-of-range value in a structured config, with its key, value and allowed range."""
    if not dataclasses.is_dataclass(node):
        return
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        key = f"{prefix}{f.name}"
        allowed = f.metadata.get("range")
        if allowed is not None and value is not None and not allowed.admits(value):
            raise UserError(f"{key}={value} is out of range: {key} must be {allowed}")
        if "widths" in f.metadata and value is not None:
            check_widths(key, value, f.metadata["widths"])
        check_ranges(value, f"{key}.")


def check_keys(node: DictConfig, prefix: str) -> None:
    """Refuse keys a typed node's schema does not have (e.g. added with +method.KEY=...)."""
    schema = OmegaConf.get_type(node)
    if not dataclasses.is_dataclass(schema):
        return
    known = {f.name for f in dataclasses.fields(schema)}
    extra = sorted(set(node.keys()) - known)
    if extra:
        raise UserError(
            f"{prefix}{extra[0]} is not a key of {schema.__name__}, so it would change nothing; drop it "
            f"(the keys are: {', '.join(sorted(k for k in known if not k.startswith('_')))})"
        )
    for name in known & set(node.keys()):
        child = node._get_node(name)
        if isinstance(child, DictConfig) and not child._is_none() and not child._is_missing():
            check_keys(child, f"{prefix}{name}.")


def apply_method_scoped_keys(cfg: DictConfig) -> None:
    """Merge ``for_method.<this method>`` into ``cfg.method`` (the schema refuses a key it does not have)."""
    scoped = (cfg.get("for_method") or {}).get(cfg.method.name)
    if not scoped:
        return
    for key, value in scoped.items():
        if key not in cfg.method:
            raise UserError(
                f"for_method.{cfg.method.name}.{key}: {key} is not a key of method '{cfg.method.name}'; "
                f"see python -m mmc_bench describe {cfg.method.name}"
            )
        cfg.method[key] = value


def validate_run_config(cfg: DictConfig) -> None:
    """Every schema key known and every bounded value in range (run keys, method, dataset), before anything
    is written."""
    for group in ("method", "dataset"):
        check_keys(cfg[group], f"{group}.")
    check_ranges(OmegaConf.to_object(cfg), "")
    compile_mode(cfg.compile)
    resume_mode(cfg.resume)


class MissingScheme(str, Enum):
    per_view = "per_view"  # each droppable view of each sample is lost with probability missing_rate
    per_sample = "per_sample"  # a missing_rate share of the samples each lose one droppable view (COMPLETER)

    def __str__(self) -> str:
        return self.value


class Setting(str, Enum):
    paired = "paired"
    mixed = "mixed"
    incomplete = "incomplete"

    def __str__(self) -> str:
        return self.value


class Source(str, Enum):
    file = "file"
    digits = "digits"
    synthetic = "synthetic"


class NonFinite(str, Enum):
    error = "error"
    impute_zero = "impute_zero"


class Plots(str, Enum):
    all = "all"
    fast = "fast"  # everything but the t-SNE figure
    none = "none"


class FigureFormat(str, Enum):
    png = "png"
    pdf = "pdf"
    svg = "svg"


class Objective(str, Enum):
    """What a run returns to Hydra (a sweeper maximises it; lower-is-better scores are negated)."""

    silhouette = "silhouette"
    calinski_harabasz = "calinski_harabasz"
    davies_bouldin = "davies_bouldin"
    final_loss = "final_loss"
    size_entropy = "size_entropy"
    view_silhouette = "view_silhouette"
    # These read the labels: a search on them tunes on the test set. Never the default; they warn.
    acc = "acc"
    nmi = "nmi"
    ari = "ari"

    def __str__(self) -> str:
        return self.value


class Split(str, Enum):
    auto = "auto"  # the file's published split when it has one, else none
    none = "none"
    published = "published"
    stratified = "stratified"


@dataclass
class DatasetConfig:
    name: str = MISSING
    # file (dataset.path or files under data_dir), digits (embedded) or synthetic (Gaussian mixtures).
    source: Source = Source.file
    # Candidate paths relative to data_dir; the first that exists is loaded.
    files: list[str] = field(default_factory=list)
    # A user's own file (absolute, or relative to the working directory); takes precedence over files.
    path: Optional[str] = None
    # Optional text files holding the labels (one row per sample, concatenated in order).
    labels_files: list[str] = field(default_factory=list)
    # Column of the labels in labels_files (0-based).
    labels_column: int = count(2)
    # Where the data comes from (printed when the file is missing).
    origin: str = ""
    # Expected sample count (checked against the file); the size of synthetic data.
    n_samples: Optional[int] = positive(None)
    # Expected dims per view (checked against the file); the dims of synthetic views.
    view_dims: Optional[list[int]] = None
    # K; read off the labels when null (required for an unlabelled file).
    n_clusters: Optional[int] = ranged(None, 2)
    # Names of the views in messages and metrics.json (default: the file's, else view_V).
    view_names: Optional[list[str]] = None
    # The views to use, in this order (0-based indices of the data's views, e.g. [1, 2]); null: all of them.
    # view_dims, view_names and n_samples describe the data before the choice; preprocess the chosen views.
    views: Optional[list[int]] = None
    # One entry per view, or one entry for all views; steps joined by '+': none, standardize, minmax, l2, pca:D.
    preprocess: list[str] = field(default_factory=lambda: ["none"])
    # auto: the file's published split when it has one; none; published; stratified (seeded).
    split: Split = Split.auto
    # NaN/Inf in a view: refuse the file (default) or replace them by 0 with a warning.
    on_nonfinite: NonFinite = NonFinite.error
    # Training share of a stratified split.
    train_fraction: float = ranged(2 / 3, 0, 1, low_open=True, high_open=True)
    # Synthetic data only.
    n_views: int = positive(2)
    # Standard deviation of the synthetic samples around their cluster means.
    noise: float = count(1.0)
    # Seed of the synthetic data (independent of the run's seed).
    data_seed: int = 0


@dataclass
class MethodConfig:
    """The base of every method schema; a subclass that sets ``name`` registers itself (mmc_bench.registry)."""

    _target_: str = MISSING
    name: str = MISSING

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__:
            registry.add_schema(cls.__dict__["name"], cls)


@dataclass
class RunConfig:
    # The data (a conf/dataset YAML, or dataset=file dataset.path=F for your own file).
    dataset: DatasetConfig = MISSING
    # The method (a conf/method YAML; its keys: python -m mmc_bench describe NAME).
    method: Any = MISSING
    # Seeds the weights, batch order, view masks, splits and k-means restarts.
    seed: int = count(0)
    # auto = CUDA when available, else CPU; or cpu, cuda, cuda:N.
    device: str = "auto"
    # Folder with the benchmark files (the environment variable MMC_DATA_DIR overrides the default).
    data_dir: str = "${oc.env:MMC_DATA_DIR,data}"
    # paired: every view; mixed: one modality per sample (DM2C); incomplete: views lost at missing_rate.
    setting: Setting = Setting.paired
    # Chance that each droppable view of a sample is lost, with setting=incomplete.
    missing_rate: float = ranged(0.0, 0, 1, high_open=True)
    # per_view: each droppable view lost with probability missing_rate; per_sample: that share of the samples
    # is incomplete, each losing one droppable view (the definition of COMPLETER and most incomplete-view papers).
    missing_scheme: MissingScheme = MissingScheme.per_view
    # Views that the incomplete setting may drop (all when null).
    missing_views: Optional[list[int]] = None
    # A sweep's folder under outputs/sweeps/.
    sweep_name: str = "${now:%Y-%m-%d_%H-%M-%S}"
    # A run whose directory already holds a completed metrics.json of the same run identity is not run again.
    skip_completed: bool = True
    # CPU threads for torch (0 = torch's default).
    threads: int = count(0)
    # predictions.csv/.npz in the run folder (labels, soft assignments, embedding).
    save_predictions: bool = True
    # Figures in the run folder (loss curves, t-SNE, confusion matrix, view weights); mmc-bench-plot RUN_DIR redraws them.
    plots: Plots = Plots.all
    # The figures' file format and (for PNG) resolution.
    figure_format: FigureFormat = FigureFormat.png
    figure_dpi: int = positive(150)
    # Save the training state every N epochs (0 = only when stopped by SIGINT/SIGTERM).
    checkpoint_every: int = count(50)
    # A console/app.log line every N epochs of a phase (and at the end of each phase).
    log_every: int = positive(10)
    # Rows per chunk of no-grad evaluation (prediction, full-data losses, features): bounds their memory.
    eval_chunk: int = positive(8192)
    # torch.compile the method's step functions: true, false, or auto (CUDA phases long enough to pay back
    # the compilation; eager on the CPU, where they gain too little). See docs/performance.md.
    compile: str = "auto"
    # An interrupted run's checkpoint in the run folder: auto continues from it when it was saved by a run of
    # the same settings (and says so; another run's is left and the run starts over); true requires that; false
    # starts over and says that it discards the checkpoint.
    resume: str = "auto"
    # Method-specific keys in a sweep over several methods: +for_method.eamc.epochs=20 sets method.epochs for
    # the EAMC jobs only (e.g. -m method=kmeans,eamc +for_method.eamc.epochs=20).
    for_method: dict[str, Any] = field(default_factory=dict)
    # Trackers and their settings, from conf/logger/ (logger=tensorboard|csv|mlflow|wandb, or a list of them).
    logger: dict[str, Any] = field(default_factory=dict)
    # The label-free score a run returns to a sweeper (hparams_search/): see mmc_bench/analysis/validity.py.
    objective: Objective = Objective.silhouette
    # Set by experiment/ YAMLs: the paper configuration this run follows.
    experiment_name: Optional[str] = None


def path_tag(path: str | None) -> str:
    """A user's file as a dataset name: its stem and a short hash of its absolute path, so two files of
    the same name in different folders never share a run folder or a table column."""
    if not path:
        return "file"
    resolved = Path(to_absolute_path(str(Path(path).expanduser()))).resolve()
    return f"{resolved.stem}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"
