"""The package's shape: no import cycle (grimp's import graph, lazy imports included), commands that start
without torch or scikit-learn, and shared code that reads what methods declare instead of naming them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import grimp
import numpy as np
import pytest
from scipy.sparse import lil_matrix
from scipy.sparse.csgraph import connected_components

from tests.conftest import ROOT

SHARED = ("run/engine.py", "run/runner.py", "run/app.py", "run/tracking.py", "config.py",
          "analysis/plots.py", "analysis/report.py", "analysis/aggregate.py", "analysis/collect.py",
          "analysis/summarise.py", "analysis/render.py", "analysis/compare.py", "analysis/latex.py",
          "analysis/html.py", "analysis/choose.py")  # fmt: skip
METHOD_NAMES = re.compile(
    r"\b(eamc|dm2c|dmim|cmmc|jecl|dec|kmeans|spectral|simvc|comvc|completer)\b", re.IGNORECASE
)


def import_cycles(package: str) -> list[list[str]]:
    """Groups of modules that import each other (strongly connected components of more than one module)."""
    graph = grimp.build_graph(package, include_external_packages=False)
    modules = sorted(graph.modules)
    index = {m: i for i, m in enumerate(modules)}
    edges = lil_matrix((len(modules), len(modules)))
    for module in modules:
        for imported in graph.find_modules_directly_imported_by(module):
            edges[index[module], index[imported]] = 1
    count, component = connected_components(edges.tocsr(), directed=True, connection="strong")
    groups = [np.flatnonzero(component == c) for c in range(count)]
    return [[modules[i] for i in group] for group in groups if len(group) > 1]


def test_the_package_has_no_import_cycle():
    assert import_cycles("mmc_bench") == []


def test_shared_modules_name_no_method_outside_comments_and_strings():
    found = []
    for name in SHARED:
        for number, line in enumerate((ROOT / "mmc_bench" / name).read_text().splitlines(), 1):
            code = re.sub(r"#.*$|\"[^\"]*\"|'[^']*'", "", line)  # comments and one-line strings
            if METHOD_NAMES.search(code):
                found.append(f"{name}:{number}: {line.strip()}")
    assert found == []


@pytest.mark.parametrize("command", [["--help"], ["describe", "eamc"]])
def test_help_and_describe_import_neither_torch_nor_scikit_learn(command, tmp_path):
    probe = (
        "import sys, runpy\n"
        f"sys.argv = ['mmc_bench', *{command!r}]\n"
        "try:\n    runpy.run_module('mmc_bench', run_name='__main__')\n"
        "except SystemExit as exc:\n    assert exc.code in (0, None), exc.code\n"
        "heavy = sorted(m for m in ('torch', 'sklearn') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "HEAVY []" in result.stdout


def test_the_aggregator_imports_neither_torch_nor_scikit_learn():
    probe = "import sys, mmc_bench.analysis.aggregate; print(sorted(m for m in ('torch', 'sklearn') if m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=Path(ROOT), timeout=120
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_the_package_cites_no_unshipped_document_or_checkout_script():
    """Help texts, YAML comments, docstrings and report headers name installed commands (mmc-bench-report,
    mmc-bench-plot, ...) and published papers, never the checkout's scripts/ or the project's method notes."""
    found = []
    for path in sorted((ROOT / "mmc_bench").rglob("*")):
        if path.suffix not in (".py", ".yaml"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"scripts/\w+\.py|method[- ]notes|make report", line, re.IGNORECASE):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert found == []
