"""Bad input and faults: one clear sentence, a non-zero exit, and nothing already written lost."""

import errno
import json
import sys

import numpy as np
import pytest

import mmc_bench.app
from mmc_bench.aggregate import collect_runs, summarize
from mmc_bench.config import DatasetConfig
from mmc_bench.data.build import load_dataset
from mmc_bench.errors import UserError
from mmc_bench.runner import prepare_dataset, write_json_atomic
from tests.conftest import compose_config, run_cli


def test_nonfinite_values_can_be_imputed(tmp_path):
    a = np.arange(24, dtype=float).reshape(6, 4)
    a[1, 2] = np.nan
    a[4, 0] = -np.inf
    np.savez(tmp_path / "d.npz", view_0=a, view_1=a[:, ::-1] * 2, labels=[0, 1, 0, 1, 0, 1])
    cfg = DatasetConfig(name="t", path=str(tmp_path / "d.npz"))
    with pytest.raises(UserError, match="set dataset.on_nonfinite=impute_zero"):
        load_dataset(cfg, tmp_path)
    cfg.on_nonfinite = "impute_zero"
    data = load_dataset(cfg, tmp_path)
    assert data.dense_view(0)[1, 2] == 0 and data.dense_view(0)[4, 0] == 0
    assert np.isfinite(data.dense_view(1)).all()


def test_view_left_empty_by_the_setting_is_refused():
    cfg = compose_config(
        "dataset=synthetic",
        "dataset.n_samples=4",
        "dataset.view_dims=[3,3,3,3,3,3]",
        "dataset.n_clusters=2",
        "setting=mixed",
        "method=kmeans",
    )
    with pytest.raises(UserError, match=r"has no training sample left after setting=mixed"):
        prepare_dataset(cfg)


def test_unwritable_output_folder(tmp_path):
    (tmp_path / "a_file").write_text("")
    result = run_cli("method=kmeans", "dataset=synthetic", "hydra.run.dir=a_file/run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: cannot write to the output folder")
    assert "hydra.run.dir=DIR" in result.stderr and "Traceback" not in result.stderr


def test_failed_atomic_write_leaves_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.json"
    target.write_text('{"status": "completed"}')

    def full_disk(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(type(target), "write_text", full_disk)
    with pytest.raises(OSError):
        write_json_atomic(target, {"status": "failed"})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_disk_full_while_writing_results_is_one_sentence(tmp_path, monkeypatch, capsys):
    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("mmc_bench.runner.save_predictions", full_disk)
    monkeypatch.setattr(
        sys, "argv", ["mmc_bench", "method=kmeans", "dataset=synthetic", f"hydra.run.dir={tmp_path}/r"]
    )
    with pytest.raises(SystemExit) as info:
        mmc_bench.app.main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "error: could not write the results" in err and "No space left on device" in err
    assert (
        not (tmp_path / "r/metrics.json").exists()
        or "completed" not in (tmp_path / "r/metrics.json").read_text()
    )


def test_sweep_with_diverging_jobs_finishes_and_counts_exactly(tmp_path):
    result = run_cli(
        "-m",
        "method=eamc",
        "dataset=synthetic",
        "method.epochs=2",
        "method.encoder_layers=[16]",
        "method.lr_encoder=1e-3,1e30",
        "seed=0,1,2,3,4,5,6,7,8,9",
        "sweep_name=faults",
        "save_predictions=false",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    runs = collect_runs(tmp_path / "outputs/sweeps/faults")
    assert len(runs) == 20
    summary = summarize(runs, ["acc"], "mean").set_index("row")
    common = "eamc [method.encoder_layers=[16],method.epochs=2,method.lr_encoder="
    good, bad = common + "0.001]", common + "1e+30]"
    assert (summary.loc[good, "n_completed"], summary.loc[good, "n_failed"]) == (10, 0)
    assert (summary.loc[bad, "n_completed"], summary.loc[bad, "n_failed"]) == (0, 10)
    failed = runs[runs["status"] == "failed"]
    assert failed["error"].str.contains("became nan|became inf").all() and (failed["failed_epoch"] == 0).all()
