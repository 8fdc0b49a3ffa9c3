"""Sorting and selection: sort, argsort, topk, kthvalue, median, msort.

Sorts are stable (equal values keep their order; descending sorts too) and put NaN
where torch does: last ascending, first descending, as the largest value. Values are
gathered at the sorted indices, so gradients flow back to the elements they came from.

torch: torch.sort, torch.argsort, torch.topk, torch.kthvalue, torch.median.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from jaxdl.aten.dtypes import default_int, normalize_dim, to_array
from jaxdl.aten.registry import aten_op


def _argsort(x, axis, descending):
    """Stable argsort along ``axis``; descending keeps equal values in index order."""
    iota = lax.broadcasted_iota(jnp.int32, x.shape, axis)
    if not descending:
        return lax.sort((x, iota), dimension=axis, num_keys=1, is_stable=True)[1]
    # ascending on (x, -index), reversed: descending on x, ascending index among ties
    idx = lax.sort((x, -iota), dimension=axis, num_keys=2, is_stable=True)[1]
    return -jnp.flip(idx, axis)


def _sorted(self, dim, descending):
    x = to_array(self)
    if x.ndim == 0:
        normalize_dim(dim, 0)
        return x, jnp.zeros((), default_int()), None
    axis = normalize_dim(dim, x.ndim)
    idx = _argsort(x, axis, descending)
    return jnp.take_along_axis(x, idx, axis=axis), idx.astype(default_int()), axis


@aten_op("sort")
def sort(self, dim=-1, descending=False, stable=False):
    """torch: torch.sort(x, dim=-1, descending=False, stable=False) -> (values, indices)
    (always stable here)"""
    values, indices, _ = _sorted(self, dim, descending)
    return values, indices


@aten_op("argsort")
def argsort(self, dim=-1, descending=False, stable=False):
    """torch: torch.argsort (always stable here)"""
    return _sorted(self, dim, descending)[1]


@aten_op("msort")
def msort(self):
    """torch: torch.msort (sort along dim 0)"""
    return _sorted(self, 0, False)[0]


@aten_op("topk")
def topk(self, k, dim=-1, largest=True, sorted=True):
    """torch: torch.topk -> (values, indices): the k largest (smallest) along ``dim``,
    in sorted order (NaN counts as the largest; ties by index)."""
    values, indices, axis = _sorted(self, dim, largest)
    if axis is None:
        return values, indices
    return lax.slice_in_dim(values, 0, k, axis=axis), lax.slice_in_dim(indices, 0, k, axis=axis)


def _pick(values, indices, axis, position, keepdim):
    """The element at (possibly traced) ``position`` along ``axis`` of sorted arrays."""
    shape = values.shape[:axis] + (1,) + values.shape[axis + 1:]
    pos = jnp.asarray(position, jnp.int32)
    pos = jnp.broadcast_to(jnp.expand_dims(pos, axis) if pos.ndim else pos, shape)
    v = jnp.take_along_axis(values, pos, axis=axis)
    i = jnp.take_along_axis(indices, pos, axis=axis)
    if not keepdim:
        v, i = jnp.squeeze(v, axis), jnp.squeeze(i, axis)
    return v, i


@aten_op("kthvalue")
def kthvalue(self, k, dim=-1, keepdim=False):
    """torch: torch.kthvalue -> (values, indices): the k-th smallest (k from 1)"""
    values, indices, axis = _sorted(self, dim, False)
    if axis is None:
        return values, indices
    return _pick(values, indices, axis, k - 1, keepdim)


@aten_op("median")
def median(self, dim=None, keepdim=False):
    """torch: torch.median: the lower median (NaN if the slice holds a NaN); with ``dim``
    -> (values, indices)."""
    x = to_array(self)
    if dim is None:
        flat = jnp.sort(x.reshape(-1))
        out = flat[(flat.size - 1) // 2]
        return jnp.where(jnp.isnan(flat).any(), jnp.nan, out) if jnp.issubdtype(x.dtype, jnp.inexact) else out
    values, indices, axis = _sorted(x, dim, False)
    if axis is None:
        return values, indices
    v, i = _pick(values, indices, axis, (x.shape[axis] - 1) // 2, keepdim)
    if jnp.issubdtype(x.dtype, jnp.inexact):  # torch returns the first NaN when there is one
        has_nan = jnp.isnan(values).any(axis=axis, keepdims=keepdim)
        first_nan = jnp.argmax(jnp.isnan(x), axis=axis, keepdims=keepdim).astype(default_int())
        v, i = jnp.where(has_nan, jnp.nan, v), jnp.where(has_nan, first_nan, i)
    return v, i


@aten_op("nanmedian")
def nanmedian(self, dim=None, keepdim=False):
    """torch: torch.nanmedian: the lower median of the non-NaN values"""
    x = to_array(self)
    if dim is None:
        return nanmedian(x.reshape(-1), 0)[0]
    values, indices, axis = _sorted(x, dim, False)
    if axis is None:
        return values, indices
    count = jnp.sum(~jnp.isnan(values), axis=axis) if jnp.issubdtype(x.dtype, jnp.inexact) \
        else jnp.full(values.shape[:axis] + values.shape[axis + 1:], values.shape[axis])
    position = jnp.maximum(count - 1, 0) // 2
    return _pick(values, indices, axis, position, keepdim)
