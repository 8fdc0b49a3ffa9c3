"""The table of jaxdl.aten's ops by ATen name, and the ops the porter needs no function for.

``@aten_op("upsample_bilinear2d")`` registers a function under the overload-free ATen
name (one function serves every overload of that name); registering a name twice
raises at import. ``get(name)`` finds the function for an ATen name, also for an
in-place name (``relu_``, ``__iand__``): the function returns the value ``self`` holds
afterwards, and the caller rebinds ``self`` (and writes it back into the tensor it views,
e.g. with ``slice_scatter``). ``names()`` lists the registered names.

The attribute of ``jaxdl.aten`` that holds a function is its ATen name, unless that is a
Python keyword or one of the package's own names (``get``, ``names``, ``registry``, a
family module): then it gets a trailing underscore; ``python_name(name)`` says which.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable

__all__ = ["TRIVIAL", "aten_op", "functional_name", "get", "names", "python_name"]

_OPS: dict[str, Callable] = {}
_PYTHON_NAMES: dict[str, str] = {}

# names that jaxdl.aten's namespace already uses (its API and its family modules)
RESERVED = frozenset({
    "get", "names", "python_name", "functional_name", "registry", "TRIVIAL", "aten_op", "dtypes",
    "activation", "attention", "conv", "creation", "elementwise", "indexing", "linalg", "loss",
    "normalization", "pooling", "recurrent", "reduction", "sampling", "shape", "sorting", "stochastic", "table",
})

# Ops the porter handles itself, without a jaxdl.aten function: name -> why.
TRIVIAL: dict[str, str] = {
    "_assert_tensor_metadata": "a check torch.export adds on an input's dtype/shape; no value",
    "_assert_scalar": "a check on a symbolic size torch.export adds; no value",
    "_assert_async": "a runtime assertion on a tensor's value; no value",
    "sym_constrain_range": "a range hint on a symbolic size; no value",
    "sym_constrain_range_for_size": "a range hint on a symbolic size; no value",
    "_check_is_size": "a range hint on a symbolic size; no value",
    "sym_size": "x.shape[dim]: a Python int in the generated code",
    "sym_numel": "x.size (a Python int) in the generated code",
    "sym_stride": "strides do not exist in JAX; only as_strided reads them, and it takes them as arguments",
    "sym_storage_offset": "storage offsets do not exist in JAX",
    "alias": "the same value under another name",
    "lift_fresh_copy": "a constant tensor captured from the forward: the porter emits it as an array",
    "lift_fresh": "a constant tensor captured from the forward: the porter emits it as an array",
    "_set_grad_enabled": "a context switch of autograd: JAX differentiates what jax.grad asks for",
    "set_grad_enabled": "a context switch of autograd: JAX differentiates what jax.grad asks for",
    "_enter_autocast": "autocast regions: the porter runs them at the declared dtype",
    "_exit_autocast": "autocast regions: the porter runs them at the declared dtype",
    "requires_grad_": "marks a tensor for autograd: no value",
    "retain_grad": "autograd bookkeeping: no value",
    "record_stream": "CUDA stream bookkeeping: no value",
    "_local_scalar_dense": "tensor.item(): a data-dependent Python number; torch.export refuses it without hints",
    "item": "tensor.item(): a data-dependent Python number; torch.export refuses it without hints",
    "nonzero": "data-dependent output shape; torch.export refuses it without size hints",
    "unique": "data-dependent output shape; torch.export refuses it without size hints",
    "masked_select": "data-dependent output shape; torch.export refuses it without size hints",
    "resize_": "changes a tensor's storage in place; no functional counterpart",
}


def functional_name(name: str) -> str:
    """The out-of-place ATen name of ``name``: ``relu_`` -> ``relu``, ``__iand__`` ->
    ``__and__``; other names are returned unchanged."""
    if name.startswith("__i") and name.endswith("__") and len(name) > 5:
        return "__" + name[3:]
    if name.endswith("_") and not name.endswith("__") and name[:-1] in _OPS:
        return name[:-1]
    return name


def aten_op(name: str) -> Callable[[Callable], Callable]:
    """Register the decorated function as the implementation of ATen op ``name`` (the
    name without its overload: ``upsample_bilinear2d``, not ``upsample_bilinear2d.vec``)."""

    def register(fn: Callable) -> Callable:
        if name in _OPS:
            raise ValueError(f"jaxdl.aten: op {name!r} registered twice ({_OPS[name].__module__}."
                             f"{_OPS[name].__qualname__} and {fn.__module__}.{fn.__qualname__}); "
                             "one function serves all overloads of a name")
        if name in TRIVIAL:
            raise ValueError(f"jaxdl.aten: op {name!r} is listed as TRIVIAL and cannot also be registered")
        _OPS[name] = fn
        _PYTHON_NAMES[name] = name + "_" if keyword.iskeyword(name) or name in RESERVED else name
        return fn

    return register


def get(name: str) -> Callable | None:
    """The function for ATen op ``name`` (overload-free, in-place names allowed), or None."""
    return _OPS.get(name) or _OPS.get(functional_name(name))


def python_name(name: str) -> str | None:
    """The attribute of ``jaxdl.aten`` that holds ``get(name)``, or None."""
    return _PYTHON_NAMES.get(name) or _PYTHON_NAMES.get(functional_name(name))


def names() -> list[str]:
    """The registered ATen names, sorted."""
    return sorted(_OPS)


def table() -> dict[str, Callable]:
    """{python_name: function} for every registered op (what ``jaxdl.aten`` exports)."""
    return {_PYTHON_NAMES[n]: f for n, f in _OPS.items()}
