"""What makes two runs the same run: the rule behind folder names and ``skip_completed``.

A run's result is fixed by its method and dataset settings, the setting and its missing-view draw, the
seed, the bytes of the data files and the kind of device (CPU and CUDA round differently). Those form its
identity, recorded in ``metrics.json``. Keys that never change the result are left out: where outputs go
(``hydra.*``, ``sweep_name``), what is saved or printed (``save_predictions``, ``plots``, ``checkpoint_every``,
``log_every``),
``skip_completed`` and ``resume`` (a resumed run ends bit for bit where an uninterrupted one ends), and
``threads`` and ``eval_chunk`` (they may change the last bits of a float sum, never a label). ``dataset.path`` and ``data_dir``
are replaced by what they point at: the resolved path is recorded and the file's SHA-256 is compared.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hydra.utils import to_absolute_path
from omegaconf import DictConfig, OmegaConf

from mmc_bench.config import MissingScheme, Source, compile_mode
from mmc_bench.data.build import locate_file
from mmc_bench.run.storage import file_sha256

# Keys of the dataset config that only say where the file is; the file's content stands for them.
LOCATION_KEYS = ("path",)


def data_files(cfg: DictConfig) -> list[Path]:
    """The files a run reads its data from (none for the embedded and synthetic sources)."""
    if Source(cfg.dataset.source) != Source.file:
        return []
    data_dir = Path(to_absolute_path(cfg.data_dir))
    files = [locate_file(cfg.dataset, data_dir)]
    files += [data_dir / name for name in cfg.dataset.labels_files]
    return [f.resolve() for f in files]


def run_identity(cfg: DictConfig, device_type: str) -> dict[str, Any]:
    """The identity block of ``metrics.json``: a hash of the result-changing settings, the data files'
    resolved paths and SHA-256, and the device type."""
    dataset = OmegaConf.to_container(cfg.dataset, resolve=True)
    for key in LOCATION_KEYS:
        dataset.pop(key, None)
    if dataset.get("views") is None:  # all views: runs from before dataset.views keep their hash
        dataset.pop("views", None)
    settings = {
        "method": OmegaConf.to_container(cfg.method, resolve=True),
        "dataset": dataset,
        "setting": str(cfg.setting),
        "missing_rate": cfg.missing_rate,
        "missing_views": None if cfg.missing_views is None else list(cfg.missing_views),
        "seed": cfg.seed,
    }
    if cfg.missing_scheme != MissingScheme.per_view:  # earlier runs (per_view only) keep their hash
        settings["missing_scheme"] = str(cfg.missing_scheme)
    if compile_mode(cfg.compile) != "auto":  # compiled kernels round differently (auto runs keep their hash)
        settings["compile"] = compile_mode(cfg.compile)
    canonical = json.dumps(settings, sort_keys=True, default=str)
    return {
        "settings_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
        "data_files": [{"path": str(p), "sha256": file_sha256(p)} for p in data_files(cfg)],
        "device": device_type,
    }


def identity_differences(recorded: dict[str, Any] | None, current: dict[str, Any]) -> list[str]:
    """What differs between a recorded identity and this run's, in words (empty when they match)."""
    if recorded is None:
        return ["the recorded run predates run identities"]
    differences = []
    if recorded.get("settings_sha256") != current["settings_sha256"]:
        differences.append("the method or dataset settings (see its config.yaml)")
    if [f["sha256"] for f in recorded.get("data_files", [])] != [f["sha256"] for f in current["data_files"]]:
        differences.append("the content of the data file")
    if recorded.get("device") != current["device"]:
        differences.append(f"the device ({recorded.get('device')} there, {current['device']} here)")
    return differences
