"""Reductions over dims (sum, mean, max, var, ...), softmax and arg-max: torch dims are
read as the JAX axes of the input's layout (``mean(dim=(2, 3))`` of an NHWC image is
``mean(axis=(1, 2))``); the remaining dims keep their order."""

from __future__ import annotations

from jaxdl.port import layout as L
from jaxdl.port.expr import call, method
from jaxdl.port.registry import op, op_name

METHODS = {"mean": "mean", "sum": "sum", "amax": "max", "amin": "min", "prod": "prod", "all": "all", "any": "any"}


def _dims(d) -> list | None:
    if d is None or d == [] or d == ():
        return None
    return [d] if isinstance(d, int) else list(d)


@op(*METHODS)
def reduction(g, n):
    """``x.mean(dim)`` -> ``x.mean(axis=...)`` in the input's layout."""
    name = op_name(n.target)
    a = n.arg("self")
    dims = _dims(n.arg("dim"))
    keep = bool(n.arg("keepdim", False))
    if isinstance(g.lay(a), L.Flat):
        a_e, lay_in = g.ref(a, L.PLAIN), L.PLAIN
    else:
        a_e, lay_in = g.ref(a), g.lay(a)
    if n.arg("dtype") is not None:
        return g.fallback(n)
    if dims is None:  # over everything
        return g.emit(n.name, method(g.ref(a, L.PLAIN), METHODS[name], **({"keepdims": True} if keep else {})),
                      L.PLAIN)
    kw = {"axis": _axes_in(g, a, dims, lay_in)}
    if keep:
        kw["keepdims"] = True
    g.emit(n.name, method(a_e, METHODS[name], **kw), L.reduced(lay_in, dims, g.ndim(a), keep))


def _axes_in(g, a, dims, lay):
    ndim = g.ndim(a)
    axes = sorted(L.axis(lay, d, ndim) for d in dims)
    return L.last(axes[0], ndim) if len(axes) == 1 else tuple(axes)


@op("var", "std")
def var(g, n):
    a = n.arg("self")
    dims = _dims(n.arg("dim"))
    correction = n.arg("correction")
    if correction is None:
        correction = 1 if n.arg("unbiased", True) else 0
    keep = bool(n.arg("keepdim", False))
    lay = g.lay(a) if not isinstance(g.lay(a), L.Flat) else L.PLAIN
    kw = {"axis": _axes_in(g, a, dims, lay) if dims is not None else None, "ddof": correction}
    if keep:
        kw["keepdims"] = True
    out = L.reduced(lay, dims, g.ndim(a), keep) if dims is not None else L.PLAIN
    g.emit(n.name, call(f"jnp.{op_name(n.target)}", g.ref(a, lay), **kw), out)


@op("max", "min")
def max_min(g, n):
    """``x.max()``, ``torch.max(x, y)`` and ``values, indices = x.max(dim)``."""
    name = op_name(n.target)
    overload = n.target.split(".")[2] if n.target.count(".") >= 2 else ""
    a = n.arg("self")
    if overload == "other":
        lay, (ea, eb) = g.common([a, n.arg("other")])
        return g.emit(n.name, call(f"jnp.{'maximum' if name == 'max' else 'minimum'}", ea, eb), lay)
    if n.arg("dim") is None:
        return g.emit(n.name, method(g.ref(a, L.PLAIN), name), L.PLAIN)
    dim, keep = n.arg("dim"), bool(n.arg("keepdim", False))
    lay = g.lay(a) if not isinstance(g.lay(a), L.Flat) else L.PLAIN
    e = g.ref(a, lay)
    kw = {"axis": _axes_in(g, a, [dim], lay)}
    if keep:
        kw["keepdims"] = True
    out = L.reduced(lay, [dim], g.ndim(a), keep)
    g.lazy_tuple(n.name, {0: (method(e, name, **kw), out), 1: (method(e, "arg" + name, **kw), out)})


@op("argmax", "argmin")
def argmax(g, n):
    a = n.arg("self")
    dim, keep = n.arg("dim"), bool(n.arg("keepdim", False))
    if dim is None:
        return g.emit(n.name, call(f"jnp.{op_name(n.target)}", g.ref(a, L.PLAIN)), L.PLAIN)
    lay = g.lay(a) if not isinstance(g.lay(a), L.Flat) else L.PLAIN
    kw = {"axis": _axes_in(g, a, [dim], lay)}
    if keep:
        kw["keepdims"] = True
    g.emit(n.name, call(f"jnp.{op_name(n.target)}", g.ref(a, lay), **kw), L.reduced(lay, [dim], g.ndim(a), keep))


@op("softmax", "_softmax", "log_softmax", "_log_softmax")
def softmax(g, n):
    name = op_name(n.target).lstrip("_")
    a = n.arg("self")
    if n.arg("dtype") is not None or n.arg("half_to_float"):
        return g.fallback(n)
    lay = g.lay(a) if not isinstance(g.lay(a), L.Flat) else L.PLAIN
    fn = "jax.nn.softmax" if name == "softmax" else "jax.nn.log_softmax"
    ax = L.axis(lay, n.arg("dim"), g.ndim(a))
    g.emit(n.name, call(fn, g.ref(a, lay), axis=-1 if ax == g.ndim(a) - 1 else ax), lay)


@op("cumsum", "cumprod")
def cumsum(g, n):
    a = n.arg("self")
    if n.arg("dtype") is not None:
        return g.fallback(n)
    lay = g.lay(a) if not isinstance(g.lay(a), L.Flat) else L.PLAIN
    g.emit(n.name, call(f"jnp.{op_name(n.target)}", g.ref(a, lay), axis=_axes_in(g, a, [n.arg("dim")], lay)), lay)


@op("logsumexp")
def logsumexp(g, n):
    a = n.arg("self")
    lay = g.lay(a) if not isinstance(g.lay(a), L.Flat) else L.PLAIN
    dims = _dims(n.arg("dim"))
    kw = {"axis": _axes_in(g, a, dims, lay)}
    keep = bool(n.arg("keepdim", False))
    if keep:
        kw["keepdims"] = True
    g.emit(n.name, call("jax.nn.logsumexp", g.ref(a, lay), **kw), L.reduced(lay, dims, g.ndim(a), keep))
