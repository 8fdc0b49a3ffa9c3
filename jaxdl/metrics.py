"""Classification metrics from a confusion matrix accumulated over batches.

torch counterparts: ``torchmetrics.Accuracy / Precision / Recall / F1Score /
ConfusionMatrix`` and ``sklearn.metrics.*`` (the notes use both). The matrix is summed
on the device inside the jitted eval step; everything derived from it on the host is
computed by ``sklearn.metrics`` from the label pairs it counts. Rows of the confusion
matrix are true classes, columns predicted classes (sklearn's convention). Precision,
recall and F1 of a class with no support or no prediction are 0 (sklearn's
``zero_division=0``).
"""

from __future__ import annotations

from collections.abc import Sequence

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


def labels_of(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The (true, predicted) label pairs that a confusion matrix counts, as two host
    arrays grouped by cell (the data set's order is gone; no metric here needs it): the
    input ``sklearn.metrics`` takes."""
    cm = np.asarray(cm)
    true, pred = np.divmod(np.arange(cm.size), len(cm))
    counts = cm.ravel()
    return np.repeat(true, counts), np.repeat(pred, counts)


def _per_class(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """sklearn's ``precision_recall_fscore_support`` per class (``zero_division=0``)."""
    from sklearn.metrics import precision_recall_fscore_support

    return precision_recall_fscore_support(*labels_of(cm), labels=np.arange(len(cm)), average=None,
                                           zero_division=0)


def accuracy(cm: np.ndarray) -> float:
    cm = np.asarray(cm)
    return float(np.trace(cm) / max(cm.sum(), 1))


def precision(cm: np.ndarray) -> np.ndarray:
    """Per class: TP / (TP + FP) (column sums); sklearn's ``precision_score(average=None)``."""
    return _per_class(cm)[0]


def recall(cm: np.ndarray) -> np.ndarray:
    """Per class: TP / (TP + FN) (row sums); sklearn's ``recall_score(average=None)``."""
    return _per_class(cm)[1]


def f1(cm: np.ndarray) -> np.ndarray:
    """Per class: the harmonic mean of precision and recall; sklearn's ``f1_score(average=None)``."""
    return _per_class(cm)[2]


def _names(cm: np.ndarray, class_names: Sequence[str] | None) -> list[str]:
    return list(class_names) if class_names is not None else [str(i) for i in range(len(cm))]


def summary(cm: np.ndarray, class_names: Sequence[str] | None = None) -> dict:
    """Accuracy, per-class and macro precision / recall / F1, support, the matrix itself."""
    cm = np.asarray(cm)
    names = _names(cm, class_names)
    p, r, f, support = _per_class(cm)
    return {
        "accuracy": accuracy(cm),
        "precision_macro": float(p.mean()), "recall_macro": float(r.mean()), "f1_macro": float(f.mean()),
        "per_class": {n: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                          "support": int(support[i])} for i, n in enumerate(names)},
        "confusion_matrix": cm.tolist(),
    }


def classification_report(cm: np.ndarray, class_names: Sequence[str] | None = None) -> str:
    """``sklearn.metrics.classification_report`` (4 digits, ``zero_division=0``) of the
    labels the matrix counts, with the matrix below."""
    from sklearn.metrics import classification_report as sk_report

    cm = np.asarray(cm)
    names = _names(cm, class_names)
    text = sk_report(*labels_of(cm), labels=np.arange(len(cm)), target_names=names, digits=4, zero_division=0)
    w = max(12, *(len(n) for n in names))
    cw = max(5, len(str(cm.max())) + 1)
    lines = [text.rstrip("\n"), "", "confusion matrix (rows: true, columns: predicted)",
             " " * w + "".join(f"{i:>{cw}}" for i in range(len(cm)))]
    for i, row in enumerate(cm):
        lines.append(f"{names[i]:>{w}}" + "".join(f"{v:>{cw}}" for v in row))
    return "\n".join(lines)
