"""Where methods are declared: every method class and every hyper-parameter schema by its registered name.

Defining a ``MethodConfig`` subclass with a ``name`` registers the schema; defining a ``ClusteringMethod``
subclass with a ``config_class`` registers the method. The in-package ones are loaded on first use: the
schemas (no torch) for ``--help``, ``describe`` and Hydra's config store, the methods (torch) for a run or
the Python API. A method outside the package registers itself the same way once its module is imported
(a run imports it through its YAML's ``_target_``).
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

SCHEMAS: dict[str, type] = {}
METHODS: dict[str, type] = {}
_PACKAGES = {"schemas": "mmc_bench.methods.schemas", "methods": "mmc_bench.methods"}


def add_schema(name: str, schema: type) -> None:
    SCHEMAS[name] = schema


def add_method(name: str, method: type) -> None:
    METHODS[name] = method


def _import_package(package: str) -> None:
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__):
        if not info.ispkg:
            importlib.import_module(f"{package}.{info.name}")


def schemas() -> dict[str, type]:
    """Every method schema by name (the package's, and any outside one imported so far); imports no torch."""
    _import_package(_PACKAGES["schemas"])
    return dict(SCHEMAS)


def methods() -> dict[str, type]:
    """Every method class by name (the package's, and any outside one imported so far)."""
    _import_package(_PACKAGES["methods"])
    return dict(METHODS)


def method(name: str) -> type:
    """The class registered as ``name`` (a KeyError names the known ones)."""
    known = methods()
    if name not in known:
        raise KeyError(f"no method registered as {name!r}; the methods are: {', '.join(sorted(known))}")
    return known[name]


def estimators() -> dict[str, type]:
    """The public Python names (``api_name``, by default the class name) of every registered method."""
    return {cls.api_name or cls.__name__: cls for cls in methods().values()}


def public_name(name: str) -> Any:
    """``mmc_bench.NAME``: an estimator by its public name."""
    found = estimators().get(name)
    if found is None:
        raise AttributeError(f"module 'mmc_bench' has no attribute {name!r}")
    return found
