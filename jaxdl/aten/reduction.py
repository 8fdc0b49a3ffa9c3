"""Reductions, scans and norms with torch's dtype rules (integer sums are int64 - int32
here -, ``mean`` and ``var`` need a float input, ``dim=[]`` reduces every dim) and torch's
tie rules (``max(dim)`` returns the first maximum's index and routes the gradient there;
``amax`` splits it among ties).

torch: torch.sum, torch.mean, torch.var, Tensor.max, torch.norm, torch.cumsum, ...
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl.aten.dtypes import (
    as_dtype,
    default_int,
    is_int,
    normalize_dim,
    normalize_dims,
    promote,
    to_array,
)
from jaxdl.aten.elementwise import elementwise_max, elementwise_min
from jaxdl.aten.registry import aten_op


def _int_result(x, dtype):
    """The dtype of a sum/prod: ``dtype`` if given, int64 for integral/bool input."""
    if dtype is not None:
        return as_dtype(dtype)
    return default_int() if is_int(x.dtype) else x.dtype


def _require_float(x, name, dtype=None):
    if dtype is not None:
        return x.astype(as_dtype(dtype))
    if is_int(x.dtype):
        raise TypeError(f"jaxdl.aten.{name}: input dtype must be floating point (got {x.dtype}), as in torch; "
                        f"cast it first (x.float()) or pass dtype=")
    return x


@aten_op("sum")
def sum_(self, dim=None, keepdim=False, dtype=None):
    """torch: torch.sum(x, dim=None, keepdim=False, dtype=None) (bool/int sums are int64)"""
    x = to_array(self)
    x = x.astype(_int_result(x, dtype))
    return jnp.sum(x, axis=normalize_dims(dim, x.ndim), keepdims=keepdim)


@aten_op("nansum")
def nansum(self, dim=None, keepdim=False, dtype=None):
    """torch: torch.nansum"""
    x = to_array(self)
    x = x.astype(_int_result(x, dtype))
    return jnp.nansum(x, axis=normalize_dims(dim, x.ndim), keepdims=keepdim)


@aten_op("prod")
def prod(self, dim=None, keepdim=False, dtype=None):
    """torch: torch.prod(x, dim=None, keepdim=False, dtype=None)"""
    x = to_array(self)
    x = x.astype(_int_result(x, dtype))
    return jnp.prod(x, axis=normalize_dims(dim, x.ndim), keepdims=keepdim)


@aten_op("mean")
def mean(self, dim=None, keepdim=False, dtype=None):
    """torch: torch.mean (a float input, or ``dtype``, is required, as in torch)"""
    x = _require_float(to_array(self), "mean", dtype)
    return jnp.mean(x, axis=normalize_dims(dim, x.ndim), keepdims=keepdim)


@aten_op("nanmean")
def nanmean(self, dim=None, keepdim=False, dtype=None):
    """torch: torch.nanmean"""
    x = _require_float(to_array(self), "nanmean", dtype)
    return jnp.nanmean(x, axis=normalize_dims(dim, x.ndim), keepdims=keepdim)


def _ddof(unbiased, correction):
    return correction if correction is not None else (1 if unbiased else 0)


@aten_op("var")
def var(self, dim=None, unbiased=True, keepdim=False, correction=None):
    """torch: torch.var(x, dim, unbiased=True | correction=1, keepdim=False) (two-pass)"""
    x = _require_float(to_array(self), "var")
    return jnp.var(x, axis=normalize_dims(dim, x.ndim), ddof=_ddof(unbiased, correction), keepdims=keepdim)


@aten_op("std")
def std(self, dim=None, unbiased=True, keepdim=False, correction=None):
    """torch: torch.std"""
    return jnp.sqrt(var(self, dim, unbiased, keepdim, correction))


@aten_op("var_mean")
def var_mean(self, dim=None, unbiased=True, keepdim=False, correction=None):
    """torch: torch.var_mean -> (var, mean)"""
    return var(self, dim, unbiased, keepdim, correction), mean(self, dim, keepdim)


@aten_op("std_mean")
def std_mean(self, dim=None, unbiased=True, keepdim=False, correction=None):
    """torch: torch.std_mean -> (std, mean)"""
    return std(self, dim, unbiased, keepdim, correction), mean(self, dim, keepdim)


def _extreme(fn):
    """max/min over axes with torch's gradient: split evenly among the elements equal to
    the result, a NaN result counting the NaNs."""

    @functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
    def reduce(x, axes, keepdims):
        return fn(x, axis=axes, keepdims=keepdims)

    @reduce.defjvp
    def reduce_jvp(axes, keepdims, primals, tangents):
        (x,), (t,) = primals, tangents
        out = reduce(x, axes, keepdims)
        full = out if keepdims else jnp.expand_dims(out, axes)
        hit = (x == full) | (jnp.isnan(x) & jnp.isnan(full))
        share = jnp.sum(jnp.where(hit, t, 0), axis=axes, keepdims=keepdims)
        return out, share / jnp.sum(hit, axis=axes, keepdims=keepdims).astype(t.dtype)

    def run(x, axes, keepdims):
        return reduce(x, axes, keepdims) if jnp.issubdtype(x.dtype, jnp.inexact) else fn(x, axis=axes,
                                                                                          keepdims=keepdims)

    return run


_max, _min = _extreme(jnp.max), _extreme(jnp.min)


@aten_op("amax")
def amax(self, dim=(), keepdim=False):
    """torch: torch.amax (``dim=[]``: every dim; the gradient is split among ties)"""
    x = to_array(self)
    return _max(x, normalize_dims(dim, x.ndim), keepdim)


@aten_op("amin")
def amin(self, dim=(), keepdim=False):
    """torch: torch.amin"""
    x = to_array(self)
    return _min(x, normalize_dims(dim, x.ndim), keepdim)


def _arg(fn, x, dim, keepdim):
    if dim is None:
        out = fn(x.reshape(-1)).astype(default_int())
        return out.reshape((1,) * x.ndim) if keepdim else out
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return jnp.zeros((), default_int())
    return fn(x, axis=normalize_dim(dim, x.ndim), keepdims=keepdim).astype(default_int())


@aten_op("argmax")
def argmax(self, dim=None, keepdim=False):
    """torch: torch.argmax (the first maximum; a NaN counts as the maximum)"""
    return _arg(jnp.argmax, to_array(self), dim, keepdim)


@aten_op("argmin")
def argmin(self, dim=None, keepdim=False):
    """torch: torch.argmin"""
    return _arg(jnp.argmin, to_array(self), dim, keepdim)


def _values_indices(x, dim, keepdim, arg):
    """(values, indices) of max/min along ``dim``: values gathered at the index, so the
    gradient goes to that one element, as torch's."""
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return x, jnp.zeros((), default_int())
    axis = normalize_dim(dim, x.ndim)
    idx = arg(x, axis=axis, keepdims=True)
    values = jnp.take_along_axis(x, idx, axis=axis)
    idx = idx.astype(default_int())
    if not keepdim:
        values, idx = jnp.squeeze(values, axis), jnp.squeeze(idx, axis)
    return values, idx


@aten_op("max")
def max_(self, dim=None, keepdim=False, other=None):
    """torch: torch.max(x) / torch.max(x, dim, keepdim) -> (values, indices) /
    torch.max(x, other) (elementwise, as maximum)."""
    x = to_array(self)
    if other is not None:
        return elementwise_max(*promote(x, other))
    if dim is None:
        return _max(x, tuple(range(x.ndim)), False)
    return _values_indices(x, dim, keepdim, jnp.argmax)


@aten_op("min")
def min_(self, dim=None, keepdim=False, other=None):
    """torch: torch.min (see max)"""
    x = to_array(self)
    if other is not None:
        return elementwise_min(*promote(x, other))
    if dim is None:
        return _min(x, tuple(range(x.ndim)), False)
    return _values_indices(x, dim, keepdim, jnp.argmin)


@aten_op("aminmax")
def aminmax(self, dim=None, keepdim=False):
    """torch: torch.aminmax -> (min, max)"""
    d = () if dim is None else dim
    return amin(self, d, keepdim), amax(self, d, keepdim)


def _logical_reduce(fn, self, dim, keepdim):
    x = to_array(self)
    out = fn(x != 0, axis=normalize_dims(dim, x.ndim), keepdims=keepdim)
    return out.astype(jnp.uint8) if x.dtype == jnp.uint8 else out  # torch keeps uint8


@aten_op("all")
def all_(self, dim=None, keepdim=False):
    """torch: torch.all (bool; uint8 stays uint8, as torch)"""
    return _logical_reduce(jnp.all, self, dim, keepdim)


@aten_op("any")
def any_(self, dim=None, keepdim=False):
    """torch: torch.any"""
    return _logical_reduce(jnp.any, self, dim, keepdim)


@aten_op("count_nonzero")
def count_nonzero(self, dim=None):
    """torch: torch.count_nonzero (int64)"""
    x = to_array(self)
    return jnp.sum(x != 0, axis=normalize_dims(dim, x.ndim)).astype(default_int())


@aten_op("logsumexp")
def logsumexp(self, dim, keepdim=False):
    """torch: torch.logsumexp (integer input becomes float)"""
    x = to_array(self)
    if is_int(x.dtype):
        x = x.astype(jnp.float32)
    return jax.nn.logsumexp(x, axis=normalize_dims(dim, x.ndim), keepdims=keepdim)


def _vector_norm(x, ord, axis, keepdim):
    """torch's vector norm; the gradient at a zero vector is 0, as torch's."""
    a = jnp.abs(x)
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    if ord == float("inf"):
        return _max(a, axes, keepdim)
    if ord == float("-inf"):
        return _min(a, axes, keepdim)
    if ord == 0:
        return jnp.sum(a != 0, axis=axis, keepdims=keepdim).astype(x.dtype)
    if ord == 1:
        return jnp.sum(a, axis=axis, keepdims=keepdim)
    s = jnp.sum(a * a if ord == 2 else a ** ord, axis=axis, keepdims=keepdim)
    zero = s == 0
    safe = jnp.where(zero, 1, s)
    return jnp.where(zero, 0, jnp.sqrt(safe) if ord == 2 else safe ** (1 / ord))


@aten_op("linalg_vector_norm")
def linalg_vector_norm(self, ord=2, dim=None, keepdim=False, dtype=None):
    """torch: torch.linalg.vector_norm / Tensor.norm(p, dim)"""
    x = to_array(self)
    x = x.astype(as_dtype(dtype)) if dtype is not None else _require_float(x, "linalg_vector_norm")
    return _vector_norm(x, ord, normalize_dims(dim, x.ndim), keepdim)


@aten_op("norm")
def norm(self, p=2, dim=None, keepdim=False, dtype=None):
    """torch: torch.norm(x, p=2, dim=None, keepdim=False) (p=None means 2; 'fro' too)"""
    if p is None or p == "fro":
        p = 2
    return linalg_vector_norm(self, p, dim, keepdim, dtype)


@aten_op("frobenius_norm")
def frobenius_norm(self, dim, keepdim=False):
    """torch: torch.norm(x, 'fro', dim)"""
    return linalg_vector_norm(self, 2, dim, keepdim)


@aten_op("linalg_norm")
def linalg_norm(self, ord=None, dim=None, keepdim=False, dtype=None):
    """torch: torch.linalg.norm: vector norms over one dim (or all when ``dim`` is None and
    ``ord`` is None); matrix norms over two dims ('fro', 'nuc', 1, -1, 2, -2, inf, -inf)."""
    x = to_array(self)
    x = x.astype(as_dtype(dtype)) if dtype is not None else _require_float(x, "linalg_norm")
    if isinstance(dim, int) or (dim is None and (ord is None or x.ndim == 1)) or (dim is not None and len(dim) == 1):
        return linalg_vector_norm(x, 2 if ord is None else ord, dim, keepdim)
    dims = (x.ndim - 2, x.ndim - 1) if dim is None else tuple(normalize_dim(d, x.ndim) for d in dim)
    if ord is None or ord == "fro":
        return _vector_norm(x, 2, dims, keepdim)
    moved = jnp.moveaxis(x, dims, (-2, -1))
    if ord in ("nuc", 2, -2):
        sv = jnp.linalg.svd(moved, compute_uv=False)
        out = jnp.sum(sv, -1) if ord == "nuc" else (jnp.max(sv, -1) if ord == 2 else jnp.min(sv, -1))
    elif ord in (1, -1):
        col = jnp.sum(jnp.abs(moved), axis=-2)
        out = jnp.max(col, -1) if ord == 1 else jnp.min(col, -1)
    elif ord in (float("inf"), float("-inf")):
        row = jnp.sum(jnp.abs(moved), axis=-1)
        out = jnp.max(row, -1) if ord > 0 else jnp.min(row, -1)
    else:
        raise ValueError(f"jaxdl.aten.linalg_norm: matrix norm ord must be 'fro', 'nuc', 1, -1, 2, -2, inf or -inf, "
                         f"got {ord!r}")
    if keepdim:
        out = jnp.expand_dims(out, tuple(sorted(dims)))
    return out


# ---- scans

def _scan_input(self, dim, dtype):
    x = to_array(self)
    x = x.astype(_int_result(x, dtype))
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return x, None
    return x, normalize_dim(dim, x.ndim)


@aten_op("cumsum")
def cumsum(self, dim, dtype=None):
    """torch: torch.cumsum (bool/int -> int64)"""
    x, axis = _scan_input(self, dim, dtype)
    return x if axis is None else jnp.cumsum(x, axis=axis)


@aten_op("cumprod")
def cumprod(self, dim, dtype=None):
    """torch: torch.cumprod"""
    x, axis = _scan_input(self, dim, dtype)
    return x if axis is None else jnp.cumprod(x, axis=axis)


@aten_op("logcumsumexp")
def logcumsumexp(self, dim):
    """torch: torch.logcumsumexp"""
    x = to_array(self)
    return x if x.ndim == 0 else lax.cumlogsumexp(x, axis=normalize_dim(dim, x.ndim))


def _cum_extreme(self, dim, better):
    x = to_array(self)
    if x.ndim == 0:
        return x, jnp.zeros((), default_int())
    axis = normalize_dim(dim, x.ndim)
    idx = lax.broadcasted_iota(default_int(), x.shape, axis)
    nan = jnp.isnan if jnp.issubdtype(x.dtype, jnp.inexact) else (lambda v: jnp.zeros(v.shape, bool))

    def combine(a, b):  # b is later: it wins on ties (torch's >=) and a NaN sticks
        av, ai = a
        bv, bi = b
        take_b = ~nan(av) & (nan(bv) | better(bv, av))
        return jnp.where(take_b, bv, av), jnp.where(take_b, bi, ai)

    values, indices = lax.associative_scan(combine, (x, idx), axis=axis)
    return values, indices


@aten_op("cummax")
def cummax(self, dim):
    """torch: torch.cummax -> (values, indices) (ties: the latest index)"""
    return _cum_extreme(self, dim, jnp.greater_equal)


@aten_op("cummin")
def cummin(self, dim):
    """torch: torch.cummin -> (values, indices)"""
    return _cum_extreme(self, dim, jnp.less_equal)


# ---- distances

@aten_op("cosine_similarity")
def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    """torch: F.cosine_similarity: sum((x1 / max(|x1|, eps)) * (x2 / max(|x2|, eps)), dim)"""
    a, b = promote(x1, x2)
    a, b = jnp.broadcast_arrays(a, b)
    axis = normalize_dim(dim, a.ndim)
    na = jnp.maximum(_vector_norm(a, 2, axis, True), eps)
    nb = jnp.maximum(_vector_norm(b, 2, axis, True), eps)
    return jnp.sum((a / na) * (b / nb), axis=axis)


@aten_op("pairwise_distance")
def pairwise_distance(x1, x2, p=2.0, eps=1e-6, keepdim=False):
    """torch: F.pairwise_distance = ||x1 - x2 + eps||_p over the last dim"""
    a, b = promote(x1, x2)
    d = a - b + eps
    if d.ndim == 0:
        return _vector_norm(d, p, (), keepdim)
    return _vector_norm(d, p, d.ndim - 1, keepdim)


@aten_op("cdist")
@aten_op("_cdist_forward")
def cdist(x1, x2, p=2.0, compute_mode=None):
    """torch: torch.cdist (direct differences; torch's matrix-product shortcut for
    large inputs differs at float32 rounding)"""
    a, b = promote(x1, x2)
    return _vector_norm(a[..., :, None, :] - b[..., None, :, :], p, -1, False)
