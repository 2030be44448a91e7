"""--help, describe METHOD, and method-specific keys in a sweep over several methods."""

import json
from pathlib import Path

import pytest

from mmc_bench.run.app import CONFIG_DIR
from tests.conftest import ROOT, run_app, run_cli


@pytest.mark.slow
def test_help_lists_methods_with_a_line_and_run_keys_with_their_meaning(tmp_path):
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    text = result.stdout
    assert "  eamc          EAMC (Zhou & Shen, CVPR 2020)." in text
    assert "  kmeans        k-means on the concatenated views" in text
    assert "  seed = 0\n      Seeds the weights" in text
    assert "objective = silhouette" in text and "Choices: silhouette, calinski_harabasz" in text
    assert "hparams_search: cmmc, dm2c, dmim, eamc, jecl" in text
    assert "== Default configuration ==" not in text and len(text.splitlines()) < 120


def test_describe_lists_a_methods_keys_with_defaults_ranges_and_yaml_values(tmp_path, monkeypatch, capsys):
    code, out, _ = run_app("describe", "eamc_small", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 0
    assert "Keys (schema EAMCConfig, set as method.KEY=VALUE):" in out
    assert "method.lr_encoder = 0.0002  (schema default 1e-05)" in out  # the YAML's own value
    assert "method.epochs = 500\n      Passes over the data. (must be ≥ 0)" in out
    assert "method.discriminator_loss = reference" in out and "Choices: reference, logits." in out
    code, _, err = run_app("describe", "nope", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert code == 2 and "no method 'nope'" in err and "eamc_small" in err


@pytest.mark.slow
def test_a_sweep_over_two_methods_sets_a_key_of_one_of_them(tmp_path):
    result = run_cli(
        "-m", "method=kmeans,eamc", "dataset=synthetic", "+for_method.eamc.epochs=2",
        "+for_method.eamc.encoder_layers=[8]", "sweep_name=s", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    root = tmp_path / "outputs/sweeps/s/synthetic"
    kmeans = json.loads((root / "kmeans/paired/seed0/metrics.json").read_text())
    eamc_dir = root / "eamc/paired/seed0/method.encoder_layers=[8],method.epochs=2"
    eamc = json.loads((eamc_dir / "metrics.json").read_text())
    assert kmeans["variant"] == "" and eamc["variant"] == "method.encoder_layers=[8],method.epochs=2"
    assert "epochs: 2" in (eamc_dir / "config.yaml").read_text()


def test_a_scoped_key_the_method_lacks_is_refused(tmp_path, monkeypatch, capsys):
    code, _, err = run_app(
        "method=kmeans",
        "dataset=synthetic",
        "+for_method.kmeans.lr=2",
        cwd=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert code == 2 and "for_method.kmeans.lr: lr is not a key of method 'kmeans'" in err


def test_method_pages_in_docs_are_generated_from_the_current_code():
    from mmc_bench.describe import method_page

    folder = ROOT / "docs" / "methods"
    names = sorted(p.stem for p in (Path(CONFIG_DIR) / "method").glob("*.yaml"))
    assert sorted(p.stem for p in folder.glob("*.md")) == names
    for name in names:
        assert (folder / f"{name}.md").read_text() == method_page(name, Path(CONFIG_DIR)), (
            f"docs/methods/{name}.md is stale: run python -m mmc_bench describe --markdown docs/methods"
        )
