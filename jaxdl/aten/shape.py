"""Shape ops on tensors in torch's layout: views and reshapes, permutes, expands, slices,
joins and splits, pads, and the ``*_scatter`` ops that write a changed view back into
its base (what an in-place op on a view becomes: ``x[:, :k].fill_(v)`` is
``slice_scatter(x, fill(slice(x, 1, 0, k), v), 1, 0, k)``).

Arrays are values here: a "view" is a new array, never an alias. ``as_strided`` reads
``self`` as if it were contiguous (row-major), which is what every array here is.

torch: Tensor.view, torch.permute, Tensor.expand, ``x[a:b]``, torch.cat, torch.split, F.pad, ...
"""

from __future__ import annotations

import builtins
import math

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl.aten.dtypes import as_dtype, is_tensor, normalize_dim, result_type, to_array
from jaxdl.aten.registry import aten_op


def _index(x, axis, key):
    return x[(builtins.slice(None),) * axis + (key,)]


# ---- views and reshapes

@aten_op("view")
def view(self, size=None, dtype=None):
    """torch: Tensor.view(*size) (-1 inferred) / Tensor.view(dtype) (a bit cast; a
    narrower or wider dtype changes the last dim, as torch)."""
    x = to_array(self)
    if dtype is not None or (size is not None and not isinstance(size, (list, tuple))):
        dtype = as_dtype(dtype if dtype is not None else size)
        old, new = x.dtype.itemsize, jnp.dtype(dtype).itemsize
        if new == old:
            return lax.bitcast_convert_type(x, dtype)
        if new < old:
            out = lax.bitcast_convert_type(x, dtype)  # (..., n) -> (..., n, old // new)
            return out.reshape(x.shape[:-1] + (x.shape[-1] * (old // new),))
        ratio = new // old
        return lax.bitcast_convert_type(x.reshape(x.shape[:-1] + (x.shape[-1] // ratio, ratio)), dtype)
    return jnp.reshape(x, tuple(size))


@aten_op("reshape")
def reshape(self, shape):
    """torch: torch.reshape"""
    return jnp.reshape(to_array(self), tuple(shape))


@aten_op("_unsafe_view")
def _unsafe_view(self, size):
    """torch: view after decomposition"""
    return jnp.reshape(to_array(self), tuple(size))


@aten_op("view_as")
def view_as(self, other):
    """torch: Tensor.view_as"""
    return jnp.reshape(to_array(self), other.shape)


@aten_op("reshape_as")
def reshape_as(self, other):
    """torch: Tensor.reshape_as"""
    return jnp.reshape(to_array(self), other.shape)


@aten_op("flatten")
def flatten(self, start_dim=0, end_dim=-1):
    """torch: torch.flatten (a 0-d tensor becomes shape (1,))"""
    x = to_array(self)
    if x.ndim == 0:
        return x.reshape(1)
    s, e = normalize_dim(start_dim, x.ndim), normalize_dim(end_dim, x.ndim)
    if s > e:
        raise ValueError(f"jaxdl.aten.flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return x.reshape(x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])


@aten_op("ravel")
def ravel(self):
    """torch: torch.ravel"""
    return to_array(self).reshape(-1)


@aten_op("unflatten")
def unflatten(self, dim, sizes):
    """torch: torch.unflatten (one size may be -1)"""
    x = to_array(self)
    d = normalize_dim(dim, x.ndim)
    sizes = list(sizes)
    if -1 in sizes:
        known = math.prod(s for s in sizes if s != -1)
        sizes[sizes.index(-1)] = x.shape[d] // known
    return x.reshape(x.shape[:d] + tuple(sizes) + x.shape[d + 1:])


@aten_op("squeeze")
def squeeze(self, dim=None):
    """torch: torch.squeeze(x, dim=None) (dims of size other than 1 are kept, no error)"""
    x = to_array(self)
    if dim is None:
        return jnp.squeeze(x)
    dims = [dim] if isinstance(dim, int) else list(dim)
    axes = tuple(d for d in (normalize_dim(d, x.ndim) for d in dims) if x.ndim and x.shape[d] == 1)
    return jnp.squeeze(x, axes) if axes else x


@aten_op("unsqueeze")
def unsqueeze(self, dim):
    """torch: torch.unsqueeze"""
    x = to_array(self)
    return jnp.expand_dims(x, normalize_dim(dim, x.ndim + 1))


@aten_op("permute")
def permute(self, dims):
    """torch: torch.permute"""
    x = to_array(self)
    return jnp.transpose(x, tuple(normalize_dim(d, x.ndim) for d in dims))


@aten_op("transpose")
@aten_op("swapdims")
def transpose(self, dim0, dim1):
    """torch: torch.transpose"""
    x = to_array(self)
    if x.ndim < 2:
        normalize_dim(dim0, x.ndim), normalize_dim(dim1, x.ndim)
        return x
    return jnp.swapaxes(x, normalize_dim(dim0, x.ndim), normalize_dim(dim1, x.ndim))


@aten_op("swapaxes")
def swapaxes(self, axis0, axis1):
    """torch: torch.swapaxes"""
    return transpose(self, axis0, axis1)


@aten_op("t")
def t(self):
    """torch: Tensor.t (at most 2-D)"""
    x = to_array(self)
    if x.ndim > 2:
        raise ValueError(f"jaxdl.aten.t: expects a tensor of at most 2 dims, got {x.ndim} (as torch); use transpose")
    return x.T


@aten_op("numpy_T")
def numpy_T(self):
    """torch: Tensor.T (every dim reversed)"""
    return to_array(self).T


@aten_op("mT")
def mT(self):
    """torch: Tensor.mT (the last two dims swapped)"""
    return jnp.swapaxes(to_array(self), -1, -2)


@aten_op("adjoint")
@aten_op("mH")
def adjoint(self):
    """torch: Tensor.mH / torch.adjoint"""
    return jnp.conj(mT(self))


@aten_op("movedim")
@aten_op("moveaxis")
def movedim(self, source, destination):
    """torch: torch.movedim"""
    return jnp.moveaxis(to_array(self), source, destination)


@aten_op("expand")
def expand(self, size, implicit=False):
    """torch: Tensor.expand (-1 keeps a dim; new dims in front)"""
    x = to_array(self)
    size = tuple(size)
    lead = len(size) - x.ndim
    if lead < 0:
        raise ValueError(f"jaxdl.aten.expand: the number of sizes ({len(size)}) must be at least the tensor's "
                         f"number of dims ({x.ndim})")
    shape = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(size))
    return jnp.broadcast_to(x, shape)


@aten_op("expand_as")
def expand_as(self, other):
    """torch: Tensor.expand_as"""
    return jnp.broadcast_to(to_array(self), other.shape)


@aten_op("broadcast_to")
def broadcast_to(self, size):
    """torch: torch.broadcast_to"""
    return expand(self, size)


@aten_op("broadcast_tensors")
def broadcast_tensors(tensors):
    """torch: torch.broadcast_tensors -> list"""
    return list(jnp.broadcast_arrays(*[to_array(t) for t in tensors]))


@aten_op("contiguous")
def contiguous(self, memory_format=None):
    """torch: Tensor.contiguous (arrays have no strides: the same values)"""
    return to_array(self)


@aten_op("clone")
def clone(self, memory_format=None):
    """torch: Tensor.clone (arrays are values: the same values)"""
    return to_array(self)


@aten_op("atleast_1d")
def atleast_1d(self=None, tensors=None):
    """torch: torch.atleast_1d"""
    return jnp.atleast_1d(to_array(self)) if tensors is None else [jnp.atleast_1d(to_array(t)) for t in tensors]


@aten_op("atleast_2d")
def atleast_2d(self=None, tensors=None):
    """torch: torch.atleast_2d"""
    return jnp.atleast_2d(to_array(self)) if tensors is None else [jnp.atleast_2d(to_array(t)) for t in tensors]


@aten_op("atleast_3d")
def atleast_3d(self=None, tensors=None):
    """torch: torch.atleast_3d"""
    return jnp.atleast_3d(to_array(self)) if tensors is None else [jnp.atleast_3d(to_array(t)) for t in tensors]


@aten_op("view_as_real")
def view_as_real(self):
    """torch: torch.view_as_real (a new last dim: real, imaginary)"""
    x = to_array(self)
    return jnp.stack([jnp.real(x), jnp.imag(x)], axis=-1)


@aten_op("view_as_complex")
def view_as_complex(self):
    """torch: torch.view_as_complex"""
    x = to_array(self)
    return lax.complex(x[..., 0], x[..., 1])


@aten_op("as_strided")
def as_strided(self, size, stride, storage_offset=None):
    """torch: torch.as_strided, reading ``self`` as contiguous (row-major) storage"""
    flat = to_array(self).reshape(-1)
    idx = jnp.asarray(storage_offset or 0, jnp.int32)
    for i, (n, s) in enumerate(zip(size, stride)):
        shape = [1] * len(size)
        shape[i] = n
        idx = idx + (jnp.arange(n, dtype=jnp.int32) * s).reshape(shape)
    return flat[jnp.broadcast_to(idx, tuple(size))]


@aten_op("as_strided_scatter")
def as_strided_scatter(self, src, size, stride, storage_offset=None):
    """torch: torch.as_strided_scatter (``self`` read as contiguous storage)"""
    x = to_array(self)
    idx = as_strided(jnp.arange(x.size, dtype=jnp.int32).reshape(x.shape), size, stride, storage_offset)
    return x.reshape(-1).at[idx.reshape(-1)].set(to_array(src, x.dtype).reshape(-1)).reshape(x.shape)


# ---- slicing

def _slice_key(n, start, end, step):
    if step <= 0:
        raise ValueError(f"jaxdl.aten.slice: step must be positive, got {step} (as torch)")
    return builtins.slice(start, end, step)


@aten_op("slice")
def slice_(self, dim=0, start=None, end=None, step=1):
    """torch: ``x[..., start:end:step]`` along ``dim`` (bounds clamped, negatives wrap)"""
    x = to_array(self)
    d = normalize_dim(dim, x.ndim)
    return _index(x, d, _slice_key(x.shape[d], start, end, step))


@aten_op("slice_scatter")
def slice_scatter(self, src, dim=0, start=None, end=None, step=1):
    """torch: torch.slice_scatter: ``self`` with ``self[..., start:end:step] = src``"""
    x = to_array(self)
    d = normalize_dim(dim, x.ndim)
    key = (builtins.slice(None),) * d + (_slice_key(x.shape[d], start, end, step),)
    return x.at[key].set(to_array(src).astype(x.dtype))


def _dynamic(index):
    return is_tensor(index) or not isinstance(index, int)


@aten_op("select")
def select(self, dim, index):
    """torch: ``x[..., index]`` along ``dim`` (negative from the end; a traced index is a
    dynamic index)"""
    x = to_array(self)
    d = normalize_dim(dim, x.ndim)
    if _dynamic(index):
        index = jnp.asarray(index)
        return lax.dynamic_index_in_dim(x, jnp.where(index < 0, index + x.shape[d], index), d, keepdims=False)
    if not -x.shape[d] <= index < x.shape[d]:
        raise IndexError(f"jaxdl.aten.select: index {index} out of range for dim {dim} of size {x.shape[d]}")
    return _index(x, d, index)


@aten_op("select_scatter")
def select_scatter(self, src, dim, index):
    """torch: torch.select_scatter: ``self`` with ``self[..., index] = src``"""
    x = to_array(self)
    d = normalize_dim(dim, x.ndim)
    src = to_array(src).astype(x.dtype)
    if _dynamic(index):
        index = jnp.asarray(index)
        index = jnp.where(index < 0, index + x.shape[d], index)
        return lax.dynamic_update_index_in_dim(x, jnp.expand_dims(src, d), index, d)
    return x.at[(builtins.slice(None),) * d + (index,)].set(src)


@aten_op("narrow")
def narrow(self, dim, start, length):
    """torch: torch.narrow (``start`` may be a tensor)"""
    x = to_array(self)
    d = normalize_dim(dim, x.ndim)
    if _dynamic(start):
        start = jnp.asarray(start)
        return lax.dynamic_slice_in_dim(x, jnp.where(start < 0, start + x.shape[d], start), length, d)
    start = start + x.shape[d] if start < 0 else start
    return lax.slice_in_dim(x, start, start + length, axis=d)


@aten_op("diagonal")
def diagonal(self, offset=0, dim1=0, dim2=1):
    """torch: torch.diagonal (the diagonal becomes the last dim)"""
    x = to_array(self)
    return jnp.diagonal(x, offset, normalize_dim(dim1, x.ndim), normalize_dim(dim2, x.ndim))


@aten_op("diagonal_scatter")
def diagonal_scatter(self, src, offset=0, dim1=0, dim2=1):
    """torch: torch.diagonal_scatter"""
    x = to_array(self)
    idx = diagonal(jnp.arange(x.size, dtype=jnp.int32).reshape(x.shape), offset, dim1, dim2)
    return x.reshape(-1).at[idx.reshape(-1)].set(to_array(src, x.dtype).reshape(-1)).reshape(x.shape)


@aten_op("diag")
def diag(self, diagonal=0):
    """torch: torch.diag (vector -> matrix, matrix -> vector)"""
    return jnp.diag(to_array(self), diagonal)


@aten_op("diag_embed")
def diag_embed(self, offset=0, dim1=-2, dim2=-1):
    """torch: torch.diag_embed"""
    x = to_array(self)
    n = x.shape[-1] + abs(offset)
    eye = jnp.eye(n, k=offset, dtype=bool)
    rows = jnp.arange(n) if offset >= 0 else jnp.arange(n) + offset
    vals = jnp.take(x, jnp.clip(rows, 0, x.shape[-1] - 1), axis=-1)  # value of row i's diagonal entry
    out = jnp.where(eye, vals[..., :, None], jnp.zeros((), x.dtype))
    nd = out.ndim
    d1, d2 = normalize_dim(dim1, nd), normalize_dim(dim2, nd)
    return jnp.moveaxis(out, (nd - 2, nd - 1), (d1, d2))


# ---- joins and splits

@aten_op("cat")
@aten_op("concat")
@aten_op("concatenate")
def cat(tensors, dim=0):
    """torch: torch.cat (type promotion across the inputs; torch's legacy 1-d empty
    tensors are skipped)"""
    arrays = [to_array(t) for t in tensors]
    dtype = result_type(*arrays)
    kept = [a for a in arrays if not (a.ndim == 1 and a.shape[0] == 0)] or arrays[:1]
    return jnp.concatenate([a.astype(dtype) for a in kept], axis=normalize_dim(dim, kept[0].ndim))


@aten_op("stack")
def stack(tensors, dim=0):
    """torch: torch.stack"""
    arrays = [to_array(t) for t in tensors]
    dtype = result_type(*arrays)
    return jnp.stack([a.astype(dtype) for a in arrays], axis=normalize_dim(dim, arrays[0].ndim + 1))


@aten_op("hstack")
def hstack(tensors):
    """torch: torch.hstack"""
    arrays = [jnp.atleast_1d(to_array(t)) for t in tensors]
    return cat(arrays, 0 if arrays[0].ndim == 1 else 1)


@aten_op("vstack")
@aten_op("row_stack")
def vstack(tensors):
    """torch: torch.vstack"""
    return cat([jnp.atleast_2d(to_array(t)) for t in tensors], 0)


@aten_op("dstack")
def dstack(tensors):
    """torch: torch.dstack"""
    return cat([jnp.atleast_3d(to_array(t)) for t in tensors], 2)


@aten_op("column_stack")
def column_stack(tensors):
    """torch: torch.column_stack"""
    return jnp.column_stack([to_array(t) for t in tensors])


def _split_at(x, axis, sizes):
    out, start = [], 0
    for s in sizes:
        out.append(lax.slice_in_dim(x, start, start + s, axis=axis))
        start += s
    if start != x.shape[axis]:
        raise ValueError(f"jaxdl.aten.split: sizes {list(sizes)} sum to {start}, not to the dim's size "
                         f"{x.shape[axis]}")
    return out


@aten_op("split")
def split(self, split_size=None, dim=0, split_sizes=None):
    """torch: torch.split(x, split_size or [sizes], dim) -> list (the last chunk may be smaller)"""
    x = to_array(self)
    d = normalize_dim(dim, x.ndim)
    size = split_sizes if split_sizes is not None else split_size
    if isinstance(size, (list, tuple)):
        return _split_at(x, d, size)
    n = x.shape[d]
    if n == 0:
        return [x]
    return _split_at(x, d, [min(size, n - i) for i in range(0, n, size)])


@aten_op("split_with_sizes")
def split_with_sizes(self, split_sizes, dim=0):
    """torch: torch.split(x, [sizes], dim)"""
    x = to_array(self)
    return _split_at(x, normalize_dim(dim, x.ndim), split_sizes)


@aten_op("chunk")
def chunk(self, chunks, dim=0):
    """torch: torch.chunk (chunks of ceil(n / chunks): possibly fewer than ``chunks``)"""
    x = to_array(self)
    n = x.shape[normalize_dim(dim, x.ndim)]
    return split(x, max(1, -(-n // chunks)), dim)


@aten_op("tensor_split")
def tensor_split(self, sections=None, dim=0, indices=None, tensor_indices_or_sections=None):
    """torch: torch.tensor_split (numpy's array_split)"""
    x = to_array(self)
    d = normalize_dim(dim, x.ndim)
    spec = next(s for s in (sections, indices, tensor_indices_or_sections) if s is not None)
    if is_tensor(spec):
        spec = spec.tolist()
    return jnp.array_split(x, spec, axis=d)


@aten_op("unbind")
def unbind(self, dim=0):
    """torch: torch.unbind -> list"""
    x = to_array(self)
    d = normalize_dim(dim, x.ndim)
    return [_index(x, d, i) for i in range(x.shape[d])]


@aten_op("meshgrid")
def meshgrid(tensors, indexing="ij"):
    """torch: torch.meshgrid (indexing 'ij' by default, as torch)"""
    return list(jnp.meshgrid(*[to_array(t) for t in tensors], indexing=indexing))


@aten_op("cartesian_prod")
def cartesian_prod(tensors):
    """torch: torch.cartesian_prod"""
    grids = meshgrid(tensors)
    if len(grids) == 1:
        return grids[0]
    return jnp.stack([g.reshape(-1) for g in grids], axis=1)


@aten_op("block_diag")
def block_diag(tensors):
    """torch: torch.block_diag"""
    arrays = [to_array(t) for t in tensors]
    dtype = result_type(*arrays)
    return jax.scipy.linalg.block_diag(*[jnp.atleast_2d(a).astype(dtype) for a in arrays])


# ---- reorderings

@aten_op("flip")
def flip(self, dims):
    """torch: torch.flip"""
    x = to_array(self)
    return jnp.flip(x, tuple(normalize_dim(d, x.ndim) for d in dims)) if dims else x


@aten_op("roll")
def roll(self, shifts, dims=()):
    """torch: torch.roll (no dims: over the flattened tensor)"""
    x = to_array(self)
    if not dims:
        return jnp.roll(x, shifts if isinstance(shifts, int) else tuple(shifts))
    return jnp.roll(x, tuple(shifts) if not isinstance(shifts, int) else shifts,
                    tuple(dims) if not isinstance(dims, int) else dims)


@aten_op("rot90")
def rot90(self, k=1, dims=(0, 1)):
    """torch: torch.rot90"""
    return jnp.rot90(to_array(self), k, axes=tuple(dims))


@aten_op("repeat")
def repeat(self, repeats):
    """torch: Tensor.repeat (numpy's tile)"""
    return jnp.tile(to_array(self), tuple(repeats))


@aten_op("tile")
def tile(self, dims):
    """torch: torch.tile"""
    return jnp.tile(to_array(self), tuple(dims))


@aten_op("repeat_interleave")
def repeat_interleave(self=None, repeats=None, dim=None, output_size=None):
    """torch: torch.repeat_interleave. Repeats given as a tensor set the output's size
    from their values: under jax.jit pass ``output_size`` (torch's argument)."""
    if self is None:  # repeat_interleave(repeats): index i repeated repeats[i] times
        r = to_array(repeats)
        return jnp.repeat(jnp.arange(r.shape[0], dtype=jnp.int32), r, total_repeat_length=output_size)
    x = to_array(self)
    if dim is None:
        x, dim = x.reshape(-1), 0
    reps = repeats if isinstance(repeats, int) else to_array(repeats)
    if not isinstance(reps, int) and reps.size == 1:
        reps = reps.reshape(())
        if output_size is None:
            reps = int(reps)
    return jnp.repeat(x, reps, axis=normalize_dim(dim, x.ndim), total_repeat_length=output_size)


@aten_op("diff")
def diff(self, n=1, dim=-1, prepend=None, append=None):
    """torch: torch.diff (bool tensors: logical xor of neighbours)"""
    x = to_array(self)
    axis = normalize_dim(dim, x.ndim)
    parts = [to_array(p) for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = cat(parts, axis)
    return jnp.diff(x, n=n, axis=axis)


@aten_op("unfold")
def unfold(self, dimension, size, step):
    """torch: Tensor.unfold(dimension, size, step): windows along ``dimension``, each
    window a new last dim."""
    x = to_array(self)
    if x.ndim == 0:
        return x.reshape(1)
    d = normalize_dim(dimension, x.ndim)
    count = (x.shape[d] - size) // step + 1
    idx = jnp.arange(count)[:, None] * step + jnp.arange(size)[None, :]
    windows = jnp.take(x, idx, axis=d)  # dims: ..., count, size, ...
    return jnp.moveaxis(windows, d + 1, -1)


@aten_op("channel_shuffle")
@aten_op("native_channel_shuffle")
def channel_shuffle(self, groups):
    """torch: nn.ChannelShuffle / F.channel_shuffle (NCHW)"""
    x = to_array(self)
    n, c = x.shape[:2]
    return x.reshape((n, groups, c // groups) + x.shape[2:]).swapaxes(1, 2).reshape(x.shape)


# ---- padding

def _pad_pairs(ndim, pad):
    """torch's flat pad list (last dim first) -> per-dim (low, high)."""
    if len(pad) % 2 or len(pad) // 2 > ndim:
        raise ValueError(f"jaxdl.aten.pad: pad must have an even length of at most 2 * ndim ({2 * ndim}), "
                         f"got {list(pad)}")
    pairs = [(0, 0)] * ndim
    for i in range(len(pad) // 2):
        pairs[ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    return pairs


@aten_op("constant_pad_nd")
def constant_pad_nd(self, pad, value=0):
    """torch: F.pad(mode='constant') (negative pads crop)"""
    x = to_array(self)
    pairs = _pad_pairs(x.ndim, pad)
    return lax.pad(x, jnp.asarray(value, x.dtype), [(lo, hi, 0) for lo, hi in pairs])


_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def _pad(x, pad, mode, value):
    if mode == "constant":
        return constant_pad_nd(x, pad, 0 if value is None else value)
    if mode not in _MODES:
        raise ValueError(f"jaxdl.aten.pad: mode must be constant, reflect, replicate or circular, got {mode!r}")
    x = to_array(x)
    return jnp.pad(x, _pad_pairs(x.ndim, pad), mode=_MODES[mode])


@aten_op("pad")
def pad(self, pad, mode="constant", value=None):
    """torch: F.pad(x, pad, mode='constant'|'reflect'|'replicate'|'circular', value)"""
    return _pad(self, pad, mode, value)


@aten_op("_pad_circular")
def _pad_circular(self, pad):
    """torch: F.pad(mode='circular')"""
    return _pad(self, pad, "circular", None)


def _mode_pad(mode, dims):
    def op(self, padding):
        if len(padding) != 2 * dims:
            raise ValueError(f"jaxdl.aten: padding must have {2 * dims} values, got {list(padding)}")
        return _pad(self, padding, mode, None)

    name = f"{'reflection' if mode == 'reflect' else 'replication'}_pad{dims}d"
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch: F.pad(mode={mode!r}) on {dims}-d spatial input"
    return aten_op(name)(op)


for _dims in (1, 2, 3):
    _mode_pad("reflect", _dims)
    _mode_pad("replicate", _dims)
