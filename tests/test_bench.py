"""scripts/bench.py: the scaling mode on tiny synthetic data (each size runs in its own process), and the
matmul floor: which products an epoch makes, replayed alone."""

import math
from collections import Counter

import pandas as pd
import pytest
import torch

from mmc_bench.perf.timing import MatmulRecorder, main, matmul_floor


def test_scaling_mode_times_every_phase_at_every_size(tmp_path):
    code = main(
        [
            "--scaling",
            "--methods",
            "eamc",
            "--sizes",
            "200",
            "400",
            "--view-dims",
            "6",
            "5",
            "--clusters",
            "3",
            "--set",
            "threads=1",
            "--views",
            "2",
            "4",
            "--view-n",
            "200",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    by_views = pd.read_csv(tmp_path / "scaling_views.csv")
    assert list(by_views["views"]) == [2, 4] and math.isnan(by_views["x pairs"].iloc[0])
    # 2 -> 4 views is 2x the views and 6x the pairs: the two ratios differ by that factor of 3
    assert by_views["x views"].iloc[1] == pytest.approx(3 * by_views["x pairs"].iloc[1])
    table = pd.read_csv(tmp_path / "scaling.csv")
    assert list(table["n"]) == [200, 400] and set(table["phase"]) == {"train"}
    assert (table["epochs timed"] == 2).all() and (table["s/epoch (median)"] > 0).all()
    # the first size has nothing to compare with; the second is compared with proportional growth
    assert math.isnan(table["x linear"].iloc[0]) and table["x linear"].iloc[1] > 0
    assert (table["peak RSS MB"] > 50).all() and (table["predict s"] > 0).all()
    assert "synthetic data, views [6, 5], K=3" in (tmp_path / "scaling.md").read_text()


def test_matmul_recorder_keeps_shapes_and_layouts_of_every_product():
    layer = torch.nn.Linear(3, 4)
    x = torch.randn(5, 3)
    with MatmulRecorder() as recorder:
        layer(x).sum().backward()
    calls = recorder.take()
    # forward: bias + x @ W^T with W^T a transposed view of the (4, 3) weight; backward: grad_W = grad^T @ x
    forward = ("aten::addmm", (((4,), (1,)), ((5, 3), (3, 1)), ((3, 4), (1, 3))))
    assert calls[forward] == 1
    assert sum(calls.values()) == 2 and {name for name, _ in calls} == {"aten::addmm", "aten::mm"}
    assert recorder.take() == Counter()  # take() starts a new count


def test_matmul_floor_replays_each_call_count_times_with_its_layout():
    call = ("aten::mm", (((64, 32), (32, 1)), ((32, 16), (1, 32))))
    with MatmulRecorder() as replayed:
        floor = matmul_floor(Counter({call: 7}), torch.device("cpu"), repeats=2)
    assert floor > 0
    assert replayed.take() == Counter({call: 1 + 2 * 7})  # one warm-up, then count calls per repeat


def test_the_alternating_run_times_eager_and_compiled_epochs_of_one_fit():
    from mmc_bench.perf.timing import run_case

    overrides = ["method=ae_kmeans", "dataset=synthetic", "dataset.n_samples=300", "method.epochs=6"]
    out = run_case([*overrides, "method.encoder_layers=[8,4]", "compile=true", "threads=1"], False, True)
    side_by_side = out["alternating"]["train"]
    assert side_by_side["eager"] > 0 and side_by_side["compiled"] > 0
    assert out["phases"]["train"][1] == 6 and out["compile_s"]["train"] >= 0


def test_the_whole_run_table_has_every_compile_mode(monkeypatch, tmp_path):
    import mmc_bench.perf.timing as bench

    def fake_run(overrides, count_flops, alternate=False):
        mode = next(o for o in overrides if o.startswith("compile=")).split("=")[1]
        return {
            "fit_s": {"false": 10.0, "true": 8.0, "auto": 10.5}[mode],
            "predict_s": 0.5,
            "compile_s": {"train": 3.0 if mode == "true" else 0.0},
        }

    monkeypatch.setattr(bench, "_subprocess", fake_run)
    row = bench.whole_run("method=eamc dataset=digits", ["threads=2"])
    assert row == {
        "case": "method=eamc dataset=digits",
        "compile=false s": 10.5,
        "compile=false compile s": 0.0,
        "compile=true s": 8.5,
        "compile=true compile s": 3.0,
        "compile=auto s": 11.0,
        "compile=auto compile s": 0.0,
    }


def test_alternation_sorts_epochs_by_what_ran_and_leaves_out_the_compiling_and_first_ones():
    from mmc_bench.perf.timing import Alternation
    from mmc_bench.run.compiling import CompiledStep

    class Method:
        pass

    method = Method()
    method.step = step = CompiledStep(lambda x: x, backend=lambda gm, inputs: gm.forward)
    alternation = Alternation(method)
    for seconds in (9.0, 1.0, 0.5, 1.2, 0.7, 1.1):  # what each epoch took, compiled first
        if step.enabled:
            step(torch.ones(2))
        alternation.after_epoch("train", seconds)
    # compiled: epochs 0 (it compiles: left out), 2, 4; eager: 1, 3, 5
    assert alternation.medians() == {"train": {"compiled": 0.6, "eager": 1.1}}
