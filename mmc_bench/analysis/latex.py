"""table.tex: a paper-ready float (``table`` or ``table*``, caption, label, booktabs rules) whose tabulars fit
the chosen width: column groups (a dataset's metrics, or a method's) are packed into blocks no wider than
the text width, and the blocks are stacked; blocks that would make the float taller than a page go into
further floats ("part 2 of 3"). Widths are estimated from the cells' visible characters at
``\\scriptsize`` with a margin; the test suite compiles the result and checks LaTeX reports no overfull box.

The document needs ``\\usepackage{booktabs}``."""

from __future__ import annotations

import re

import pandas as pd

# Usable widths in pt: one column of a two-column paper (CVPR 237, ACM 241, IEEE 252) and the full text
# width of such a paper (CVPR 496, IEEE 516), the smaller of each.
WIDTHS_PT = {"column": 237.0, "page": 496.0}
# \scriptsize under a 10 pt class is 7 pt, digits 0.5 em = 3.5 pt wide, bold ones 0.575 em = 4.0 pt; letters
# vary: 4.3 pt a character is an upper bound for the text these tables hold.
CHAR_PT = 4.3
TABCOLSEP_PT = 3.0
BLOCK_GAP = "\\par\\medskip"
# A float's height limit (pt): a two-column paper's text height (CVPR 639, IEEE 686) less a margin. Rows at
# \scriptsize take 8 pt; 10 pt each, 40 pt for a tabular's header and rules and 50 pt for the caption are
# upper bounds.
MAX_FLOAT_PT = 600.0
ROW_PT, TABULAR_PT, CAPTION_PT = 10.0, 40.0, 50.0

LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}  # fmt: skip
VISIBLE = [(r"\$\\pm\$", "±"), (r"\$\\Delta\$", "Δ"), (r"\$\^\\dagger\$", "†"), (r"\\[a-zA-Z]+\{\}", "x"),
           (r"\\[a-zA-Z]+", ""), (r"\\(.)", r"\1"), (r"[{}]", "")]  # fmt: skip


def latex_escape(text: str) -> str:
    """A name (method, dataset, variant, metric) as LaTeX text: every special character escaped."""
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def visible_width(text: str) -> float:
    """Estimated printed width (pt) of a cell's LaTeX text at \\scriptsize, with the column's padding."""
    for pattern, replacement in VISIBLE:
        text = re.sub(pattern, replacement, text)
    return len(text) * CHAR_PT + 2 * TABCOLSEP_PT


def pack_blocks(wide: pd.DataFrame, label_pt: float, width_pt: float) -> list[list[tuple[str, str]]]:
    """The columns in blocks that fit ``width_pt`` beside the label column: whole groups (a dataset's metrics)
    where they fit, a group split into its columns where it alone is too wide."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for column in wide.columns:
        groups.setdefault(column[0], []).append(column)

    def width(columns: list[tuple[str, str]]) -> float:
        cells = sum(max(visible_width(str(c[1])), *(visible_width(str(v)) for v in wide[c])) for c in columns)
        return max(cells, visible_width(str(columns[0][0])))

    room = width_pt - label_pt
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for columns in groups.values():
        pieces = [columns] if width(columns) <= room else [[c] for c in columns]
        for piece in pieces:
            if current and width_of_block(current + piece, width) > room:
                blocks.append(current)
                current = []
            current = current + piece
    if current:
        blocks.append(current)
    return blocks


def width_of_block(columns: list[tuple[str, str]], width) -> float:
    by_group: dict[str, list[tuple[str, str]]] = {}
    for c in columns:
        by_group.setdefault(c[0], []).append(c)
    return sum(width(cs) for cs in by_group.values())


def tabular(wide: pd.DataFrame, columns: list[tuple[str, str]], index_label: str) -> list[str]:
    """One booktabs tabular: a group header (\\multicolumn with \\cmidrule), the metric header, the rows."""
    spans: list[tuple[str, int]] = []
    for group, _ in columns:
        if spans and spans[-1][0] == group:
            spans[-1] = (group, spans[-1][1] + 1)
        else:
            spans.append((group, 1))
    lines = [f"\\begin{{tabular}}{{l{'r' * len(columns)}}}", "\\toprule"]
    lines.append(" & ".join([""] + [f"\\multicolumn{{{n}}}{{c}}{{{g}}}" for g, n in spans]) + " \\\\")
    rules, first = [], 2
    for _, n in spans:
        rules.append(f"\\cmidrule(lr){{{first}-{first + n - 1}}}")
        first += n
    lines.append(" ".join(rules))
    lines.append(" & ".join([index_label] + [str(metric) for _, metric in columns]) + " \\\\")
    lines.append("\\midrule")
    for row, values in wide[columns].iterrows():
        lines.append(" & ".join([str(row)] + [str(v) for v in values]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}"]
    return lines


def latex_table(wide: pd.DataFrame, index_label: str, caption: str, label: str, width: str = "column") -> str:
    """The whole float: ``width`` 'column' (table, one column of a two-column paper) or 'page' (table*)."""
    table = wide.copy()
    table.index = [latex_escape(i) for i in table.index]
    table.columns = pd.MultiIndex.from_tuples([(latex_escape(a), latex_escape(b)) for a, b in table.columns])
    index_label = latex_escape(index_label)
    label_pt = max(visible_width(s) for s in [index_label, *table.index])
    blocks = pack_blocks(table, label_pt, WIDTHS_PT[width])
    environment = "table" if width == "column" else "table*"
    floats = split_by_height(blocks, len(table))
    lines = ["% a table by mmc-bench-aggregate: needs \\usepackage{booktabs}"]
    for part, group in enumerate(floats, start=1):
        suffix = f" (part {part} of {len(floats)})" if len(floats) > 1 else ""
        lines += [
            f"\\begin{{{environment}}}[t]",
            "\\centering",
            "\\scriptsize",
            f"\\setlength{{\\tabcolsep}}{{{TABCOLSEP_PT:g}pt}}",
            f"\\caption{{{caption}{suffix}}}",
            f"\\label{{{label}{'' if part == 1 else f'-{part}'}}}",
        ]
        for i, block in enumerate(group):
            if i:
                lines.append(BLOCK_GAP)
            lines += tabular(table, block, index_label)
        lines.append(f"\\end{{{environment}}}")
    return "\n".join(lines) + "\n"


def split_by_height(blocks: list[list[tuple[str, str]]], n_rows: int) -> list[list[list[tuple[str, str]]]]:
    """Blocks grouped into floats that each fit a page's height (a long table continues in the next float)."""
    per_block = TABULAR_PT + ROW_PT * n_rows
    per_float = max(1, int((MAX_FLOAT_PT - CAPTION_PT) // per_block))
    return [blocks[i : i + per_float] for i in range(0, len(blocks), per_float)]
