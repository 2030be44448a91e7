"""make gpu-check: a clear skip without CUDA, and the comparison itself (run here CPU against CPU)."""

import pytest
import torch

from mmc_bench.perf import gpu_check


def test_without_cuda_it_says_so_and_exits_zero(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_check.main(["--out", str(tmp_path)]) == 0
    assert "no CUDA device" in capsys.readouterr().out
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("method", ["kmeans", "ae_kmeans"])
def test_the_comparison_of_two_devices_on_one_method(method):
    row = gpu_check.check_method(method, 300, 0, devices=("cpu", "cpu"), compiled=method == "ae_kmeans")
    assert row["same labels"] and row["label agreement"] == 1.0
    assert row.get("loss rel diff", 0.0) == 0.0
    if method == "ae_kmeans":  # the compiled run (CPU here): timed, and its labels compared with eager
        assert row["compiled train s/epoch"] > 0 and row["compiled train compile s"] >= 0
        assert row["compiled with CUDA graphs"] is False  # no CUDA graphs off CUDA
        assert row["compiled labels = eager"] is True and "compiled error" not in row
