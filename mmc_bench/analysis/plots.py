"""Figures of one run, from its metrics.json, history.csv and predictions.npz: loss terms, t-SNE of the
embedding (predicted clusters in the colours of their matched classes, and the classes), the confusion
matrix after Hungarian matching (counts, and row-normalised), view weights. Every title names the method,
dataset, seed and ACC/NMI."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullFormatter  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from sklearn.metrics.cluster import contingency_matrix  # noqa: E402

from mmc_bench.metrics import hungarian_map  # noqa: E402
from mmc_bench.run.storage import write_atomic  # noqa: E402

TSNE_POINTS = 800
PANELS_PER_ROW = 4
# History columns that are not logged terms.
BOOKKEEPING = ("phase", "epoch")


FORMATS = ("png", "pdf", "svg")
DEFAULT_DPI = 150


def save_figure(fig: Any, path: Path, dpi: int = DEFAULT_DPI) -> None:
    """A figure written atomically (a reader never sees half a file), in the format its suffix names."""
    # bbox "tight": labels placed outside the axes (long method names) are kept whole.
    write_atomic(
        path, lambda handle: fig.savefig(handle, format=path.suffix[1:], dpi=dpi, bbox_inches="tight")
    )


def plain_ticks(ax: Any) -> None:
    """Tick labels as plain numbers (0.982, 1e+04), never 9.82×10⁻¹ or an offset, on a log axis too."""
    plain = FuncFormatter(lambda value, _: f"{value:.3g}")
    ax.yaxis.set_major_formatter(plain)
    ax.yaxis.set_minor_formatter(plain if ax.get_yscale() == "log" else NullFormatter())


def run_title(record: dict[str, Any]) -> str:
    """'METHOD on DATASET, seed S: ACC 0.xxx, NMI 0.xxx' from a run's metrics.json."""
    head = f"{record.get('method', '?')} on {record.get('dataset', '?')}, seed {record.get('seed', '?')}"
    scores = [f"{k.upper()} {record[k]:.3f}" for k in ("acc", "nmi") if isinstance(record.get(k), float)]
    return head + (": " + ", ".join(scores) if scores else "")


def plot_loss_curves(
    history: pd.DataFrame, path: Path, record: dict[str, Any] | None = None, dpi: int = DEFAULT_DPI
) -> dict[str, list[float]]:
    """One row of panels per training phase, one panel per logged term: each term drawn as it enters the
    total (times its weight, from metrics.json's loss_weights), on a log axis when it stays positive, the
    x axis named for what a phase's step counts (metrics.json's phase_units, else epoch). Returns the drawn
    curves by panel title (empty when there is nothing to draw)."""
    record = record or {}
    phases = [p for p in dict.fromkeys(history["phase"]) if p != "eval"] if "phase" in history else []
    drawn: dict[str, list[float]] = {}
    if not phases:
        return drawn
    weights, units = record.get("loss_weights") or {}, record.get("phase_units") or {}
    # The method's declared diagnostics and view weights (metrics.json) are not loss terms.
    skipped = {*BOOKKEEPING, *(record.get("diagnostics") or ()), *view_weight_columns(history, record)}
    panels = {
        phase: [
            t for t in history[history["phase"] == phase].dropna(axis=1, how="all").columns
            if t not in skipped
        ]
        for phase in phases
    }  # fmt: skip
    columns = min(PANELS_PER_ROW, max(len(t) for t in panels.values()))
    layout = [
        (phase, panels[phase][i : i + columns])
        for phase in phases
        for i in range(0, len(panels[phase]), columns)
    ]
    fig, axes = plt.subplots(len(layout), columns, figsize=(3.4 * columns, 2.7 * len(layout)), squeeze=False)
    for row, (phase, terms) in zip(axes, layout):
        part = history[history["phase"] == phase]
        for ax, term in zip(row, terms):
            weight = weights.get(term, 1.0)
            values = part[term] * weight
            ax.plot(part["epoch"], values, lw=1.2)
            if (values > 0).all():
                ax.set_yscale("log")
            label = term if weight == 1.0 or term == "total" else f"{weight:g} × {term}"
            ax.set(
                title=f"{phase}: {label}",
                xlabel=units.get(phase, "epoch"),
                ylabel="value (log scale)" if ax.get_yscale() == "log" else "value",
            )
            plain_ticks(ax)
            drawn[f"{phase}: {label}"] = values.tolist()
            ax.title.set_fontsize(9)
        for ax in row[len(terms) :]:
            ax.axis("off")
    fig.suptitle(f"Loss terms, {run_title(record)}" if record else "Loss terms")
    fig.tight_layout()
    save_figure(fig, path, dpi)
    plt.close(fig)
    return drawn


def view_weight_columns(history: pd.DataFrame, record: dict[str, Any]) -> list[str]:
    """The history columns holding the method's per-view weights (its declared prefix in metrics.json)."""
    prefix = record.get("view_weight_prefix")
    return [c for c in history.columns if prefix and c.startswith(prefix)]


def plot_view_weights(
    history: pd.DataFrame, path: Path, record: dict[str, Any] | None = None, dpi: int = DEFAULT_DPI
) -> bool:
    """The method's weight of each view over training, each line named by the dataset's view name."""
    prefix = (record or {}).get("view_weight_prefix")
    names = (record or {}).get("view_names") or []
    columns = view_weight_columns(history, record or {})
    if not columns:
        return False
    train = history[history["phase"] == "train"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for column in columns:
        index = column.removeprefix(prefix)
        name = names[int(index)] if index.isdigit() and int(index) < len(names) else f"view {index}"
        ax.plot(train["epoch"], train[column], label=name)
    ax.set(title=f"Attention weight per view\n{run_title(record or {})}", xlabel="epoch", ylabel="weight")
    plain_ticks(ax)
    ax.title.set_fontsize(9)
    ax.legend(title="view")
    fig.tight_layout()
    save_figure(fig, path, dpi)
    plt.close(fig)
    return True


def matched_to_classes(true: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """Predicted clusters renamed to their Hungarian-matched classes; unmatched clusters get new ids."""
    mapping = hungarian_map(true, predicted)
    unmatched = iter(range(int(true.max()) + 1, int(true.max()) + 1 + len(np.unique(predicted))))
    extra = {c: next(unmatched) for c in np.unique(predicted) if int(c) not in mapping}
    return np.array([mapping.get(int(c), extra.get(c, -1)) for c in predicted])


def plot_tsne(
    embedding: np.ndarray,
    predicted: np.ndarray,
    true: np.ndarray | None,
    path: Path,
    record: dict | None = None,
    dpi: int = DEFAULT_DPI,
) -> None:
    """t-SNE of at most TSNE_POINTS samples (a fixed random subset): predicted clusters, coloured by the class
    each is Hungarian-matched to, beside the true classes in the same colours, with one legend."""
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(embedding), size=min(TSNE_POINTS, len(embedding)), replace=False))
    points = TSNE(
        2, init="pca", perplexity=min(30.0, (len(keep) - 1) / 3), max_iter=500, random_state=0
    ).fit_transform(embedding[keep].astype(np.float64))
    shown = matched_to_classes(true, predicted) if true is not None else predicted
    panels = [
        ("predicted cluster (matched to classes)" if true is not None else "predicted cluster", shown[keep])
    ]
    if true is not None:
        panels.append(("true class", true[keep]))
    colours = plt.get_cmap("tab20")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels) + 1.4, 4.8), squeeze=False)
    for ax, (title, labels) in zip(axes[0], panels):
        for value in np.unique(labels):
            at = labels == value
            ax.scatter(points[at, 0], points[at, 1], s=5, color=colours(int(value) % 20), label=str(value))
        ax.set(title=title, xticks=[], yticks=[], xlabel="t-SNE 1", ylabel="t-SNE 2")
    handles, names = axes[0][-1].get_legend_handles_labels()
    fig.legend(
        handles, names, title="class" if true is not None else "cluster", loc="center right", markerscale=3
    )
    fig.suptitle(f"t-SNE of the embedding, {run_title(record or {})}")
    fig.tight_layout(rect=(0, 0, 1 - 1.2 / fig.get_figwidth(), 1))
    save_figure(fig, path, dpi)
    plt.close(fig)


def plot_confusion(
    true: np.ndarray,
    predicted: np.ndarray,
    path: Path,
    record: dict | None = None,
    normalise: bool = False,
    dpi: int = DEFAULT_DPI,
) -> None:
    """Classes x clusters with clusters renamed to their matched classes (the diagonal is what ACC counts),
    each cell's count written in it; ``normalise`` divides each row by its class size."""
    counts = contingency_matrix(true, matched_to_classes(true, predicted)).astype(float)
    values = counts / counts.sum(axis=1, keepdims=True) if normalise else counts
    fig, ax = plt.subplots(figsize=(0.45 * values.shape[1] + 3, 0.45 * values.shape[0] + 2.5))
    image = ax.imshow(values, cmap="Blues")
    for (i, j), v in np.ndenumerate(values):
        text = f"{v:.2f}" if normalise else f"{int(v)}"
        ax.text(
            j,
            i,
            text,
            ha="center",
            va="center",
            fontsize=7,
            color="white" if v > values.max() / 2 else "black",
        )
    ax.set(
        title=f"{'Row-normalised confusion' if normalise else 'Confusion'} after Hungarian matching\n{run_title(record or {})}",
        xlabel="cluster (named by its matched class)",
        ylabel="class",
    )
    ax.set_xticks(range(values.shape[1]))
    ax.set_yticks(range(values.shape[0]))
    ax.title.set_fontsize(9)
    fig.colorbar(image, ax=ax, label="share of the class" if normalise else "samples")
    fig.tight_layout()
    save_figure(fig, path, dpi)
    plt.close(fig)


def plot_run(run_dir: Path, tsne: bool = True, fmt: str = "png", dpi: int = DEFAULT_DPI) -> list[str]:
    """Write every figure the run's files allow into run_dir (as ``fmt``); return their names."""
    written = []
    metrics_file = run_dir / "metrics.json"
    record = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    history_file = run_dir / "history.csv"

    def name(stem: str) -> str:
        written.append(f"{stem}.{fmt}")
        return f"{stem}.{fmt}"

    if history_file.is_file() and history_file.stat().st_size > 0:
        history = pd.read_csv(history_file)
        if plot_loss_curves(history, run_dir / f"loss_curves.{fmt}", record, dpi):
            name("loss_curves")
        if plot_view_weights(history, run_dir / f"view_weights.{fmt}", record, dpi):
            name("view_weights")
    predictions_file = run_dir / "predictions.npz"
    if predictions_file.is_file():
        arrays = np.load(predictions_file)
        true = arrays["true"] if "true" in arrays else None
        if tsne and "embedding" in arrays and len(arrays["labels"]) > 5:
            plot_tsne(arrays["embedding"], arrays["labels"], true, run_dir / name("tsne"), record, dpi)
        if true is not None:
            plot_confusion(true, arrays["labels"], run_dir / name("confusion"), record, dpi=dpi)
            plot_confusion(
                true,
                arrays["labels"],
                run_dir / name("confusion_normalised"),
                record,
                normalise=True,
                dpi=dpi,
            )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Re-create the figures of a run directory.")
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    parser.add_argument("--no-tsne", action="store_true", help="skip the (slower) t-SNE figure")
    parser.add_argument("--format", choices=FORMATS, default="png", help="file format of the figures")
    parser.add_argument("--dpi", type=int, default=DEFAULT_DPI, help="resolution (PNG)")
    args = parser.parse_args(argv)
    status = 0
    for run_dir in args.run_dirs:
        if not (run_dir / "metrics.json").is_file():
            print(f"error: {run_dir} has no metrics.json; give the folder of one run", file=sys.stderr)
            status = 2
            continue
        written = plot_run(run_dir, tsne=not args.no_tsne, fmt=args.format, dpi=args.dpi)
        print(f"{run_dir}: {', '.join(written) if written else 'nothing to plot'}")
    return status
