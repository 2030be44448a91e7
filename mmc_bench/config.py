"""Structured configs: every group has a dataclass schema, so a mistyped key or a wrong type is refused."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, OmegaConf


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


class Split(str, Enum):
    auto = "auto"  # the file's published split when it has one, else none
    none = "none"
    published = "published"
    stratified = "stratified"


@dataclass
class DatasetConfig:
    name: str = MISSING
    source: Source = Source.file
    # Candidate paths relative to data_dir; the first that exists is loaded.
    files: list[str] = field(default_factory=list)
    # A user's own file (absolute, or relative to the working directory); takes precedence over files.
    path: Optional[str] = None
    # Optional text files holding the labels (one row per sample, concatenated in order).
    labels_files: list[str] = field(default_factory=list)
    labels_column: int = 2
    origin: str = ""
    n_samples: Optional[int] = None
    view_dims: Optional[list[int]] = None
    n_clusters: Optional[int] = None
    view_names: Optional[list[str]] = None
    # One entry per view, or one entry for all views; steps joined by '+': none, standardize, minmax, l2, pca:D.
    preprocess: list[str] = field(default_factory=lambda: ["none"])
    split: Split = Split.auto
    # NaN/Inf in a view: refuse the file (default) or replace them by 0 with a warning.
    on_nonfinite: NonFinite = NonFinite.error
    train_fraction: float = 2 / 3
    # Synthetic data only.
    n_views: int = 2
    noise: float = 1.0
    data_seed: int = 0


@dataclass
class MethodConfig:
    _target_: str = MISSING
    name: str = MISSING


@dataclass
class KMeansConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.baselines.KMeansConcat"
    name: str = "kmeans"
    n_init: int = 10
    max_iter: int = 300


@dataclass
class KMeansViewConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.baselines.KMeansView"
    name: str = "kmeans_view"
    view: int = 0
    n_init: int = 10
    max_iter: int = 300


@dataclass
class KMeansMixedConfig(KMeansConfig):
    _target_: str = "mmc_bench.methods.baselines.KMeansMixed"
    name: str = "kmeans_mixed"


@dataclass
class SpectralConfig(MethodConfig):
    _target_: str = "mmc_bench.methods.baselines.SpectralConcat"
    name: str = "spectral"
    affinity: str = "nearest_neighbors"
    n_neighbors: int = 10
    n_init: int = 10


@dataclass
class RunConfig:
    dataset: DatasetConfig = MISSING
    method: Any = MISSING
    seed: int = 0
    device: str = "auto"
    data_dir: str = "${oc.env:MMC_DATA_DIR,data}"
    setting: Setting = Setting.paired
    missing_rate: float = 0.0
    # Views that the incomplete setting may drop (all when null).
    missing_views: Optional[list[int]] = None
    sweep_name: str = "${now:%Y-%m-%d_%H-%M-%S}"
    # A run whose directory already holds a completed metrics.json is not run again.
    skip_completed: bool = True
    # CPU threads for torch (0 = torch's default).
    threads: int = 0
    save_predictions: bool = True
    # Figures in the run folder (loss curves, t-SNE, confusion matrix, view weights); scripts/plot.py redraws them.
    plots: Plots = Plots.all
    # Save the training state every N epochs (0 = only when stopped by SIGINT/SIGTERM).
    checkpoint_every: int = 50
    # Continue an interrupted run from its last checkpoint.
    resume: bool = False
    # Set by experiment/ YAMLs: the paper configuration this run follows.
    experiment_name: Optional[str] = None


METHOD_SCHEMAS: dict[str, type[MethodConfig]] = {
    "kmeans": KMeansConfig,
    "kmeans_view": KMeansViewConfig,
    "spectral": SpectralConfig,
    "kmeans_mixed": KMeansMixedConfig,
}


def register_method_schema(name: str, schema: type[MethodConfig]) -> None:
    METHOD_SCHEMAS[name] = schema


def register_configs() -> None:
    """Put every schema in Hydra's ConfigStore; YAML files name them in their defaults list."""
    from mmc_bench.methods import load_all_methods

    load_all_methods()
    store = ConfigStore.instance()
    # Schemas live in their own groups so that they are not listed as datasets or methods.
    store.store(name="run_schema", node=RunConfig)
    store.store(group="schema/dataset", name="base", node=DatasetConfig)
    for name, schema in METHOD_SCHEMAS.items():
        store.store(group="schema/method", name=name, node=schema)
    OmegaConf.register_new_resolver("mmc_stem", _file_stem, replace=True)


def _file_stem(path: Optional[str]) -> str:
    """The name of a user's own file, used as the dataset name in output folders and tables."""
    return Path(path).stem if path else "file"
