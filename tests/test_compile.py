"""Compiled steps (mmc_bench.run.compiling): which calls run a graph, the auto policy, the compile time, and,
for every method, a compiled fit that captures its steps once (no new graph after the first epoch) and
agrees with the eager fit."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from hydra.utils import get_class

from mmc_bench.errors import UserError
from mmc_bench.run.compiling import (
    AUTO_MIN_PHASE_S,
    CompiledStep,
    StepCompiler,
    compile_mode,
    compile_seconds,
)
from mmc_bench.run.engine import Trainer
from mmc_bench.run.runner import build_method
from mmc_bench.run.tracking import RunLog
from tests.conftest import compose_config
from tests.test_contract import case, reference_fit, toy_dir  # noqa: F401  (fixtures)


class CountingBackend:
    """A torch.compile backend that runs the captured graph as it is and counts the graphs."""

    def __init__(self) -> None:
        self.graphs = 0

    def __call__(self, graph_module, example_inputs):
        self.graphs += 1
        return graph_module.forward


def test_the_first_shapes_run_the_graph_and_other_shapes_run_eager():
    backend = CountingBackend()
    step = CompiledStep(lambda x, scale: (x * scale).sum(), backend)
    full, partial = torch.ones(4, 3), torch.ones(2, 3)
    assert float(step(full, 2.0)) == 24.0 and float(step(full, 2.0)) == 24.0
    assert float(step(partial, 2.0)) == 12.0  # the last partial batch: eager, no new graph
    assert backend.graphs == 1 and step.compiled_calls == 2
    assert float(step(full, 3.0)) == 36.0  # another value of a non-tensor argument: a graph of its own
    assert backend.graphs == 2 and step.compiled_calls == 3
    step.enabled = False
    assert float(step(full, 2.0)) == 24.0 and step.compiled_calls == 3


def test_compile_modes_are_parsed_and_a_bad_one_is_refused():
    assert [compile_mode(v) for v in (True, False, "auto", "TRUE")] == ["true", "false", "auto", "true"]
    with pytest.raises(UserError, match="compile=maybe is not a compile mode; use compile=auto"):
        compile_mode("maybe")


def test_a_bad_compile_value_on_the_command_line_is_one_sentence(tmp_path, monkeypatch, capsys):
    from tests.conftest import run_app

    code, out, err = run_app(
        "compile=sometimes", f"hydra.run.dir={tmp_path}", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 2 and "compile=sometimes is not a compile mode" in out + err
    assert "Traceback" not in out + err


def test_compile_seconds_is_the_first_compiled_epoch_less_the_steady_ones():
    assert compile_seconds([1.0, 1.0, 1.0], None) == 0.0
    assert compile_seconds([31.0, 1.0, 1.2, 0.8], 0) == pytest.approx(30.0)
    assert compile_seconds([2.0, 2.0, 12.0, 1.0, 1.0], 2) == pytest.approx(11.0)
    assert compile_seconds([12.0], 0) == 12.0  # nothing to compare with: all of it


class Steps:
    compiled_steps = ("double",)
    dynamic_step_shapes = False

    def double(self, x):
        return 2 * x


def test_auto_is_eager_on_the_cpu():
    method, compiler = Steps(), StepCompiler("auto", torch.device("cpu"))
    compiler.wrap(method)
    assert not compiler.active and "double" not in method.__dict__


@pytest.mark.parametrize(
    "seconds, left, enabled",
    [
        ([1.0, 1.0], int(AUTO_MIN_PHASE_S) + 1, True),  # long enough to pay back a compilation
        ([1.0, 1.0], int(AUTO_MIN_PHASE_S) - 1, False),  # too short: stays eager
    ],
)
def test_auto_compiles_a_long_phase_after_its_second_epoch(seconds, left, enabled):
    method, compiler = Steps(), StepCompiler("auto", torch.device("cuda"), CountingBackend())
    compiler.wrap(method)
    compiler.phase_start()
    compiler.after_epoch(seconds[:1], left + 1)
    assert not compiler.enabled
    compiler.after_epoch(seconds, left)
    assert compiler.enabled == enabled


@pytest.mark.parametrize("compiled_s, stays", [(0.5, True), (1.0, False)])
def test_auto_returns_to_eager_when_the_compiled_epoch_is_not_faster(compiled_s, stays):
    method, compiler = Steps(), StepCompiler("auto", torch.device("cuda"), CountingBackend())
    compiler.wrap(method)
    compiler.after_epoch([1.0, 1.0], 1000)
    compiler.after_epoch([1.0, 1.0, 20.0, compiled_s], 998)
    assert compiler.enabled == stays
    compiler.unwrap(method)
    assert "double" not in method.__dict__ and method.double(3) == 6


class GraphsPerEpoch(RunLog):
    """Records the backend's graph count at every epoch row."""

    def __init__(self, backend: CountingBackend) -> None:
        super().__init__()
        self.backend, self.graphs = backend, []

    def epoch(self, epoch, scalars, phase="train"):
        super().epoch(epoch, scalars, phase)
        self.graphs.append((phase, self.backend.graphs))


def _compiled_fit(cfg, train, backend, log=None):
    method = build_method(cfg.method, cfg.seed, "cpu")
    trainer = Trainer(log or RunLog(), compile=True, compile_backend=backend)
    return method, method.fit_dataset(train, trainer)


def test_every_method_captures_its_steps_once(case):  # noqa: F811
    """No phase makes a new graph after its first epoch, and the captured steps give the eager results."""
    cfg, train, data = case
    reference, result, history = reference_fit(cfg, train)
    backend = CountingBackend()
    log = GraphsPerEpoch(backend)
    method, compiled = _compiled_fit(cfg, train, backend, log)
    names = getattr(method, "compiled_steps", ())
    if not names:
        pytest.skip(f"{cfg.method.name} declares no compiled steps")
    assert backend.graphs > 0, "no step was captured"
    for phase in {p for p, _ in log.graphs}:
        counts = [n for p, n in log.graphs if p == phase]
        assert counts[1:] == counts[1:2] * len(counts[1:]), (
            f"{phase} made graphs after its first epoch: {counts}"
        )
    assert not set(names) & set(method.__dict__), "the compiled wrappers outlived the fit"
    # The captured graph runs the same operations (this backend generates no code): the same results.
    np.testing.assert_allclose(log.history()["total"].dropna(), history["total"].dropna(), rtol=1e-5)
    everything = replace(data, labels=None)
    np.testing.assert_array_equal(
        method.predict_dataset(everything).labels, reference.predict_dataset(everything).labels
    )


@pytest.mark.slow
def test_inductor_compiled_fit_agrees_with_eager(case):  # noqa: F811
    """Inductor's generated kernels round differently: loss terms to float32 tolerance, the same partition
    but for a sample on a cluster border."""
    cfg, train, data = case
    method_class = get_class(cfg.method._target_)
    if not getattr(method_class, "compiled_steps", ()):
        pytest.skip(f"{cfg.method.name} declares no compiled steps")
    if cfg.method.name != method_class.config_class.name:  # e.g. eamc_paper: other rates, the same graphs
        pytest.skip(f"{cfg.method.name} compiles the steps of {method_class.config_class.name}")
    if method_class.is_baseline:  # DEC's steps are JECL's core; AE + k-means runs inductor in test_bench
        pytest.skip(f"the baseline {cfg.method.name} compiles steps tested through another method")
    reference, result, history = reference_fit(cfg, train)
    log = RunLog()
    method, compiled = _compiled_fit(cfg, train, "inductor", log)
    terms = [c for c in history.columns if c not in ("phase", "epoch")]
    first = history.groupby("phase", sort=False).head(1).index
    # A later phase starts from weights that a whole phase of differently rounded updates produced (how far
    # they drift depends on the thread count too), hence its looser tolerance.
    for i, row in enumerate(first):
        np.testing.assert_allclose(
            log.history().loc[row, terms].to_numpy(float),
            history.loc[row, terms].to_numpy(float),
            rtol=1e-4 if i == 0 else 1e-3,
            atol=1e-5,
        )
    assert all(t["compile_s"] >= 0 for t in compiled.timing.values())
    everything = replace(data, labels=None)
    compiled_labels = method.predict_dataset(everything).labels
    eager_labels = reference.predict_dataset(everything).labels
    # the same partition, but for at most one sample in fifty on a cluster border (seen with two threads)
    assert (compiled_labels == eager_labels).mean() >= 0.98


def test_compile_is_part_of_a_run_identity_unless_auto():
    from mmc_bench.run.identity import run_identity

    digest = lambda *o: run_identity(compose_config(*o), "cpu")["settings_sha256"]  # noqa: E731
    assert digest() == digest("compile=auto") != digest("compile=true") != digest("compile=false")
