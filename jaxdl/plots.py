"""PNG figures of a run: learning curves, confusion matrix, image grids, forecasts,
decision boundaries (the notes' ``plt.plot(losses)``, ``plot_confusion_matrix``,
``make_grid`` + ``imshow``).

Figures are drawn with matplotlib's object API (a ``Figure`` on its own Agg canvas),
which writes PNG files without a display and without choosing matplotlib's global
backend: importing or using this module leaves ``pyplot`` and a notebook's inline plots
alone. Each function writes a PNG to ``path`` and returns the path, or returns the
``Figure`` when ``path`` is None; ``show`` puts either in a notebook's output.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Callable, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

PathLike = str | os.PathLike


def _figure(**kwargs) -> Figure:
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)  # its own PNG canvas: no pyplot, no global backend
    return fig


def _save(fig: Figure, path: PathLike | None) -> str | Figure:
    fig.tight_layout()
    if path is None:
        return fig
    fig.savefig(path, dpi=110)
    return str(path)


def show(figure: Figure | PathLike) -> None:
    """Put a figure (or a PNG file) in a notebook's output (torch: ``plt.show()``); in a
    script, print where the PNG is (a Figure is written to a temporary file first)."""
    try:
        from IPython import get_ipython
        from IPython.display import Image, display
    except ImportError:  # IPython is optional: a script without it prints the path
        get_ipython = None
    if get_ipython is not None and getattr(get_ipython(), "kernel", None) is not None:
        if isinstance(figure, Figure):
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", dpi=110)
            display(Image(data=buffer.getvalue(), format="png"))
        else:
            display(Image(filename=str(figure)))
        return
    if isinstance(figure, Figure):
        with tempfile.NamedTemporaryFile(prefix="jaxdl-", suffix=".png", delete=False) as f:
            figure.savefig(f, format="png", dpi=110)
        figure = f.name
    print(f"figure: {figure}")


def curves(rows: Sequence[dict], path: PathLike | None = None, title: str = "", *,
           dataset: str | None = None, selected_epoch: int | None = None) -> str | Figure:
    """Loss (and accuracy, when present) per epoch for train and validation, on whole-epoch
    ticks; ``dataset`` is named in the title, and ``selected_epoch`` (the epoch whose
    weights were tested) is starred on the validation curve, or on the training curve of
    a run without validation."""
    epochs = [r["epoch"] for r in rows]
    if selected_epoch is not None and selected_epoch not in epochs:
        raise ValueError(f"plots.curves: selected_epoch={selected_epoch} is not among the history's epochs "
                         f"{epochs[0]}..{epochs[-1]}; pass the epoch whose checkpoint was tested.")
    has_acc = any("train_accuracy" in r for r in rows)
    fig = _figure(figsize=(10 if has_acc else 5, 3.6))
    axes = fig.subplots(1, 2 if has_acc else 1, squeeze=False)
    for ax, metric in zip(axes[0], ["loss", "accuracy"]):
        plotted = {}
        for split in ("train", "val"):
            key = f"{split}_{metric}"
            if any(key in r for r in rows):
                plotted[split] = [r.get(key, np.nan) for r in rows]
                ax.plot(epochs, plotted[split], marker="o", label=split)
        if selected_epoch is not None and plotted:
            split = "val" if "val" in plotted else "train"
            ax.plot([selected_epoch], [plotted[split][epochs.index(selected_epoch)]], linestyle="none",
                    marker="*", markersize=16, color="C3", label=f"selected: epoch {selected_epoch}")
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(" on ".join(t for t in (title, dataset) if t))
    return _save(fig, path)


def confusion_matrix(cm: np.ndarray, class_names: Sequence[str], path: PathLike | None = None,
                     title: str = "confusion matrix") -> str | Figure:
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


def image_grid(images_NHWC: np.ndarray, path: PathLike | None = None, *, true: Sequence[int] | None = None,
               pred: Sequence[int] | None = None, class_names: Sequence[str] | None = None,
               cols: int = 8) -> str | Figure:
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


def series(path: PathLike | None, *lines: tuple[Sequence, Sequence, str], title: str = "",
           xlabel: str = "", ylabel: str = "") -> str | Figure:
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


def decision_boundary(predict: Callable[[np.ndarray], np.ndarray], x_Nx2: np.ndarray, labels: Sequence[int],
                      path: PathLike | None = None, *, title: str = "", steps: int = 200) -> str | Figure:
    """A binary classifier's probability over the plane of two features, its 0.5 contour
    (the decision boundary), and the points coloured by their label. ``predict`` maps an
    (M, 2) array to M probabilities of class 1."""
    x = np.asarray(x_Nx2, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plots.decision_boundary: x_Nx2 has shape {x.shape}; pass the two plotted features "
                         "as an (N, 2) array (a constant bias feature is for predict to append).")
    pad = 0.1 * (x.max(0) - x.min(0))
    g0, g1 = np.meshgrid(*(np.linspace(lo, hi, steps) for lo, hi in zip(x.min(0) - pad, x.max(0) + pad)))
    prob = np.asarray(predict(np.stack([g0.ravel(), g1.ravel()], 1))).reshape(g0.shape)
    fig = _figure(figsize=(5, 4.2))
    ax = fig.subplots()
    filled = ax.contourf(g0, g1, prob, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
    ax.contour(g0, g1, prob, levels=[0.5], colors="k", linewidths=1.5)
    labels = np.asarray(labels)
    for k, color in ((0, "C0"), (1, "C3")):
        ax.scatter(*x[labels == k].T, s=14, color=color, edgecolors="white", linewidths=0.5, label=f"class {k}")
    fig.colorbar(filled, ax=ax, label="p(class 1)")
    ax.set_title(title)
    ax.legend(loc="best")
    return _save(fig, path)
