"""mmc_bench: deep multi-modal clustering methods as scikit-learn estimators, and their runner.

from mmc_bench import EAMC
labels = EAMC(n_clusters=10, epochs=100).fit_predict([x_view0, x_view1])

Every registered method is an attribute under its public name (``mmc_bench.registry.estimators()``),
imported on first use, so that ``import mmc_bench`` (and ``--help``) stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# The building blocks besides the estimators: public name -> (module, attribute).
_CORE = {
    "MultiViewDataset": ("mmc_bench.data.dataset", "MultiViewDataset"),
    "Trainer": ("mmc_bench.run.engine", "Trainer"),
    "Phase": ("mmc_bench.run.engine", "Phase"),
    "ClusteringMethod": ("mmc_bench.methods.base", "ClusteringMethod"),
}


def __getattr__(name: str) -> Any:
    registry = importlib.import_module("mmc_bench.registry")
    if name == "registry":
        return registry
    if name in _CORE:
        module, attribute = _CORE[name]
        return getattr(importlib.import_module(module), attribute)
    if name == "__all__":
        return [*sorted(registry.estimators()), *_CORE, "__version__", "registry"]
    return registry.public_name(name)


def __dir__() -> list[str]:
    return sorted(__getattr__("__all__"))
