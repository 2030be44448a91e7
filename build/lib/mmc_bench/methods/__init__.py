"""Clustering methods. Each module defines its config schema and registers it; the runner builds by _target_."""

from __future__ import annotations

import importlib

METHOD_MODULES = (
    "mmc_bench.methods.baselines",
    "mmc_bench.methods.eamc",
    "mmc_bench.methods.dmim",
    "mmc_bench.methods.cmmc",
    "mmc_bench.methods.jecl",
    "mmc_bench.methods.dm2c",
)


def load_all_methods() -> None:
    for module in METHOD_MODULES:
        importlib.import_module(module)
