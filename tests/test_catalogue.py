"""The catalogue of bad input (README, Reliability): each case exits non-zero with its sentence, shows no
traceback, and leaves no metrics.json that says completed. Faults that need a second process or a signal
(a folder in use, SIGINT/SIGTERM/SIGKILL, full disks, unreadable checkpoints) are in test_integrity.py,
test_reliability.py and test_resume.py."""

import json

import numpy as np
import pytest

from tests.conftest import run_app

Y = np.repeat([0, 1, 2], 4)


def npz(name, **arrays):
    def write(folder):
        np.savez(folder / name, **arrays)

    return write


def raw(name, content):
    def write(folder):
        (folder / name).write_bytes(content)

    return write


def mkdir(name):
    def write(folder):
        (folder / name).mkdir()

    return write


GOOD = {"view_0": np.random.default_rng(0).normal(size=(12, 3)) + Y[:, None], "labels": Y}
with_nan = GOOD["view_0"].copy()
with_nan[2, 1] = np.nan

CASES = [
    ("data file missing", None, ["dataset=bdgp", "data_dir=nowhere"], "data file for dataset 'bdgp' not found"),
    ("corrupt .npz", raw("d.npz", bytes(range(200))), ["dataset.path=d.npz"], "is unreadable or corrupt"),
    ("unknown extension", raw("d.txt", b"1 2 3"), ["dataset.path=d.txt"], "has an unsupported extension '.txt'"),
    ("empty .mat", raw("d.mat", b""), ["dataset.path=d.mat"], "is empty (0 bytes)"),
    ("tiny .mat", raw("d.mat", b"MATLAB 5.0" + bytes(50)), ["dataset.path=d.mat"], "is unreadable or corrupt"),
    ("folder as the path", mkdir("d"), ["dataset.path=d"], "is a folder; give the path of one"),
    ("NaN in a view", npz("d.npz", view_0=with_nan, view_1=GOOD["view_0"], labels=Y), ["dataset.path=d.npz"],
     "has 1 NaN/Inf values; clean them in the file or set dataset.on_nonfinite=impute_zero"),
    ("views of unequal length", npz("d.npz", view_0=GOOD["view_0"], view_1=np.ones((11, 2)), labels=Y),
     ["dataset.path=d.npz"], "views have different sample counts"),
    ("constant view", npz("d.npz", view_0=GOOD["view_0"], view_1=np.ones((12, 2)), labels=Y),
     ["dataset.path=d.npz"], "is constant"),
    ("non-integer labels", npz("d.npz", view_0=GOOD["view_0"], view_1=GOOD["view_0"], labels=Y + 0.5),
     ["dataset.path=d.npz"], "are not integers"),
    ("K larger than n", npz("d.npz", view_0=GOOD["view_0"][:5], view_1=GOOD["view_0"][:5]),
     ["dataset.path=d.npz", "dataset.n_clusters=10"], "K=10 clusters is larger than the 5 samples"),
    ("unknown preprocessing", npz("d.npz", **GOOD, view_1=GOOD["view_0"]), ["dataset.path=d.npz",
     "dataset.preprocess=[zscore]"], "dataset.preprocess entry 'zscore' for view 0 is unknown"),
    ("PCA larger than the view", npz("d.npz", **GOOD, view_1=GOOD["view_0"]),
     ["dataset.path=d.npz", "dataset.preprocess=[pca:10]"], "asks for 10 components, but the view has 3 dims"),
    ("negative epochs", None, ["method=eamc", "method.epochs=-1"], "method.epochs=-1 is out of range"),
    ("negative checkpoint interval", None, ["checkpoint_every=-5"], "checkpoint_every=-5 is out of range"),
    ("negative threads", None, ["threads=-2"], "threads=-2 is out of range"),
    ("key added to a typed method", None, ["+method.lr=1"], "method.lr is not a key of KMeansConfig"),
    ("mistyped key", None, ["method.n_inti=3"], "Key 'n_inti' not in 'KMeansConfig'"),
    ("wrong type", None, ["seed=abc"], "could not be converted to Integer"),
    ("unknown dataset", None, ["dataset=nope"], "Could not find 'dataset/nope'"),
    ("unsupported setting", None, ["method=spectral", "setting=mixed"], "does not support setting=mixed"),
    ("missing rate without the incomplete setting", None, ["missing_rate=0.3"],
     "missing_rate and missing_views only apply to setting=incomplete"),
    ("one view for EAMC", npz("d.npz", **GOOD), ["method=eamc", "dataset.path=d.npz"],
     "or set method.adversarial=false"),
    ("CUDA asked for without CUDA", None, ["device=cuda"], "CUDA is not available here"),
    ("unwritable output folder", raw("a_file", b""), ["hydra.run.dir=a_file/run"],
     "cannot write to the output folder"),
]  # fmt: skip


@pytest.mark.parametrize("case, setup, args, message", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_clear_refusal(case, setup, args, message, tmp_path, monkeypatch, capsys):
    if setup is not None:
        setup(tmp_path)
    uses_file = any(a.startswith("dataset.path=") for a in args)
    dataset = (
        ["dataset=file"]
        if uses_file
        else []
        if any(a.startswith("dataset=") for a in args)
        else ["dataset=synthetic"]
    )
    method = [] if any(a.startswith("method=") for a in args) else ["method=kmeans"]
    run_dir = [] if any(a.startswith("hydra.run.dir=") for a in args) else ["hydra.run.dir=run"]
    code, out, err = run_app(
        *method, *dataset, *args, *run_dir, cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys
    )
    assert code != 0, out
    assert message in err, err
    assert "Traceback" not in out + err
    metrics = tmp_path / "run/metrics.json"
    assert not metrics.exists() or json.loads(metrics.read_text())["status"] == "failed"
