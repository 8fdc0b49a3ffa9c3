"""Tensor creation ATen ops: arange, zeros/ones/full/empty and their ``*_like`` and
``new_*`` forms, linspace, logspace, eye, tril/triu and their index lists.

``layout``, ``device``, ``pin_memory`` and ``memory_format`` are accepted and ignored
(placement is JAX's business). ``empty`` gives zeros (torch leaves memory uninitialised).
The dtype a Python number implies is torch's: int64 (int32 here) for integers, float32
for floats, bool for bools.

torch: torch.arange, torch.zeros, torch.full, torch.linspace, torch.eye, torch.tril, ...
"""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np

from jaxdl.aten.dtypes import (
    as_dtype,
    default_float,
    default_int,
    is_int,
    is_tensor,
    result_type,
    to_array,
)
from jaxdl.aten.registry import aten_op


def _fill_dtype(value, dtype):
    if dtype is not None:
        return as_dtype(dtype)
    return result_type(value) if not is_tensor(value) else jnp.dtype(value.dtype)


@aten_op("arange")
def arange(start=0, end=None, step=1, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: torch.arange(start=0, end, step=1, dtype=None): int64 unless a bound is a
    float; values ``start + i * step`` computed in float64, as torch, then cast."""
    if end is None:
        start, end = 0, start
    bounds = [start, end, step]
    out_dtype = as_dtype(dtype) if dtype is not None else result_type(*bounds)
    if any(is_tensor(b) for b in bounds):
        bounds = [b.item() if is_tensor(b) else b for b in bounds]
        start, end, step = bounds
    if step == 0:
        raise ValueError("jaxdl.aten.arange: step must be nonzero")
    n = max(0, math.ceil((end - start) / step))
    if is_int(out_dtype) and all(isinstance(b, int) for b in bounds):
        return jnp.arange(start, start + n * step, step, dtype=out_dtype)[:n]
    return jnp.asarray(start + np.arange(n, dtype=np.float64) * step, dtype=out_dtype)


@aten_op("zeros")
def zeros(size, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: torch.zeros (float32 by default)"""
    return jnp.zeros(tuple(size), as_dtype(dtype) or default_float())


@aten_op("ones")
def ones(size, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: torch.ones"""
    return jnp.ones(tuple(size), as_dtype(dtype) or default_float())


@aten_op("empty")
def empty(size, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """torch: torch.empty (zeros here: JAX has no uninitialised memory)"""
    return zeros(size, dtype)


@aten_op("empty_strided")
def empty_strided(size, stride, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: torch.empty_strided (zeros; strides do not exist here)"""
    return zeros(size, dtype)


@aten_op("full")
def full(size, fill_value, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: torch.full (the dtype follows ``fill_value``: bool, int64, float32)"""
    return jnp.full(tuple(size), fill_value, _fill_dtype(fill_value, dtype))


@aten_op("scalar_tensor")
def scalar_tensor(s, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: torch.scalar_tensor (float32 by default)"""
    return jnp.asarray(s, as_dtype(dtype) or default_float())


def _like(self, dtype):
    x = to_array(self)
    return x.shape, as_dtype(dtype) or x.dtype


@aten_op("zeros_like")
def zeros_like(self, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """torch: torch.zeros_like"""
    return jnp.zeros(*_like(self, dtype))


@aten_op("ones_like")
def ones_like(self, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """torch: torch.ones_like"""
    return jnp.ones(*_like(self, dtype))


@aten_op("empty_like")
def empty_like(self, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """torch: torch.empty_like (zeros)"""
    return jnp.zeros(*_like(self, dtype))


@aten_op("full_like")
def full_like(self, fill_value, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None):
    """torch: torch.full_like (``self``'s dtype unless ``dtype``)"""
    shape, dt = _like(self, dtype)
    return jnp.full(shape, fill_value, dt)


def _new(self, size, dtype):
    return tuple(size), as_dtype(dtype) or jnp.dtype(self.dtype)


@aten_op("new_zeros")
def new_zeros(self, size, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: Tensor.new_zeros (``self``'s dtype unless ``dtype``)"""
    return jnp.zeros(*_new(self, size, dtype))


@aten_op("new_ones")
def new_ones(self, size, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: Tensor.new_ones"""
    return jnp.ones(*_new(self, size, dtype))


@aten_op("new_empty")
def new_empty(self, size, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: Tensor.new_empty (zeros)"""
    return jnp.zeros(*_new(self, size, dtype))


@aten_op("new_full")
def new_full(self, size, fill_value, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: Tensor.new_full"""
    shape, dt = _new(self, size, dtype)
    return jnp.full(shape, fill_value, dt)


def _scalar(x):
    return x.item() if is_tensor(x) else x


def linspace_values(start, end, steps, dtype) -> np.ndarray:
    """torch's linspace kernel in numpy: ``start + i * step`` for the first half, ``end -
    (steps - 1 - i) * step`` for the second, in the output dtype (float64 for integers)."""
    out_dtype = np.dtype(dtype)
    compute = np.dtype(np.float64) if is_int(out_dtype) else out_dtype
    if compute not in (np.float16, np.float32, np.float64):
        compute = np.dtype(np.float32)
    if steps == 1:
        return np.full((1,), start, out_dtype)
    s, e = compute.type(start), compute.type(end)
    step = (e - s) / compute.type(steps - 1)
    i = np.arange(steps)
    values = np.where(i < steps // 2, s + step * i.astype(compute), e - step * (steps - 1 - i).astype(compute))
    return values.astype(compute).astype(out_dtype)


@aten_op("linspace")
def linspace(start, end, steps, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: torch.linspace (torch's kernel, see linspace_values)"""
    out_dtype = as_dtype(dtype) or default_float()
    return jnp.asarray(linspace_values(_scalar(start), _scalar(end), steps, out_dtype))


@aten_op("logspace")
def logspace(start, end, steps, base=10.0, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: torch.logspace = base ** linspace(start, end)"""
    exponents = linspace_values(_scalar(start), _scalar(end), steps, np.float32).astype(np.float64)
    return jnp.asarray(np.power(base, exponents), as_dtype(dtype) or default_float())


@aten_op("eye")
def eye(n, m=None, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: torch.eye"""
    return jnp.eye(n, m, dtype=as_dtype(dtype) or default_float())


@aten_op("tril")
def tril(self, diagonal=0):
    """torch: torch.tril (on the last two dims)"""
    return jnp.tril(to_array(self), diagonal)


@aten_op("triu")
def triu(self, diagonal=0):
    """torch: torch.triu"""
    return jnp.triu(to_array(self), diagonal)


@aten_op("tril_indices")
def tril_indices(row, col, offset=0, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: torch.tril_indices -> (2, n) int64"""
    return jnp.asarray(np.stack(np.tril_indices(row, offset, col)), as_dtype(dtype) or default_int())


@aten_op("triu_indices")
def triu_indices(row, col, offset=0, dtype=None, layout=None, device=None, pin_memory=None):
    """torch: torch.triu_indices -> (2, n) int64"""
    return jnp.asarray(np.stack(np.triu_indices(row, offset, col)), as_dtype(dtype) or default_int())
