"""What the layer families share: torch's int-or-tuple arguments, and the input check
that names the expected shape."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp


def ntuple(v: int | Sequence[int], n: int, name: str = "argument") -> tuple[int, ...]:
    """torch's int-or-tuple argument as an n-tuple (``_ntuple``): 3 -> (3, 3)."""
    if isinstance(v, int):
        return (v,) * n
    v = tuple(int(a) for a in v)
    if len(v) == 1:
        return v * n
    if len(v) != n:
        raise ValueError(f"{name} takes an int or {n} numbers, got {v}")
    return v


def pair(v: int | Sequence[int]) -> tuple[int, int]:
    return ntuple(v, 2)  # type: ignore[return-value]


def check_input(x: jax.Array, tail: Sequence[int | None], where: str, hint: str = "") -> None:
    """Raise a ValueError naming the expected shape when ``x.shape[1:]`` does not fit ``tail``.

    Shapes are static under jit, so this fires while tracing, before compilation.
    ``None`` in ``tail`` matches any size.
    """
    shape = tuple(x.shape)
    ok = len(shape) == len(tail) + 1 and all(t is None or t == s for t, s in zip(tail, shape[1:]))
    if not ok:
        want = "(N, " + ", ".join("*" if t is None else str(t) for t in tail) + ")"
        raise ValueError(f"{where} expects input of shape {want}, got {shape}. {hint}".rstrip())
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{where} expects a floating-point input, got dtype {x.dtype}; "
                        "convert with x.astype(jnp.float32) (torch: .float()).")
