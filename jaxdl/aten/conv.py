"""Convolutions in torch's layout (N, C, *spatial) with torch's weights: (out, in/groups,
*k) for a convolution, (in, out/groups, *k) for a transposed one; 1-3 spatial dims,
stride, padding (ints, 'valid', 'same'), dilation, groups, output_padding; unbatched
input (C, *spatial) as torch accepts it. Plus im2col / col2im (F.unfold / F.fold).

torch: F.conv1d/2d/3d, F.conv_transpose1d/2d/3d, nn.Conv*d, nn.ConvTranspose*d, F.unfold, F.fold.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl.aten.dtypes import promote, to_array
from jaxdl.aten.registry import aten_op


def _tuple(v, n):
    if isinstance(v, int):
        return (v,) * n
    v = tuple(v)
    return v * n if len(v) == 1 else v


_SPATIAL = {1: "H", 2: "HW", 3: "DHW"}


def _numbers(n):
    s = _SPATIAL[n]
    return lax.conv_dimension_numbers((1, 1) + (1,) * n, (1, 1) + (1,) * n, ("NC" + s, "OI" + s, "NC" + s))


def _unbatched(x, w):
    """torch accepts (C, *spatial) input: add the batch dim, say whether to drop it."""
    if x.ndim == w.ndim - 1:
        return x[None], True
    if x.ndim != w.ndim:
        raise ValueError(f"jaxdl.aten.convolution: input of shape {x.shape} does not fit a weight of shape "
                         f"{w.shape} (expects (N, C, *spatial) or (C, *spatial))")
    return x, False


def _conv(x, w, bias, stride, padding, dilation, groups):
    n = w.ndim - 2
    stride, dilation = _tuple(stride, n), _tuple(dilation, n)
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * n
        elif padding == "same":
            total = [d * (k - 1) for d, k in zip(dilation, w.shape[2:])]
            pads = [(t // 2, t - t // 2) for t in total]
        else:
            raise ValueError(f"jaxdl.aten.conv: padding must be ints, 'valid' or 'same', got {padding!r}")
    else:
        pads = [(p, p) for p in _tuple(padding, n)]
    y = lax.conv_general_dilated(x, w, stride, pads, rhs_dilation=dilation, dimension_numbers=_numbers(n),
                                 feature_group_count=groups)
    return y if bias is None else y + to_array(bias, y.dtype).reshape((1, -1) + (1,) * n)


def _conv_transpose(x, w, bias, stride, padding, output_padding, groups, dilation):
    n = w.ndim - 2
    stride, dilation = _tuple(stride, n), _tuple(dilation, n)
    padding, output_padding = _tuple(padding, n), _tuple(output_padding, n)
    k = w.shape[2:]
    cin, cout_g = w.shape[:2]
    # (in, out/g, *k) -> (out, in/g, *k), spatially flipped: the transposed conv as a conv
    w = w.reshape((groups, cin // groups, cout_g) + k).swapaxes(1, 2).reshape((groups * cout_g, cin // groups) + k)
    w = jnp.flip(w, tuple(range(2, 2 + n)))
    pads = [(d * (kk - 1) - p, d * (kk - 1) - p + op) for d, kk, p, op in zip(dilation, k, padding, output_padding)]
    y = lax.conv_general_dilated(x, w, (1,) * n, pads, lhs_dilation=stride, rhs_dilation=dilation,
                                 dimension_numbers=_numbers(n), feature_group_count=groups)
    return y if bias is None else y + to_array(bias, y.dtype).reshape((1, -1) + (1,) * n)


@aten_op("convolution")
@aten_op("_convolution")
def convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups,
                benchmark=False, deterministic=False, cudnn_enabled=True, allow_tf32=True):
    """torch: the convolution every F.conv*/F.conv_transpose* becomes"""
    x, w = promote(input, weight)
    x, drop = _unbatched(x, w)
    if transposed:
        y = _conv_transpose(x, w, bias, stride, padding, output_padding, groups, dilation)
    else:
        y = _conv(x, w, bias, stride, padding, dilation, groups)
    return y[0] if drop else y


def _conv_nd(n):
    def op(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
        x, w = promote(input, weight)
        if w.ndim != n + 2:
            raise ValueError(f"jaxdl.aten.conv{n}d: weight must be {n + 2}-d (out, in/groups, *kernel), got {w.shape}")
        x, drop = _unbatched(x, w)
        y = _conv(x, w, bias, stride, padding, dilation, groups)
        return y[0] if drop else y

    op.__name__ = op.__qualname__ = f"conv{n}d"
    op.__doc__ = f"torch: F.conv{n}d / nn.Conv{n}d (padding: ints, 'valid' or 'same')"
    return aten_op(f"conv{n}d")(op)


def _conv_transpose_nd(n):
    def op(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1):
        x, w = promote(input, weight)
        if w.ndim != n + 2:
            raise ValueError(f"jaxdl.aten.conv_transpose{n}d: weight must be {n + 2}-d (in, out/groups, *kernel), "
                             f"got {w.shape}")
        x, drop = _unbatched(x, w)
        y = _conv_transpose(x, w, bias, stride, padding, output_padding, groups, dilation)
        return y[0] if drop else y

    op.__name__ = op.__qualname__ = f"conv_transpose{n}d"
    op.__doc__ = f"torch: F.conv_transpose{n}d / nn.ConvTranspose{n}d"
    return aten_op(f"conv_transpose{n}d")(op)


conv1d, conv2d, conv3d = (_conv_nd(n) for n in (1, 2, 3))
conv_transpose1d, conv_transpose2d, conv_transpose3d = (_conv_transpose_nd(n) for n in (1, 2, 3))


@aten_op("im2col")
def im2col(self, kernel_size, dilation, padding, stride):
    """torch: F.unfold: (N, C, H, W) -> (N, C * kh * kw, L), C slowest, as torch"""
    x = to_array(self)
    drop = x.ndim == 3
    if drop:
        x = x[None]
    kernel_size, dilation = _tuple(kernel_size, 2), _tuple(dilation, 2)
    padding, stride = _tuple(padding, 2), _tuple(stride, 2)
    n, c = x.shape[:2]
    eye = jnp.eye(kernel_size[0] * kernel_size[1], dtype=x.dtype).reshape((-1, 1) + kernel_size)
    # one-hot kernels per channel: output channel c * kh * kw + k picks tap k of channel c
    w = jnp.tile(eye, (c, 1, 1, 1))
    y = lax.conv_general_dilated(x, w, stride, [(p, p) for p in padding], rhs_dilation=dilation,
                                 dimension_numbers=_numbers(2), feature_group_count=c,
                                 precision=lax.Precision.HIGHEST)
    y = y.reshape(n, y.shape[1], -1)
    return y[0] if drop else y


@aten_op("col2im")
def col2im(self, output_size, kernel_size, dilation, padding, stride):
    """torch: F.fold: the adjoint of im2col (overlapping taps summed)"""
    cols = to_array(self)
    drop = cols.ndim == 2
    if drop:
        cols = cols[None]
    kh, kw = _tuple(kernel_size, 2)
    n, ckk = cols.shape[:2]
    shape = (n, ckk // (kh * kw)) + tuple(_tuple(output_size, 2))
    unfold = jax.linear_transpose(lambda img: im2col(img, kernel_size, dilation, padding, stride),
                                  jax.ShapeDtypeStruct(shape, cols.dtype))
    (img,) = unfold(cols)
    return img[0] if drop else img
