"""A fixed seed fixes everything: two CPU runs of the same config give identical metrics, for every method."""

from pathlib import Path

import numpy as np
import pytest

import mmc_bench.app  # noqa: F401
from mmc_bench.app import CONFIG_DIR
from mmc_bench.config import Setting
from mmc_bench.runner import build_method, run_experiment
from tests.conftest import compose_config

FAST = {
    "dmim": ["method.epochs=5"],
    "eamc": ["method.epochs=3", "method.encoder_layers=[16]"],
    "eamc_paper": ["method.epochs=3"],
    "eamc_small": ["method.epochs=3"],
    "kmeans_mixed": ["dataset.preprocess=[pca:5]"],
    "cmmc": [
        "method.encoder_layers=[16,8]",
        "method.pretrain_epochs=2",
        "method.contrastive_epochs=2",
        "method.finetune_epochs=2",
        "method.kmeans_n_init=2",
    ],
    "dec": [
        "method.encoder_layers=[16,4]",
        "method.pretrain_epochs=2",
        "method.max_iter=40",
        "method.kmeans_n_init=2",
    ],
    "jecl": [
        "method.encoder_layers=[16,4]",
        "method.pretrain_epochs=2",
        "method.max_iter=40",
        "method.kmeans_n_init=2",
    ],
    "dm2c": [
        "method.autoencoder_layers=[16,8]",
        "method.generator_layers=[8]",
        "method.pretrain_epochs=2",
        "method.epochs=2",
        "method.kmeans_n_init=2",
    ],
    "dm2c_paper": [
        "method.autoencoder_layers=[16,8]",
        "method.generator_layers=[8]",
        "method.pretrain_epochs=2",
        "method.epochs=2",
        "method.kmeans_n_init=2",
    ],
}


def methods():
    return sorted(p.stem for p in (Path(CONFIG_DIR) / "method").glob("*.yaml"))


@pytest.mark.parametrize("method", methods())
@pytest.mark.parametrize("setting", ["paired", "incomplete", "mixed"])
def test_same_seed_same_metrics(method, setting, tmp_path):
    overrides = [
        f"method={method}",
        "dataset=synthetic",
        "seed=7",
        "plots=none",
        f"setting={setting}",
        *FAST.get(method, []),
    ]
    if setting == "incomplete":
        overrides.append("missing_rate=0.3")
    cfg = compose_config(*overrides)

    if Setting(setting) not in build_method(cfg.method).supported_settings:
        pytest.skip(f"{method} does not support setting={setting}")
    records = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        records.append(run_experiment(cfg, tmp_path / name))
    for key in ("acc", "nmi", "ari", "final_loss"):
        assert records[0][key] == records[1][key], key
    # every method's run has the label-free block, and it is as reproducible as the label scores
    assert records[0]["label_free"] == records[1]["label_free"]
    assert {"silhouette", "calinski_harabasz", "davies_bouldin", "clusters_used"} <= records[0][
        "label_free"
    ].keys()
    labels = [np.load(tmp_path / name / "predictions.npz")["labels"] for name in ("a", "b")]
    np.testing.assert_array_equal(*labels)
