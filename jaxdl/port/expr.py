"""Python expressions of the generated code, as ``ast`` trees.

A value of the captured graph is referred to by :func:`V` (``_v__<name>``) until the
statements are written (:mod:`jaxdl.port.emit` chooses the variable names then).
Op handlers build expressions from templates: ``X("jnp.where(C, A, B)", C=..., A=...,
B=...)`` parses the template and puts the given expressions or constants in for its
names; :func:`call` builds ``fn(*args, **kwargs)``.
"""

from __future__ import annotations

import ast
import keyword
import math
import re

from jaxdl import layers as jaxdl_layers

PREFIX = "_v__"  # prefix of value references inside expressions


def V(name: str) -> ast.expr:
    """A reference to the graph value ``name``."""
    return ast.Name(id=PREFIX + name, ctx=ast.Load())


def const(v) -> ast.expr:
    """A constant (nested tuples, NaN and inf included) as an expression."""
    if isinstance(v, ast.AST):
        return v
    if isinstance(v, (list, tuple)):
        return ast.Tuple(elts=[const(x) for x in v], ctx=ast.Load())
    if isinstance(v, float) and math.isnan(v):
        return ast.parse("jnp.nan", mode="eval").body
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return ast.parse("jnp.inf" if v > 0 else "-jnp.inf", mode="eval").body
    if isinstance(v, bool) or v is None or isinstance(v, (int, float, str)):
        return ast.Constant(value=v)
    return ast.parse(repr(v), mode="eval").body


class Subst(ast.NodeTransformer):
    """Replace names by expressions: ``Subst({"A": expr}).visit(tree)``."""

    def __init__(self, subs: dict):
        self.subs = subs

    def visit_Name(self, node):
        if node.id in self.subs:
            return self.subs[node.id]
        return node


def X(template: str, **subs) -> ast.expr:
    """Parse ``template`` and put the given expressions (or constants) in for its names."""
    tree = ast.parse(template, mode="eval").body
    return Subst({k: const(v) for k, v in subs.items()}).visit(tree)


def call(fn: str, *args, **kwargs) -> ast.expr:
    """``fn(*args, **kwargs)``; arguments are expressions or constants."""
    return ast.Call(func=ast.parse(fn, mode="eval").body, args=[const(a) for a in args],
                    keywords=[ast.keyword(arg=k, value=const(v)) for k, v in kwargs.items()])


def method(obj: ast.expr, name: str, *args, **kwargs) -> ast.expr:
    """``obj.name(*args, **kwargs)``."""
    return ast.Call(func=ast.Attribute(value=obj, attr=name, ctx=ast.Load()), args=[const(a) for a in args],
                    keywords=[ast.keyword(arg=k, value=const(v)) for k, v in kwargs.items()])


def index(base: ast.expr, axis: int, item: ast.expr) -> ast.expr:
    """``base[:, :, item]`` (``item`` on axis ``axis``; ``base[..., item]`` for axis -1)."""
    if axis < 0:
        elts = [ast.Constant(Ellipsis), item] + [ast.Slice() for _ in range(-axis - 1)]
    else:
        elts = [ast.Slice() for _ in range(axis)] + [item]
    sl = elts[0] if len(elts) == 1 else ast.Tuple(elts=elts, ctx=ast.Load())
    return ast.Subscript(value=base, slice=sl, ctx=ast.Load())


def refs_in(tree) -> list[str]:
    """The graph values an expression refers to."""
    return [n.id[len(PREFIX):] for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id.startswith(PREFIX)]


def unparse(tree) -> str:
    return ast.unparse(tree)


def copy(tree):
    """A fresh copy of an expression (trees are substituted in place)."""
    return ast.parse(ast.unparse(tree), mode="eval").body if isinstance(tree, ast.expr) else tree


def is_symint(v) -> bool:
    """A symbolic size (torch.SymInt / SymFloat)."""
    return type(v).__name__ in ("SymInt", "SymFloat")


def is_dtype(v) -> bool:
    return type(v).__name__ == "dtype" and type(v).__module__ == "torch"


def static(v):
    """An int for a static size (a SymInt that export specialised included), else None."""
    if isinstance(v, int):
        return v
    try:
        expr = v.node.expr
        return int(expr) if expr.is_number else None
    except Exception:  # noqa: BLE001 - a symbolic size
        return None


def jnp_dtype(dt) -> str:
    """``jnp.float32`` for ``torch.float32``; torch's int64 is JAX's default int32 (x64 off)."""
    name = str(dt).replace("torch.", "")
    name = {"long": "int64", "int": "int32", "float": "float32", "double": "float64", "bool": "bool_",
            "half": "float16"}.get(name, name)
    if name == "int64":
        return "jnp.int32"
    if name == "float64":
        return "jnp.float32"  # as jaxdl.aten: JAX runs without x64
    return f"jnp.{name}"


# names that generated code cannot use for its own variables and arguments
RESERVED = set(keyword.kwlist) | {"self", "jax", "jnp", "nnx", "lax", "partial", "np", "rngs", "print", "len",
                                  "list", "tuple", "dict", "range", "sum", "max", "min", "abs", "type", "id",
                                  "aten", "input", "unsupported", "NamedSequential", "ClassVar"}
RESERVED |= {n for n in jaxdl_layers.__all__}


def clean(hint: str) -> str:
    """A Python identifier from a hint (``block1-0`` -> ``block1_0``, ``0`` -> ``x0``)."""
    hint = re.sub(r"\W", "_", hint or "")
    if not hint or hint[0].isdigit():
        hint = "x" + hint
    return hint
