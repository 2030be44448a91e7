"""Hyper-parameter search: Hydra's Optuna sweeper with a study that resumes where it stopped.

The conf/hparams_search/ YAMLs store every study in SQLite (optuna.db in the sweep folder). Re-running
the same command loads the study: its finished trials are kept, trials left running by an interrupted
search are marked failed, and only the completed trials still missing from ``n_trials`` are run.
"""

from __future__ import annotations

import logging

log = logging.getLogger("mmc_bench")


def finished_trials(study_name: str, storage: str) -> int:
    """Completed trials of a stored study (0 for a new one): ``n_trials`` counts completed trials, so a failed
    trial is made up for. Trials still marked running are left over from an interrupted search (Ctrl-C):
    they are marked failed."""
    import optuna  # here, not at the top: Hydra imports the sweeper plugin (and so this module) for --help

    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:  # no such study yet
        return 0
    completed = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state == optuna.trial.TrialState.RUNNING:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        completed += trial.state == optuna.trial.TrialState.COMPLETE
    if completed:
        log.info(
            "study %s in %s already has %d completed trials; running the rest", study_name, storage, completed
        )
    return completed
