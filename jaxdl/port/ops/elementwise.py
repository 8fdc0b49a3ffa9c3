"""Elementwise ops: activations, arithmetic, comparisons, ``where``, casts. They work in
whatever layout their inputs are in (an NHWC image stays NHWC); operands of lower rank
are broadcast into it (a (C, 1, 1) tensor against an NHWC image becomes (C,))."""

from __future__ import annotations

from jaxdl.port import layout as L
from jaxdl.port.capture import ParamRef, Ref
from jaxdl.port.expr import X, call, is_dtype, jnp_dtype
from jaxdl.port.registry import op, op_name

UNARY = {
    "relu": "jax.nn.relu(A)", "sigmoid": "jax.nn.sigmoid(A)", "tanh": "jnp.tanh(A)", "exp": "jnp.exp(A)",
    "log": "jnp.log(A)", "log1p": "jnp.log1p(A)", "sqrt": "jnp.sqrt(A)", "rsqrt": "jax.lax.rsqrt(A)",
    "abs": "jnp.abs(A)", "neg": "-A", "sin": "jnp.sin(A)", "cos": "jnp.cos(A)", "silu": "jax.nn.silu(A)",
    "erf": "jax.lax.erf(A)", "square": "jnp.square(A)", "reciprocal": "1 / A", "sign": "jnp.sign(A)",
    "logical_not": "jnp.logical_not(A)", "exp2": "jnp.exp2(A)", "log_sigmoid": "jax.nn.log_sigmoid(A)",
    "expm1": "jnp.expm1(A)",
    # jaxdl.layers' functions: torch's gradient at the kinks (jax.nn.relu6's is 1 at 6, torch's 0)
    "relu6": "relu6(A)", "selu": "selu(A)", "mish": "mish(A)", "hardswish": "hardswish(A)",
    "hardsigmoid": "hardsigmoid(A)",
}


@op(*UNARY)
def unary(g, n):
    a = n.arg("self")
    g.emit(n.name, X(UNARY[op_name(n.target).rstrip("_")], A=g.ref(a)), g.lay(a))


@op("floor", "ceil", "round", "trunc")
def rounding(g, n):
    a = n.arg("self")
    name = op_name(n.target).rstrip("_")
    if name == "round" and n.arg("decimals", 0):
        return g.fallback(n)
    if g.dtype(a) is not None and not g.dtype(a).is_floating_point:  # torch: integers unchanged
        return g.emit_alias(n.name, g.ref(a), g.lay(a))
    g.emit(n.name, call(f"jnp.{name}", g.ref(a)), g.lay(a))


@op("gelu")
def gelu(g, n):
    a = n.arg("self")
    g.emit(n.name, X("jax.nn.gelu(A, approximate=B)", A=g.ref(a), B=n.arg("approximate") == "tanh"), g.lay(a))


@op("hardtanh")
def hardtanh(g, n):
    a, lo, hi = n.arg("self"), n.arg("min_val", -1.0), n.arg("max_val", 1.0)
    if (lo, hi) == (0.0, 6.0):
        return g.emit(n.name, X("relu6(A)", A=g.ref(a)), g.lay(a))
    g.emit(n.name, X("hardtanh(A, lo, hi)", A=g.ref(a), lo=lo, hi=hi), g.lay(a))


@op("leaky_relu")
def leaky_relu(g, n):
    a = n.arg("self")
    g.emit(n.name, X("leaky_relu(A, s)", A=g.ref(a), s=n.arg("negative_slope", 0.01)), g.lay(a))


@op("elu")
def elu(g, n):
    a = n.arg("self")
    if n.arg("scale", 1) != 1 or n.arg("input_scale", 1) != 1:
        return g.fallback(n)
    alpha = n.arg("alpha", 1.0)
    g.emit(n.name, X("elu(A, alpha)", A=g.ref(a), alpha=alpha) if alpha != 1 else X("elu(A)", A=g.ref(a)), g.lay(a))


@op("softplus")
def softplus(g, n):
    a, beta, threshold = n.arg("self"), n.arg("beta", 1), n.arg("threshold", 20)
    args = [beta, threshold] if threshold != 20 else [beta] if beta != 1 else []
    g.emit(n.name, call("softplus", g.ref(a), *args), g.lay(a))


@op("clamp", "clip")
def clamp(g, n):
    lay, (a, lo, hi) = g.common([n.arg("self"), n.arg("min"), n.arg("max")])
    g.emit(n.name, X("jnp.clip(A, lo, hi)", A=a, lo=lo, hi=hi), lay)


@op("clamp_min")
def clamp_min(g, n):
    lay, (a, lo) = g.common([n.arg("self"), n.arg("min")])
    g.emit(n.name, X("jnp.maximum(A, lo)", A=a, lo=lo), lay)


@op("clamp_max")
def clamp_max(g, n):
    lay, (a, hi) = g.common([n.arg("self"), n.arg("max")])
    g.emit(n.name, X("jnp.minimum(A, hi)", A=a, hi=hi), lay)


BINARY = {"add": "A + B", "sub": "A - B", "mul": "A * B", "div": "A / B", "pow": "A ** B", "rsub": "B - A",
          "eq": "A == B", "ne": "A != B", "gt": "A > B", "lt": "A < B", "ge": "A >= B", "le": "A <= B",
          "maximum": "jnp.maximum(A, B)", "minimum": "jnp.minimum(A, B)", "remainder": "A % B",
          "floor_divide": "A // B", "logical_and": "jnp.logical_and(A, B)", "logical_or": "jnp.logical_or(A, B)",
          "logical_xor": "jnp.logical_xor(A, B)", "bitwise_and": "A & B", "bitwise_or": "A | B",
          "bitwise_xor": "A ^ B", "atan2": "jnp.arctan2(A, B)", "true_divide": "A / B", "multiply": "A * B",
          "subtract": "A - B", "fmod": "jnp.fmod(A, B)", "hypot": "jnp.hypot(A, B)"}


@op(*BINARY)
def binary(g, n):
    name = op_name(n.target).rstrip("_")
    a = n.arg("self")
    b = n.arg("other", n.arg("exponent"))
    lay, (ea, eb) = g.common([a, b])
    alpha = n.arg("alpha", 1)
    if alpha != 1:
        eb = X("s * B", s=alpha, B=eb)
    mode = n.arg("rounding_mode")
    if name == "div" and mode == "floor":
        expr = X("A // B", A=ea, B=eb)
    elif name == "div" and mode == "trunc":
        expr = X("jnp.trunc(A / B)", A=ea, B=eb)
    else:
        expr = X(BINARY[name], A=ea, B=eb)
    g.emit(n.name, expr, lay)


@op("where")
def where(g, n):
    lay, (c, a, b) = g.common([n.arg("condition"), n.arg("self"), n.arg("other")])
    g.emit(n.name, X("jnp.where(C, A, B)", C=c, A=a, B=b), lay)


@op("masked_fill")
def masked_fill(g, n):
    lay, (a, m, v) = g.common([n.arg("self"), n.arg("mask"), n.arg("value")])
    g.emit(n.name, X("jnp.where(M, V, A)", A=a, M=m, V=v), lay)


@op("bitwise_not")
def bitwise_not(g, n):
    a = n.arg("self")
    fn = "jnp.logical_not" if str(g.dtype(a)) == "torch.bool" else "jnp.invert"
    g.emit(n.name, call(fn, g.ref(a)), g.lay(a))


@op("contiguous", "clone", "alias", "lift_fresh_copy", "detach_", "lift_fresh", "_to_dim_order_copy")
def identity(g, n):
    a = n.args[0]
    g.emit_alias(n.name, g.ref(a), g.lay(a))


@op("detach")
def detach(g, n):
    a = n.arg("self")
    if isinstance(a, ParamRef) or not isinstance(a, Ref):
        return g.emit_alias(n.name, g.ref(a), L.PLAIN)
    g.emit(n.name, X("jax.lax.stop_gradient(A)", A=g.ref(a)), g.lay(a))


@op("_to_copy", "to", "type_as")
def to(g, n):
    """``x.float()``, ``x.to(torch.int64)``: ``x.astype(...)``; a device move is nothing."""
    a = n.arg("self")
    dt = n.arg("dtype")
    if dt is None:
        dt = next((x for x in n.args[1:] if is_dtype(x)), None)
    if op_name(n.target) == "type_as":
        dt = g.dtype(n.arg("other"))
    if dt is None or dt == g.dtype(a):
        return g.emit_alias(n.name, g.ref(a), g.lay(a))
    g.emit(n.name, X(f"A.astype({jnp_dtype(dt)})", A=g.ref(a)), g.lay(a))


@op("fill")
def fill(g, n):
    a = n.arg("self")
    g.emit(n.name, call("jnp.full_like", g.ref(a), g.ref(n.arg("value"))), g.lay(a), rebinds=a)


@op("copy")
def copy_op(g, n):
    """``x.copy_(src)``: ``src`` broadcast to ``x``'s shape and dtype."""
    a, src = n.arg("self"), n.arg("src")
    e = X("jnp.broadcast_to(S, A.shape)", S=g.ref(src, L.PLAIN), A=g.ref(a, L.PLAIN))
    if g.dtype(src) != g.dtype(a) and g.dtype(a) is not None:
        e = X(f"E.astype({jnp_dtype(g.dtype(a))})", E=e)
    g.emit(n.name, e, L.PLAIN, rebinds=a)
