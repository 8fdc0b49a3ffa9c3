"""Optimizers with torch.optim's update rules, built from optax.

* ``weight_decay`` in :func:`sgd` and :func:`adam` is torch's *coupled* L2 decay: ``wd * w``
  is added to the gradient before the update (``optax.add_decayed_weights`` first in
  the chain). ``optax.adamw`` decays after Adam's scaling: that is :func:`adamw`, torch's
  ``AdamW``, whose default weight_decay is 0.01 (optax's is 1e-4).
* :func:`sgd` honours ``dampening`` with torch's undamped first momentum step
  (``optax.sgd`` has no dampening).
* :func:`freeze` is ``param.requires_grad = False``: the selected parameters get no
  update and no decay. ``optax.masked`` would pass their raw gradients through.

A learning rate is a float or an optax schedule, counted in optimizer steps (torch's
schedulers usually count epochs: see :func:`step_lr`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxdl import tree

LearningRate = float | optax.Schedule


def _check_lr(lr: LearningRate) -> None:
    if not callable(lr) and not lr > 0:
        raise ValueError(f"learning rate must be positive, got {lr}")


class _MomentumState(NamedTuple):
    buf: Any
    started: jax.Array


def _torch_momentum(momentum: float, dampening: float, nesterov: bool) -> optax.GradientTransformation:
    """torch.optim.SGD's momentum buffer: b <- g on the first step, else m*b + (1-d)*g."""

    def init(params):
        return _MomentumState(jax.tree.map(jnp.zeros_like, params), jnp.zeros((), jnp.bool_))

    def update(grads, state, params=None):
        buf = jax.tree.map(
            lambda b, g: jnp.where(state.started, momentum * b + (1 - dampening) * g, g),
            state.buf, grads)
        out = jax.tree.map(lambda g, b: g + momentum * b, grads, buf) if nesterov else buf
        return out, _MomentumState(buf, jnp.ones((), jnp.bool_))

    return optax.GradientTransformation(init, update)


def sgd(lr: LearningRate, momentum: float = 0.0, dampening: float = 0.0,
        weight_decay: float = 0.0, nesterov: bool = False) -> optax.GradientTransformation:
    """torch: ``optim.SGD(params, lr, momentum, dampening, weight_decay, nesterov)``."""
    _check_lr(lr)
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("Nesterov momentum requires a momentum and zero dampening (as torch)")
    parts = [optax.add_decayed_weights(weight_decay)] if weight_decay else []
    if momentum:
        parts.append(_torch_momentum(momentum, dampening, nesterov))
    parts.append(optax.scale_by_learning_rate(lr))
    return optax.chain(*parts)


def adam(lr: LearningRate = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
         weight_decay: float = 0.0) -> optax.GradientTransformation:
    """torch: ``optim.Adam(params, lr, betas, eps, weight_decay)``, weight decay coupled
    (added to the gradient before the moments, as torch's Adam and unlike AdamW)."""
    _check_lr(lr)
    parts = [optax.add_decayed_weights(weight_decay)] if weight_decay else []
    parts += [optax.scale_by_adam(b1=betas[0], b2=betas[1], eps=eps), optax.scale_by_learning_rate(lr)]
    return optax.chain(*parts)


def adamw(lr: LearningRate = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
          weight_decay: float = 0.01) -> optax.GradientTransformation:
    """torch: ``optim.AdamW(params, lr, betas, eps, weight_decay=0.01)``: decoupled decay."""
    _check_lr(lr)
    return optax.adamw(lr, b1=betas[0], b2=betas[1], eps=eps, weight_decay=weight_decay)


def step_lr(lr: float, step_size: int, gamma: float = 0.1, steps_per_epoch: int = 1) -> optax.Schedule:
    """torch: ``lr_scheduler.StepLR(opt, step_size, gamma)`` stepped once per epoch; give
    ``steps_per_epoch`` to count epochs in optimizer updates as optax does."""
    return optax.exponential_decay(lr, step_size * steps_per_epoch, gamma, staircase=True)


# ---------------------------------------------------------------- freezing
def freeze(tx: optax.GradientTransformation, patterns: Sequence[str]) -> optax.GradientTransformation:
    """torch: ``for p in model.features.parameters(): p.requires_grad = False``.

    ``patterns`` are regular expressions matched (``re.match``, from the start) against
    dotted parameter paths such as ``'conv1.kernel'`` or ``'features\\..*'``. Matching
    leaves get a zero update (``optax.set_to_zero``), so neither ``tx`` nor its weight
    decay touches them; a pattern that matches nothing raises, listing the paths.
    """
    def labels(params):
        frozen = set(frozen_paths(params, patterns))
        treedef = jax.tree_util.tree_structure(params)
        return jax.tree_util.tree_unflatten(treedef, ["frozen" if p in frozen else "train" for p in tree.paths(params)])

    return optax.partition({"train": tx, "frozen": optax.set_to_zero()}, labels)


def frozen_paths(params, patterns: Sequence[str]) -> list[str]:
    """The dotted parameter paths that ``freeze(tx, patterns)`` freezes (``re.match``);
    a pattern matching nothing raises, listing the paths."""
    paths = tree.paths(params)
    compiled = [re.compile(p) for p in patterns]
    for pat in compiled:
        if not any(pat.match(p) for p in paths):
            raise ValueError(f"freeze pattern {pat.pattern!r} matches no parameter; "
                             f"parameter paths are: {', '.join(paths)}")
    return [p for p in paths if any(c.match(p) for c in compiled)]


BY_NAME = {"sgd": sgd, "adam": adam, "adamw": adamw}
