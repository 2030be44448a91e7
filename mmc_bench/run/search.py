"""Hyper-parameter search: an Optuna study (current Optuna, ask-and-tell) whose trials are Hydra jobs.

The conf/hparams_search/ YAMLs store every study in SQLite (optuna.db in the sweep folder). Re-running the
same command loads the study: its finished trials are kept, trials left running by an interrupted search
are marked failed, and only the completed trials still missing from ``n_trials`` are run. Each trial is an
ordinary run launched through Hydra's configured launcher (``hydra/launcher=joblib`` runs ``n_jobs`` at once);
its value is the run's label-free objective.

Search spaces use Hydra's sweep grammar: ``interval(a, b)`` (float, or int when both ends are), ``tag(log,
interval(a, b))``, ``choice(x, y, ...)``, ``range(a, b[, step])``; a plain value is fixed for every trial.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import ChoiceSweep, IntervalSweep, Override, RangeSweep
from omegaconf import OmegaConf

from mmc_bench.errors import UserError
from mmc_bench.run.storage import write_text_atomic

log = logging.getLogger("mmc_bench")
RESULTS_FILE = "optimization_results.yaml"


def finished_trials(study: Any) -> int:
    """Completed trials of a stored study (0 for a new one): ``n_trials`` counts completed trials, so a failed
    trial is made up for by the next call. Trials still marked running are left over from an interrupted
    search (Ctrl-C): they are marked failed."""
    import optuna

    completed = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.state == optuna.trial.TrialState.RUNNING:
            study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        completed += trial.state == optuna.trial.TrialState.COMPLETE
    if completed:
        log.info("study %s already has %d completed trials; running the rest", study.study_name, completed)
    return completed


def distribution(override: Override) -> Any:
    """The Optuna distribution of one sweep override (``key=interval(...)``, ``choice(...)``, ``range(...)``)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    sweep = override.value()
    if isinstance(sweep, IntervalSweep):
        log_scale = "log" in sweep.tags
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return IntDistribution(sweep.start, sweep.end, log=log_scale)
        return FloatDistribution(float(sweep.start), float(sweep.end), log=log_scale)
    if isinstance(sweep, RangeSweep):
        values = list(override.sweep_iterator())
        return CategoricalDistribution(values)
    if isinstance(sweep, ChoiceSweep):
        return CategoricalDistribution(list(override.sweep_iterator()))
    raise UserError(
        f"{override.input_line} is not a search range; use interval(a,b), choice(...) or range(a,b)"
    )


def search_space(params: Mapping[str, Any], arguments: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """(distributions by key, fixed overrides) from the sweeper's ``params`` and the command line's sweeps."""
    parser = OverridesParser.create()
    lines = [f"{key}={value}" for key, value in (params or {}).items()] + list(arguments)
    space: dict[str, Any] = {}
    fixed: list[str] = []
    for override in parser.parse_overrides(lines):
        if override.is_sweep_override():
            space[override.get_key_element()] = distribution(override)
        else:
            fixed.append(override.input_line)
    return space, fixed


def trial_value(job_return: Any) -> float | None:
    """A finished job's objective, or None for a failed, refused or interrupted one."""
    try:
        value = job_return.return_value
    except Exception:  # noqa: BLE001 - the job's own error was printed by Hydra and the run
        return None
    if value is None or not math.isfinite(float(value)):
        return None
    return float(value)


def run_study(
    study: Any,
    space: dict[str, Any],
    fixed: list[str],
    n_trials: int,
    n_jobs: int,
    launch: Callable[[list[list[str]], int], Sequence[Any]],
) -> None:
    """Run the trials still missing from ``n_trials``, ``n_jobs`` per launch, and tell the study each one's value."""
    import optuna

    remaining = max(0, n_trials - finished_trials(study))
    job_index = len(study.trials)
    while remaining > 0:
        trials = [study.ask(space) for _ in range(min(n_jobs, remaining))]
        overrides = [[f"{k}={v}" for k, v in t.params.items()] + fixed for t in trials]
        for trial, job_return in zip(trials, launch(overrides, job_index)):
            value = trial_value(job_return)
            if value is None:
                study.tell(trial, state=optuna.trial.TrialState.FAIL)
            else:
                study.tell(trial, value)
        job_index += len(trials)
        remaining -= len(trials)


def default_point(config: Any, space: Mapping[str, Any]) -> dict[str, Any]:
    """The composed configuration's value of every searched key (the method's defaults, or a value the
    command line set before the sweep), for the study's first trial; keys with no value are left out."""
    from omegaconf import OmegaConf

    point = {}
    for key, dist in space.items():
        value = OmegaConf.select(config, key.removeprefix("+"), default=None)
        if value is None:
            continue
        if hasattr(dist, "choices"):
            if value in dist.choices:
                point[key] = value
        else:
            point[key] = (
                int(value) if isinstance(dist.low, int) and float(value).is_integer() else float(value)
            )
    return point


def record_runs(
    folder: Path, overrides: Sequence[Sequence[str]], returns: Sequence[Any], first: bool
) -> None:
    """Adds each launched job's run folder and overrides to ``folder/search.json``; with ``first`` (the
    study's first trial: the composed default) its run becomes the incumbent a pick must beat."""
    from mmc_bench.analysis.choose import SEARCH_FILE

    path = folder / SEARCH_FILE
    record = json.loads(path.read_text()) if path.is_file() else {"incumbent_run": None, "runs": {}}
    for index, (lines, job) in enumerate(zip(overrides, returns)):
        run_dir = OmegaConf.select(job.hydra_cfg or {}, "hydra.runtime.output_dir", default=None)
        if run_dir is None:
            continue
        record["runs"][run_dir] = list(lines)
        if first and index == 0:
            record["incumbent_run"] = run_dir
    write_text_atomic(path, json.dumps(record, indent=2))


def confirmation_jobs(folder: Path, seeds: Sequence[int], trials: int) -> list[list[str]]:
    """The runs that confirm or refute the first selection over ``trials`` completed trials: every
    criterion's best trial that is not the incumbent, and the incumbent, each again with ``seeds`` (the
    trials ran one seed each). Chosen once per number of trials and kept in search.json, so that the same
    command after an interruption finishes these runs rather than choosing others."""
    from mmc_bench.analysis.choose import SEARCH_FILE

    path, selection_file = folder / SEARCH_FILE, folder / "selection" / "selection.json"
    if not path.is_file() or not selection_file.is_file():
        return []
    record = json.loads(path.read_text())
    if record.get("confirmation", {}).get("trials") == trials:
        return record["confirmation"]["jobs"]
    jobs = challenger_jobs(record, json.loads(selection_file.read_text()), seeds)
    record["confirmation"] = {"trials": trials, "seeds": list(seeds), "jobs": jobs}
    write_text_atomic(path, json.dumps(record, indent=2))
    return jobs


def challenger_jobs(
    record: dict[str, Any], selection: dict[str, Any], seeds: Sequence[int]
) -> list[list[str]]:
    """The overrides of the incumbent's and each criterion's challenger's runs with ``seeds``, from the
    trials' overrides that search.json recorded."""
    launched = {str(Path(d).resolve()): lines for d, lines in record["runs"].items()}
    jobs = []
    for result in selection.values():
        collapsed = {c["candidate"] for c in result["candidates"] if c.get("collapsed")}
        if result.get("incumbent") in collapsed | {None}:
            continue  # a collapsed default holds no place, so there is nothing to confirm against
        runs = {c["candidate"]: c["run_dirs"] for c in result["candidates"]}
        leaders = {c["challenger"] for c in result["confirmation"].values()}
        challengers = sorted(leaders - {None, result["incumbent"]})
        for name in [result["incumbent"], *challengers]:
            lines = next((launched[k] for d in runs[name] if (k := str(Path(d).resolve())) in launched), None)
            if lines is not None:
                kept = [line for line in lines if not line.startswith("seed=")]
                jobs += [[*kept, f"seed={seed}"] for seed in seeds]
    return jobs


def select_trials(folder: Path) -> None:
    """The label-free choice among the completed trials (mmc_bench.analysis.choose), written to
    ``folder/selection``. The cross-space and consensus scores need every candidate, so they are computed
    here, after the trials, not in one trial's objective."""
    from mmc_bench.analysis import choose

    try:
        choose.main([str(folder), "--quiet"])
    except Exception as exc:  # noqa: BLE001 - the trials and the study are kept whatever the choice does
        log.warning(
            "the label-free choice among the trials failed (%s); run mmc-bench-select %s", exc, folder
        )


def write_results(study: Any, folder: Path) -> None:
    """The best trial so far (by the label-free objective) beside the study, as Hydra's Optuna sweeper did."""
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    if not complete:
        log.warning("the search completed no trial; see the runs' messages in %s", folder)
        return
    best = study.best_trial
    results = {
        "name": "optuna",
        "best_params": best.params,
        "best_value": best.value,
        "trials": len(complete),
    }
    write_text_atomic(folder / RESULTS_FILE, yaml.safe_dump(results, sort_keys=False))
    log.info("best of %d trials: %s (objective %.4f)", len(complete), best.params, best.value)
