"""Clustering methods, one module each (its networks, loss terms, phases and prediction), with their
hyper-parameter schemas in ``schemas/``. Defining a method class registers it (:mod:`mmc_bench.registry`),
which imports every module of this folder on first use: a new method is one module here, one schema and
one YAML in conf/method/."""
