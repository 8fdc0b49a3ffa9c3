"""Classification metrics from a confusion matrix accumulated over batches.

torch counterparts: ``torchmetrics.Accuracy / Precision / Recall / F1Score /
ConfusionMatrix`` and ``sklearn.metrics.*`` (the notes use both). Rows of the confusion
matrix are true classes, columns predicted classes (sklearn's convention). Precision,
recall and F1 of a class with no support or no prediction are 0 (sklearn's
``zero_division=0``).
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

TASKS = ("multiclass", "binary", "binary_probs", "regression")


def predict_labels(outputs: jax.Array, task: str) -> jax.Array:
    """Model outputs -> predicted class indices (N,).

    multiclass: argmax over the last axis (logits or log-probabilities; torch:
    ``torch.max(y, 1)[1]``); binary: logit > 0; binary_probs: probability >= 0.5.
    """
    if task == "multiclass":
        return jnp.argmax(outputs, axis=-1)
    if task == "binary":
        return (outputs.reshape(outputs.shape[0], -1)[:, 0] > 0).astype(jnp.int32)
    if task == "binary_probs":
        return (outputs.reshape(outputs.shape[0], -1)[:, 0] >= 0.5).astype(jnp.int32)
    raise ValueError(f"no class predictions for task {task!r}; tasks: {TASKS}")


def confusion_matrix(labels: jax.Array, preds: jax.Array, num_classes: int,
                     mask: jax.Array | None = None) -> jax.Array:
    """torch: ``torchmetrics.ConfusionMatrix``; sklearn: ``confusion_matrix``. Jittable;
    add the matrices of several batches to accumulate. ``mask`` (N,) bool: count only
    the examples where it is True (the padding of an evaluation batch is False)."""
    labels = labels.reshape(-1).astype(jnp.int32)
    counts = 1 if mask is None else mask.reshape(-1).astype(jnp.int32)
    return jnp.zeros((num_classes, num_classes), jnp.int32).at[labels, preds.reshape(-1)].add(counts)


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b != 0)


def accuracy(cm: np.ndarray) -> float:
    cm = np.asarray(cm)
    return float(np.trace(cm) / max(cm.sum(), 1))


def precision(cm: np.ndarray) -> np.ndarray:
    """Per class: TP / (TP + FP) (column sums)."""
    cm = np.asarray(cm, np.float64)
    return _safe_div(np.diag(cm), cm.sum(axis=0))


def recall(cm: np.ndarray) -> np.ndarray:
    """Per class: TP / (TP + FN) (row sums)."""
    cm = np.asarray(cm, np.float64)
    return _safe_div(np.diag(cm), cm.sum(axis=1))


def f1(cm: np.ndarray) -> np.ndarray:
    p, r = precision(cm), recall(cm)
    return _safe_div(2 * p * r, p + r)


def summary(cm: np.ndarray, class_names: Sequence[str] | None = None) -> dict:
    """Accuracy, per-class and macro precision / recall / F1, support, the matrix itself."""
    cm = np.asarray(cm)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(cm))]
    p, r, f = precision(cm), recall(cm), f1(cm)
    return {
        "accuracy": accuracy(cm),
        "precision_macro": float(p.mean()), "recall_macro": float(r.mean()), "f1_macro": float(f.mean()),
        "per_class": {n: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                          "support": int(cm[i].sum())} for i, n in enumerate(names)},
        "confusion_matrix": cm.tolist(),
    }


def classification_report(cm: np.ndarray, class_names: Sequence[str] | None = None) -> str:
    """Text table like ``sklearn.metrics.classification_report``, with the matrix below."""
    s = summary(cm, class_names)
    names = list(s["per_class"])
    w = max(12, *(len(n) for n in names))
    lines = [f"{'':>{w}} precision    recall  f1-score   support"]
    for n, v in s["per_class"].items():
        lines.append(f"{n:>{w}} {v['precision']:9.4f} {v['recall']:9.4f} {v['f1']:9.4f} {v['support']:9d}")
    total = int(np.asarray(cm).sum())
    lines += ["", f"{'accuracy':>{w}} {'':9} {'':9} {s['accuracy']:9.4f} {total:9d}",
              f"{'macro avg':>{w}} {s['precision_macro']:9.4f} {s['recall_macro']:9.4f} "
              f"{s['f1_macro']:9.4f} {total:9d}", "", "confusion matrix (rows: true, columns: predicted)"]
    cm = np.asarray(cm)
    cw = max(5, len(str(cm.max())) + 1)
    lines.append(" " * w + "".join(f"{i:>{cw}}" for i in range(len(cm))))
    for i, row in enumerate(cm):
        lines.append(f"{names[i]:>{w}}" + "".join(f"{v:>{cw}}" for v in row))
    return "\n".join(lines)
