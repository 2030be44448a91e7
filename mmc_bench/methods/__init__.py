"""Clustering methods. Defining a method class registers it (methods/base.py); every module of this package
is imported here, so a new method is one module in this folder plus one YAML in conf/method/."""

from __future__ import annotations

import importlib
import pkgutil


def load_all_methods() -> None:
    for module in pkgutil.iter_modules(__path__):
        if module.name != "base":
            importlib.import_module(f"{__name__}.{module.name}")


def method_registry() -> dict[str, type]:
    """Every method class of the package by its registered name."""
    from mmc_bench.methods.base import REGISTRY

    load_all_methods()
    return dict(REGISTRY)
