"""scripts/bench.py: the scaling mode on tiny synthetic data (each size runs in its own process), and the
matmul floor: which products an epoch makes, replayed alone."""

import math
from collections import Counter

import pandas as pd
import pytest
import torch

from mmc_bench.bench import MatmulRecorder, main, matmul_floor


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
