"""Bad input and faults: one clear sentence, a non-zero exit, and nothing already written lost."""

import errno
import json

import numpy as np
import pytest

from mmc_bench.analysis.collect import collect_runs
from mmc_bench.analysis.summarise import summarize
from mmc_bench.config import DatasetConfig
from mmc_bench.data.build import load_dataset
from mmc_bench.errors import UserError
from mmc_bench.run.runner import prepare_dataset
from mmc_bench.run.storage import OutputWriteError, write_atomic
from tests.conftest import compose_config, run_app, run_cli


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


@pytest.mark.slow
def test_unwritable_output_folder(tmp_path):
    (tmp_path / "a_file").write_text("")
    result = run_cli("method=kmeans", "dataset=synthetic", "hydra.run.dir=a_file/run", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: cannot write to the output folder")
    assert "hydra.run.dir=DIR" in result.stderr and "Traceback" not in result.stderr


def test_failed_atomic_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text('{"status": "completed"}')

    def half_then_full_disk(handle):
        handle.write(b'{"status": "fai')
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputWriteError, match=r"could not write metrics.json in .*No space left on device"):
        write_atomic(target, half_then_full_disk)
    assert json.loads(target.read_text()) == {"status": "completed"}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temporary file left


def test_torch_save_failing_like_a_full_disk_is_a_write_error(tmp_path):
    def zip_writer_failure(handle):
        raise RuntimeError(
            "[enforce fail at inline_container.cc:664] . PytorchStreamWriter failed writing file"
        )

    with pytest.raises(OutputWriteError, match="checkpoint.pt"):
        write_atomic(tmp_path / "checkpoint.pt", zip_writer_failure)
    assert list(tmp_path.iterdir()) == []


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_disk_full_while_writing_results_is_one_sentence(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("mmc_bench.run.runner.save_predictions", full_disk)
    code, _, err = run_app(
        "method=kmeans",
        "dataset=synthetic",
        "hydra.run.dir=r",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 2
    assert err.startswith("error: could not write the results") and "No space left on device" in err
    assert len(err.strip().splitlines()) == 1
    assert json.loads((tmp_path / "r/metrics.json").read_text())["status"] == "failed"


def test_disk_full_for_every_file_is_still_one_sentence(tmp_path, monkeypatch, capsys):
    """The failure record itself cannot be written either: no second error, no traceback."""
    monkeypatch.setattr("mmc_bench.run.storage.os.fsync", full_disk)
    code, _, err = run_app(
        "method=kmeans",
        "dataset=synthetic",
        "hydra.run.dir=r",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 2 and "Traceback" not in err
    assert err.startswith("error: could not write config.yaml in") and len(err.strip().splitlines()) == 1
    assert not list((tmp_path / "r").glob("*.tmp")) and not (tmp_path / "r/metrics.json").exists()


def test_disk_full_at_a_periodic_checkpoint_is_one_sentence(tmp_path, monkeypatch, capsys):
    import torch

    def full_disk_after_half(obj, handle):
        handle.write(b"PK\x03\x04 half a zip")
        raise RuntimeError("PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(torch, "save", full_disk_after_half)
    code, _, err = run_app(
        "method=eamc",
        "dataset=synthetic",
        "method.epochs=2",
        "method.encoder_layers=[8]",
        "checkpoint_every=1",
        "hydra.run.dir=r",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 2 and "Traceback" not in err
    assert "could not write checkpoint.pt in" in err and "PytorchStreamWriter" in err
    assert sorted(p.name for p in (tmp_path / "r").iterdir() if p.suffix in (".pt", ".tmp")) == []
    assert json.loads((tmp_path / "r/metrics.json").read_text())["status"] == "failed"


def test_disk_full_while_saving_predictions_leaves_no_truncated_file(tmp_path, monkeypatch, capsys):
    def half_an_archive(handle, **arrays):
        handle.write(b"PK\x03\x04 truncated")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", half_an_archive)
    code, _, err = run_app(
        "method=kmeans",
        "dataset=synthetic",
        "hydra.run.dir=r",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 2 and "could not write predictions.npz" in err
    assert not (tmp_path / "r/predictions.npz").exists()
    assert not list((tmp_path / "r").glob(".*.tmp"))


@pytest.mark.slow
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
    # Every job ran; the sweep then says what failed and exits non-zero for scripts and schedulers.
    assert result.returncode == 1, result.stderr[-2000:]
    summary_line = result.stdout.strip().splitlines()[-1]
    assert summary_line.startswith("sweep: 20 jobs: 10 completed, 10 failed, 0 skipped; failed: ")
    assert summary_line.count("method.lr_encoder=1e+30") == 10
    runs = collect_runs(tmp_path / "outputs/sweeps/faults")
    assert len(runs) == 20
    summary = summarize(runs, ["acc"], "mean").set_index("row")
    common = "eamc [method.encoder_layers=[16],method.epochs=2,method.lr_encoder="
    good, bad = common + "0.001]", common + "1e+30]"
    assert (summary.loc[good, "n_completed"], summary.loc[good, "n_failed"]) == (10, 0)
    assert (summary.loc[bad, "n_completed"], summary.loc[bad, "n_failed"]) == (0, 10)
    failed = runs[runs["status"] == "failed"]
    assert failed["error"].str.contains("became nan|became inf").all() and (failed["failed_epoch"] == 0).all()


def _npz(tmp_path, **arrays):
    np.savez(tmp_path / "d.npz", **arrays)
    return f"dataset.path={tmp_path / 'd.npz'}"


def _views(n=12):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3)), rng.normal(size=(n, 4)), np.arange(n) % 2


@pytest.mark.parametrize(
    "case, message",
    [
        (
            "widths_zero",
            "method.encoder_layers=[0] is not a list of layer widths: method.encoder_layers must hold",
        ),
        ("widths_empty", "method.encoder_layers=[] is not a list of layer widths"),
        (
            "view_gap",
            "has the views view_0, view_2 but no view_1; number the views view_0, view_1, ... without gaps",
        ),
        ("two_label_columns", "have shape (12, 2), but one class id per sample is needed"),
    ],
)
def test_bad_input_found_by_a_new_user_is_one_sentence_and_exit_2(
    case, message, tmp_path, monkeypatch, capsys
):
    a, b, y = _views()
    args = ["method=ae_kmeans", "method.epochs=1", "dataset=file"]
    if case == "widths_zero":
        args += ["method.encoder_layers=[0]", _npz(tmp_path, view_0=a, view_1=b, labels=y)]
    elif case == "widths_empty":
        args += ["method.encoder_layers=[]", _npz(tmp_path, view_0=a, view_1=b, labels=y)]
    elif case == "view_gap":
        args += [_npz(tmp_path, view_0=a, view_2=b, labels=y)]
    else:
        args += [_npz(tmp_path, view_0=a, view_1=b, labels=np.stack([y, 1 - y], axis=1))]
    code, _, err = run_app(*args, "hydra.run.dir=r", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert message in err


def test_the_api_refuses_what_the_command_line_refuses():
    from mmc_bench import AEKMeans, KMeans

    a, b, _ = _views()
    with pytest.raises(ValueError, match=r"encoder_layers=\[0\] is not a list of layer widths"):
        AEKMeans(n_clusters=2, encoder_layers=[0]).fit([a, b])
    mask = np.ones((12, 2), bool)
    mask[3] = False
    with pytest.raises(ValueError, match="1 samples have no view at all in 'mask'; drop them"):
        KMeans(n_clusters=2).fit([a, b], mask=mask)
    with pytest.raises(ValueError, match=r"view 1 \('view_1'\) is constant"):
        KMeans(n_clusters=2).fit([a, np.ones_like(b)])


@pytest.mark.parametrize("name", ["DMIM", "CMMC", "JECL", "EAMC"])
def test_a_method_that_needs_two_views_says_so_for_a_one_view_dataset(name):
    import mmc_bench

    a, _, _ = _views()
    with pytest.raises(ValueError, match="at least 2 views"):
        getattr(mmc_bench, name)(n_clusters=2).fit([a])
