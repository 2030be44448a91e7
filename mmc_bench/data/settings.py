"""Which views each sample keeps: paired (all), mixed (exactly one), incomplete (each lost at a rate)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mmc_bench.config import MissingScheme, Setting
from mmc_bench.data.dataset import MultiViewDataset, zero_absent
from mmc_bench.errors import UserError

_SETTING_STREAM = 0x5E77  # a fixed stream id, so masks depend on the seed alone and not on other draws


def apply_setting(
    data: MultiViewDataset,
    setting: Setting,
    seed: int,
    missing_rate: float = 0.0,
    missing_views: list[int] | None = None,
    scheme: MissingScheme = MissingScheme.per_view,
) -> MultiViewDataset:
    """Draw the view-presence mask of ``setting`` with the run's seed and zero what is absent."""
    setting = Setting(setting)
    if setting != Setting.incomplete and (missing_rate or missing_views):
        raise UserError(
            "missing_rate and missing_views only apply to setting=incomplete; drop them or set setting=incomplete"
        )
    rng = np.random.default_rng([seed, _SETTING_STREAM])
    if setting == Setting.paired:
        return data
    if setting == Setting.mixed:
        mask = mixed_mask(data.mask, rng)
    else:
        draw = incomplete_mask if MissingScheme(scheme) == MissingScheme.per_view else per_sample_mask
        mask = draw(data.mask, missing_rate, missing_views, rng)
    views = [zero_absent(view, mask[:, v]) for v, view in enumerate(data.views)]
    return replace(data, views=views, mask=mask)


def mixed_mask(present: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each sample keeps exactly one of the views it has, uniformly; natively mixed data is kept as is."""
    if (present.sum(axis=1) == 1).all():
        return present.copy()
    n, n_views = present.shape
    # Uniform choice among the views a sample has: argmax of random scores restricted to present views.
    scores = np.where(present, rng.random((n, n_views)), -1.0)
    kept = scores.argmax(axis=1)
    mask = np.zeros_like(present)
    mask[np.arange(n), kept] = True
    return mask


def incomplete_mask(
    present: np.ndarray, missing_rate: float, missing_views: list[int] | None, rng: np.random.Generator
) -> np.ndarray:
    """Each droppable view is lost with probability ``missing_rate``; every sample keeps at least one view."""
    n, n_views = present.shape
    droppable = _droppable(n_views, missing_rate, missing_views)
    dropped = (rng.random((n, n_views)) < missing_rate) & droppable[None, :]
    mask = present & ~dropped
    empty = ~mask.any(axis=1)
    if empty.any():
        # Give back one of the views the sample had, chosen uniformly.
        scores = np.where(present[empty], rng.random((int(empty.sum()), n_views)), -1.0)
        mask[np.flatnonzero(empty), scores.argmax(axis=1)] = True
    return mask


def per_sample_mask(
    present: np.ndarray, missing_rate: float, missing_views: list[int] | None, rng: np.random.Generator
) -> np.ndarray:
    """round(missing_rate * n) samples drawn without replacement each lose one droppable view, uniformly,
    among those they have and can lose without losing every view; the rest keep all their views."""
    n, n_views = present.shape
    droppable = _droppable(n_views, missing_rate, missing_views)
    mask = present.copy()
    chosen = rng.choice(n, size=round(missing_rate * n), replace=False)
    can_lose = present[chosen] & droppable[None, :] & (present[chosen].sum(axis=1) > 1)[:, None]
    scores = np.where(can_lose, rng.random((len(chosen), n_views)), -1.0)
    losing = can_lose.any(axis=1)
    mask[chosen[losing], scores[losing].argmax(axis=1)] = False
    return mask


def _droppable(n_views: int, missing_rate: float, missing_views: list[int] | None) -> np.ndarray:
    if not 0.0 <= missing_rate < 1.0:
        raise UserError(f"missing_rate={missing_rate} is out of range; use a value in [0, 1)")
    droppable = np.zeros(n_views, bool)
    for v in missing_views if missing_views is not None else range(n_views):
        if not 0 <= v < n_views:
            raise UserError(f"missing_views names view {v}, but the dataset has views 0..{n_views - 1}")
        droppable[v] = True
    return droppable
