"""Neural-network ops written in a forward (``F.linear``, ``F.max_pool2d``, ``F.pad``,
``F.embedding``, ``F.dropout``, matmuls): pools take and give channels-last, dense ops
torch's order. ``F.linear(x, self.fc.weight, self.fc.bias)`` on a layer's own weights is
that layer's call."""

from __future__ import annotations

import ast

from jaxdl.port import layout as L
from jaxdl.port.capture import ParamRef, attribute_names
from jaxdl.port.expr import X, call
from jaxdl.port.registry import op, op_name
from jaxdl.port.specs import RNGS, Ctor, pretty


def _layer_of(g, n, weight, bias, cls: str):
    """The attribute expression of the ``cls`` layer whose own weight and bias these are, or None."""
    if not isinstance(weight, ParamRef):
        return None
    owner = g.param_owner(weight)
    if owner is None or g.inst[owner].cls != cls or g.inst[owner].functional:
        return None
    if (bias is None) != (getattr(g.inst[owner].module, "bias", None) is None):
        return None
    if bias is not None and (not isinstance(bias, ParamRef) or g.param_owner(bias) != owner):
        return None
    return g.attr_expr(owner)


@op("linear")
def linear(g, n):
    """``F.linear(x, w, b)``: ``x @ w.T + b`` on the module's own weights."""
    x, w, b = n.arg("input"), n.arg("weight"), n.arg("bias")
    fc = _layer_of(g, n, w, b, "Linear")
    if fc is not None:
        return g.emit(n.name, X("F(A)", F=fc, A=g.ref(x, L.PLAIN)), L.PLAIN)
    we = g.ref(w)
    if isinstance(we, ast.Attribute) and we.attr == "T":  # a Linear's kernel read back as torch's weight
        e = X("A @ W", A=g.ref(x, L.PLAIN), W=we.value)
    else:
        e = X("A @ W.T", A=g.ref(x, L.PLAIN), W=we)
    g.emit(n.name, X("E + B", E=e, B=g.ref(b)) if b is not None else e, L.PLAIN)


@op("matmul", "mm", "bmm")
def matmul(g, n):
    a = n.arg("self")
    b = n.arg("other") if n.arg("other") is not None else n.arg("mat2")
    g.emit(n.name, X("A @ B", A=g.ref(a, L.PLAIN), B=g.ref(b, L.PLAIN)), L.PLAIN)


@op("einsum")
def einsum(g, n):
    g.emit(n.name, call("jnp.einsum", n.arg("equation"), *[g.ref(t, L.PLAIN) for t in n.arg("tensors")]), L.PLAIN)


@op("addmm")
def addmm(g, n):
    if n.arg("beta", 1) != 1 or n.arg("alpha", 1) != 1:
        return g.fallback(n)
    g.emit(n.name, X("C + A @ B", C=g.ref(n.arg("self"), L.PLAIN), A=g.ref(n.arg("mat1"), L.PLAIN),
                     B=g.ref(n.arg("mat2"), L.PLAIN)), L.PLAIN)


def _pair(v):
    return pretty(tuple(v)) if isinstance(v, (list, tuple)) else v


@op("max_pool2d", "max_pool1d")
def max_pool(g, n):
    """``F.max_pool2d(x, k, s, p)``: jaxdl's ``max_pool2d`` (stride = kernel by default, as torch)."""
    a = n.arg("self")
    if _pair(n.arg("dilation", 1)) != 1 or not n.arg("kernel_size"):
        return g.fallback(n)
    k = _pair(n.arg("kernel_size"))
    s = _pair(n.arg("stride")) if n.arg("stride") else None
    p, ceil = _pair(n.arg("padding", 0)), n.arg("ceil_mode", False)
    args = [g.ref(a, L.channels_last(g.ndim(a))), k]
    if s is not None and s != k or p or ceil:
        args.append(s if s is not None else k)
    if p or ceil:
        args.append(p)
    g.emit(n.name, call(op_name(n.target), *args, **({"ceil_mode": True} if ceil else {})), L.channels_last(g.ndim(a)))


@op("avg_pool2d", "avg_pool1d")
def avg_pool(g, n):
    a = n.arg("self")
    if n.arg("divisor_override") is not None:
        return g.fallback(n)
    k = _pair(n.arg("kernel_size"))
    s = _pair(n.arg("stride")) if n.arg("stride") else None
    p, ceil, include = _pair(n.arg("padding", 0)), n.arg("ceil_mode", False), n.arg("count_include_pad", True)
    args = [g.ref(a, L.channels_last(g.ndim(a))), k]
    if s is not None and s != k or p or ceil or not include:
        args.append(s if s is not None else k)
    if p or ceil or not include:
        args.append(p)
    kw = {}
    if ceil:
        kw["ceil_mode"] = True
    if not include:
        kw["count_include_pad"] = False
    g.emit(n.name, call(op_name(n.target), *args, **kw), L.channels_last(g.ndim(a)))


@op("adaptive_avg_pool2d", "_adaptive_avg_pool2d", "adaptive_avg_pool1d", "adaptive_max_pool2d",
    "adaptive_max_pool1d")
def adaptive_pool(g, n):
    a = n.arg("self")
    name = op_name(n.target).lstrip("_")
    if "max" in name:  # returns (values, indices)
        return g.fallback(n)
    g.emit(n.name, call(name, g.ref(a, L.channels_last(g.ndim(a))), _pair(n.arg("output_size"))),
           L.channels_last(g.ndim(a)))


@op("constant_pad_nd", "pad")
def pad(g, n):
    """``F.pad(x, (left, right, top, bottom))``: ``jnp.pad`` in the input's layout."""
    a, amounts = n.arg("self"), list(n.arg("pad"))
    value = n.arg("value") or 0
    if n.arg("mode", "constant") != "constant" or any(v < 0 for v in amounts if isinstance(v, int)):
        return g.fallback(n)
    ndim = g.ndim(a)
    pairs = [(0, 0)] * ndim
    for i in range(len(amounts) // 2):
        pairs[ndim - 1 - i] = (amounts[2 * i], amounts[2 * i + 1])
    lay = g.lay(a) if L.is_perm(g.lay(a)) else L.PLAIN
    if L.is_perm(lay):
        pairs = [pairs[d] for d in lay]
    g.emit(n.name, call("jnp.pad", g.ref(a, lay), tuple(pairs), **({"constant_values": value} if value else {})), lay)


@op("embedding")
def embedding(g, n):
    """``F.embedding(ids, weight)``: ``weight[ids]`` (an nn.Embedding's own call when it is one)."""
    w, ids = n.arg("weight"), n.arg("indices")
    emb = _layer_of(g, n, w, None, "Embedding")
    if emb is not None and n.arg("padding_idx", -1) in (
            -1, getattr(g.inst[g.param_owner(w)].module, "padding_idx", -1)):
        return g.emit(n.name, X("F(A)", F=emb, A=g.ref(ids, L.PLAIN)), L.PLAIN)
    g.emit(n.name, X("W[I]", W=g.ref(w), I=g.ref(ids, L.PLAIN)), L.PLAIN)


@op("jaxdl_port.dropout")
def dropout(g, n):
    """``F.dropout(x, p, self.training)`` in a forward: an extra ``Dropout`` attribute (no
    weights, so the state_dict is unchanged) that follows ``model.train()``/``eval()``."""
    a, p, _, kind = n.args
    if kind != "dropout":
        return g.fail(f"F.{kind}")
    inst = g.code.inst
    taken = set(inst.attrs) | set(inst.module._modules) | set(attribute_names(inst.module).values())
    attr, i = "dropout", 1
    while attr in taken and inst.attrs.get(attr, (None,))[0] != p:
        attr, i = f"dropout{i}", i + 1
    inst.attrs[attr] = (p, Ctor("Dropout", [p], {"rngs": RNGS}))
    g.emit(n.name, X(f"self.{attr}(A)", A=g.ref(a)), g.lay(a))
