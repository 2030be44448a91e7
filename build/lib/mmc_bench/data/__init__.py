from mmc_bench.data.dataset import MultiViewDataset

__all__ = ["MultiViewDataset"]
