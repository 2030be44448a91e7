"""scripts/bench.py: the scaling mode on tiny synthetic data (each size runs in its own process)."""

import math

import pandas as pd

from mmc_bench.bench import main


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
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    table = pd.read_csv(tmp_path / "scaling.csv")
    assert list(table["n"]) == [200, 400] and set(table["phase"]) == {"train"}
    assert (table["epochs timed"] == 2).all() and (table["s/epoch (median)"] > 0).all()
    # the first size has nothing to compare with; the second is compared with proportional growth
    assert math.isnan(table["x linear"].iloc[0]) and table["x linear"].iloc[1] > 0
    assert (table["peak RSS MB"] > 50).all() and (table["predict s"] > 0).all()
    assert "synthetic data, views [6, 5], K=3" in (tmp_path / "scaling.md").read_text()
