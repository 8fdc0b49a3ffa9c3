"""torch's dtype rules on JAX arrays: dtype arguments, type promotion, dims.

Without ``jax_enable_x64`` (jaxdl never turns it on) int64 is int32 and float64 is
float32: torch's ``long`` results are int32 arrays here.
"""

from __future__ import annotations

import builtins
import operator

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["as_dtype", "default_float", "default_int", "is_float", "is_int", "is_tensor", "normalize_dim",
           "normalize_dims", "promote", "result_type", "to_array"]


# torch's ScalarType enum (what a schema default such as ``dtype=4`` means)
SCALAR_TYPES = {0: "uint8", 1: "int8", 2: "int16", 3: "int32", 4: "int64", 5: "float16", 6: "float32",
                7: "float64", 9: "complex64", 10: "complex128", 11: "bool", 15: "bfloat16"}


def as_dtype(dtype) -> np.dtype | None:
    """A dtype argument as JAX's canonical dtype: None, a numpy/JAX dtype, a name
    (``"float32"``, ``"torch.int64"``), a ``torch.dtype`` (read through its name) or a
    ScalarType number (a schema default: 4 is int64)."""
    if dtype is None:
        return None
    if isinstance(dtype, int) and not isinstance(dtype, bool):
        dtype = SCALAR_TYPES[dtype]
    if not isinstance(dtype, (str, np.dtype, type)):
        dtype = str(dtype)  # torch.float32 -> 'torch.float32'
    if isinstance(dtype, str):
        dtype = dtype.removeprefix("torch.")
        dtype = {"float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
                 "short": "int16", "cfloat": "complex64", "cdouble": "complex128"}.get(dtype, dtype)
    return jax.dtypes.canonicalize_dtype(jnp.dtype(dtype))


def default_float() -> np.dtype:
    return jax.dtypes.canonicalize_dtype(jnp.float32)


def default_int() -> np.dtype:
    """torch's int64, as JAX holds it (int32 without x64)."""
    return jax.dtypes.canonicalize_dtype(jnp.int64)


def is_tensor(x) -> bool:
    return hasattr(x, "dtype") and hasattr(x, "shape")


def is_float(dtype) -> bool:
    return jnp.issubdtype(dtype, jnp.inexact)


def is_int(dtype) -> bool:
    """Integral or bool (what torch calls ``is_floating_point() == False`` and not complex)."""
    return jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.bool_)


def _category(dtype) -> int:
    if jnp.issubdtype(dtype, jnp.bool_):
        return 0
    if jnp.issubdtype(dtype, jnp.integer):
        return 1
    if jnp.issubdtype(dtype, jnp.floating):
        return 2
    return 3


def _scalar_dtype(x) -> np.dtype:
    if isinstance(x, bool):
        return np.dtype(bool)
    if isinstance(x, int):
        return default_int()
    if isinstance(x, float):
        return default_float()
    if isinstance(x, complex):
        return jax.dtypes.canonicalize_dtype(jnp.complex64)
    raise TypeError(f"jaxdl.aten: expected a tensor or a Python number, got {type(x).__name__}")


def _promote_all(dtypes):
    out = None
    for d in dtypes:
        out = d if out is None else jnp.promote_types(out, d)
    return out


def _combine(higher, lower):
    """torch's ``combine_categories`` (c10/core/ScalarType: ResultTypeState)."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if _category(higher) == 3:
        return higher
    if _category(lower) == 3:
        if _category(higher) == 2:  # keep the float's width: float16 + 1j -> complex32 in torch
            return jnp.promote_types(higher, jnp.complex64)
        return lower
    if _category(higher) == 2:
        return higher
    if _category(higher) == 0 or _category(lower) == 2:
        return jnp.promote_types(higher, lower)
    return higher


def result_type(*operands) -> np.dtype:
    """torch's result dtype of ``operands`` (tensors, 0-d tensors, Python numbers; None
    ignored): dimensioned tensors win within a category; a 0-d tensor or a Python number
    only raises the category (int tensor + 2.5 -> float32; float16 tensor + 0-d float32
    tensor -> float16)."""
    dims, zeros, scalars = [], [], []
    for x in operands:
        if x is None:
            continue
        if is_tensor(x):
            (dims if np.ndim(x) else zeros).append(jnp.dtype(x.dtype))
        else:
            scalars.append(_scalar_dtype(x))
    wrapped = None
    if scalars:  # Python numbers: the default dtype of their highest category
        wrapped = builtins.max(scalars, key=_category)
    out = _combine(_promote_all(dims), _combine(_promote_all(zeros), wrapped))
    return jax.dtypes.canonicalize_dtype(out)


def to_array(x, dtype=None) -> jax.Array:
    """``x`` (array or Python number) as a JAX array of ``dtype``."""
    if is_tensor(x) and (dtype is None or x.dtype == dtype):
        return jnp.asarray(x)
    return jnp.asarray(x, dtype=dtype)


def promote(*operands, float_result=False) -> list[jax.Array]:
    """``operands`` as arrays of their torch result dtype (or the default float dtype when
    ``float_result`` and the result would be integral)."""
    dtype = result_type(*operands)
    if float_result and is_int(dtype):
        dtype = default_float()
    return [to_array(x, dtype) for x in operands]


def normalize_dim(dim, ndim: int) -> int:
    """A torch dim (negative counts from the end; a 0-d tensor accepts 0 and -1)."""
    dim = operator.index(dim)
    n = builtins.max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"jaxdl.aten: dim {dim} out of range for a {ndim}-d tensor (expected [-{n}, {n - 1}])")
    return dim % n if ndim else 0


def normalize_dims(dim, ndim: int) -> tuple[int, ...]:
    """dims of a reduction: None or ``[]`` means every dim (torch's ``sum(x, dim=[])``)."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = [dim]
    if len(dim) == 0:
        return tuple(range(ndim))
    if not ndim:
        for d in dim:
            normalize_dim(d, 0)
        return ()
    return tuple(sorted({normalize_dim(d, ndim) for d in dim}))
