"""The method contract, checked for every registered method (each conf/method YAML) and for a toy method
defined outside the package (``_target_`` plus a user config directory): fit never reads labels, CPU runs
are deterministic, a resumed run equals the uninterrupted one bit for bit, predictions have the right
shapes and ranges, and the Python API gives the CLI's labels."""

from __future__ import annotations

import dataclasses
import math
import pickle
import sys
from dataclasses import replace
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from hydra.utils import get_class
from omegaconf import OmegaConf

import mmc_bench.run.app  # noqa: F401  (registers schemas and resolvers)
from mmc_bench.config import Setting
from mmc_bench.run.app import CONFIG_DIR
from mmc_bench.run.checkpoint import Checkpointer, Interrupted, StopRequest
from mmc_bench.run.engine import Trainer
from mmc_bench.run.runner import build_method, prepare_dataset, run_experiment
from mmc_bench.run.tracking import RunLog
from tests.conftest import ROOT, compose_config, run_cli

TOY_MODULE = '''
"""A toy method outside the package: a learned linear projection of the concatenated views, then k-means."""
from dataclasses import dataclass

import torch

from mmc_bench.config import count
from mmc_bench.run.engine import Phase
from mmc_bench.methods.base import ClusteringMethod, Prediction
from mmc_bench.nn.kmeans import fit_kmeans
from mmc_bench.nn.training import EpochMeans, adam, epoch_batches, optimizer_step


@dataclass
class ToyConfig:
    _target_: str = "toy_method.ToyProjection"
    name: str = "toy"
    epochs: int = count(4)
    dim: int = 3
    lr: float = 0.01


class ToyProjection(ClusteringMethod):
    config_class = ToyConfig
    schedules = {"test": []}
    checkpointed = ("net", "optimizer")

    def setup(self, data, ctx):
        self.x = torch.from_numpy(data.concatenated()).to(ctx.device)
        self.net = torch.nn.Sequential(torch.nn.Linear(self.x.shape[1], self.config.dim),
                                       torch.nn.Linear(self.config.dim, self.x.shape[1]))
        self.optimizer = adam(self.net.parameters(), lr=self.config.lr)
        self.order, self.seed = ctx.order, ctx.seed
        return [Phase("fit", self.config.epochs, self.epoch)]

    def epoch(self, epoch):
        means = EpochMeans()
        for index in epoch_batches(len(self.x), 16, self.order):
            loss = (self.net(self.x[index]) - self.x[index]).pow(2).mean()
            optimizer_step(self.optimizer, loss)
            means.add({"total": loss})
        return means.means()

    def end_fit(self):
        with torch.no_grad():
            codes = self.net[0](self.x).numpy()
        self.kmeans = fit_kmeans(codes, self.n_clusters, 2, self.seed)

    def predict_dataset(self, data):
        with torch.no_grad():
            codes = self.net[0](torch.from_numpy(data.concatenated())).numpy()
        return Prediction(labels=self.kmeans.predict(codes), embedding=codes)
'''
TOY_YAML = """\
# A method outside mmc_bench: its class is found by _target_, this file through hydra.searchpath.
_target_: toy_method.ToyProjection
name: toy
epochs: 4
dim: 3
lr: 0.01
"""


@pytest.fixture(scope="session")
def toy_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("toy")
    (folder / "toy_method.py").write_text(TOY_MODULE)
    (folder / "conf" / "method").mkdir(parents=True)
    (folder / "conf" / "method" / "toy.yaml").write_text(TOY_YAML)
    sys.path.insert(0, str(folder))
    return folder


def registered() -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / "method").glob("*.yaml"))


METHODS = [*registered(), "toy"]


@pytest.fixture(params=METHODS)
def case(request, toy_dir):
    """(config, training data, all data) for one method on small synthetic data in a setting it supports."""
    name = request.param
    extra = [f"hydra.searchpath=[file://{toy_dir / 'conf'}]"] if name == "toy" else []
    cfg = compose_config(f"method={name}", *extra)
    method_class = get_class(cfg.method._target_)
    setting = next(s for s in (Setting.paired, Setting.mixed) if s in method_class.supported_settings)
    overrides = [
        f"method={name}",
        "dataset=synthetic",
        "dataset.n_samples=90",
        "dataset.view_dims=[6,5]",
        "dataset.n_clusters=3",
        f"setting={setting.value}",
        "seed=3",
        "plots=none",
        *extra,
        *method_class.schedules.get("test", []),
    ]
    if setting == Setting.mixed:
        overrides.append("dataset.view_dims=[5,5]")
    cfg = compose_config(*overrides)
    data = prepare_dataset(cfg)
    return cfg, replace(data.train_part(), labels=None), data


class Poison:
    """Labels that fail any use: indexing, length, iteration, conversion to an array."""

    def _refuse(self, *args, **kwargs):
        raise AssertionError("the method read the labels")

    __getitem__ = __len__ = __iter__ = __array__ = __eq__ = _refuse
    __hash__ = None


def fit(cfg, train, log=None, checkpoint=None):
    method = build_method(cfg.method, cfg.seed, "cpu")
    result = method.fit_dataset(train, Trainer(log or RunLog(), checkpoint))
    return method, result


REFERENCES: dict[str, tuple] = {}


def reference_fit(cfg, train):
    """(method, result, history) of the uninterrupted fit of a case, computed once per method."""
    if cfg.method.name not in REFERENCES:
        log = RunLog()
        REFERENCES[cfg.method.name] = (*fit(cfg, train, log), log.history())
    return REFERENCES[cfg.method.name]


def test_fit_never_reads_labels(case):
    cfg, train, data = case
    reference, _, _ = reference_fit(cfg, train)
    poisoned, _ = fit(cfg, replace(train, labels=Poison()))
    shuffled = np.random.default_rng(0).permutation(data.train_part().labels)
    other, _ = fit(cfg, replace(train, labels=shuffled))
    expected = reference.predict_dataset(train).labels
    np.testing.assert_array_equal(poisoned.predict_dataset(train).labels, expected)
    np.testing.assert_array_equal(other.predict_dataset(train).labels, expected)


def test_cpu_runs_are_deterministic_and_predictions_are_well_formed(case):
    cfg, train, data = case
    first, result_a, _ = reference_fit(cfg, train)
    second, result_b = fit(cfg, train)
    a, b = (
        first.predict_dataset(replace(data, labels=None)),
        second.predict_dataset(replace(data, labels=None)),
    )
    np.testing.assert_array_equal(a.labels, b.labels)
    assert result_a.final_terms == result_b.final_terms
    k = data.n_clusters
    assert a.labels.shape == (data.n_samples,) and np.issubdtype(a.labels.dtype, np.integer)
    assert a.labels.min() >= 0 and a.labels.max() < k
    if a.soft is not None:
        np.testing.assert_array_equal(a.soft, b.soft)
        assert a.soft.shape == (data.n_samples, k)
        np.testing.assert_allclose(a.soft.sum(axis=1), 1.0, atol=1e-4)
    if a.embedding is not None:
        assert a.embedding.shape[0] == data.n_samples
    for phase in result_a.timing.values():
        assert phase["epochs"] >= 1 and phase["s_per_epoch"] >= 0 and phase["compile_s"] == 0


class StopAfterRows(RunLog):
    """Asks the run to stop (as SIGINT does) once ``rows`` epoch rows are logged."""

    def __init__(self, stop: StopRequest, rows: int):
        super().__init__()
        self.stop, self.at = stop, rows

    def epoch(self, epoch, scalars, phase="train"):
        super().epoch(epoch, scalars, phase)
        if len(self.rows) == self.at:
            self.stop.signal_name = "SIGINT"


@pytest.mark.parametrize("at", ["middle", "last epoch"])
def test_resume_after_an_interruption_equals_the_uninterrupted_run(case, at, tmp_path):
    cfg, train, data = case
    reference, result, history = reference_fit(cfg, train)
    rows = len(history)
    if rows < 2:
        pytest.skip(f"{cfg.method.name} has no training epochs to interrupt")
    stop = StopRequest()
    with pytest.raises(Interrupted):
        stop_after = rows // 2 if at == "middle" else rows - 1
        fit(cfg, train, StopAfterRows(stop, stop_after), Checkpointer(tmp_path, 0, False, stop))
    assert (tmp_path / "checkpoint.pt").is_file()
    resumed_log = RunLog()
    resumed, resumed_result = fit(cfg, train, resumed_log, Checkpointer(tmp_path, 0, True))
    pd.testing.assert_frame_equal(resumed_log.history(), history)
    assert resumed_result.final_terms == result.final_terms
    everything = replace(data, labels=None)
    a, b = resumed.predict_dataset(everything), reference.predict_dataset(everything)
    np.testing.assert_array_equal(a.labels, b.labels)
    if a.soft is not None:
        np.testing.assert_array_equal(a.soft, b.soft)
    assert not (tmp_path / "checkpoint.pt").exists()


def test_python_api_gives_the_cli_labels(case, tmp_path):
    cfg, train, data = case
    record = run_experiment(cfg, tmp_path)
    assert record["status"] == "completed"
    cli_labels = np.load(tmp_path / "predictions.npz")["labels"]
    method_class = get_class(cfg.method._target_)
    params = {
        k: v for k, v in _plain(OmegaConf.to_object(cfg.method)).items() if k not in ("_target_", "name")
    }
    model = method_class(n_clusters=data.n_clusters, random_state=cfg.seed, device="cpu", **params)
    train_part = data.train_part()
    model.fit(train_part.views, mask=train_part.mask)
    np.testing.assert_array_equal(model.predict(data.views, mask=data.mask), cli_labels)
    if not data.has_split:
        np.testing.assert_array_equal(model.labels_, cli_labels)


def test_a_fitted_model_round_trips_through_pickle_and_joblib(case, tmp_path):
    """The scikit-learn habit of persisting a fitted model: the copy predicts the same labels and scores."""
    cfg, train, data = case
    reference, _, _ = reference_fit(cfg, train)
    expected = reference.predict_dataset(replace(data, labels=None))
    copy = pickle.loads(pickle.dumps(reference))
    joblib.dump(reference, tmp_path / "model.joblib")
    for restored in (copy, joblib.load(tmp_path / "model.joblib")):
        again = restored.predict_dataset(replace(data, labels=None))
        np.testing.assert_array_equal(again.labels, expected.labels)
        if expected.soft is not None:
            np.testing.assert_allclose(again.soft, expected.soft, rtol=0, atol=0)


def _plain(config) -> dict:
    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)


@pytest.mark.slow
def test_outside_method_runs_from_the_cli(toy_dir, tmp_path):
    """A method defined outside the package: `_target_` finds the class, hydra.searchpath the YAML."""
    env = {"PYTHONPATH": f"{ROOT}:{toy_dir}"}
    result = run_cli(
        "method=toy",
        "dataset=synthetic",
        f"hydra.searchpath=[file://{toy_dir / 'conf'}]",
        f"hydra.run.dir={tmp_path / 'run'}",
        cwd=tmp_path,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "toy on synthetic (paired, seed 0): completed" in result.stdout
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert history["phase"].unique().tolist() == ["fit"] and len(history) == 4
    assert math.isfinite(history["total"].iloc[-1])
    # The report reads metrics.json only: the outside method gets its own section, as a paper method.
    from mmc_bench.analysis.report import main as report_main

    assert report_main([str(tmp_path / "run"), "--out", str(tmp_path / "REPORT.md")]) == 0
    assert "## TOY" in (tmp_path / "REPORT.md").read_text()


def test_a_bad_key_in_an_outside_methods_yaml_is_one_sentence(toy_dir, tmp_path, monkeypatch, capsys):
    from tests.conftest import run_app

    extra = [f"hydra.searchpath=[file://{toy_dir / 'conf'}]", f"hydra.run.dir={tmp_path / 'run'}"]
    code, out, err = run_app(
        "method=toy",
        "dataset=synthetic",
        "+method.epoch=3",
        *extra,
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 2 and "has no hyper-parameter method.'epoch'" in out + err and "Traceback" not in out + err
    code, out, err = run_app(
        "method=toy",
        "dataset=synthetic",
        "method.epochs=-1",
        *extra,
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 2 and "method.epochs=-1 is out of range" in out + err


def test_outside_method_appears_in_help_and_describe(toy_dir, tmp_path, monkeypatch, capsys):
    from tests.conftest import run_app

    searchpath = f"hydra.searchpath=[file://{toy_dir / 'conf'}]"
    code, out, _ = run_app("--help", searchpath, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0
    assert "\n  toy " in out and "method: ae_kmeans, cmmc" in out and "toy" in out.split("method: ")[1]
    code, out, _ = run_app(
        "describe", "toy", searchpath, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys
    )
    assert code == 0
    assert "Keys (schema ToyConfig, set as method.KEY=VALUE):" in out and "method.dim = 3" in out


def test_outside_method_runs_in_gpu_check(toy_dir):
    from mmc_bench.perf import gpu_check

    row = gpu_check.check_method(
        "toy", 120, 0, devices=("cpu", "cpu"), compiled=False, searchpath=(str(toy_dir / "conf"),)
    )
    assert row["method"] == "toy" and row["same labels"] and row["label agreement"] == 1.0
