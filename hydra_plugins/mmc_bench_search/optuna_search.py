"""The Hydra sweeper of ``hparams_search=``: an Optuna study run by ask-and-tell (mmc_bench.run.search).

Hydra only loads sweepers from the hydra_plugins namespace, hence this module; Hydra imports it at every
start-up (--help included), so optuna is imported only when a search runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf


def plain(params: Any) -> dict[str, Any]:
    return OmegaConf.to_container(params, resolve=True) if isinstance(params, DictConfig) else dict(params)


class OptunaSearchSweeper(Sweeper):
    """``n_trials`` completed trials over the stored study, ``n_jobs`` launched at a time."""

    def __init__(
        self,
        sampler: Any,
        direction: str,
        storage: str | None,
        study_name: str | None,
        n_trials: int,
        n_jobs: int,
        params: dict[str, Any] | None = None,
        enqueue_default: bool = True,
        select: bool = True,
        confirm_seeds: list[int] | None = None,
    ):
        # Hydra builds the sweeper recursively: ``sampler`` arrives as the sampler object its config names.
        self.sampler, self.direction = sampler, direction
        self.storage, self.study_name = storage, study_name
        self.n_trials, self.n_jobs = n_trials, n_jobs
        self.params = params or {}
        self.enqueue_default, self.select = enqueue_default, select
        self.confirm_seeds = list(confirm_seeds or [])

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.config = config
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config
        )

    def sweep(self, arguments: list[str]) -> None:
        import optuna

        from mmc_bench.analysis.choose import recorded_incumbent
        from mmc_bench.errors import UserError
        from mmc_bench.run.search import (
            confirmation_jobs,
            default_point,
            record_runs,
            run_study,
            search_space,
            select_trials,
            write_results,
        )

        try:
            space, fixed = search_space(plain(self.params), arguments)
        except UserError as exc:
            raise SystemExit(f"error: {exc}") from None
        folder = Path(self.config.hydra.sweep.dir)
        folder.mkdir(parents=True, exist_ok=True)
        study = optuna.create_study(
            study_name=self.study_name,
            storage=self.storage,
            sampler=self.sampler,
            direction=self.direction,
            load_if_exists=True,
        )
        if study.trials:
            # A sampler seeded as before would propose the first trials' parameters again.
            study.sampler.reseed_rng()
        # The configuration as composed (the paper's default) is the first trial, so that a selection that
        # finds nothing better keeps it; its run is the incumbent. Again after a Ctrl-C that stopped it.
        default_pending = self.enqueue_default and recorded_incumbent(folder) is None
        if default_pending:
            study.enqueue_trial(default_point(self.config, space))

        def launch(overrides: list[list[str]], first_index: int) -> Any:
            nonlocal default_pending
            returns = self.launcher.launch([tuple(o) for o in overrides], initial_job_idx=first_index)
            record_runs(folder, overrides, returns, first=default_pending)
            default_pending = False
            return returns

        run_study(study, space, fixed, self.n_trials, self.n_jobs, launch)
        write_results(study, folder)
        if not self.select:
            return
        select_trials(folder)
        # The trials ran one seed each: the picks that would replace the default, and the default, run again
        # with more seeds, and the choice is made again (a pick must beat the default by more than seed noise).
        trials = sum(t.state.name == "COMPLETE" for t in study.trials)
        jobs = confirmation_jobs(folder, self.confirm_seeds, trials) if self.confirm_seeds else []
        if jobs:
            launch(jobs, len(study.trials))
            select_trials(folder)
