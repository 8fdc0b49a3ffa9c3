"""Pooling with torch's geometry (torch: ``torch.nn.modules.pooling``), channels-last
((N, L, C) for 1-d, NHWC for 2-d); stride = kernel size by default (Flax: stride 1). A
1-d pool is the 2-d one with height 1 (the same per-platform formulations)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx
from jax import lax

from jaxdl import platform
from jaxdl.layers.inputs import ntuple
from jaxdl.layers.inputs import pair as _pair
from jaxdl.layers.torch_layer import (
    CHANNELS_LAST,
    ParameterlessLayer,
    collapse,
    refuse,
    torch_layer,
)


def _pool_geometry(size: int, k: int, s: int, p: int, ceil_mode: bool) -> tuple[int, int]:
    """torch's pooling output length along one axis, and the padding needed after the
    input (``p`` plus what a ceil-mode window reaches past it; negative: rows dropped)."""
    if p > k // 2:
        raise ValueError(f"pooling padding {p} must be at most half the kernel size {k} (as torch)")
    span = size + 2 * p - k
    if span < 0:
        raise ValueError(f"pooling kernel {k} is larger than the (padded) input {size + 2 * p}")
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:  # the last window must start inside the input
        out -= 1
    return out, (out - 1) * s + k - size - p


def max_pool2d(x_NHWC: jax.Array, kernel_size: int | Sequence[int],
               stride: int | Sequence[int] | None = None, padding: int | Sequence[int] = 0,
               ceil_mode: bool = False) -> jax.Array:
    """torch: ``F.max_pool2d(x, kernel_size, stride=kernel_size, padding=0, ceil_mode=False)``
    / ``nn.MaxPool2d``.

    Stride defaults to the kernel size as torch (Flax's ``max_pool`` defaults to 1);
    padding counts as -inf; a trailing row/column that does not fill a window is
    dropped unless ``ceil_mode``. The gradient of each window goes to its first maximum
    like torch, exact ties included. Windows that tile the input exactly take the CPU's
    fast path (:func:`jaxdl.platform.max_pool2d_tiled`).
    """
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride) if stride is not None else _pair(kernel_size)
    ph, pw = _pair(padding)
    _, h, w, _ = x_NHWC.shape
    ho, bottom = _pool_geometry(h, kh, sh, ph, ceil_mode)
    wo, right = _pool_geometry(w, kw, sw, pw, ceil_mode)
    if (sh, sw) == (kh, kw) and ph == pw == 0 and bottom <= 0 and right <= 0:
        return platform.max_pool2d_tiled(x_NHWC[:, : ho * kh, : wo * kw, :], kh, kw)
    return platform.max_pool2d_window(x_NHWC, (kh, kw), (sh, sw), ((ph, max(bottom, 0)), (pw, max(right, 0))))


def avg_pool2d(x_NHWC: jax.Array, kernel_size: int | Sequence[int],
               stride: int | Sequence[int] | None = None, padding: int | Sequence[int] = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> jax.Array:
    """torch: ``F.avg_pool2d(x, kernel_size, stride=kernel_size, padding=0,
    ceil_mode=False, count_include_pad=True)`` / ``nn.AvgPool2d``: zero padding, and each
    window divided as torch divides it (by the cells inside the padded input, or only
    the real ones with ``count_include_pad=False``)."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride) if stride is not None else _pair(kernel_size)
    ph, pw = _pair(padding)
    _, h, w, _ = x_NHWC.shape
    ho, bottom = _pool_geometry(h, kh, sh, ph, ceil_mode)
    wo, right = _pool_geometry(w, kw, sw, pw, ceil_mode)
    pads = ((0, 0), (ph, max(bottom, 0)), (pw, max(right, 0)), (0, 0))
    window, strides = (1, kh, kw, 1), (1, sh, sw, 1)
    total = lax.reduce_window(x_NHWC, 0.0, lax.add, window, strides, pads)
    if ph == pw == 0 and bottom <= 0 and right <= 0:
        return total / (kh * kw)
    # the divisor of each window, counted on a mask of the cells torch counts (a constant)
    inside = np.zeros((h + 2 * ph, w + 2 * pw), np.float32)
    if count_include_pad:
        inside[:] = 1
    else:
        inside[ph:ph + h, pw:pw + w] = 1
    mask = np.pad(inside, ((0, max(bottom - ph, 0)), (0, max(right - pw, 0))))
    counts = lax.reduce_window(jnp.asarray(mask), 0.0, lax.add, (kh, kw), (sh, sw), "VALID")
    return total / counts[None, :ho, :wo, None].astype(total.dtype)


def adaptive_avg_pool2d(x_NHWC: jax.Array, output_size: int | Sequence[int | None]) -> jax.Array:
    """torch: ``F.adaptive_avg_pool2d(x, output_size)`` / ``nn.AdaptiveAvgPool2d``: output
    cell i averages input rows ``floor(i*H/out) .. ceil((i+1)*H/out) - 1`` (windows may
    overlap, or repeat rows when the input is smaller than the output). Evenly dividing
    sizes are a reshape and a mean; others a product with the averaging matrices."""
    n, h, w, c = x_NHWC.shape
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    oh, ow = oh or h, ow or w
    if h % oh == 0 and w % ow == 0:
        return x_NHWC.reshape(n, oh, h // oh, ow, w // ow, c).mean(axis=(2, 4))
    ah, aw = _adaptive_matrix(h, oh), _adaptive_matrix(w, ow)
    return jnp.einsum("ih,jw,nhwc->nijc", ah.astype(x_NHWC.dtype), aw.astype(x_NHWC.dtype), x_NHWC)


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    m = np.zeros((out, size), np.float32)
    for i in range(out):
        lo, hi = (i * size) // out, -(-((i + 1) * size) // out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


def _adaptive_max_axis(x: jax.Array, axis: int, out: int) -> jax.Array:
    """Max over torch's adaptive windows along ``axis``: cell i covers
    ``floor(i*size/out) .. ceil((i+1)*size/out) - 1``."""
    size = x.shape[axis]
    if size % out == 0:
        shape = (*x.shape[:axis], out, size // out, *x.shape[axis + 1:])
        return x.reshape(shape).max(axis=axis + 1)
    cells = [lax.slice_in_dim(x, (i * size) // out, -(-((i + 1) * size) // out), axis=axis).max(axis=axis)
             for i in range(out)]
    return jnp.stack(cells, axis=axis)


def adaptive_max_pool2d(x_NHWC: jax.Array, output_size: int | Sequence[int | None]) -> jax.Array:
    """torch: ``F.adaptive_max_pool2d(x, output_size)`` / ``nn.AdaptiveMaxPool2d``: the max
    over the windows of :func:`adaptive_avg_pool2d` (a max over rows, then over columns).
    The gradient goes to the maximum; on exact ties within a window JAX shares it where
    torch gives it to the first."""
    _, h, w, _ = x_NHWC.shape
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    return _adaptive_max_axis(_adaptive_max_axis(x_NHWC, 1, oh or h), 2, ow or w)


def max_pool1d(x_NLC: jax.Array, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, ceil_mode: bool = False) -> jax.Array:
    """torch: ``F.max_pool1d`` / ``nn.MaxPool1d`` on (N, L, C); see :func:`max_pool2d`."""
    k, p = _single(kernel_size), _single(padding)
    s = k if stride is None else _single(stride)
    return max_pool2d(x_NLC[:, None], (1, k), (1, s), (0, p), ceil_mode)[:, 0]


def avg_pool1d(x_NLC: jax.Array, kernel_size: int | Sequence[int], stride: int | Sequence[int] | None = None,
               padding: int | Sequence[int] = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> jax.Array:
    """torch: ``F.avg_pool1d`` / ``nn.AvgPool1d`` on (N, L, C); see :func:`avg_pool2d`."""
    k, p = _single(kernel_size), _single(padding)
    s = k if stride is None else _single(stride)
    return avg_pool2d(x_NLC[:, None], (1, k), (1, s), (0, p), ceil_mode, count_include_pad)[:, 0]


def adaptive_avg_pool1d(x_NLC: jax.Array, output_size: int | Sequence[int]) -> jax.Array:
    """torch: ``F.adaptive_avg_pool1d`` / ``nn.AdaptiveAvgPool1d`` on (N, L, C)."""
    return adaptive_avg_pool2d(x_NLC[:, None], (1, _single(output_size)))[:, 0]


def adaptive_max_pool1d(x_NLC: jax.Array, output_size: int | Sequence[int]) -> jax.Array:
    """torch: ``F.adaptive_max_pool1d`` / ``nn.AdaptiveMaxPool1d`` on (N, L, C)."""
    return _adaptive_max_axis(x_NLC, 1, _single(output_size))


def _single(v: int | Sequence[int]) -> int:
    return v if isinstance(v, int) else int(ntuple(v, 1)[0])


class _MaxPool(ParameterlessLayer, nnx.Module):
    pool = staticmethod(max_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode

    @classmethod
    def torch_arguments(cls, m) -> dict:
        refuse(m, cls, collapse(m.dilation) != 1 and f"dilation={m.dilation}",
               m.return_indices and "return_indices=True")
        return _pool_arguments(m) | {"ceil_mode": m.ceil_mode}

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.pool(x, self.kernel_size, self.stride, self.padding, self.ceil_mode)


@torch_layer("MaxPool1d", layout=CHANNELS_LAST)
class MaxPool1d(_MaxPool):
    """torch: ``nn.MaxPool1d(kernel_size, stride=None, padding=0, ceil_mode=False)`` on
    (N, L, C); see :func:`max_pool1d`."""

    pool = staticmethod(max_pool1d)


@torch_layer("MaxPool2d", layout=CHANNELS_LAST)
class MaxPool2d(_MaxPool):
    """torch: ``nn.MaxPool2d(kernel_size, stride=None, padding=0, ceil_mode=False)``; see
    :func:`max_pool2d`. No parameters (a module so that ``nnx.Sequential`` positions
    match torch's ``nn.Sequential`` indices)."""


class _AvgPool(ParameterlessLayer, nnx.Module):
    pool = staticmethod(avg_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    @classmethod
    def torch_arguments(cls, m) -> dict:
        divisor = getattr(m, "divisor_override", None)
        refuse(m, cls, divisor is not None and f"divisor_override={divisor}")
        return _pool_arguments(m) | {"ceil_mode": m.ceil_mode, "count_include_pad": m.count_include_pad}

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.pool(x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad)


@torch_layer("AvgPool1d", layout=CHANNELS_LAST)
class AvgPool1d(_AvgPool):
    """torch: ``nn.AvgPool1d(kernel_size, stride=None, padding=0, ceil_mode=False,
    count_include_pad=True)`` on (N, L, C); see :func:`avg_pool1d`."""

    pool = staticmethod(avg_pool1d)


@torch_layer("AvgPool2d", layout=CHANNELS_LAST)
class AvgPool2d(_AvgPool):
    """torch: ``nn.AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False,
    count_include_pad=True)``; see :func:`avg_pool2d`."""


class _AdaptivePool(ParameterlessLayer, nnx.Module):
    pool = staticmethod(adaptive_avg_pool2d)

    def __init__(self, output_size):
        self.output_size = output_size

    @classmethod
    def torch_arguments(cls, m) -> dict:
        refuse(m, cls, getattr(m, "return_indices", False) and "return_indices=True")
        return {"output_size": collapse(m.output_size)}

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.pool(x, self.output_size)


@torch_layer("AdaptiveAvgPool1d", layout=CHANNELS_LAST)
class AdaptiveAvgPool1d(_AdaptivePool):
    """torch: ``nn.AdaptiveAvgPool1d(output_size)`` on (N, L, C); see :func:`adaptive_avg_pool1d`."""

    pool = staticmethod(adaptive_avg_pool1d)


@torch_layer("AdaptiveAvgPool2d", layout=CHANNELS_LAST)
class AdaptiveAvgPool2d(_AdaptivePool):
    """torch: ``nn.AdaptiveAvgPool2d(output_size)``; see :func:`adaptive_avg_pool2d`."""


@torch_layer("AdaptiveMaxPool1d", layout=CHANNELS_LAST)
class AdaptiveMaxPool1d(_AdaptivePool):
    """torch: ``nn.AdaptiveMaxPool1d(output_size)`` on (N, L, C); see :func:`adaptive_max_pool1d`."""

    pool = staticmethod(adaptive_max_pool1d)


@torch_layer("AdaptiveMaxPool2d", layout=CHANNELS_LAST)
class AdaptiveMaxPool2d(_AdaptivePool):
    """torch: ``nn.AdaptiveMaxPool2d(output_size)``; see :func:`adaptive_max_pool2d`."""

    pool = staticmethod(adaptive_max_pool2d)


def _pool_arguments(m) -> dict:
    """kernel_size, stride (None where torch's equals the kernel, its default), padding."""
    kernel, stride = collapse(m.kernel_size), collapse(m.stride)
    return {"kernel_size": kernel, "stride": None if stride == kernel else stride, "padding": collapse(m.padding)}
