"""Indexing: ``x[:, 1:3]``, ``x[:, 0]``, and writes into views made pure (``x[:, :k] = v``
-> ``x.at[:, :k].set(v)``, ``x[idx] += v`` -> ``.at[idx].add(v)``). Slices keep the
input's layout (a channel slice of an NHWC image is ``x[..., a:b]``)."""

from __future__ import annotations

import ast

from jaxdl.port import layout as L
from jaxdl.port.expr import call, const, index
from jaxdl.port.registry import op, op_name


def _slice(g, start, end, step, size) -> ast.Slice | None:
    """``start:end:step`` (None for the whole axis)."""
    lo = None if start in (0, None) else g.ref(start)
    hi = None if end is None or (isinstance(end, int) and end >= 2 ** 62) or str(end) == str(size) else g.ref(end)
    if lo is None and hi is None and step == 1:
        return None
    return ast.Slice(lower=lo, upper=hi, step=None if step == 1 else const(step))


def _at(base: ast.expr, item: ast.expr, how: str, value: ast.expr) -> ast.expr:
    """``base.at[item].set(value)``: the functional form of writing into a view."""
    at = ast.Subscript(value=ast.Attribute(value=base, attr="at", ctx=ast.Load()), slice=item, ctx=ast.Load())
    return ast.Call(func=ast.Attribute(value=at, attr=how, ctx=ast.Load()), args=[value], keywords=[])


def _item(node: ast.Subscript) -> ast.expr:
    return node.slice


@op("slice")
def slice_(g, n):
    a = n.arg("self")
    lay = g.lay(a) if not isinstance(g.lay(a), L.Flat) else L.PLAIN
    ndim = g.ndim(a)
    d = n.arg("dim", 0) % ndim
    sl = _slice(g, n.arg("start"), n.arg("end"), n.arg("step", 1), g.shape(a)[d])
    if sl is None:
        return g.emit_alias(n.name, g.ref(a), g.lay(a))
    g.emit(n.name, index(g.ref(a, lay), L.last(L.axis(lay, d, ndim), ndim), sl), lay)


@op("select")
def select(g, n):
    a = n.arg("self")
    lay = g.lay(a) if not isinstance(g.lay(a), L.Flat) else L.PLAIN
    ndim = g.ndim(a)
    d = n.arg("dim") % ndim
    g.emit(n.name, index(g.ref(a, lay), L.last(L.axis(lay, d, ndim), ndim), g.ref(n.arg("index"))),
           L.removed(lay, d, ndim))


@op("slice_scatter")
def slice_scatter(g, n):
    """``x[:, a:b] = src`` / ``x[:, a:b].fill_(v)``: ``x.at[:, a:b].set(src)``."""
    a, src = n.arg("self"), n.arg("src")
    ndim = g.ndim(a)
    d = n.arg("dim", 0) % ndim
    sl = _slice(g, n.arg("start"), n.arg("end"), n.arg("step", 1), g.shape(a)[d])
    if sl is None:  # the whole axis: the new value is src
        return g.emit_alias(n.name, g.ref(src), g.lay(src))
    g.emit(n.name, _at(g.ref(a, L.PLAIN), _item(index(const(0), d, sl)), "set", g.ref(src, L.PLAIN)), L.PLAIN,
           rebinds=a)


@op("select_scatter")
def select_scatter(g, n):
    a, src = n.arg("self"), n.arg("src")
    d = n.arg("dim") % g.ndim(a)
    g.emit(n.name, _at(g.ref(a, L.PLAIN), _item(index(const(0), d, g.ref(n.arg("index")))), "set",
                       g.ref(src, L.PLAIN)), L.PLAIN, rebinds=a)


@op("index_put")
def index_put(g, n):
    """``x[idx] = v`` (``accumulate``: ``x[idx] += v``): ``x.at[idx].set(v)`` / ``.add(v)``."""
    a, values = n.arg("self"), n.arg("values")
    idx = [ast.Slice() if i is None else g.ref(i, L.PLAIN) for i in n.arg("indices")]
    item = idx[0] if len(idx) == 1 else ast.Tuple(elts=idx, ctx=ast.Load())
    g.emit(n.name, _at(g.ref(a, L.PLAIN), item, "add" if n.arg("accumulate") else "set", g.ref(values, L.PLAIN)),
           L.PLAIN, rebinds=a)


@op("index")
def index_(g, n):
    """``x[idx]``, ``x[:, idx]`` with integer index tensors (boolean masks change the shape
    with the data: torch.export refuses them)."""
    a = n.arg("self")
    indices = n.arg("indices")
    if any(i is not None and str(g.dtype(i)) == "torch.bool" for i in indices):
        return g.fallback(n)
    idx = [ast.Slice() if i is None else g.ref(i, L.PLAIN) for i in indices]
    item = idx[0] if len(idx) == 1 else ast.Tuple(elts=idx, ctx=ast.Load())
    g.emit(n.name, ast.Subscript(value=g.ref(a, L.PLAIN), slice=item, ctx=ast.Load()), L.PLAIN)


@op("index_select")
def index_select(g, n):
    a = n.arg("self")
    g.emit(n.name, call("jnp.take", g.ref(a, L.PLAIN), g.ref(n.arg("index"), L.PLAIN), axis=n.arg("dim") % g.ndim(a)),
           L.PLAIN)


@op("gather")
def gather(g, n):
    a = n.arg("self")
    if n.arg("sparse_grad"):
        return g.fallback(n)
    g.emit(n.name, call("jnp.take_along_axis", g.ref(a, L.PLAIN), g.ref(n.arg("index"), L.PLAIN),
                        axis=n.arg("dim") % g.ndim(a)), L.PLAIN)


@op("triu", "tril")
def triu(g, n):
    d = n.arg("diagonal", 0)
    g.emit(n.name, call(f"jnp.{op_name(n.target)}", g.ref(n.arg("self"), L.PLAIN), **({"k": d} if d else {})),
           L.PLAIN)
