"""Resampling in torch's layout (N, C, *spatial): nearest / nearest-exact / (bi,tri)linear /
bicubic upsampling with torch's coordinate rules (align_corners, and a given scale
factor used as 1/scale when mapping coordinates, as torch does), grid_sample,
affine_grid, pixel_shuffle / pixel_unshuffle.

Source indices and interpolation weights are computed once, in float32 as torch's
kernels do, then applied one spatial dim at a time (last dim first, torch's order of
operations), so results match torch to float32 rounding.

Each ``upsample_*`` serves both ATen overloads: ``.vec`` (``input``, ``output_size`` or
``scale_factors``) and the sized one (``self``, ``output_size``, ``scales_*``).

torch: F.interpolate / nn.Upsample, F.grid_sample, F.affine_grid, nn.PixelShuffle.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxdl.aten.creation import linspace_values
from jaxdl.aten.dtypes import to_array
from jaxdl.aten.registry import aten_op

CUBIC_A = -0.75  # torch's bicubic convolution constant
F32 = np.float32


def _sizes_scales(x, n, output_size, scale_factors, scales):
    """Output sizes and the scale each dim maps coordinates with (None: in / out)."""
    in_sizes = x.shape[-n:]
    if output_size is not None and len(output_size):
        out = tuple(int(s) for s in output_size)
        given = tuple(scales) if scales is not None else (None,) * n
    elif scale_factors is not None:
        given = tuple(scale_factors) if len(scale_factors) == n else tuple(scale_factors) * n
        out = tuple(math.floor(s * f) for s, f in zip(in_sizes, given))
    else:
        raise ValueError("jaxdl.aten.upsample: give output_size or scale_factors")
    return in_sizes, out, given


def _scale(in_size, out_size, align_corners, scale):
    """torch's area_pixel_compute_scale, in float32."""
    if align_corners:
        return F32((in_size - 1) / (out_size - 1)) if out_size > 1 else F32(0)
    if scale is not None and scale > 0:
        return F32(1.0 / scale)
    return F32(in_size / out_size)


def _source(scale, dst, align_corners, cubic):
    """torch's area_pixel_compute_source_index, in float32."""
    if align_corners:
        return scale * dst
    src = scale * (dst + F32(0.5)) - F32(0.5)
    return src if cubic else np.maximum(src, F32(0))


def _apply(x, axis, taps):
    """sum_k w_k * x[idx_k] along ``axis`` (taps: [(idx (out,), w (out,)), ...]), in order."""
    out = None
    for idx, w in taps:
        shape = [1] * x.ndim
        shape[axis] = -1
        term = jnp.take(x, jnp.asarray(idx), axis=axis)
        if w is not None:
            term = term * jnp.asarray(w, x.dtype).reshape(shape)
        out = term if out is None else out + term
    return out


def _nearest_taps(in_size, out_size, scale, exact):
    s = _scale(in_size, out_size, False, scale)
    dst = np.arange(out_size, dtype=F32)
    src = np.floor((dst + F32(0.5)) * s if exact else dst * s).astype(np.int64)
    return [(np.minimum(src, in_size - 1), None)]


def _linear_taps(in_size, out_size, align_corners, scale):
    s = _scale(in_size, out_size, align_corners, scale)
    src = _source(s, np.arange(out_size, dtype=F32), align_corners, False).astype(F32)
    i0 = np.minimum(src.astype(np.int64), in_size - 1)
    i1 = np.minimum(i0 + 1, in_size - 1)
    l1 = (src - i0.astype(F32)).astype(F32)
    l0 = (F32(1) - l1).astype(F32)
    return [(i0, l0), (i1, l1)]


def _cubic_weights(t):
    """torch's cubic convolution coefficients for taps -1, 0, 1, 2 at fraction ``t``
    (numpy float32 for static weights, or a JAX array)."""
    a = F32(CUBIC_A)

    def conv1(v):
        return ((a + 2) * v - (a + 3)) * v * v + 1

    def conv2(v):
        return ((a * v - 5 * a) * v + 8 * a) * v - 4 * a

    return [conv2(t + 1), conv1(t), conv1(1 - t), conv2(2 - t)]


def _cubic_taps(in_size, out_size, align_corners, scale):
    s = _scale(in_size, out_size, align_corners, scale)
    src = _source(s, np.arange(out_size, dtype=F32), align_corners, True).astype(F32)
    i = np.floor(src).astype(np.int64)
    t = (src - i.astype(F32)).astype(F32)
    return [(np.clip(i + k, 0, in_size - 1), w.astype(F32)) for k, w in zip((-1, 0, 1, 2), _cubic_weights(t))]


def _resample(x, n, output_size, scale_factors, scales, taps_for):
    x = to_array(x)
    in_sizes, out_sizes, given = _sizes_scales(x, n, output_size, scale_factors, scales)
    for d in reversed(range(n)):  # the last dim first: torch's order of operations
        axis = x.ndim - n + d
        x = _apply(x, axis, taps_for(in_sizes[d], out_sizes[d], given[d]))
    return x


def _taps(kind, align_corners):
    if kind == "nearest":
        return lambda i, o, s: _nearest_taps(i, o, s, False)
    if kind == "nearest_exact":
        return lambda i, o, s: _nearest_taps(i, o, s, True)
    if kind == "linear":
        return lambda i, o, s: _linear_taps(i, o, align_corners, s)
    return lambda i, o, s: _cubic_taps(i, o, align_corners, s)


def _upsample(kind, n, input, self, output_size, scale_factors, scales, align_corners=False):
    scales = None if all(s is None for s in scales) else scales
    x = input if input is not None else self
    return _resample(x, n, output_size, scale_factors, scales, _taps(kind, align_corners))


@aten_op("upsample_nearest1d")
def upsample_nearest1d(input=None, output_size=None, scale_factors=None, self=None, scales=None):
    """torch: F.interpolate(mode='nearest') on (N, C, L)"""
    return _upsample("nearest", 1, input, self, output_size, scale_factors, [scales])


@aten_op("upsample_nearest2d")
def upsample_nearest2d(input=None, output_size=None, scale_factors=None, self=None, scales_h=None,
                       scales_w=None):
    """torch: F.interpolate(mode='nearest') / nn.Upsample on (N, C, H, W)"""
    return _upsample("nearest", 2, input, self, output_size, scale_factors, [scales_h, scales_w])


@aten_op("upsample_nearest3d")
def upsample_nearest3d(input=None, output_size=None, scale_factors=None, self=None, scales_d=None,
                       scales_h=None, scales_w=None):
    """torch: F.interpolate(mode='nearest') on (N, C, D, H, W)"""
    return _upsample("nearest", 3, input, self, output_size, scale_factors, [scales_d, scales_h, scales_w])


@aten_op("_upsample_nearest_exact1d")
def _upsample_nearest_exact1d(input=None, output_size=None, scale_factors=None, self=None, scales=None):
    """torch: F.interpolate(mode='nearest-exact') on (N, C, L)"""
    return _upsample("nearest_exact", 1, input, self, output_size, scale_factors, [scales])


@aten_op("_upsample_nearest_exact2d")
def _upsample_nearest_exact2d(input=None, output_size=None, scale_factors=None, self=None,
                              scales_h=None, scales_w=None):
    """torch: F.interpolate(mode='nearest-exact') on (N, C, H, W)"""
    return _upsample("nearest_exact", 2, input, self, output_size, scale_factors, [scales_h, scales_w])


@aten_op("_upsample_nearest_exact3d")
def _upsample_nearest_exact3d(input=None, output_size=None, scale_factors=None, self=None,
                              scales_d=None, scales_h=None, scales_w=None):
    """torch: F.interpolate(mode='nearest-exact') on (N, C, D, H, W)"""
    return _upsample("nearest_exact", 3, input, self, output_size, scale_factors, [scales_d, scales_h, scales_w])


@aten_op("upsample_linear1d")
def upsample_linear1d(input=None, output_size=None, align_corners=False, scale_factors=None, self=None,
                      scales=None):
    """torch: F.interpolate(mode='linear') on (N, C, L)"""
    return _upsample("linear", 1, input, self, output_size, scale_factors, [scales], align_corners)


@aten_op("upsample_bilinear2d")
def upsample_bilinear2d(input=None, output_size=None, align_corners=False, scale_factors=None, self=None,
                        scales_h=None, scales_w=None):
    """torch: F.interpolate(mode='bilinear') / nn.Upsample(mode='bilinear') on (N, C, H, W)"""
    return _upsample("linear", 2, input, self, output_size, scale_factors, [scales_h, scales_w], align_corners)


@aten_op("upsample_trilinear3d")
def upsample_trilinear3d(input=None, output_size=None, align_corners=False, scale_factors=None, self=None,
                         scales_d=None, scales_h=None, scales_w=None):
    """torch: F.interpolate(mode='trilinear') on (N, C, D, H, W)"""
    return _upsample("linear", 3, input, self, output_size, scale_factors, [scales_d, scales_h, scales_w],
                     align_corners)


@aten_op("upsample_bicubic2d")
def upsample_bicubic2d(input=None, output_size=None, align_corners=False, scale_factors=None, self=None,
                       scales_h=None, scales_w=None):
    """torch: F.interpolate(mode='bicubic') on (N, C, H, W) (A = -0.75, borders clamped)"""
    return _upsample("cubic", 2, input, self, output_size, scale_factors, [scales_h, scales_w], align_corners)


# ---- grid_sample

_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_PADDINGS = {0: "zeros", 1: "border", 2: "reflection"}


def _unnormalize(coord, size, align_corners):
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def _reflect(coord, twice_low, twice_high):
    if twice_low == twice_high:
        return jnp.zeros_like(coord)
    low = twice_low / 2
    span = (twice_high - twice_low) / 2
    c = jnp.abs(coord - low)
    extra = jnp.fmod(c, span)
    flips = jnp.floor(c / span)
    return jnp.where(jnp.fmod(flips, 2) == 0, extra + low, span - extra + low)


def _pad_coord(coord, size, padding, align_corners):
    """torch's compute_coordinates: where the padding mode sends an unnormalized coordinate."""
    if padding == "border":
        return jnp.clip(coord, 0, size - 1)
    if padding == "reflection":
        coord = _reflect(coord, 0, 2 * (size - 1)) if align_corners else _reflect(coord, -1, 2 * size - 1)
        return jnp.clip(coord, 0, size - 1)
    return coord


def _gather2d(x, iy, ix):
    """x: (N, C, H, W); iy, ix: (N, Ho, Wo) int -> (N, C, Ho, Wo), zero outside."""
    n, _, h, w = x.shape
    inside = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    yc, xc = jnp.clip(iy, 0, h - 1), jnp.clip(ix, 0, w - 1)
    vals = x[jnp.arange(n)[:, None, None], :, yc, xc]  # (N, Ho, Wo, C)
    return jnp.moveaxis(vals, -1, 1) * inside[:, None].astype(x.dtype)


def _grid_sample_2d(x, grid, mode, padding, align_corners):
    h, w = x.shape[2:]
    gx = _unnormalize(grid[..., 0], w, align_corners)
    gy = _unnormalize(grid[..., 1], h, align_corners)
    if mode == "bicubic":
        fx, fy = jnp.floor(gx), jnp.floor(gy)
        tx, ty = gx - fx, gy - fy
        wx, wy = _cubic_weights(tx), _cubic_weights(ty)
        out = 0
        for j, wyj in zip(range(-1, 3), wy):
            row = 0
            for i, wxi in zip(range(-1, 3), wx):
                cx = _pad_coord(fx + i, w, padding, align_corners)
                cy = _pad_coord(fy + j, h, padding, align_corners)
                row = row + _gather2d(x, cy.astype(jnp.int32), cx.astype(jnp.int32)) * wxi[:, None]
            out = out + row * wyj[:, None]
        return out
    gx = _pad_coord(gx, w, padding, align_corners)
    gy = _pad_coord(gy, h, padding, align_corners)
    if mode == "nearest":
        return _gather2d(x, jnp.round(gy).astype(jnp.int32), jnp.round(gx).astype(jnp.int32))
    x0, y0 = jnp.floor(gx), jnp.floor(gy)
    x1, y1 = x0 + 1, y0 + 1
    nw = (x1 - gx) * (y1 - gy)
    ne = (gx - x0) * (y1 - gy)
    sw = (x1 - gx) * (gy - y0)
    se = (gx - x0) * (gy - y0)
    i0, i1, j0, j1 = (v.astype(jnp.int32) for v in (x0, x1, y0, y1))
    return (_gather2d(x, j0, i0) * nw[:, None] + _gather2d(x, j0, i1) * ne[:, None]
            + _gather2d(x, j1, i0) * sw[:, None] + _gather2d(x, j1, i1) * se[:, None])


@aten_op("grid_sampler")
@aten_op("grid_sampler_2d")
def grid_sampler(input, grid, interpolation_mode, padding_mode, align_corners):
    """torch: F.grid_sample on 4-d input (interpolation_mode 0 bilinear, 1 nearest, 2
    bicubic; padding_mode 0 zeros, 1 border, 2 reflection); nearest rounds half to even."""
    x, g = to_array(input), to_array(grid)
    if x.ndim != 4:
        raise ValueError(f"jaxdl.aten.grid_sampler: supports 4-d (N, C, H, W) input, got shape {x.shape}")
    g = g.astype(x.dtype)
    return _grid_sample_2d(x, g, _MODES[interpolation_mode], _PADDINGS[padding_mode], align_corners)


@aten_op("affine_grid_generator")
def affine_grid_generator(theta, size, align_corners):
    """torch: F.affine_grid: (N, H, W, 2) (or (N, D, H, W, 3)) sampling grid from theta"""
    theta = to_array(theta)
    spatial = tuple(size[2:])

    def base(n):
        v = linspace_values(-1, 1, n, F32) if n > 1 else np.zeros(1, F32)
        return v if align_corners else v * F32((n - 1) / n)

    axes = [base(s) for s in reversed(spatial)]  # x (W) first, as torch's grid
    mesh = np.meshgrid(*[axes[i] for i in reversed(range(len(axes)))], indexing="ij")  # D?, H, W
    coords = [mesh[i] for i in reversed(range(len(mesh)))] + [np.ones(spatial, F32)]
    grid = jnp.asarray(np.stack(coords, -1).reshape(-1, len(spatial) + 1), theta.dtype)
    out = jnp.einsum("pk,nik->npi", grid, theta, precision=lax.Precision.HIGHEST)
    return out.reshape((theta.shape[0],) + spatial + (len(spatial),))


@aten_op("pixel_shuffle")
def pixel_shuffle(self, upscale_factor):
    """torch: F.pixel_shuffle / nn.PixelShuffle: (*, C r^2, H, W) -> (*, C, H r, W r)"""
    x = to_array(self)
    r = upscale_factor
    *lead, c, h, w = x.shape
    x = x.reshape(tuple(lead) + (c // (r * r), r, r, h, w))
    k = len(lead)
    x = x.transpose(tuple(range(k)) + (k, k + 3, k + 1, k + 4, k + 2))
    return x.reshape(tuple(lead) + (c // (r * r), h * r, w * r))


@aten_op("pixel_unshuffle")
def pixel_unshuffle(self, downscale_factor):
    """torch: F.pixel_unshuffle / nn.PixelUnshuffle: (*, C, H r, W r) -> (*, C r^2, H, W)"""
    x = to_array(self)
    r = downscale_factor
    *lead, c, h, w = x.shape
    x = x.reshape(tuple(lead) + (c, h // r, r, w // r, r))
    k = len(lead)
    x = x.transpose(tuple(range(k)) + (k, k + 2, k + 4, k + 1, k + 3))
    return x.reshape(tuple(lead) + (c * r * r, h // r, w // r))
