"""REPORT.html beside REPORT.md: one self-contained file a browser opens from disk.

The Markdown report is converted by Python-Markdown (its tables extension); every table sorts by a click on
its header (a short inline script); the cross-method comparison figures (mmc_bench.analysis.compare) are
embedded as data URIs; each run's own figures are linked by their paths relative to the HTML file.
"""

from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import pandas as pd

# Sorting: a click on a header cell sorts the rows under it (numbers by value, the rest as text), again to
# reverse. "#sort=T,C" in the address sorts table T by column C on load (how the browser test clicks).
SCRIPT = """
function cellKey(row, column) {
  const text = (row.cells[column] || {textContent: ""}).textContent.trim();
  const number = parseFloat(text.replace(/[^0-9eE+\\-.]/g, " ").trim().split(" ")[0]);
  return isNaN(number) ? text.toLowerCase() : number;
}
function sortTable(table, column) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const ascending = table.dataset.sortedBy !== String(column) || table.dataset.order === "desc";
  rows.sort((a, b) => {
    const x = cellKey(a, column), y = cellKey(b, column);
    const order = (typeof x === typeof y) ? (x < y ? -1 : x > y ? 1 : 0) : (typeof x === "number" ? -1 : 1);
    return ascending ? order : -order;
  });
  rows.forEach(row => body.appendChild(row));
  table.dataset.sortedBy = String(column);
  table.dataset.order = ascending ? "asc" : "desc";
}
document.querySelectorAll("table").forEach((table, t) => {
  table.id = "table-" + t;
  if (!table.tHead) return;
  Array.from(table.tHead.rows[0].cells).forEach((cell, c) => {
    cell.title = "sort by this column";
    cell.addEventListener("click", () => sortTable(table, c));
  });
});
const wanted = /sort=(\\d+),(\\d+)/.exec(location.hash);
if (wanted) { const table = document.getElementById("table-" + wanted[1]); if (table) sortTable(table, +wanted[2]); }
document.body.dataset.sortable = "ready";
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.85em; display: block; overflow-x: auto; max-width: 100%; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { cursor: pointer; background: #f4f4f4; position: sticky; top: 0; }
th:hover { background: #e4e4ff; }
img { max-width: 100%; border: 1px solid #eee; }
code { background: #f6f6f6; padding: 0 0.2em; }
"""


def data_uri(figure: object, fmt: str = "png", dpi: int = 110) -> str:
    """A matplotlib figure as a data URI (the HTML file carries it)."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight")
    plt.close(figure)
    mime = {"png": "image/png", "svg": "image/svg+xml"}[fmt]
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode()}"


def comparison_section(runs: pd.DataFrame, metric: str = "acc") -> str:
    """Average ranks, the Friedman test and the CD diagram over the datasets, and every method's seeds per
    dataset, as Markdown with the figures embedded."""
    from mmc_bench.analysis.collect import display_rows
    from mmc_bench.analysis.compare import cd_figure, compare, comparison_markdown, per_dataset_figure

    runs = display_rows(runs)
    result = compare(runs, metric)
    if result.scores.empty:
        return ""
    text = comparison_markdown(result, metric, "nemenyi", 0.05).replace("# Comparison", "## Comparison", 1)
    figures = []
    if result.posthoc is not None:
        figures.append(f"![critical-difference diagram]({data_uri(cd_figure(result, 0.05))})")
    figures.append(f"![{metric} per dataset]({data_uri(per_dataset_figure(runs, metric))})")
    return text + "\n\n" + "\n\n".join(figures) + "\n"


def run_figures_section(runs: pd.DataFrame, html_folder: Path) -> str:
    """One row per completed run with links to the figures in its folder."""
    rows = []
    for _, run in runs[runs["status"] == "completed"].sort_values(["method", "dataset", "seed"]).iterrows():
        folder = Path(run["run_dir"])
        figures = sorted(p for p in folder.glob("*") if p.suffix in (".png", ".pdf", ".svg"))
        if not figures:
            continue
        links = " ".join(f"[{p.stem}]({os.path.relpath(p, html_folder)})" for p in figures)
        acc = f"{run['acc']:.3f}" if isinstance(run.get("acc"), float) else "–"
        rows.append(
            {
                "method": run["row"],
                "dataset": run["column"],
                "seed": run["seed"],
                "acc": acc,
                "figures": links,
            }
        )
    if not rows:
        return ""
    return "## Figures of each run\n\n" + pd.DataFrame(rows).to_markdown(index=False) + "\n"


def html_report(report_markdown: str, runs: pd.DataFrame, out: Path) -> str:
    """The whole HTML document of the report."""
    import markdown as md

    sections = [report_markdown, comparison_section(runs), run_figures_section(runs, out.parent)]
    body = md.markdown("\n\n".join(s for s in sections if s), extensions=["tables"])
    title = html.escape(
        report_markdown.splitlines()[0].lstrip("# ") if report_markdown else "mmc_bench report"
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n{body}\n<script>{SCRIPT}</script>\n</body></html>\n"
    )
