"""Interrupting a run and resuming it ends exactly where an uninterrupted run ends (CPU)."""

import json
import logging
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch

from mmc_bench.config import DatasetConfig
from mmc_bench.data.build import load_dataset
from mmc_bench.errors import UserError
from mmc_bench.methods.eamc import EAMC, EAMCConfig
from mmc_bench.run.checkpoint import Checkpointer, StopRequest
from mmc_bench.run.engine import Trainer
from mmc_bench.run.tracking import RunLog
from tests.conftest import ROOT

CFG = dict(epochs=12, batch_size=40, lr_encoder=1e-3, lr_clustering=1e-3, encoder_layers=[32, 32])


def data():
    cfg = DatasetConfig(name="synthetic", source="synthetic", n_samples=120, view_dims=[8, 6], n_clusters=3)
    return load_dataset(cfg, None)


def test_checkpointer_without_resume_starts_fresh(tmp_path):
    Checkpointer(tmp_path, every=1)._save({"epoch": 3})
    assert Checkpointer(tmp_path, every=1, resume=False).load() is None
    assert Checkpointer(tmp_path, every=1, resume=True).load() == {"epoch": 3}


def cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        [sys.executable, "-m", "mmc_bench", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C at a terminal, also when pytest runs as a background job (whose children ignore SIGINT)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


@pytest.mark.slow
def test_sigint_then_resume_gives_the_uninterrupted_metrics(tmp_path):
    args = [
        "method=eamc",
        "dataset=synthetic",
        "method.epochs=150",
        "method.encoder_layers=[64,64]",
        "checkpoint_every=10",
    ]
    reference = cli(*args, "hydra.run.dir=ref", cwd=tmp_path)
    run = cli(*args, "hydra.run.dir=run", cwd=tmp_path)
    checkpoint = tmp_path / "run/checkpoint.pt"
    # No deadlines: a busy machine makes this slower, never wrong.
    while not checkpoint.exists() and run.poll() is None:
        time.sleep(0.05)
    assert checkpoint.exists(), run.communicate()
    run.send_signal(signal.SIGINT)
    out, err = run.communicate()
    assert run.returncode == 130, err
    record = json.loads((tmp_path / "run/metrics.json").read_text())
    assert record["status"] == "interrupted" and "acc" not in record
    assert "the same command continues from there" in record["error"]

    resumed = cli(*args, "hydra.run.dir=run", cwd=tmp_path)  # the same command: resume=auto continues
    out, err = resumed.communicate()
    assert resumed.returncode == 0, err
    assert (
        "continuing from" in out + err
        and "checkpoint.pt (resume=auto; resume=false starts over)" in out + err
    )
    assert reference.wait() == 0
    done, ref = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("run", "ref"))
    assert done["status"] == "completed"
    for key in ("acc", "nmi", "ari", "final_loss"):
        assert done[key] == ref[key], key
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "run/history.csv"), pd.read_csv(tmp_path / "ref/history.csv")
    )
    assert not checkpoint.exists()  # a finished run keeps no checkpoint


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_stop_request_turns_signals_into_a_flag(sig):
    # the defaults of a foreground process (a background job of a shell starts with SIGINT ignored)
    default = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
    outer = signal.signal(sig, default)
    try:
        with StopRequest() as stop:
            assert not stop.requested
            os.kill(os.getpid(), sig)
            time.sleep(0.05)
            assert stop.requested and stop.signal_name == signal.Signals(sig).name
        assert signal.getsignal(sig) == default  # handlers are restored after the run
    finally:
        signal.signal(sig, outer)


def test_a_signal_the_process_was_told_to_ignore_stays_ignored():
    outer = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with StopRequest() as stop:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
            assert not stop.requested
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, outer)


def test_checkpoint_of_an_older_format_is_refused_with_a_sentence(tmp_path):
    from mmc_bench.errors import UserError

    torch.save({"epoch": 3, "net": {}}, tmp_path / "checkpoint.pt")
    with pytest.raises(UserError, match="older mmc_bench.*delete it"):
        EAMC.from_config(EAMCConfig(**CFG)).fit_dataset(
            data(), Trainer(RunLog(), Checkpointer(tmp_path, 4, True))
        )


class Killed(BaseException):
    """Stands for SIGKILL: the process ends mid-run, with no chance to save anything."""


class KillAtEpoch(RunLog):
    def __init__(self, epoch: int):
        super().__init__()
        self.at = epoch

    def epoch(self, epoch, scalars, phase="train"):
        super().epoch(epoch, scalars, phase)
        if epoch == self.at:
            raise Killed


def test_resume_after_a_kill_continues_from_the_last_periodic_checkpoint(tmp_path):
    dataset = data()
    reference = EAMC.from_config(EAMCConfig(**CFG))
    reference_log = RunLog()
    reference_loss = reference.fit_dataset(dataset, Trainer(reference_log)).final_loss
    with pytest.raises(Killed):
        EAMC.from_config(EAMCConfig(**CFG)).fit_dataset(
            dataset, Trainer(KillAtEpoch(6), Checkpointer(tmp_path, 4, False))
        )
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=False)["position"] == 3  # epochs 4-6 are lost
    resumed_log = RunLog()
    resumed = EAMC.from_config(EAMCConfig(**CFG))
    loss = resumed.fit_dataset(dataset, Trainer(resumed_log, Checkpointer(tmp_path, 4, True))).final_loss
    assert loss == reference_loss
    pd.testing.assert_frame_equal(resumed_log.history(), reference_log.history())


def test_a_checkpoint_is_continued_only_by_a_run_of_the_same_settings(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="mmc_bench")
    Checkpointer(tmp_path, identity="a")._save({"epoch": 3})
    assert Checkpointer(tmp_path, resume="auto", identity="a").load()["epoch"] == 3
    assert "continuing from" in caplog.text and "resume=false starts over" in caplog.text
    assert Checkpointer(tmp_path, resume="auto", identity="b").load() is None
    assert "was saved by a run with other settings" in caplog.text and "starting over" in caplog.text
    with pytest.raises(UserError, match="saved by a run with other settings, so it cannot be continued"):
        Checkpointer(tmp_path, resume="true", identity="b").load()
    assert Checkpointer(tmp_path, resume="false", identity="a").load() is None
    # A checkpoint that saved no identity (an older mmc_bench): auto starts over, true takes it.
    Checkpointer(tmp_path)._save({"epoch": 5})
    assert Checkpointer(tmp_path, resume="auto", identity="a").load() is None
    assert Checkpointer(tmp_path, resume="true", identity="a").load()["epoch"] == 5


def test_resume_false_says_it_starts_over_and_a_bad_mode_is_one_sentence(
    tmp_path, monkeypatch, capsys, caplog
):
    from tests.conftest import run_app

    (tmp_path / "r").mkdir()
    (tmp_path / "r/checkpoint.pt").write_bytes(b"old")
    args = ("method=ae_kmeans", "dataset=synthetic", "method.epochs=1", "hydra.run.dir=r")
    code, out, err = run_app(*args, "resume=false", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0
    assert "resume=false: the run starts from the beginning and replaces" in out + err + caplog.text
    fresh = (*args[:-1], "hydra.run.dir=r2")
    code, _, err = run_app(*fresh, "resume=sometimes", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "resume=sometimes is not a resume mode; use resume=auto, resume=true or resume=false" in err


def _hydra_composing_when_ctrl_c_lands() -> None:
    """Stands in for Hydra's sweep loop: a Ctrl-C while it composes the next job ends as its composition
    error, exit 1."""
    try:
        signal.raise_signal(signal.SIGINT)
    except KeyboardInterrupt:
        sys.exit(1)


def test_ctrl_c_that_hydra_reports_as_an_error_still_exits_130(monkeypatch, capsys):
    import mmc_bench.run.app as app

    monkeypatch.setattr(sys, "argv", ["mmc_bench"])
    monkeypatch.setattr(app, "_app", _hydra_composing_when_ctrl_c_lands)
    with pytest.raises(SystemExit) as exit_:
        app.main()
    assert exit_.value.code == 130
    assert "run the same command again" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_error_without_ctrl_c_keeps_its_exit_code(monkeypatch):
    import mmc_bench.run.app as app

    monkeypatch.setattr(sys, "argv", ["mmc_bench"])
    monkeypatch.setattr(app, "_app", lambda: sys.exit(1))
    with pytest.raises(SystemExit) as exit_:
        app.main()
    assert exit_.value.code == 1
