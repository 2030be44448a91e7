import pytest
import torch

from mmc_bench.nn.training import adam, epoch_batches, rmsprop, rows_in_chunks, sgd


@pytest.mark.parametrize(
    ("fast", "reference", "options"),
    [
        (adam, torch.optim.Adam, {"lr": 1e-2, "betas": (0.5, 0.999), "weight_decay": 1e-4}),
        (sgd, torch.optim.SGD, {"lr": 1e-2, "momentum": 0.9}),
        (rmsprop, torch.optim.RMSprop, {"lr": 5e-4}),
    ],
)
def test_fused_optimisers_follow_the_reference_update(fast, reference, options):
    """Fused and multi-tensor kernels are a speed-up only: the trajectory of the per-tensor update."""
    g = torch.Generator().manual_seed(0)
    start = torch.randn(20, 7, generator=g)
    targets = [torch.randn(20, 7, generator=g) for _ in range(10)]
    trajectories = []
    for make in (fast, reference):
        w = torch.nn.Parameter(start.clone())
        opt = make([w], **options)
        for target in targets:
            opt.zero_grad()
            ((w - target) ** 2).sum().backward()
            opt.step()
        trajectories.append(w.detach())
    assert not torch.equal(trajectories[0], start)
    torch.testing.assert_close(trajectories[0], trajectories[1], rtol=1e-5, atol=1e-6)


def test_epoch_batches_cover_each_index_once_and_drop_the_short_tail():
    batches = epoch_batches(10, 3, torch.Generator().manual_seed(1))
    assert [len(b) for b in batches] == [3, 3, 3]
    assert len(set(torch.cat(batches).tolist())) == 9


def test_rows_in_chunks_fills_every_row_of_nested_outputs():
    x = torch.arange(10.0).reshape(5, 2)
    calls = []

    def compute(index):
        calls.append(index.tolist())
        return [{"double": 2 * x[index], "sum": x[index].sum(dim=1)}, x[index, :1]]

    rows = rows_in_chunks(5, 2, compute)
    assert calls == [[0, 1], [2, 3], [4]]
    torch.testing.assert_close(rows[0]["double"], 2 * x)
    torch.testing.assert_close(rows[0]["sum"], torch.tensor([1.0, 5.0, 9.0, 13.0, 17.0]))
    torch.testing.assert_close(rows[1], x[:, :1])
