"""Indexing ATen ops: advanced indexing and its in-place writes, gather/scatter, masks,
embeddings, one_hot, searchsorted.

Out-of-range indices are clamped (reads) or dropped (writes) by XLA, where torch raises:
validate indices upstream when they come from data. A boolean index selects a number of
elements known only from the data (``x[mask]``): refused, as torch.export refuses
``nonzero``; a boolean index that writes (``x[mask] = v``) is a ``where`` and works.

torch: ``x[idx]``, ``x[idx] = v``, torch.gather, Tensor.scatter_, F.embedding, F.one_hot, ...
"""

from __future__ import annotations

import builtins

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl.aten.dtypes import default_int, is_tensor, normalize_dim, promote, to_array
from jaxdl.aten.registry import aten_op


def _concrete(x):
    try:
        return jax.core.concrete_or_error(None, x)
    except jax.errors.ConcretizationTypeError:
        return None


def _key(x, indices, what):
    """torch's ``indices`` list (None for a skipped dim) -> a numpy-style index tuple."""
    key = []
    for i, idx in enumerate(indices):
        if idx is None:
            key.append(builtins.slice(None))
            continue
        idx = to_array(idx)
        if idx.dtype == jnp.bool_ or idx.dtype == jnp.uint8:
            concrete = _concrete(idx)
            if concrete is None:
                raise ValueError(f"jaxdl.aten.{what}: boolean index {i} selects a data-dependent number of "
                                 "elements (torch's nonzero): use where/masked_fill instead, or index with "
                                 "a concrete mask")
            key.extend(jnp.nonzero(concrete.astype(bool)))
            continue
        key.append(idx)
    return tuple(key)


@aten_op("index")
@aten_op("_unsafe_index")
def index(self, indices):
    """torch: ``x[i0, i1, ...]`` with tensor indices (numpy's advanced indexing; ``None``
    keeps a dim)"""
    x = to_array(self)
    return x[_key(x, indices, "index")]


def _bool_put(x, mask, values, accumulate):
    """``x[mask] = values`` (or ``+=``) for a mask over x's leading dims: a where."""
    mask = to_array(mask).astype(bool)
    values = to_array(values).astype(x.dtype)
    trailing = x.ndim - mask.ndim
    if values.ndim > trailing:
        if values.size != 1:
            raise ValueError("jaxdl.aten.index_put: values for a boolean index must be one value or one per "
                             "trailing dim (x[mask] = v); a value per selected element needs the data-dependent "
                             "count of the mask")
        values = values.reshape(())
    m = mask.reshape(mask.shape + (1,) * trailing)
    if accumulate:
        return x + jnp.where(m, values, jnp.zeros((), x.dtype))
    return jnp.where(m, values, x)


@aten_op("index_put")
@aten_op("_unsafe_index_put")
@aten_op("_index_put_impl")
def index_put(self, indices, values, accumulate=False, unsafe=False):
    """torch: ``x[i0, i1, ...] = values`` (``accumulate=True``: ``+=``, duplicates summed)
    as a function returning the new ``x``."""
    x = to_array(self)
    bools = [i for i, idx in enumerate(indices) if idx is not None and to_array(idx).dtype == jnp.bool_]
    if bools and len(indices) == 1 and _concrete(to_array(indices[0])) is None:
        return _bool_put(x, indices[0], values, accumulate)
    key = _key(x, indices, "index_put")
    values = to_array(values).astype(x.dtype)
    return x.at[key].add(values) if accumulate else x.at[key].set(values)


def _scatter_index(index, axis):
    """Full index tuple for torch's scatter/gather: ``index`` along ``axis``, iota elsewhere."""
    index = to_array(index)
    return tuple(index if d == axis else lax.broadcasted_iota(jnp.int32, index.shape, d) for d in range(index.ndim))


@aten_op("gather")
def gather(self, dim, index, sparse_grad=False):
    """torch: torch.gather (``index`` may be smaller than ``self`` in the other dims)"""
    x = to_array(self)
    index = to_array(index)
    if x.ndim == 0:
        return x.reshape(index.shape)
    axis = normalize_dim(dim, x.ndim)
    return x[_scatter_index(index, axis)]


_SCATTER_REDUCE = {None: "set", "add": "add", "multiply": "multiply", "sum": "add", "prod": "multiply",
                   "amax": "max", "amin": "min"}


@aten_op("scatter")
def scatter(self, dim, index, src=None, value=None, reduce=None):
    """torch: Tensor.scatter(dim, index, src | value, reduce=None|'add'|'multiply')"""
    x = to_array(self)
    index = to_array(index)
    axis = normalize_dim(dim, x.ndim)
    if src is not None and is_tensor(src):
        updates = to_array(src).astype(x.dtype)
        updates = updates[tuple(builtins.slice(0, n) for n in index.shape)]
    else:
        updates = jnp.full(index.shape, src if src is not None else value, x.dtype)
    if reduce not in ("add", "multiply", None):
        raise ValueError(f"jaxdl.aten.scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
    ref = x.at[_scatter_index(index, axis)]
    return getattr(ref, _SCATTER_REDUCE[reduce])(updates)


@aten_op("scatter_add")
def scatter_add(self, dim, index, src):
    """torch: torch.scatter_add (duplicates summed)"""
    return scatter(self, dim, index, src, reduce="add")


@aten_op("scatter_reduce")
def scatter_reduce(self, dim, index, src, reduce, include_self=True):
    """torch: torch.scatter_reduce(reduce='sum'|'prod'|'mean'|'amax'|'amin', include_self)"""
    x = to_array(self)
    index = to_array(index)
    axis = normalize_dim(dim, x.ndim)
    src = to_array(src).astype(x.dtype)[tuple(builtins.slice(0, n) for n in index.shape)]
    key = _scatter_index(index, axis)
    if reduce == "mean":
        base = x if include_self else x.at[key].set(0)
        count = jnp.ones(x.shape, x.dtype) if include_self else jnp.ones(x.shape, x.dtype).at[key].set(0)
        total, count = base.at[key].add(src), count.at[key].add(1)
        count = jnp.maximum(count, 1)
        return total // count if jnp.issubdtype(x.dtype, jnp.integer) else total / count
    if reduce not in ("sum", "prod", "amax", "amin"):
        raise ValueError(f"jaxdl.aten.scatter_reduce: reduce must be sum, prod, mean, amax or amin, got {reduce!r}")
    op = _SCATTER_REDUCE[reduce]
    if not include_self:
        if op == "add":
            identity = 0
        elif op == "multiply":
            identity = 1
        elif jnp.issubdtype(x.dtype, jnp.inexact):
            identity = -jnp.inf if op == "max" else jnp.inf
        else:
            info = jnp.iinfo(x.dtype)
            identity = info.min if op == "max" else info.max
        x = x.at[key].set(identity)
    return getattr(x.at[key], op)(src)


@aten_op("index_select")
def index_select(self, dim, index):
    """torch: torch.index_select"""
    x = to_array(self)
    if x.ndim == 0:
        return x.reshape(to_array(index).reshape(-1).shape)
    return jnp.take(x, to_array(index).reshape(-1), axis=normalize_dim(dim, x.ndim))


def _along(x, dim, index):
    axis = normalize_dim(dim, x.ndim)
    return (builtins.slice(None),) * axis + (to_array(index).reshape(-1),)


@aten_op("index_add")
def index_add(self, dim, index, source, alpha=1):
    """torch: torch.index_add (duplicates summed)"""
    x = to_array(self)
    source = to_array(source).astype(x.dtype)
    return x.at[_along(x, dim, index)].add(source * alpha if alpha != 1 else source)


@aten_op("index_copy")
def index_copy(self, dim, index, source):
    """torch: torch.index_copy"""
    x = to_array(self)
    return x.at[_along(x, dim, index)].set(to_array(source).astype(x.dtype))


@aten_op("index_fill")
def index_fill(self, dim, index, value):
    """torch: torch.index_fill"""
    x = to_array(self)
    return x.at[_along(x, dim, index)].set(to_array(value).astype(x.dtype))


@aten_op("masked_fill")
def masked_fill(self, mask, value):
    """torch: Tensor.masked_fill (``value`` cast to ``self``'s dtype; ``mask`` broadcasts)"""
    x = to_array(self)
    return jnp.where(to_array(mask).astype(bool), to_array(value).astype(x.dtype), x)


@aten_op("masked_scatter")
def masked_scatter(self, mask, source):
    """torch: Tensor.masked_scatter: ``source``'s leading elements, in order, where ``mask``"""
    x = to_array(self)
    mask = jnp.broadcast_to(to_array(mask).astype(bool), x.shape)
    flat_mask = mask.reshape(-1)
    position = jnp.cumsum(flat_mask) - 1
    picked = to_array(source).astype(x.dtype).reshape(-1)[jnp.clip(position, 0, None)]
    return jnp.where(flat_mask, picked, x.reshape(-1)).reshape(x.shape)


@aten_op("take_along_dim")
def take_along_dim(self, indices, dim=None):
    """torch: torch.take_along_dim (broadcasts ``self`` and ``indices`` except along dim)"""
    x, idx = to_array(self), to_array(indices)
    if dim is None:
        return jnp.take_along_axis(x.reshape(-1), idx.reshape(-1), axis=0)
    axis = normalize_dim(dim, x.ndim)
    return jnp.take_along_axis(x, idx, axis=axis)


@aten_op("take")
def take(self, index):
    """torch: torch.take (indices into the flattened tensor; negative wrap)"""
    x = to_array(self).reshape(-1)
    idx = to_array(index)
    return x[jnp.where(idx < 0, idx + x.shape[0], idx)]


@aten_op("embedding")
def embedding(weight, indices, padding_idx=-1, scale_grad_by_freq=False, sparse=False):
    """torch: F.embedding / nn.Embedding: rows of ``weight``; no gradient reaches row
    ``padding_idx`` (-1: none, torch's encoding of None); ``scale_grad_by_freq`` divides
    each row's gradient by its count in ``indices``."""
    w = to_array(weight)
    idx = to_array(indices)
    out = jnp.take(w, idx, axis=0)
    if scale_grad_by_freq:
        counts = jnp.zeros(w.shape[0], w.dtype).at[idx.reshape(-1)].add(1)[idx][..., None]
        out = out + (out - lax.stop_gradient(out)) * (1 / counts - 1)
    if padding_idx is not None and padding_idx >= 0:
        out = jnp.where((idx == padding_idx)[..., None], lax.stop_gradient(out), out)
    return out


@aten_op("one_hot")
def one_hot(self, num_classes=-1):
    """torch: F.one_hot (int64 result; ``num_classes=-1`` reads max + 1 from the data: give it
    explicitly under jax.jit)"""
    x = to_array(self)
    if num_classes == -1:
        concrete = _concrete(x)
        if concrete is None:
            raise ValueError("jaxdl.aten.one_hot: num_classes=-1 takes the class count from the data; "
                             "pass num_classes under jax.jit")
        num_classes = int(concrete.max()) + 1
    return (x[..., None] == jnp.arange(num_classes, dtype=x.dtype)).astype(default_int())


@aten_op("searchsorted")
def searchsorted(sorted_sequence, self, out_int32=False, right=False, side=None, sorter=None):
    """torch: torch.searchsorted (per row for an N-d ``sorted_sequence``)"""
    seq = to_array(sorted_sequence)
    v = to_array(self)
    if sorter is not None:
        seq = jnp.take_along_axis(seq, to_array(sorter), axis=-1)
    side = side or ("right" if right else "left")
    seq, v = promote(seq, v)
    if seq.ndim <= 1:
        out = jnp.searchsorted(seq, v, side=side)
    else:
        out = jax.vmap(lambda s, q: jnp.searchsorted(s, q, side=side))(seq.reshape(-1, seq.shape[-1]),
                                                                       v.reshape(-1, v.shape[-1]))
        out = out.reshape(v.shape)
    return out.astype(jnp.int32 if out_int32 else default_int())


@aten_op("bucketize")
def bucketize(self, boundaries, out_int32=False, right=False):
    """torch: torch.bucketize"""
    return searchsorted(boundaries, self, out_int32, right)


@aten_op("isin")
def isin(elements=None, test_elements=None, assume_unique=False, invert=False, element=None, test_element=None):
    """torch: torch.isin"""
    e = to_array(elements if elements is not None else element)
    t = to_array(test_elements if test_elements is not None else test_element)
    return jnp.isin(e, t, invert=invert)
