"""README's quick-start examples work as written, from a fresh clone with no data files."""

import re
import shlex

import pytest

from mmc_bench.config import validate_run_config
from tests.conftest import ROOT, compose_config

README = (ROOT / "README.md").read_text()


def block(heading: str, language: str) -> str:
    section = README.split(heading, 1)[1]
    return re.search(rf"```{language}\n(.*?)```", section, re.S).group(1)


def test_every_quick_start_run_command_composes_and_validates():
    commands = [line.split("#")[0] for line in block("## Quick start: command line", "bash").splitlines()]
    runs = [shlex.split(c)[1:] for c in commands if c.startswith("mmc-bench ") and "--" not in c]
    assert len(runs) >= 3
    for args in runs:
        overrides = [a for a in args if a != "-m"]
        # a sweep's first value of each swept key stands for its jobs
        first = [re.sub(r"=([^,\[]+),\S+", r"=\1", o) if "," in o and "[" not in o else o for o in overrides]
        cfg = compose_config(*first)
        validate_run_config(cfg)


@pytest.mark.slow
def test_the_python_quick_start_runs_as_written():
    code = block("## Quick start: Python", "python")
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own example
    model, restored, views = namespace["model"], namespace["restored"], namespace["views"]
    assert (restored.predict(views) == model.labels_).all()
