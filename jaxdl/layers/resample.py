"""Resizing (torch: ``F.interpolate``, ``nn.Upsample``, ``nn.UpsamplingNearest2d``,
``nn.UpsamplingBilinear2d``), channels-last: (N, L, C), (N, H, W, C) or (N, D, H, W, C).

Each spatial axis is resized on its own (torch's kernels are separable: bilinear and
bicubic interpolate along the width, then along the height), from source indices and
weights computed the way torch's CPU kernels compute them, in float32: nearest
(``floor(dst * in/out)``, or ``1/scale_factor`` when that is given), nearest-exact
(``floor((dst + 0.5) * scale)``), linear/bilinear/trilinear (half-pixel centres clamped at
0, or the corners with ``align_corners=True``), bicubic (torch's A = -0.75 kernel, the
border pixels repeated) and area (adaptive average pooling). The values are gathers and
weighted sums, so gradients flow back as torch's (scatter-adds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxdl.layers.inputs import ntuple
from jaxdl.layers.pool import adaptive_avg_pool1d, adaptive_avg_pool2d
from jaxdl.layers.torch_layer import (
    CHANNELS_LAST,
    ParameterlessLayer,
    collapse,
    torch_layer,
)

_SPATIAL = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}
_CUBIC_A = -0.75


def _output_sizes(x: jax.Array, size, scale_factor, spatial: int) -> tuple[tuple[int, ...], tuple]:
    """torch's output size per spatial axis, and the scale factors its kernels use (None: in/out)."""
    if (size is None) == (scale_factor is None):
        raise ValueError("interpolate: give exactly one of size and scale_factor (as torch)")
    ins = x.shape[1:-1]
    if size is not None:
        return ntuple(size, spatial, "size"), (None,) * spatial
    scales = (float(scale_factor),) * spatial if isinstance(scale_factor, (int, float)) else \
        tuple(float(s) for s in scale_factor)
    if len(scales) != spatial:
        raise ValueError(f"interpolate: scale_factor {scale_factor} does not fit {spatial} spatial axes")
    return tuple(math.floor(n * s) for n, s in zip(ins, scales)), scales


def _ratio(n: int, m: int, align_corners: bool, scale: float | None) -> np.float32:
    """torch's ``area_pixel_compute_scale`` in float32."""
    if align_corners:
        return np.float32(n - 1) / np.float32(m - 1) if m > 1 else np.float32(0)
    return np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n) / np.float32(m)


def _taps(mode: str, n: int, m: int, align_corners: bool, scale: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Source indices (m, taps) and weights (m, taps) of one axis resized from n to m."""
    dst = np.arange(m, dtype=np.float32)
    if mode in ("nearest", "nearest-exact"):
        s = np.float32(1.0 / scale) if scale is not None and scale > 0 else np.float32(n) / np.float32(m)
        if mode == "nearest-exact":
            idx = np.floor((dst + np.float32(0.5)) * s)
        elif m == n:
            idx = dst
        elif m == 2 * n:
            idx = np.floor(dst / 2)
        else:
            idx = np.floor(dst * s)
        return np.minimum(idx.astype(np.int64), n - 1)[:, None], np.ones((m, 1), np.float32)
    r = _ratio(n, m, align_corners, scale)
    src = r * dst if align_corners else r * (dst + np.float32(0.5)) - np.float32(0.5)
    if mode == "bicubic":
        i0 = np.floor(src)
        t = (src - i0).astype(np.float32)
        idx = np.clip(i0.astype(np.int64)[:, None] + np.arange(-1, 3), 0, n - 1)
        a = np.float32(_CUBIC_A)

        def near(x):  # |x| <= 1
            return ((a + 2) * x - (a + 3)) * x * x + 1

        def far(x):  # 1 < |x| < 2
            return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

        w = np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=1).astype(np.float32)
        return idx, w
    if m == n:  # torch's kernels copy the input
        return np.arange(n)[:, None], np.ones((n, 1), np.float32)
    src = np.maximum(src, 0) if not align_corners else src
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    lam1 = np.clip(src - i0, 0, 1).astype(np.float32)
    i1 = i0 + (i0 < n - 1)
    return np.stack([i0, i1], axis=1), np.stack([np.float32(1) - lam1, lam1], axis=1)


def _resize_axis(x: jax.Array, axis: int, idx: np.ndarray, w: np.ndarray) -> jax.Array:
    shape = [1] * x.ndim
    shape[axis] = idx.shape[0]
    out = None
    for t in range(idx.shape[1]):
        part = jnp.take(x, jnp.asarray(idx[:, t]), axis=axis)
        if idx.shape[1] > 1 or not np.all(w == 1):
            part = part * jnp.asarray(w[:, t].reshape(shape), x.dtype)
        out = part if out is None else out + part
    return out


def interpolate(x: jax.Array, size: int | Sequence[int] | None = None,
                scale_factor: float | Sequence[float] | None = None, mode: str = "nearest",
                align_corners: bool | None = None, recompute_scale_factor: bool | None = None,
                antialias: bool = False) -> jax.Array:
    """torch: ``F.interpolate(x, size, scale_factor, mode, align_corners,
    recompute_scale_factor)`` on channels-last ``x`` (N, *spatial, C).

    Args:
        x: the input, 1 to 3 spatial axes between the batch and the channels.
        size: the output's spatial size (an int for every axis).
        scale_factor: instead of ``size``: the output is floor(in * scale_factor); the
            source positions use 1/scale_factor too unless ``recompute_scale_factor``.
        mode: 'nearest', 'nearest-exact', 'linear' (1 axis), 'bilinear' / 'bicubic' (2),
            'trilinear' (3), 'area'.
        align_corners: linear modes and bicubic: map the corner pixels onto each other.
        recompute_scale_factor: compute the source positions from the sizes.
        antialias: not supported (raises).

    Returns:
        The resized array, (N, *size, C), in ``x``'s dtype.
    """
    spatial = x.ndim - 2
    if spatial < 1:
        raise ValueError(f"interpolate expects (N, *spatial, C) channels-last input, got shape {tuple(x.shape)}")
    if antialias:
        raise ValueError("interpolate: antialias=True is not supported by jaxdl")
    if mode in _SPATIAL and _SPATIAL[mode] != spatial:
        raise ValueError(f"interpolate: mode {mode!r} needs {_SPATIAL[mode]} spatial axes, the input has {spatial} "
                         f"(shape {tuple(x.shape)}; channels last)")
    if mode not in (*_SPATIAL, "nearest", "nearest-exact", "area"):
        raise ValueError(f"interpolate: unknown mode {mode!r}")
    if align_corners is not None and mode not in (*_SPATIAL,):
        raise ValueError("align_corners option can only be set with the interpolating modes: "
                         "linear | bilinear | bicubic | trilinear (as torch)")
    sizes, scales = _output_sizes(x, size, scale_factor, spatial)
    if recompute_scale_factor:
        scales = (None,) * spatial
    if mode == "area":
        if spatial == 1:
            return adaptive_avg_pool1d(x, sizes[0])
        if spatial == 2:
            return adaptive_avg_pool2d(x, sizes)
        raise ValueError("interpolate: mode 'area' on 3 spatial axes is not supported by jaxdl")
    for axis in reversed(range(spatial)):  # the last spatial axis first, as torch's kernels
        idx, w = _taps(mode, x.shape[1 + axis], sizes[axis], bool(align_corners), scales[axis])
        x = _resize_axis(x, 1 + axis, idx, w)
    return x


@torch_layer("Upsample", layout=CHANNELS_LAST)
class Upsample(ParameterlessLayer, nnx.Module):
    """torch: ``nn.Upsample(size=None, scale_factor=None, mode='nearest', align_corners=None,
    recompute_scale_factor=None)``; see :func:`interpolate` (channels last)."""

    def __init__(self, size: int | Sequence[int] | None = None, scale_factor: float | Sequence[float] | None = None,
                 mode: str = "nearest", align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None):
        self.size, self.scale_factor, self.mode = size, scale_factor, mode
        self.align_corners, self.recompute_scale_factor = align_corners, recompute_scale_factor

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"size": collapse(m.size), "scale_factor": collapse(m.scale_factor), "mode": m.mode,
                "align_corners": m.align_corners, "recompute_scale_factor": m.recompute_scale_factor}

    def __call__(self, x: jax.Array) -> jax.Array:
        return interpolate(x, self.size, self.scale_factor, self.mode, self.align_corners,
                           self.recompute_scale_factor)


@torch_layer("UpsamplingNearest2d", layout=CHANNELS_LAST)
class UpsamplingNearest2d(Upsample):
    """torch: ``nn.UpsamplingNearest2d(size=None, scale_factor=None)``: ``Upsample(mode='nearest')``."""

    def __init__(self, size: int | Sequence[int] | None = None, scale_factor: float | None = None):
        super().__init__(size, scale_factor, "nearest")

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"size": collapse(m.size), "scale_factor": collapse(m.scale_factor)}


@torch_layer("UpsamplingBilinear2d", layout=CHANNELS_LAST)
class UpsamplingBilinear2d(Upsample):
    """torch: ``nn.UpsamplingBilinear2d(size=None, scale_factor=None)``:
    ``Upsample(mode='bilinear', align_corners=True)``."""

    def __init__(self, size: int | Sequence[int] | None = None, scale_factor: float | None = None):
        super().__init__(size, scale_factor, "bilinear", True)

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"size": collapse(m.size), "scale_factor": collapse(m.scale_factor)}
