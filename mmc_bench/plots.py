"""Figures of one run, from its history.csv and predictions.npz: loss curves, t-SNE of the embedding
(coloured by predicted and by true cluster), the confusion matrix after Hungarian matching, view weights."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from sklearn.manifold import TSNE  # noqa: E402
from sklearn.metrics.cluster import contingency_matrix  # noqa: E402

from mmc_bench.metrics import hungarian_map  # noqa: E402

TSNE_POINTS = 800
NOT_LOSSES = ("epoch", "clusters_used", "skipped_batches", "realigned", "label_change")


def plot_loss_curves(history: pd.DataFrame, path: Path) -> bool:
    """One panel per training phase, one line per logged term (view weights are drawn separately)."""
    phases = [p for p in dict.fromkeys(history["phase"]) if p != "eval"] if "phase" in history else []
    if not phases:
        return False
    fig, axes = plt.subplots(1, len(phases), figsize=(5 * len(phases), 3.6), squeeze=False)
    for ax, phase in zip(axes[0], phases):
        part = history[history["phase"] == phase].dropna(axis=1, how="all")
        for term in part.columns:
            if term in ("phase", *NOT_LOSSES) or term.startswith("w_view"):
                continue
            ax.plot(part["epoch"], part[term], label=term)
        ax.set(title=phase, xlabel="epoch", ylabel="loss")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_view_weights(history: pd.DataFrame, path: Path) -> bool:
    columns = [c for c in history.columns if c.startswith("w_view")]
    if not columns:
        return False
    train = history[history["phase"] == "train"]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for column in columns:
        ax.plot(train["epoch"], train[column], label=column.replace("w_", ""))
    ax.set(title="attention weight per view", xlabel="epoch", ylabel="weight")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def plot_tsne(embedding: np.ndarray, predicted: np.ndarray, true: np.ndarray | None, path: Path) -> None:
    """t-SNE of at most TSNE_POINTS samples (a fixed random subset), coloured by predicted and by true cluster."""
    rng = np.random.default_rng(0)
    keep = np.sort(rng.choice(len(embedding), size=min(TSNE_POINTS, len(embedding)), replace=False))
    points = TSNE(
        2, init="pca", perplexity=min(30.0, (len(keep) - 1) / 3), max_iter=500, random_state=0
    ).fit_transform(embedding[keep].astype(np.float64))
    panels = [("predicted cluster", predicted[keep])] + (
        [("true class", true[keep])] if true is not None else []
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5), squeeze=False)
    for ax, (title, colour) in zip(axes[0], panels):
        ax.scatter(points[:, 0], points[:, 1], c=colour, s=4, cmap="tab20")
        ax.set(title=f"t-SNE, {title}", xticks=[], yticks=[])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_confusion(true: np.ndarray, predicted: np.ndarray, path: Path) -> None:
    """Classes x clusters counts, clusters reordered by the Hungarian cluster -> class map."""
    mapping = hungarian_map(true, predicted)
    renamed = np.array([mapping.get(int(c), -1 - int(c)) for c in predicted])
    counts = contingency_matrix(true, renamed)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    image = ax.imshow(counts, cmap="Blues")
    ax.set(title="confusion after Hungarian matching", xlabel="cluster (matched)", ylabel="class")
    fig.colorbar(image, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_run(run_dir: Path, tsne: bool = True) -> list[str]:
    """Write every figure the run's files allow into run_dir; return their names."""
    written = []
    history_file = run_dir / "history.csv"
    if history_file.is_file() and history_file.stat().st_size > 0:
        history = pd.read_csv(history_file)
        if plot_loss_curves(history, run_dir / "loss_curves.png"):
            written.append("loss_curves.png")
        if plot_view_weights(history, run_dir / "view_weights.png"):
            written.append("view_weights.png")
    predictions_file = run_dir / "predictions.npz"
    if predictions_file.is_file():
        arrays = np.load(predictions_file)
        true = arrays["true"] if "true" in arrays else None
        if tsne and "embedding" in arrays and len(arrays["labels"]) > 5:
            plot_tsne(arrays["embedding"], arrays["labels"], true, run_dir / "tsne.png")
            written.append("tsne.png")
        if true is not None:
            plot_confusion(true, arrays["labels"], run_dir / "confusion.png")
            written.append("confusion.png")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Re-create the figures of a run directory.")
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    parser.add_argument("--no-tsne", action="store_true", help="skip the (slower) t-SNE figure")
    args = parser.parse_args(argv)
    status = 0
    for run_dir in args.run_dirs:
        if not (run_dir / "metrics.json").is_file():
            print(f"error: {run_dir} has no metrics.json; give the folder of one run", file=sys.stderr)
            status = 2
            continue
        written = plot_run(run_dir, tsne=not args.no_tsne)
        print(f"{run_dir}: {', '.join(written) if written else 'nothing to plot'}")
    return status
