"""PNG figures of a run: learning curves, confusion matrix, image grids, forecasts
(the notes' ``plt.plot(losses)``, ``plot_confusion_matrix``, ``make_grid`` + ``imshow``).

Figures are drawn with matplotlib's object API (a ``Figure`` on its own Agg canvas),
which writes PNG files without a display and without choosing matplotlib's global
backend: importing or using this module leaves ``pyplot`` and a notebook's inline plots
alone.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _figure(**kwargs) -> Figure:
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)  # its own PNG canvas: no pyplot, no global backend
    return fig


def _save(fig: Figure, path: str | os.PathLike) -> str:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return str(path)


def curves(rows: Sequence[dict], path: str | os.PathLike, title: str = "") -> str:
    """Loss (and accuracy, when present) per epoch for train and validation."""
    epochs = [r["epoch"] for r in rows]
    has_acc = any("train_accuracy" in r for r in rows)
    fig = _figure(figsize=(10 if has_acc else 5, 3.6))
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)
    for ax, metric in zip(axes[0], ["loss", "accuracy"]):
        for split in ("train", "val"):
            key = f"{split}_{metric}"
            if any(key in r for r in rows):
                ax.plot(epochs, [r.get(key, np.nan) for r in rows], marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def confusion_matrix(cm: np.ndarray, class_names: Sequence[str], path: str | os.PathLike,
                     title: str = "confusion matrix") -> str:
    cm = np.asarray(cm)
    n = len(cm)
    fig = _figure(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    ax = fig.subplots()
    ax.imshow(cm, cmap="Blues")
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > cm.max() / 2 else "black")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(n), class_names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)


def image_grid(images_NHWC: np.ndarray, path: str | os.PathLike, *, true: Sequence[int] | None = None,
               pred: Sequence[int] | None = None, class_names: Sequence[str] | None = None,
               cols: int = 8) -> str:
    """Images with 'pred (true)' titles, red where wrong (torchvision's ``make_grid``)."""
    images = np.asarray(images_NHWC)
    rows = -(-len(images) // cols)
    fig = _figure(figsize=(1.4 * cols, 1.6 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    name = (lambda k: class_names[int(k)]) if class_names is not None else str
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k >= len(images):
            continue
        img = images[k]
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else np.clip(img, 0, 1), cmap="gray")
        if pred is not None:
            ok = true is None or pred[k] == true[k]
            label = name(pred[k]) + ("" if true is None else f" ({name(true[k])})")
            ax.set_title(label, fontsize=7, color="black" if ok else "red")
    return _save(fig, path)


def series(path: str | os.PathLike, *lines: tuple[Sequence, Sequence, str], title: str = "",
           xlabel: str = "", ylabel: str = "") -> str:
    """Several (x, y, label) lines on one axis: data and fit, forecasts, loss over w. A
    fourth element, a dict, passes matplotlib styles (``{"color": "C1", "ls": "--"}``)."""
    fig = _figure(figsize=(8, 3.6))
    ax = fig.subplots()
    for x, y, label, *style in lines:
        ax.plot(x, y, label=label, **(style[0] if style else {}))
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)
