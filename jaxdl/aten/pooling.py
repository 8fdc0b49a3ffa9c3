"""Pooling in torch's layout (N, C, *spatial) or unbatched (C, *spatial), 1-3 spatial
dims: max pools (padding, dilation, ceil_mode, indices), average pools
(count_include_pad, divisor_override, ceil_mode), adaptive pools, max_unpool.

A max pool's gradient goes to the first maximum of each window, as torch's. Indices are
flat positions in each channel's spatial plane (torch's), int64 (int32 here).

torch: F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, nn.MaxPool2d(return_indices=True), ...
"""

from __future__ import annotations

import builtins
import itertools
import math

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxdl.aten.dtypes import default_int, to_array
from jaxdl.aten.registry import aten_op


def _tuple(v, n):
    if isinstance(v, int):
        return (v,) * n
    v = tuple(v)
    return v * n if len(v) == 1 else v


def _geometry(shape, n, kernel_size, stride, padding, dilation, ceil_mode):
    """Per spatial dim: kernel, stride, padding, dilation and the extra right padding
    ceil_mode needs (torch's output size rule: the last window must start inside the
    input or its left padding)."""
    k = _tuple(kernel_size, n)
    s = _tuple(stride, n) if stride not in (None, [], ()) else k
    p, d = _tuple(padding, n), _tuple(dilation, n)
    extra = []
    for size, kk, ss, pp, dd in zip(shape[-n:], k, s, p, d):
        if pp > kk // 2:
            raise ValueError(f"jaxdl.aten: pad should be at most half of the effective kernel size, got padding "
                             f"{pp} for kernel {kk} (as torch)")
        eff = dd * (kk - 1) + 1
        num = size + 2 * pp - eff
        out = (-(-num // ss) if ceil_mode else num // ss) + 1
        if ceil_mode and (out - 1) * ss >= size + pp:
            out -= 1
        extra.append(max(0, (out - 1) * ss + eff - (size + 2 * pp)))
    return k, s, p, d, extra


def _batched(x, n):
    x = to_array(x)
    if x.ndim == n + 1:
        return x[None], True
    if x.ndim != n + 2:
        raise ValueError(f"jaxdl.aten: a {n}-d pool expects (N, C, *spatial) or (C, *spatial) input with {n} "
                         f"spatial dims, got shape {x.shape}")
    return x, False


def _lowest(dtype):
    return -jnp.inf if jnp.issubdtype(dtype, jnp.inexact) else jnp.iinfo(dtype).min


def _max_pool(self, n, kernel_size, stride, padding, dilation, ceil_mode, with_indices):
    x, drop = _batched(self, n)
    k, s, p, d, extra = _geometry(x.shape, n, kernel_size, stride, padding, dilation, ceil_mode)
    if any(dd > 1 for dd in d):  # XLA's max-pool gradient does not support dilation
        out, indices = _max_pool_windows(x, k, s, p, d, extra)
        if not with_indices:
            return out[0] if drop else out
        return (out[0], indices[0]) if drop else (out, indices)
    window, strides = (1, 1) + k, (1, 1) + s
    pads = ((0, 0), (0, 0)) + tuple((pp, pp + e) for pp, e in zip(p, extra))
    # a NumPy init value: a traced one (jnp) hides the max pool from JAX's reduce_window rules,
    # and jax.grad under jax.jit then fails ("Linearization failed")
    low = np.array(_lowest(x.dtype), x.dtype)
    out = lax.reduce_window(x, low, lax.max, window, strides, pads)
    if not with_indices:
        return out[0] if drop else out
    plane = math.prod(x.shape[2:])
    idx = jnp.broadcast_to(jnp.arange(plane, dtype=jnp.int32).reshape(x.shape[2:]), x.shape)

    def pick(a, b):  # the larger value; on ties (and among NaNs) the smaller index: torch's first maximum
        (av, ai), (bv, bi) = a, b
        a_nan, b_nan = jnp.isnan(av), jnp.isnan(bv)
        take_b = (bv > av) | (b_nan & ~a_nan) | (((bv == av) | (a_nan & b_nan)) & (bi < ai))
        return jnp.where(take_b, bv, av), jnp.where(take_b, bi, ai)

    _, indices = lax.reduce_window((lax.stop_gradient(x), idx), (low, jnp.int32(plane)), pick, window, strides,
                                   pads)
    indices = indices.astype(default_int())
    return (out[0], indices[0]) if drop else (out, indices)


def _max_pool_windows(x, k, s, p, d, extra):
    """Max pool as a max over the stacked window taps (any dilation): the first maximum
    in window order (NaN first), with its flat input index; the gradient goes there."""
    spatial = x.shape[2:]
    low = jnp.asarray(_lowest(x.dtype), x.dtype)
    xp = jnp.pad(x, ((0, 0), (0, 0)) + tuple((pp, pp + e) for pp, e in zip(p, extra)), constant_values=low)
    outs = [(size + 2 * pp + e - dd * (kk - 1) - 1) // ss + 1
            for size, kk, ss, pp, dd, e in zip(spatial, k, s, p, d, extra)]
    taps, where = [], []
    for offsets in itertools.product(*(range(kk) for kk in k)):
        key = tuple(builtins.slice(o * dd, o * dd + (out - 1) * ss + 1, ss)
                    for o, dd, out, ss in zip(offsets, d, outs, s))
        taps.append(xp[(builtins.slice(None), builtins.slice(None)) + key])
        coords = np.meshgrid(*[np.arange(out) * ss + o * dd - pp for out, ss, o, dd, pp in zip(outs, s, offsets, d, p)],
                             indexing="ij")
        where.append(np.ravel_multi_index(coords, spatial, mode="clip"))
    stack = jnp.stack(taps, axis=-1)
    key = jnp.where(jnp.isnan(stack), jnp.inf, stack) if jnp.issubdtype(x.dtype, jnp.inexact) else stack
    pos = jnp.argmax(key, axis=-1)[..., None]
    out = jnp.take_along_axis(stack, pos, axis=-1)[..., 0]
    flat = jnp.asarray(np.stack(where, axis=-1), jnp.int32)
    indices = jnp.take_along_axis(jnp.broadcast_to(flat, stack.shape), pos, axis=-1)[..., 0]
    return out, indices.astype(default_int())


def _avg_pool(self, n, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override):
    x, drop = _batched(self, n)
    k, s, p, _, extra = _geometry(x.shape, n, kernel_size, stride, padding, 1, ceil_mode)
    window, strides = (1, 1) + k, (1, 1) + s
    pads = ((0, 0), (0, 0)) + tuple((pp, pp + e) for pp, e in zip(p, extra))
    total = lax.reduce_window(x, np.zeros((), x.dtype), lax.add, window, strides, pads)  # NumPy init: see _max_pool
    if divisor_override:
        out = total / divisor_override
    else:
        # the divisor per window: real elements, plus the zero padding when count_include_pad
        # (never the ceil_mode overhang), as torch
        ones = np.ones(x.shape[2:], np.float32)
        if count_include_pad:
            ones = np.pad(ones, [(pp, pp) for pp in p], constant_values=1.0)
            cpads = [(0, e) for e in extra]
        else:
            cpads = [(pp, pp + e) for pp, e in zip(p, extra)]
        ones = np.pad(ones, cpads)
        counts = lax.reduce_window(jnp.asarray(ones), 0.0, lax.add, k, s, ((0, 0),) * n)
        out = total / counts.astype(x.dtype)
    return out[0] if drop else out


def _register(name, fn, doc):
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return aten_op(name)(fn)


for _n in (1, 2, 3):
    def _max(self, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False, _n=_n):
        return _max_pool(self, _n, kernel_size, stride, padding, dilation, ceil_mode, False)

    def _max_idx(self, kernel_size, stride=(), padding=0, dilation=1, ceil_mode=False, _n=_n):
        return _max_pool(self, _n, kernel_size, stride, padding, dilation, ceil_mode, True)

    _register(f"max_pool{_n}d", _max, f"torch: F.max_pool{_n}d / nn.MaxPool{_n}d")
    _register(f"max_pool{_n}d_with_indices", _max_idx,
              f"torch: F.max_pool{_n}d(return_indices=True) -> (values, flat indices)")

    if _n == 1:
        def _avg(self, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True):
            return _avg_pool(self, 1, kernel_size, stride, padding, ceil_mode, count_include_pad, None)
    else:
        def _avg(self, kernel_size, stride=(), padding=0, ceil_mode=False, count_include_pad=True,
                 divisor_override=None, _n=_n):
            return _avg_pool(self, _n, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)

    _register(f"avg_pool{_n}d", _avg, f"torch: F.avg_pool{_n}d / nn.AvgPool{_n}d")


# ---- adaptive pools: window i along a dim of size L covers [floor(i L / out), ceil((i + 1) L / out))

def _bounds(size, out):
    starts = [(i * size) // out for i in range(out)]
    ends = [-(-((i + 1) * size) // out) for i in range(out)]
    return starts, ends


def _adaptive_avg(self, n, output_size):
    x, drop = _batched(self, n)
    for axis, out in zip(range(x.ndim - n, x.ndim), _tuple(output_size, n)):
        size = x.shape[axis]
        out = size if out is None else out
        if size % out == 0:
            x = x.reshape(x.shape[:axis] + (out, size // out) + x.shape[axis + 1:]).mean(axis + 1)
            continue
        starts, ends = _bounds(size, out)
        m = np.zeros((out, size), np.float32)
        for i, (a, b) in enumerate(zip(starts, ends)):
            m[i, a:b] = 1.0 / (b - a)
        x = jnp.moveaxis(jnp.tensordot(x, jnp.asarray(m, x.dtype), ((axis,), (1,)), precision=lax.Precision.HIGHEST),
                         -1, axis)
    return x[0] if drop else x


for _n in (1, 2, 3):
    def _aavg(self, output_size, _n=_n):
        return _adaptive_avg(self, _n, output_size)

    _register(f"adaptive_avg_pool{_n}d", _aavg, f"torch: F.adaptive_avg_pool{_n}d / nn.AdaptiveAvgPool{_n}d")
    if _n > 1:
        def _aavg_kernel(self, output_size, _n=_n):
            return _adaptive_avg(self, _n, output_size)

        _register(f"_adaptive_avg_pool{_n}d", _aavg_kernel, f"torch: adaptive_avg_pool{_n}d's kernel")


def _adaptive_max(self, n, output_size):
    """Separable, last spatial dim first: the first maximum of a box in row-major order
    is, in the first row holding the box's maximum, that row's first maximum."""
    x, drop = _batched(self, n)
    idx, inner = None, 1  # idx: flat index within the dims done so far; inner: their size
    sizes = _tuple(output_size, n)
    for axis in reversed(range(2, x.ndim)):
        size = x.shape[axis]
        out = size if sizes[axis - 2] is None else sizes[axis - 2]
        starts, ends = _bounds(size, out)
        width = max(b - a for a, b in zip(starts, ends))
        gather = jnp.asarray([[min(a + j, b - 1) for j in range(width)] for a, b in zip(starts, ends)]).reshape(-1)

        def windows(v, axis=axis, out=out, width=width, gather=gather):
            w = jnp.take(v, gather, axis=axis)
            return w.reshape(v.shape[:axis] + (out, width) + v.shape[axis + 1:])

        win = windows(x)
        key = jnp.where(jnp.isnan(win), jnp.inf, win) if jnp.issubdtype(x.dtype, jnp.inexact) else win
        pos = jnp.argmax(key, axis=axis + 1, keepdims=True)
        x = jnp.take_along_axis(win, pos, axis=axis + 1).squeeze(axis + 1)
        chosen = jnp.asarray(starts).reshape((-1,) + (1,) * (x.ndim - axis - 1)) + pos.squeeze(axis + 1)
        if idx is not None:
            chosen = chosen * inner + jnp.take_along_axis(windows(idx), pos, axis=axis + 1).squeeze(axis + 1)
        idx, inner = chosen, inner * size
    idx = jnp.broadcast_to(idx, x.shape).astype(default_int())
    return (x[0], idx[0]) if drop else (x, idx)


for _n in (1, 2, 3):
    def _amax(self, output_size, _n=_n):
        return _adaptive_max(self, _n, output_size)

    _register(f"adaptive_max_pool{_n}d", _amax,
              f"torch: F.adaptive_max_pool{_n}d / nn.AdaptiveMaxPool{_n}d -> (values, flat indices)")


def _max_unpool(self, indices, output_size, n):
    x, drop = _batched(self, n)
    idx, _ = _batched(indices, n)
    flat = x.reshape(x.shape[0], x.shape[1], -1)
    out = jnp.zeros(x.shape[:2] + (math.prod(output_size),), x.dtype)
    out = out.at[jnp.arange(x.shape[0])[:, None, None], jnp.arange(x.shape[1])[None, :, None],
                 idx.reshape(flat.shape)].set(flat)
    out = out.reshape(x.shape[:2] + tuple(output_size))
    return out[0] if drop else out


@aten_op("max_unpool2d")
def max_unpool2d(self, indices, output_size):
    """torch: F.max_unpool2d / nn.MaxUnpool2d"""
    return _max_unpool(self, indices, output_size, 2)


@aten_op("max_unpool3d")
def max_unpool3d(self, indices, output_size, stride, padding):
    """torch: F.max_unpool3d / nn.MaxUnpool3d"""
    return _max_unpool(self, indices, output_size, 3)
