"""Every config composes against its schema; typos and wrong types are refused."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

import mmc_bench.run.app  # noqa: F401  (registers the schemas and resolvers)
from mmc_bench.config import DatasetConfig, validate_run_config
from mmc_bench.run.app import CONFIG_DIR
from mmc_bench.run.runner import build_method


def names(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONFIG_DIR) / group).glob("*.yaml"))


def composed(*overrides: str):
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


@pytest.mark.parametrize("name", names("dataset"))
def test_every_dataset_composes(name):
    cfg = composed(f"dataset={name}")
    dataset = OmegaConf.to_object(cfg.dataset)
    assert isinstance(dataset, DatasetConfig)
    assert dataset.name == (name if name != "file" else "file")
    assert dataset.source != "file" or dataset.files or name == "file"
    assert dataset.origin, f"conf/dataset/{name}.yaml must say where the data comes from"


@pytest.mark.parametrize("name", names("method"))
def test_every_method_composes_and_builds(name):
    cfg = composed(f"method={name}")
    assert cfg.method.name == name
    validate_run_config(cfg)  # every shipped default lies in its key's range
    assert type(build_method(cfg.method)).__module__.startswith("mmc_bench.methods")


@pytest.mark.parametrize("name", names("experiment"))
def test_every_experiment_composes(name):
    cfg = composed(f"experiment={name}")
    assert cfg.experiment_name == name
    validate_run_config(cfg)
    build_method(cfg.method)


def test_paper_datasets_all_have_a_yaml():
    paper = {
        "nwc",
        "rgbd",
        "voc",
        "ccv",
        "edge_mnist",
        "wikipedia",
        "nuswide10k",
        "bdgp",
        "mnist_usps",
        "fashion",
        "caltech_2v",
        "caltech_3v",
        "caltech_4v",
        "caltech_5v",
        "coco_cross",
        "coco_all",
        "pascal_sentences",
        "iapr",
        "esp",
        "mirflickr",
        "nuswide_dmim",
    }
    shared = {"bdgp", "mnist_usps", "wikipedia_sift", "cub", "ccv_20d", "bbcsport"}
    assert paper | shared <= set(names("dataset"))


def test_data_dir_defaults_and_env_override(monkeypatch):
    monkeypatch.delenv("MMC_DATA_DIR", raising=False)
    assert composed().data_dir == "data"
    monkeypatch.setenv("MMC_DATA_DIR", "/somewhere/else")
    assert composed().data_dir == "/somewhere/else"


def test_file_dataset_is_named_after_the_file_and_the_folder_it_is_in():
    name = composed("dataset=file", "dataset.path=/x/y/MyData.mat").dataset.name
    assert name.startswith("MyData-") and len(name) == len("MyData-") + 8
    assert composed("dataset=file", "dataset.path=/x/z/MyData.mat").dataset.name != name


@pytest.mark.parametrize(
    "override, error",
    [
        ("method.n_inti=3", ConfigCompositionException),
        ("seed=abc", ConfigCompositionException),
        ("setting=mixd", ConfigCompositionException),
        ("dataset.viewdims=[1]", ConfigCompositionException),
        ("dataset=nonexistent", Exception),
    ],
)
def test_bad_overrides_are_refused(override, error):
    with pytest.raises(error):
        composed(override)


def test_yaml_typo_is_refused(tmp_path):
    # a dataset YAML with a misspelt key fails composition against the schema
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "typo.yaml").write_text(
        "defaults:\n  - /schema/dataset@_here_: base\nname: typo\nn_cluster: 3\n"
    )
    with initialize_config_dir(config_dir=CONFIG_DIR, version_base="1.3"):
        with pytest.raises((ConfigCompositionException, ConfigKeyError, ValidationError)):
            compose(config_name="config", overrides=[f"hydra.searchpath=[file://{tmp_path}]", "dataset=typo"])
