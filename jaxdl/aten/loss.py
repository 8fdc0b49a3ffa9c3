"""Loss ATen ops (what a ``F.cross_entropy`` written inside a ``forward`` becomes).

``reduction`` is ATen's enum: 0 none, 1 mean, 2 sum. Class dim 1 (or 0 for an unbatched
(C,) input), class weights, ``ignore_index`` and ``label_smoothing`` as torch; a mean
over weighted classes divides by the summed weights of the counted targets.

torch: F.cross_entropy, F.nll_loss, F.mse_loss, F.binary_cross_entropy(_with_logits), ...
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl import losses
from jaxdl.aten.dtypes import to_array
from jaxdl.aten.reduction import _vector_norm
from jaxdl.aten.registry import aten_op

_REDUCTIONS = {0: "none", 1: "mean", 2: "sum"}


def _reduce(values, reduction):
    if reduction == 0:
        return values
    if reduction == 1:
        return jnp.mean(values)
    if reduction == 2:
        return jnp.sum(values)
    raise ValueError(f"jaxdl.aten: reduction must be 0 (none), 1 (mean) or 2 (sum), got {reduction!r}")


def _class_axis(x):
    return 0 if x.ndim == 1 else 1


def _nll(logp, target, weight, reduction, ignore_index):
    axis = _class_axis(logp)
    target = to_array(target)
    valid = target != ignore_index
    safe = jnp.where(valid, target, 0)
    picked = jnp.take_along_axis(logp, jnp.expand_dims(safe, axis), axis=axis).squeeze(axis)
    w = jnp.ones_like(picked) if weight is None else to_array(weight, logp.dtype)[safe]
    w = jnp.where(valid, w, 0)
    values = -picked * w
    if reduction == 1:
        return jnp.sum(values) / jnp.sum(w)
    return _reduce(values, reduction)


@aten_op("nll_loss")
@aten_op("nll_loss2d")
@aten_op("nll_loss_nd")
def nll_loss(self, target, weight=None, reduction=1, ignore_index=-100):
    """torch: F.nll_loss (log-probabilities in, class indices as targets)"""
    return _nll(to_array(self), target, weight, reduction, ignore_index)


@aten_op("cross_entropy_loss")
def cross_entropy_loss(self, target, weight=None, reduction=1, ignore_index=-100, label_smoothing=0.0):
    """torch: F.cross_entropy / nn.CrossEntropyLoss: class indices or class probabilities
    as targets; weight, ignore_index, label_smoothing."""
    x = to_array(self)
    axis = _class_axis(x)
    logp = jax.nn.log_softmax(x, axis=axis)
    n_classes = x.shape[axis]
    target = to_array(target)
    w = None if weight is None else to_array(weight, x.dtype).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    if jnp.issubdtype(target.dtype, jnp.floating):  # class probabilities
        if label_smoothing > 0:
            target = target * (1 - label_smoothing) + label_smoothing / n_classes
        values = -jnp.sum(logp * target * (1 if w is None else w), axis=axis)
        if reduction == 1:
            return jnp.sum(values) / (x.size // n_classes)
        return _reduce(values, reduction)
    nll = _nll(logp, target, weight, reduction, ignore_index)
    if label_smoothing <= 0:
        return nll
    ignored = target == ignore_index
    smooth = -jnp.sum(logp * (1 if w is None else w), axis=axis)
    smooth = jnp.where(ignored, 0, smooth)
    if reduction == 1:
        if weight is None:
            smooth = jnp.sum(smooth) / jnp.sum(~ignored)
        else:
            picked = to_array(weight, x.dtype)[jnp.where(ignored, 0, target)]
            smooth = jnp.sum(smooth) / jnp.sum(jnp.where(ignored, 0, picked))
    else:
        smooth = _reduce(smooth, reduction)
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / n_classes)


@aten_op("mse_loss")
def mse_loss(self, target, reduction=1):
    """torch: F.mse_loss"""
    return _reduce(losses.mse_loss(to_array(self), to_array(target), "none"), reduction)


@aten_op("l1_loss")
def l1_loss(self, target, reduction=1):
    """torch: F.l1_loss (gradient 0 at a zero residual, as torch)"""
    return _reduce(losses.l1_loss(to_array(self), to_array(target), "none"), reduction)


@aten_op("smooth_l1_loss")
def smooth_l1_loss(self, target, reduction=1, beta=1.0):
    """torch: F.smooth_l1_loss"""
    d = jnp.abs(to_array(self) - to_array(target))
    values = d if beta == 0 else jnp.where(d < beta, 0.5 * d * d / beta, d - 0.5 * beta)
    return _reduce(values, reduction)


@aten_op("huber_loss")
def huber_loss(self, target, reduction=1, delta=1.0):
    """torch: F.huber_loss"""
    d = jnp.abs(to_array(self) - to_array(target))
    return _reduce(jnp.where(d < delta, 0.5 * d * d, delta * (d - 0.5 * delta)), reduction)


@aten_op("binary_cross_entropy")
def binary_cross_entropy(self, target, weight=None, reduction=1):
    """torch: F.binary_cross_entropy (logs clamped at -100, torch's gradient)"""
    values = losses.bce_loss(to_array(self), to_array(target), "none")
    return _reduce(values if weight is None else values * to_array(weight), reduction)


@aten_op("binary_cross_entropy_with_logits")
def binary_cross_entropy_with_logits(self, target, weight=None, pos_weight=None, reduction=1):
    """torch: F.binary_cross_entropy_with_logits (weight, pos_weight)"""
    x, t = to_array(self), to_array(target).astype(to_array(self).dtype)
    log_sig, log_not = jax.nn.log_sigmoid(x), jax.nn.log_sigmoid(-x)
    pos = 1 if pos_weight is None else to_array(pos_weight)
    values = -(pos * t * log_sig + (1 - t) * log_not)
    return _reduce(values if weight is None else values * to_array(weight), reduction)


@aten_op("kl_div")
def kl_div(self, target, reduction=1, log_target=False):
    """torch: F.kl_div (``self`` log-probabilities; 'batchmean' is sum / N done by the caller)"""
    x, t = to_array(self), to_array(target)
    if log_target:
        values = jnp.exp(t) * (t - x)
    else:
        values = jnp.where(t > 0, t * (jnp.log(jnp.where(t > 0, t, 1)) - x), 0.0)
    return _reduce(values, reduction)


@aten_op("soft_margin_loss")
def soft_margin_loss(self, target, reduction=1):
    """torch: F.soft_margin_loss = log(1 + exp(-y x))"""
    return _reduce(jnp.log1p(jnp.exp(-to_array(target) * to_array(self))), reduction)


@aten_op("margin_ranking_loss")
def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=1):
    """torch: F.margin_ranking_loss = max(0, -y (x1 - x2) + margin)"""
    values = jnp.maximum(-to_array(target) * (to_array(input1) - to_array(input2)) + margin, 0)
    return _reduce(values, reduction)


@aten_op("hinge_embedding_loss")
def hinge_embedding_loss(self, target, margin=1.0, reduction=1):
    """torch: F.hinge_embedding_loss"""
    x, y = to_array(self), to_array(target)
    values = jnp.where(y == 1, x, 0) + jnp.where(y == -1, jnp.maximum(margin - x, 0), 0)
    return _reduce(values, reduction)


@aten_op("cosine_embedding_loss")
def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=1):
    """torch: F.cosine_embedding_loss (torch's eps 1e-12 on the squared norms)"""
    a, b, y = to_array(input1), to_array(input2), to_array(target)
    eps = 1e-12
    cos = jnp.sum(a * b, -1) / jnp.sqrt((jnp.sum(a * a, -1) + eps) * (jnp.sum(b * b, -1) + eps))
    values = jnp.where(y == 1, 1 - cos, jnp.where(y == -1, jnp.maximum(cos - margin, 0), 0))
    return _reduce(values, reduction)


@aten_op("triplet_margin_loss")
def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction=1):
    """torch: F.triplet_margin_loss"""
    a, pos, neg = to_array(anchor), to_array(positive), to_array(negative)
    axis = a.ndim - 1

    def dist(u, v):
        return _vector_norm(u - v + eps, p, axis, False)

    d_pos, d_neg = dist(a, pos), dist(a, neg)
    if swap:
        d_neg = jnp.minimum(d_neg, dist(pos, neg))
    return _reduce(jnp.maximum(margin + d_pos - d_neg, 0), reduction)


@aten_op("poisson_nll_loss")
def poisson_nll_loss(input, target, log_input, full, eps, reduction):
    """torch: F.poisson_nll_loss"""
    x, t = to_array(input), to_array(target)
    values = jnp.exp(x) - t * x if log_input else x - t * jnp.log(x + eps)
    if full:
        stirling = t * jnp.log(jnp.where(t > 1, t, 1)) - t + 0.5 * jnp.log(2 * jnp.pi * jnp.where(t > 1, t, 1))
        values = values + jnp.where(t > 1, stirling, 0)
    return _reduce(values, reduction)
