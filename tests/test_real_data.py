"""The real benchmark files (../shared/data, via MMC_DATA_DIR), each through its dataset YAML."""

import numpy as np
import pytest
import scipy.sparse as sp
from hydra import compose, initialize_config_dir

import mmc_bench.run.app  # noqa: F401  (registers the schemas and resolvers)
from mmc_bench.data.build import load_dataset
from mmc_bench.run.app import CONFIG_DIR

SHARED = {
    # name: (n, dims, K, has published split, sparse)
    "bdgp": (2500, [1750, 79], 5, False, False),
    "mnist_usps": (5000, [784, 784], 10, False, False),
    "wikipedia_sift": (2866, [128, 10], 10, True, False),
    "cub": (600, [1024, 300], 10, False, False),
    "ccv_20d": (6773, [20, 20, 20], 20, False, False),
    "bbcsport": (544, [3183, 3203], 5, False, True),
}


def dataset_cfg(name):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=[f"dataset={name}"]).dataset


@pytest.mark.parametrize("name", sorted(SHARED))
def test_shared_file_loads_as_described(name, data_dir):
    n, dims, k, has_split, sparse = SHARED[name]
    data = load_dataset(dataset_cfg(name), data_dir)
    assert (data.n_samples, data.view_dims, data.n_clusters) == (n, dims, k)
    assert data.labels.min() == 0 and data.labels.max() == k - 1
    assert data.has_split == has_split
    assert sp.issparse(data.views[0]) == sparse
    if has_split:
        assert int(data.is_train.sum()) == 2173
    # balanced datasets stay balanced: labels were not scrambled by the reader
    if name in ("bdgp", "mnist_usps", "cub"):
        assert len(set(np.bincount(data.labels))) == 1
