"""Loss functions with PyTorch's semantics and reductions.

Every loss takes ``(input, target, reduction='mean')`` in torch's argument order, with
``reduction`` one of ``'mean'``, ``'sum'``, ``'none'``. Unlike torch, element-wise losses
refuse targets whose shape differs from the input's (torch broadcasts with a warning,
the classic (N, 1) vs (N,) bug); reshape one of them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

REDUCTIONS = ("mean", "sum", "none")


def _reduce(values: jax.Array, reduction: str) -> jax.Array:
    if reduction == "mean":
        return jnp.mean(values)
    if reduction == "sum":
        return jnp.sum(values)
    if reduction == "none":
        return values
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def _same_shape(name: str, input: jax.Array, target: jax.Array) -> None:
    if input.shape != target.shape:
        raise ValueError(
            f"{name}: input shape {tuple(input.shape)} and target shape {tuple(target.shape)} "
            "differ; torch would broadcast them (usually a bug). Reshape the target, e.g. "
            "target.reshape(input.shape).")


def mse_loss(input: jax.Array, target: jax.Array, reduction: str = "mean") -> jax.Array:
    """torch: ``nn.MSELoss()`` / ``F.mse_loss``; ``size_average=False`` is ``reduction='sum'``.

    ``optax.losses.l2_loss`` is half of this.
    """
    _same_shape("mse_loss", input, target)
    return _reduce(optax.losses.squared_error(input, target), reduction)


def l1_loss(input: jax.Array, target: jax.Array, reduction: str = "mean") -> jax.Array:
    """torch: ``nn.L1Loss()`` (mean absolute error); gradient 0 at a zero residual as torch."""
    _same_shape("l1_loss", input, target)
    r = input - target
    return _reduce(r * jnp.sign(r), reduction)


@jax.custom_vjp
def _bce(p: jax.Array, t: jax.Array) -> jax.Array:
    return -(t * jnp.maximum(jnp.log(p), -100.0) + (1 - t) * jnp.maximum(jnp.log1p(-p), -100.0))


def _bce_fwd(p, t):
    return _bce(p, t), (p, t)


def _bce_bwd(res, g):
    p, t = res
    # torch: grad * (p - t) / max(p * (1 - p), 1e-12), the constant in float32 even in fp64
    eps = jnp.asarray(jnp.float32(1e-12), p.dtype)
    dp = g * (p - t) / jnp.maximum(p * (1 - p), eps)
    dt = g * (jnp.maximum(jnp.log1p(-p), -100.0) - jnp.maximum(jnp.log(p), -100.0))
    return dp, dt


_bce.defvjp(_bce_fwd, _bce_bwd)


def bce_loss(input: jax.Array, target: jax.Array, reduction: str = "mean") -> jax.Array:
    """torch: ``nn.BCELoss()`` on probabilities (after a sigmoid).

    Each log is clamped at -100 and the gradient is torch's (p - t) / max(p(1-p), 1e-12),
    so saturated probabilities give finite losses and gradients like torch (a naive
    ``log`` gives nan). Prefer :func:`bce_with_logits_loss` on logits.
    """
    _same_shape("bce_loss", input, target)
    return _reduce(_bce(input, target.astype(input.dtype)), reduction)


def bce_with_logits_loss(input: jax.Array, target: jax.Array, reduction: str = "mean") -> jax.Array:
    """torch: ``nn.BCEWithLogitsLoss()``: sigmoid and BCE in one, stable for large logits."""
    _same_shape("bce_with_logits_loss", input, target)
    return _reduce(optax.losses.sigmoid_binary_cross_entropy(input, target.astype(input.dtype)),
                   reduction)


def _check_classes(name: str, scores: jax.Array, labels: jax.Array) -> None:
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(f"{name}: expects scores (N, C) and integer class indices (N,), got "
                         f"{tuple(scores.shape)} and {tuple(labels.shape)}.")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise TypeError(f"{name}: class indices must be integers (torch: LongTensor), got "
                        f"{labels.dtype}; convert with labels.astype(jnp.int32).")


def cross_entropy(input: jax.Array, target: jax.Array, reduction: str = "mean") -> jax.Array:
    """torch: ``nn.CrossEntropyLoss()`` / ``F.cross_entropy`` on logits (N, C) and class
    indices (N,): log_softmax and NLL in one. optax returns per-example values; this
    reduces them like torch."""
    _check_classes("cross_entropy", input, target)
    return _reduce(optax.losses.softmax_cross_entropy_with_integer_labels(input, target), reduction)


def nll_loss(input: jax.Array, target: jax.Array, reduction: str = "mean") -> jax.Array:
    """torch: ``nn.NLLLoss()`` / ``F.nll_loss`` on log-probabilities (N, C), e.g. after
    ``jax.nn.log_softmax(x, axis=-1)``."""
    _check_classes("nll_loss", input, target)
    return _reduce(-jnp.take_along_axis(input, target[:, None], axis=1)[:, 0], reduction)


BY_NAME = {
    "mse": mse_loss, "l1": l1_loss, "bce": bce_loss, "bce_with_logits": bce_with_logits_loss,
    "cross_entropy": cross_entropy, "nll": nll_loss,
}
