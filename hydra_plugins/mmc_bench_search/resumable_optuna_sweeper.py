"""Hydra's Optuna sweeper with ``n_trials`` counted over the stored study (Hydra only loads sweepers from the
hydra_plugins namespace, hence this module; the logic is in mmc_bench.search)."""

from __future__ import annotations

from typing import Any

from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper

from mmc_bench.search import finished_trials


class ResumableOptunaSweeper(OptunaSweeper):
    """OptunaSweeper whose ``n_trials`` is the study's total, not the number of trials added by this call."""

    def sweep(self, arguments: list[str]) -> Any:
        impl = self.sweeper
        if impl.storage is not None:
            finished = finished_trials(impl.study_name, impl.storage)
            impl.n_trials = max(0, impl.n_trials - finished)
            if finished:
                # A sampler seeded as before would propose the first trials' parameters again.
                impl.sampler.reseed_rng()
        return super().sweep(arguments)
