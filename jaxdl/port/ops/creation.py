"""Tensors made in a forward: ``torch.zeros``, ``arange``, ``full``, ``*_like``."""

from __future__ import annotations

import ast

from jaxdl.port import layout as L
from jaxdl.port.expr import X, call, jnp_dtype
from jaxdl.port.registry import op, op_name


def _dtype(n) -> dict:
    dt = n.arg("dtype")
    return {"dtype": X(jnp_dtype(dt))} if dt is not None else {}


def _size(g, size) -> ast.expr:
    return ast.Tuple(elts=[g.ref(s) for s in size], ctx=ast.Load())


@op("zeros", "ones", "empty")
def zeros(g, n):
    fn = {"empty": "zeros"}.get(op_name(n.target), op_name(n.target))
    g.emit(n.name, call(f"jnp.{fn}", _size(g, n.arg("size")), **_dtype(n)), L.PLAIN)


@op("full")
def full(g, n):
    g.emit(n.name, call("jnp.full", _size(g, n.arg("size")), g.ref(n.arg("fill_value")), **_dtype(n)), L.PLAIN)


@op("new_zeros", "new_ones", "new_empty", "new_full")
def new_like(g, n):
    name = op_name(n.target)[4:].replace("empty", "zeros")
    a = n.arg("self")
    kw = _dtype(n) or {"dtype": X("A.dtype", A=g.ref(a))}
    args = [_size(g, n.arg("size"))] + ([g.ref(n.arg("fill_value"))] if name == "full" else [])
    g.emit(n.name, call(f"jnp.{name}", *args, **kw), L.PLAIN)


@op("zeros_like", "ones_like", "empty_like", "full_like", "rand_like", "randn_like")
def like(g, n):
    name = op_name(n.target).replace("empty", "zeros")
    if name.startswith("rand"):
        return g.fallback(n)
    a = n.arg("self")
    args = [g.ref(a)] + ([g.ref(n.arg("fill_value"))] if name == "full_like" else [])
    g.emit(n.name, call(f"jnp.{name}", *args, **_dtype(n)), g.lay(a))


@op("arange")
def arange(g, n):
    args = [g.ref(x) for x in (n.arg("start"), n.arg("end"), n.arg("step")) if x is not None]
    if n.arg("start") is not None and n.arg("step") in (None, 1) and len(args) == 3:
        args = args[:2]
    if n.arg("start") in (0, None) and len(args) == 2 and n.arg("step") in (None, 1):
        args = args[1:]
    g.emit(n.name, call("jnp.arange", *args, **_dtype(n)), L.PLAIN)


@op("linspace")
def linspace(g, n):
    g.emit(n.name, call("jnp.linspace", g.ref(n.arg("start")), g.ref(n.arg("end")), g.ref(n.arg("steps")),
                        **_dtype(n)), L.PLAIN)


@op("scalar_tensor")
def scalar_tensor(g, n):
    g.emit(n.name, call("jnp.asarray", g.ref(n.arg("s")), **_dtype(n)), L.PLAIN)
