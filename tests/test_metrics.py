"""jaxdl.metrics against scikit-learn: the on-device confusion matrix (masked too), and
precision / recall / F1 / support / report computed from it on the host."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn import metrics as skm

from jaxdl import metrics

RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 5, 700)
PREDS = np.where(RNG.random(700) < 0.6, LABELS, RNG.integers(0, 5, 700))
PREDS[PREDS == 4] = 3  # class 4: support but never predicted (zero_division)
LABELS[:3], PREDS[:3] = 2, 2
NAMES = ["zero", "one", "two", "three", "four"]


def _cm():
    return np.asarray(jax.jit(metrics.confusion_matrix, static_argnums=2)(jnp.asarray(LABELS), jnp.asarray(PREDS), 5))


def test_confusion_matrix_on_device_equals_sklearn_and_masks():
    np.testing.assert_array_equal(_cm(), skm.confusion_matrix(LABELS, PREDS, labels=range(5)))
    keep = RNG.random(700) < 0.5
    masked = metrics.confusion_matrix(jnp.asarray(LABELS), jnp.asarray(PREDS), 5, jnp.asarray(keep))
    np.testing.assert_array_equal(masked, skm.confusion_matrix(LABELS[keep], PREDS[keep], labels=range(5)))


def test_per_class_metrics_and_summary_equal_sklearn():
    cm = _cm()
    p, r, f, support = skm.precision_recall_fscore_support(LABELS, PREDS, labels=range(5), zero_division=0)
    np.testing.assert_allclose(metrics.precision(cm), p, rtol=0, atol=1e-15)
    np.testing.assert_allclose(metrics.recall(cm), r, rtol=0, atol=1e-15)
    np.testing.assert_allclose(metrics.f1(cm), f, rtol=0, atol=1e-15)
    s = metrics.summary(cm, NAMES)
    assert s["accuracy"] == skm.accuracy_score(LABELS, PREDS)
    assert s["f1_macro"] == pytest.approx(skm.f1_score(LABELS, PREDS, average="macro", zero_division=0), abs=1e-15)
    assert [v["support"] for v in s["per_class"].values()] == support.tolist()
    assert s["per_class"]["four"]["precision"] == 0.0  # never predicted


def test_report_is_sklearns_with_the_matrix_below():
    text = metrics.classification_report(_cm(), NAMES)
    sk = skm.classification_report(LABELS, PREDS, labels=range(5), target_names=NAMES, digits=4, zero_division=0)
    assert text.startswith(sk.rstrip("\n") + "\n\nconfusion matrix (rows: true, columns: predicted)")
    assert text.splitlines()[-1].split()[0] == "four" and len(text.splitlines()[-1].split()) == 6
