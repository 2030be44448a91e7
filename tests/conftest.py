from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One worker per CPU already (make test): a worker and the runs it starts use one thread each, so
    # that workers do not compete for the cores.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")


def shared_data_dir() -> Path:
    return Path(os.environ.get("MMC_DATA_DIR", ROOT / "data"))


@pytest.fixture
def data_dir() -> Path:
    path = shared_data_dir()
    if not (path / "MANIFEST.md").is_file() and not any(path.glob("*/*.mat")):
        pytest.skip(f"real benchmark files not found in {path} (set MMC_DATA_DIR to the shared data folder)")
    return path


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m mmc_bench`` as a user would, from ``cwd`` (figures off unless a test asks for them)."""
    if not any(a.startswith("plots=") for a in args) and "--help" not in args and "--cfg" not in args:
        args = (*args, "plots=none")
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "mmc_bench", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=300,
    )


def compose_config(*overrides: str):
    """The run config composed as the app composes it (schemas and resolvers registered)."""
    from mmc_bench.run.app import compose_run_config

    return compose_run_config(*overrides)


def run_app(*args: str, cwd: Path, monkeypatch, capsys) -> tuple[int, str, str]:
    """``python -m mmc_bench ARGS`` in this process (much faster than a subprocess): exit code, stdout, stderr."""
    import mmc_bench.run.app

    if not any(a.startswith("plots=") for a in args) and args[:1] != ("describe",):
        args = (*args, "plots=none")
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", ["mmc_bench", *args])
    capsys.readouterr()
    try:
        mmc_bench.run.app.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err
