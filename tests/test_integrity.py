"""No silent wrong result: a run's identity, its folder's lock, checkpoints, ranges, and user files' defaults."""

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from mmc_bench.analysis.collect import collect_runs
from mmc_bench.analysis.summarise import summarize
from mmc_bench.config import validate_run_config
from mmc_bench.errors import UserError
from mmc_bench.run.checkpoint import Checkpointer
from mmc_bench.run.identity import identity_differences, run_identity
from mmc_bench.run.runner import prepare_dataset
from mmc_bench.run.storage import FolderInUse, run_folder_lock
from tests.conftest import ROOT, compose_config, run_app, run_cli


def three_blobs(path, shift=3.0, nan=False):
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    a = rng.normal(size=(90, 4)) + y[:, None] * shift
    b = rng.normal(size=(90, 3)) + y[:, None] * shift
    if nan:
        a[5, 1] = np.nan
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, view_0=a, view_1=b, labels=y)


# --- run identity ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_files_of_one_name_get_their_own_folders_and_their_own_metrics(tmp_path):
    three_blobs(tmp_path / "A/data.npz")
    three_blobs(tmp_path / "B/data.npz", nan=True)
    result = run_cli(
        "-m", "method=kmeans", "dataset=file", "dataset.path=A/data.npz,B/data.npz", "seed=0,1",
        "sweep_name=s", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1  # B's two jobs failed
    assert "sweep: 4 jobs: 2 completed, 2 failed, 0 skipped" in result.stdout
    runs = collect_runs(tmp_path / "outputs/sweeps/s")
    assert len(runs) == 4 and runs["dataset"].nunique() == 2
    by_file = {r["run_dir"].split("/sweeps/s/")[1].split("/")[0]: r for _, r in runs.iterrows()}
    assert all(name.startswith("data-") for name in by_file)
    records = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in runs["run_dir"]]
    for record in records:
        path = record.get("identity", {}).get("data_files", [{}])[0].get("path", "")
        if record["status"] == "completed":
            assert path.endswith("A/data.npz") and record["acc"] == 1.0
        else:
            assert "NaN/Inf" in record["error"]
    summary = summarize(runs, ["acc"], "mean")
    assert sorted(zip(summary["n_completed"], summary["n_failed"])) == [(0, 2), (2, 0)]


def test_a_completed_run_is_only_reused_for_the_same_data(tmp_path, monkeypatch, capsys):
    data = tmp_path / "data.npz"
    three_blobs(data)
    args = ("method=kmeans", "dataset=file", f"dataset.path={data}", "hydra.run.dir=r")
    assert run_app(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)[0] == 0
    first = (tmp_path / "r/metrics.json").read_text()
    code, out, _ = run_app(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0 and "already completed" in out
    three_blobs(data, shift=0.5)  # same path, other content
    code, _, err = run_app(*args, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2 and "differs from this one in the content of the data file" in err
    assert "skip_completed=false" in err and (tmp_path / "r/metrics.json").read_text() == first
    code, _, _ = run_app(*args, "skip_completed=false", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    replaced = json.loads((tmp_path / "r/metrics.json").read_text())
    assert code == 0 and replaced["acc"] < json.loads(first)["acc"]


def identity(*overrides, device="cpu"):
    return run_identity(compose_config("method=kmeans", "dataset=synthetic", *overrides), device)


@pytest.mark.parametrize(
    "override", ["threads=2", "save_predictions=false", "plots=none", "checkpoint_every=3", "resume=true",
                 "skip_completed=false", "sweep_name=other", "data_dir=elsewhere"],
)  # fmt: skip
def test_keys_that_never_change_a_result_leave_the_identity_alone(override):
    assert identity_differences(identity(), identity(override)) == []


@pytest.mark.parametrize(
    "override, difference",
    [("seed=1", "settings"), ("method.n_init=3", "settings"), ("dataset.noise=2", "settings"),
     ("setting=incomplete", "settings"), ("dataset.views=[1,0]", "settings")],
)  # fmt: skip
def test_keys_that_change_a_result_change_the_identity(override, difference):
    extra = ["missing_rate=0.2"] if override.startswith("setting=") else []
    assert difference in " ".join(identity_differences(identity(), identity(override, *extra)))


def test_keys_added_with_their_old_behaviour_keep_earlier_runs_hashes():
    """dataset.views and missing_scheme came later: at their defaults a run hashes as it did before them."""
    typed = compose_config("method=kmeans", "dataset=synthetic", "setting=incomplete", "missing_rate=0.2")
    cfg = OmegaConf.create(OmegaConf.to_container(typed))  # untyped, so a key can go as in an older config
    del cfg.dataset["views"]
    before = run_identity(cfg, "cpu")["settings_sha256"]
    now = identity("setting=incomplete", "missing_rate=0.2", "dataset.views=null", "missing_scheme=per_view")
    per_sample = identity("setting=incomplete", "missing_rate=0.2", "missing_scheme=per_sample")
    assert now["settings_sha256"] == before != per_sample["settings_sha256"]


def test_the_device_type_is_part_of_the_identity():
    assert "the device (cpu there, cuda here)" in identity_differences(identity(), identity(device="cuda"))


def test_a_file_is_identified_by_its_content_not_its_path(tmp_path):
    three_blobs(tmp_path / "a/x.npz")
    three_blobs(tmp_path / "b/x.npz")
    first = identity("dataset=file", f"dataset.path={tmp_path}/a/x.npz")
    second = identity("dataset=file", f"dataset.path={tmp_path}/b/x.npz")
    assert first["data_files"][0]["path"] != second["data_files"][0]["path"]
    assert identity_differences(first, second) == ["the method or dataset settings (see its config.yaml)"]
    assert first["data_files"][0]["sha256"] == second["data_files"][0]["sha256"]


# --- the run folder's lock ---------------------------------------------------------------------------

HOLD_LOCK = """
import sys, time
from pathlib import Path
from mmc_bench.run.storage import run_folder_lock
with run_folder_lock(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def folder_held_elsewhere(tmp_path):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path / "r")], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert holder.stdout.readline().strip() == "held"
    yield holder
    holder.kill()
    holder.wait()


def test_a_second_run_into_a_folder_in_use_is_refused_and_writes_nothing(
    tmp_path, folder_held_elsewhere, monkeypatch, capsys
):
    (tmp_path / "r/app.log").write_text("the first run's log\n")
    code, _, err = run_app(
        "method=kmeans",
        "dataset=synthetic",
        "hydra.run.dir=r",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{tmp_path / 'r'} is in use by another run (pid {folder_held_elsewhere.pid}, started" in err
    # No .hydra, metrics or events; Hydra's log handler appends to app.log and so leaves the first run's lines.
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [".lock", "app.log"]
    assert (tmp_path / "r/app.log").read_text().startswith("the first run's log\n")


def test_the_lock_is_released_with_its_process(tmp_path, folder_held_elsewhere):
    with pytest.raises(FolderInUse):
        with run_folder_lock(tmp_path / "r"):
            pass
    folder_held_elsewhere.kill()  # as SIGKILL would: the OS drops the lock, the stale file blocks nothing
    folder_held_elsewhere.wait()
    with run_folder_lock(tmp_path / "r"):
        assert "pid" in (tmp_path / "r/.lock").read_text()


@pytest.mark.slow
def test_two_cli_runs_started_apart_into_one_folder_keep_the_first_result(tmp_path):
    args = [
        "method=eamc",
        "dataset=synthetic",
        "method.epochs=400",
        "method.encoder_layers=[32]",
        "hydra.run.dir=r",
    ]
    first = subprocess.Popen(
        [sys.executable, "-m", "mmc_bench", *args, "seed=0", "plots=none"], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.time() + 120
    while not (tmp_path / "r/config.yaml").exists() and time.time() < deadline:
        time.sleep(0.05)  # the first run holds the folder once it has written its config
    second = run_cli(*args, "seed=1", cwd=tmp_path)
    assert first.wait(timeout=600) == 0, first.communicate()
    assert second.returncode == 2 and "is in use by another run" in second.stderr
    assert json.loads((tmp_path / "r/metrics.json").read_text())["seed"] == 0
    events = [p.name for p in (tmp_path / "r/tensorboard").iterdir()]
    assert events and all(f".{first.pid}." in name for name in events)  # only the first run's events


# --- checkpoints -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["truncated", "empty", "random bytes"])
def test_an_unreadable_checkpoint_is_refused_with_one_sentence(kind, tmp_path, monkeypatch, capsys):
    (tmp_path / "r").mkdir()
    torch.save({"epoch": 1, "weights": torch.zeros(1000)}, tmp_path / "r/checkpoint.pt")
    whole = (tmp_path / "r/checkpoint.pt").read_bytes()
    broken = {"truncated": whole[: len(whole) // 2], "empty": b"", "random bytes": bytes(range(256)) * 8}[
        kind
    ]
    (tmp_path / "r/checkpoint.pt").write_bytes(broken)
    code, _, err = run_app(
        "method=eamc", "dataset=synthetic", "method.epochs=2", "method.encoder_layers=[8]", "resume=true",
        "hydra.run.dir=r", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys,
    )  # fmt: skip
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert f"checkpoint.pt in {tmp_path / 'r'} is unreadable" in err
    assert "delete it (the run then starts over) or run with resume=false" in err
    assert (tmp_path / "r/checkpoint.pt").read_bytes() == broken  # left for the user to inspect


def test_resume_without_a_checkpoint_says_it_starts_over(tmp_path, caplog):
    from mmc_bench.run.runner import run_experiment

    cfg = compose_config("method=kmeans", "dataset=synthetic", "resume=true", "plots=none")
    record = run_experiment(cfg, tmp_path)
    assert record["status"] == "completed"
    assert (
        f"resume=true, but {tmp_path} holds no checkpoint.pt: the run starts from the beginning"
        in caplog.text
    )


def test_checkpointer_without_a_file_starts_fresh(tmp_path):
    assert Checkpointer(tmp_path, every=1, resume=True).load() is None


# --- ranges and keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["method=eamc", "method.epochs=-1"], "method.epochs=-1 is out of range: method.epochs must be ≥ 0"),
        (["checkpoint_every=-5"], "checkpoint_every=-5 is out of range: checkpoint_every must be ≥ 0"),
        (["threads=-2"], "threads=-2 is out of range: threads must be ≥ 0"),
        (
            ["method=eamc", "method.batch_size=0"],
            "method.batch_size=0 is out of range: method.batch_size must be > 0",
        ),
        (["method=dmim", "method.lr=0"], "method.lr=0.0 is out of range: method.lr must be > 0"),
        (["method=jecl", "method.update_interval=0"], "method.update_interval must be > 0"),
        (["missing_rate=1.0"], "missing_rate=1.0 is out of range: missing_rate must be in [0, 1)"),
        (["dataset.train_fraction=1.5"], "dataset.train_fraction must be in (0, 1)"),
        (
            ["method=kmeans", "+method.lr=1"],
            "method.lr is not a key of KMeansConfig, so it would change nothing",
        ),
        (["+dataset.n_cluster=3"], "dataset.n_cluster is not a key of DatasetConfig"),
    ],
)
def test_out_of_range_values_and_added_keys_are_refused(overrides, message):
    cfg = compose_config("dataset=synthetic", *overrides)
    with pytest.raises(UserError, match=re.escape(message)):
        validate_run_config(cfg)


def test_an_out_of_range_run_writes_no_completed_result(tmp_path, monkeypatch, capsys):
    code, _, err = run_app(
        "method=eamc",
        "dataset=synthetic",
        "method.epochs=-1",
        "hydra.run.dir=r",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 2 and err.startswith("error: method.epochs=-1 is out of range")
    assert json.loads((tmp_path / "r/metrics.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("size, ok", [(64, True), (65, False), (0, False)])
def test_pca_larger_than_the_view_is_refused(size, ok):
    cfg = compose_config("dataset=digits", "method=kmeans", f"dataset.preprocess=[pca:{size}]")
    if ok:
        assert prepare_dataset(cfg).view_dims == [64, 64]
    else:
        with pytest.raises(
            UserError, match=rf"'pca:{size}' for view 0 .* has 64 dims .* use pca:D with 1 <= D <= 64"
        ):
            prepare_dataset(cfg)


# --- a user's own file -------------------------------------------------------------------------------


def test_a_users_file_is_min_max_scaled_by_default_and_says_so(tmp_path, caplog):
    from mmc_bench.run.runner import run_experiment

    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 40)
    wide = np.c_[rng.normal(size=80) * 1e4, y + rng.normal(size=80) * 0.1]  # one column 1e4 times wider
    np.savez(tmp_path / "f.npz", view_0=wide, view_1=y[:, None] + rng.normal(size=(80, 2)) * 0.1, labels=y)
    cfg = compose_config("method=kmeans", "dataset=file", f"dataset.path={tmp_path}/f.npz", "plots=none")
    assert list(cfg.dataset.preprocess) == ["minmax"]
    scaled = run_experiment(cfg, tmp_path)
    assert scaled["preprocess"] == {"view_0": "minmax", "view_1": "minmax"}
    assert "preprocess per view: view_0: minmax, view_1: minmax" in caplog.text
    assert "used unscaled" not in caplog.text
    (tmp_path / "raw").mkdir()
    raw_cfg = compose_config(
        "method=kmeans",
        "dataset=file",
        f"dataset.path={tmp_path}/f.npz",
        "dataset.preprocess=[none]",
        "plots=none",
    )
    raw = run_experiment(raw_cfg, tmp_path / "raw")
    assert "view 0 ('view_0') is used unscaled and its columns' ranges differ by a factor of" in caplog.text
    assert raw["acc"] < scaled["acc"] == 1.0


def test_a_collapsed_clustering_is_reported_without_labels(tmp_path, monkeypatch, caplog):
    from mmc_bench.methods.base import Prediction
    from mmc_bench.methods.baselines import KMeansConcat
    from mmc_bench.run.runner import run_experiment

    monkeypatch.setattr(
        KMeansConcat, "predict_dataset", lambda self, data: Prediction(np.zeros(data.n_samples, int))
    )
    record = run_experiment(compose_config("method=kmeans", "dataset=synthetic", "plots=none"), tmp_path)
    usage = record["label_free"]
    assert (
        usage["collapsed"] is True
        and usage["clusters_used"] == 1
        and usage["largest_cluster_fraction"] == 1.0
    )
    assert usage["silhouette"] is None  # undefined for one cluster, not a number to select on
    assert "kmeans put every sample in one cluster (collapsed" in caplog.text


# --- smaller messages --------------------------------------------------------------------------------


def test_a_folder_given_as_the_data_path_is_named_as_a_folder(tmp_path):
    cfg = compose_config("method=kmeans", "dataset=file", f"dataset.path={tmp_path}")
    with pytest.raises(UserError, match=r"is a folder; give the path of one .npz .* file inside it"):
        prepare_dataset(cfg)


@pytest.mark.parametrize(
    "content, message",
    [(b"", "is empty \\(0 bytes\\)"), (b"MATLAB 5.0" + bytes(40), "unreadable or corrupt")],
)
def test_empty_and_tiny_mat_files_are_one_sentence(tmp_path, content, message):
    (tmp_path / "x.mat").write_bytes(content)
    cfg = compose_config("method=kmeans", "dataset=file", f"dataset.path={tmp_path}/x.mat")
    with pytest.raises(UserError, match=message):
        prepare_dataset(cfg)


def test_eamc_on_one_view_names_the_fix(tmp_path):
    from mmc_bench.run.runner import run_experiment

    cfg = compose_config("method=eamc", "dataset=synthetic", "dataset.view_dims=[5]", "plots=none")
    with pytest.raises(
        UserError, match="has 1; choose a multi-view dataset, or set method.adversarial=false"
    ):
        run_experiment(cfg, tmp_path)
