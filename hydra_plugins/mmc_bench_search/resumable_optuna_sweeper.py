"""Hydra's Optuna sweeper with ``n_trials`` counted over the stored study (Hydra only loads sweepers from the
hydra_plugins namespace, hence this module; the logic is in mmc_bench.run.search). Hydra imports every plugin
module at start-up, so without the search extra this module defines nothing instead of failing."""

from __future__ import annotations

from typing import Any

try:
    from hydra_plugins.hydra_optuna_sweeper.optuna_sweeper import OptunaSweeper
except ImportError:  # pip install -e '.[search]' brings it; hparams_search= then works
    OptunaSweeper = None

if OptunaSweeper is not None:
    from mmc_bench.run.search import finished_trials

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
