"""Pytree paths as dotted names (``'params.conv1.kernel'``), and comparing two trees by them.

Shared by freezing (``jaxdl.optim.freeze``), checkpoint restore and weight conversion,
so that every "does not fit" error lists entries the same way.
"""

from __future__ import annotations

from typing import Any

import jax


def path_str(path) -> str:
    """A jax key path -> ``'a.b.0.c'`` (dict keys, attributes and indices alike)."""
    parts = []
    for k in path:
        for attr in ("key", "idx", "name"):
            if hasattr(k, attr):
                parts.append(str(getattr(k, attr)))
                break
        else:
            parts.append(str(k))
    return ".".join(parts)


def is_prng_key(x) -> bool:
    """A typed PRNG key array (``jax.random.key``; dropout's RNG state): no NumPy form, so
    saving or moving it between processes goes through ``jax.random.key_data``."""
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def paths(tree: Any) -> list[str]:
    return [path_str(p) for p, _ in jax.tree_util.tree_flatten_with_path(tree)[0]]


def shapes(tree: Any) -> dict[str, tuple]:
    """{dotted path: shape} of every leaf."""
    return {path_str(p): tuple(getattr(v, "shape", ())) for p, v in jax.tree_util.tree_flatten_with_path(tree)[0]}


def describe_mismatch(found: dict[str, tuple], expected: dict[str, tuple], *, show: int | None = None) -> str:
    """'missing: ...; unexpected: ...; wrong shape: ...' between two {path: shape} maps,
    or '' when they agree. ``show``: list at most that many of each kind, then
    'and N more' (a model with thousands of keys stays readable)."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(found) & set(expected) if tuple(found[k]) != tuple(expected[k]))

    def listed(items: list[str]) -> str:
        if show is None or len(items) <= show:
            return ", ".join(items)
        return ", ".join(items[:show]) + f" and {len(items) - show} more"

    parts = []
    if missing:
        parts.append("missing: " + listed(missing))
    if unexpected:
        parts.append("unexpected: " + listed(unexpected))
    if wrong:
        parts.append("wrong shape: " + listed([f"{k} found {tuple(found[k])} expected {tuple(expected[k])}"
                                               for k in wrong]))
    return "; ".join(parts)
