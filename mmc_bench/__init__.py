"""mmc_bench: deep multi-modal clustering methods as scikit-learn-style estimators, and their runner.

from mmc_bench import EAMC
labels = EAMC(n_clusters=10, epochs=100).fit_predict([x_view0, x_view1])
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# Public name -> (module, class). Imported on first use, so that `import mmc_bench` stays light.
_ESTIMATORS = {
    "EAMC": ("mmc_bench.methods.eamc", "EAMC"),
    "DMIM": ("mmc_bench.methods.dmim", "DMIM"),
    "CMMC": ("mmc_bench.methods.cmmc", "CMMC"),
    "JECL": ("mmc_bench.methods.jecl", "JECL"),
    "DEC": ("mmc_bench.methods.dec", "DEC"),
    "DM2C": ("mmc_bench.methods.dm2c", "DM2C"),
    "AEKMeans": ("mmc_bench.methods.ae_kmeans", "AEKMeans"),
    "KMeans": ("mmc_bench.methods.baselines", "KMeansConcat"),
    "KMeansView": ("mmc_bench.methods.baselines", "KMeansView"),
    "KMeansMixed": ("mmc_bench.methods.baselines", "KMeansMixed"),
    "Spectral": ("mmc_bench.methods.baselines", "SpectralConcat"),
    "MultiViewDataset": ("mmc_bench.data.dataset", "MultiViewDataset"),
    "Trainer": ("mmc_bench.run.engine", "Trainer"),
    "Phase": ("mmc_bench.run.engine", "Phase"),
    "ClusteringMethod": ("mmc_bench.methods.base", "ClusteringMethod"),
}
__all__ = [*_ESTIMATORS, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _ESTIMATORS:
        raise AttributeError(f"module 'mmc_bench' has no attribute {name!r}")
    module, attribute = _ESTIMATORS[name]
    return getattr(importlib.import_module(module), attribute)


def __dir__() -> list[str]:
    return sorted(__all__)
