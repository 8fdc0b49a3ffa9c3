"""Numerics of float32 training: mixed precision and the float32 matmul precision.

Mixed precision (torch: ``torch.autocast(device_type, dtype=torch.bfloat16)`` around the
forward pass, with float32 parameters): :class:`Policy` ``"bf16"`` keeps the float32
master parameters and optimizer state, and inside the loss function casts the
parameters and the floating inputs to bfloat16, so convolutions and matmuls run in
bfloat16 and the gradients flow back, through the casts, to the float32 masters. The
model's outputs are cast back to float32 before the loss, so losses are float32 (as
autocast's float32 loss ops). The parameters of normalisation layers stay float32
(torch: autocast does not cast BatchNorm/LayerNorm weights), and those layers
compute their statistics in float32 and return the input's dtype
(:class:`jaxdl.layers.BatchNorm`, :class:`jaxdl.layers.LayerNorm`). Nothing bfloat16 is
stored: the train state and its checkpoints are float32 whatever the policy.

    learner = Learner(model, loss, optimizer, precision="bf16")  # --precision bf16

bfloat16 has 8 significant bits: outputs differ from float32 by about 1e-2 relative
(measured against torch autocast: tests/test_precision.py). It is meant for GPUs and
TPUs, whose matrix units run bfloat16 several times faster than float32; XLA:CPU
converts bfloat16 to float32 around its kernels, so on a CPU it is slower
(docs/precision.md has the figures).

The float32 matmul precision (torch: ``torch.set_float32_matmul_precision``) is a
process-wide setting: :func:`set_matmul_precision`, called once by
:func:`jaxdl.runtime.setup` (``RunConfig.matmul_precision``, ``--matmul-precision``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl.layers import BatchNorm, GroupNorm, InstanceNorm, LayerNorm
from jaxdl.tree import path_str

MATMUL_PRECISIONS = ("default", "high", "highest")
DEFAULT_MATMUL_PRECISION = "highest"  # torch's float32 matmul default: full float32


def set_matmul_precision(name: str) -> None:
    """Precision of float32 matmuls and convolutions in every later compiled function
    (``jax.config.update("jax_default_matmul_precision", name)``; torch:
    ``torch.set_float32_matmul_precision``, whose ``"highest"`` is its default).

    ``'highest'``: float32 (GPU), 6 bfloat16 passes (TPU). ``'high'``: TensorFloat-32 on
    GPUs that have it (A100, H100), 3 bfloat16 passes on TPU. ``'default'``: XLA's
    fastest, TensorFloat-32 on GPUs that have it, one bfloat16 pass on TPU. The CPU
    computes float32 in all three (the compiled program is the same). bfloat16
    operands (:class:`Policy` ``"bf16"``) are not affected.
    """
    if name not in MATMUL_PRECISIONS:
        raise ValueError(f"matmul precision must be one of {MATMUL_PRECISIONS}, got {name!r}")
    jax.config.update("jax_default_matmul_precision", name)


@dataclasses.dataclass(frozen=True)
class Policy:
    """Which dtype the forward pass computes in (torch: ``torch.autocast(..., dtype=...)``
    or no autocast). ``compute_dtype`` None: everything as stored (float32, or float64
    under ``jax_enable_x64``)."""

    name: str
    compute_dtype: Any = None

    def cast_to_compute(self, tree):
        """Floating leaves of ``tree`` in the compute dtype (inputs; integer codes and
        PRNG keys unchanged)."""
        return tree if self.compute_dtype is None else cast_floating(tree, self.compute_dtype)

    def cast_to_output(self, tree):
        """Floating leaves back to float32 (the outputs given to the loss and metrics)."""
        return tree if self.compute_dtype is None else cast_floating(tree, jnp.float32)

    def cast_params(self, params, full_precision):
        """``params`` (a nested dict) in the compute dtype, except the leaves that
        ``full_precision`` (a tree of bools, :func:`full_precision_mask`) marks."""
        if self.compute_dtype is None:
            return params
        return jax.tree.map(lambda p, keep: p if keep else cast_floating(p, self.compute_dtype),
                            params, full_precision)


POLICIES = {"f32": Policy("f32"), "bf16": Policy("bf16", jnp.bfloat16)}


def policy(precision: str | Policy) -> Policy:
    """``"f32"`` (no mixed precision) or ``"bf16"``, or a :class:`Policy` as it is."""
    if isinstance(precision, Policy):
        return precision
    if precision not in POLICIES:
        raise ValueError(f"precision must be one of {tuple(POLICIES)}, got {precision!r}")
    return POLICIES[precision]


def full_precision_mask(model: nnx.Module):
    """A tree shaped like the model's parameters (``nnx.state(model, nnx.Param)`` as a
    pure dict): True for the scale and bias of jaxdl's BatchNorm, LayerNorm, GroupNorm and
    InstanceNorm, which stay float32 under mixed precision (those layers compute in
    float32 and return the input's dtype; Flax's own norm layers would return float32 with float32 parameters,
    so theirs are cast like the rest)."""
    norm_paths = {".".join(map(str, path)) for path, m in nnx.iter_modules(model)
                  if isinstance(m, (BatchNorm, LayerNorm, GroupNorm, InstanceNorm))}
    params = nnx.state(model, nnx.Param).to_pure_dict()
    return jax.tree_util.tree_map_with_path(lambda path, _: path_str(path[:-1]) in norm_paths, params)


def cast_floating(tree, dtype):
    """``tree`` with every floating-point array cast to ``dtype`` (other leaves as they are)."""
    def cast(a):
        kind = getattr(a, "dtype", None)
        return a.astype(dtype) if kind is not None and jnp.issubdtype(kind, jnp.floating) else a

    return jax.tree.map(cast, tree)
