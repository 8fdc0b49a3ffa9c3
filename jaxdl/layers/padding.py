"""Padding layers (torch: ``torch.nn.modules.padding``), channels-last: the spatial axes
are the ones before the last (``(N, L, C)`` for 1-d, ``(N, H, W, C)`` for 2-d).

``padding`` is torch's: an int for every side, or (left, right) in 1-d and (left, right,
top, bottom) in 2-d, last spatial axis first as ``F.pad``. Zero and constant padding may be
negative (crops, as torch); reflection needs each side smaller than its axis (as torch).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from jaxdl.layers.torch_layer import (
    CHANNELS_LAST,
    ParameterlessLayer,
    collapse,
    torch_layer,
)

_JNP_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(x: jax.Array, padding: int | Sequence[int], spatial: int, mode: str = "constant",
        value: float = 0.0) -> jax.Array:
    """torch: ``F.pad(x, padding, mode, value)`` over the ``spatial`` axes before the last
    (channels-last); ``mode`` 'constant', 'reflect', 'replicate' or 'circular'."""
    pads = (padding,) * (2 * spatial) if isinstance(padding, int) else tuple(int(p) for p in padding)
    if len(pads) != 2 * spatial:
        raise ValueError(f"{spatial}-d padding takes 1 or {2 * spatial} numbers, got {padding!r}")
    if x.ndim < spatial + 1:
        raise ValueError(f"{spatial}-d padding expects (N, *{spatial} spatial axes, C) channels-last input, "
                         f"got shape {tuple(x.shape)}")
    # torch lists the last spatial axis first: (left, right, top, bottom)
    return pad_spatial(x, [tuple(pads[2 * i:2 * i + 2]) for i in reversed(range(spatial))], mode, value)


def pad_spatial(x: jax.Array, pairs: Sequence[tuple[int, int]], mode: str = "constant",
                value: float = 0.0) -> jax.Array:
    """Pad the spatial axes before the last by ``pairs`` ((before, after) per spatial axis,
    first axis first) in torch's ``mode``."""
    per_axis = [(0, 0)] * (x.ndim - len(pairs) - 1) + [tuple(p) for p in pairs] + [(0, 0)]
    pads = [p for pair in pairs for p in pair]
    padding = tuple(pairs)
    if mode == "constant":
        return lax.pad(x, jnp.asarray(value, x.dtype), [(lo, hi, 0) for lo, hi in per_axis])
    if mode not in _JNP_MODES:
        raise ValueError(f"padding mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}")
    if any(p < 0 for p in pads):
        raise ValueError(f"{mode} padding must be >= 0, got {padding!r}")
    if mode == "reflect":
        for (lo, hi), size in zip(per_axis, x.shape):
            if max(lo, hi) >= max(size, 1) and (lo or hi):
                raise ValueError(f"reflection padding {max(lo, hi)} must be smaller than the axis it pads "
                                 f"({size}), as torch; input shape {tuple(x.shape)}")
    return jnp.pad(x, per_axis, mode=_JNP_MODES[mode])


class _Pad(ParameterlessLayer, nnx.Module):
    """torch's ``_ConstantPadNd`` / ``_ReflectionPadNd`` / ...: :func:`pad` with a fixed mode."""

    spatial = 2
    mode = "constant"

    def __init__(self, padding: int | Sequence[int]):
        self.padding = padding

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"padding": collapse(m.padding)}

    def __call__(self, x: jax.Array) -> jax.Array:
        return pad(x, self.padding, self.spatial, self.mode)


@torch_layer("ZeroPad1d", layout=CHANNELS_LAST)
class ZeroPad1d(_Pad):
    """torch: ``nn.ZeroPad1d(padding)``: zeros on both sides of L in (N, L, C)."""

    spatial = 1


@torch_layer("ZeroPad2d", layout=CHANNELS_LAST)
class ZeroPad2d(_Pad):
    """torch: ``nn.ZeroPad2d(padding)``: zeros around H and W of (N, H, W, C)."""


class _ConstantPad(_Pad):
    def __init__(self, padding: int | Sequence[int], value: float):
        self.padding, self.value = padding, value

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"padding": collapse(m.padding), "value": m.value}

    def __call__(self, x: jax.Array) -> jax.Array:
        return pad(x, self.padding, self.spatial, "constant", self.value)


@torch_layer("ConstantPad1d", layout=CHANNELS_LAST)
class ConstantPad1d(_ConstantPad):
    """torch: ``nn.ConstantPad1d(padding, value)``."""

    spatial = 1


@torch_layer("ConstantPad2d", layout=CHANNELS_LAST)
class ConstantPad2d(_ConstantPad):
    """torch: ``nn.ConstantPad2d(padding, value)``."""


@torch_layer("ReflectionPad1d", layout=CHANNELS_LAST)
class ReflectionPad1d(_Pad):
    """torch: ``nn.ReflectionPad1d(padding)``: the input mirrored at its edges (edge not repeated)."""

    spatial, mode = 1, "reflect"


@torch_layer("ReflectionPad2d", layout=CHANNELS_LAST)
class ReflectionPad2d(_Pad):
    """torch: ``nn.ReflectionPad2d(padding)``."""

    mode = "reflect"


@torch_layer("ReplicationPad1d", layout=CHANNELS_LAST)
class ReplicationPad1d(_Pad):
    """torch: ``nn.ReplicationPad1d(padding)``: the edge values repeated."""

    spatial, mode = 1, "replicate"


@torch_layer("ReplicationPad2d", layout=CHANNELS_LAST)
class ReplicationPad2d(_Pad):
    """torch: ``nn.ReplicationPad2d(padding)``."""

    mode = "replicate"


@torch_layer("CircularPad1d", layout=CHANNELS_LAST)
class CircularPad1d(_Pad):
    """torch: ``nn.CircularPad1d(padding)``: the input wrapped around."""

    spatial, mode = 1, "circular"


@torch_layer("CircularPad2d", layout=CHANNELS_LAST)
class CircularPad2d(_Pad):
    """torch: ``nn.CircularPad2d(padding)``."""

    mode = "circular"
