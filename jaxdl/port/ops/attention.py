"""``F.scaled_dot_product_attention``."""

from __future__ import annotations

from jaxdl.port import layout as L
from jaxdl.port.expr import X, call
from jaxdl.port.registry import op


@op("scaled_dot_product_attention")
def sdpa(g, n):
    """On (B, heads, T, D): ``jax.nn.dot_product_attention`` takes (B, T, heads, D). A
    boolean ``attn_mask`` keeps where True (as torch), a float one is added to the
    scores (``bias=``)."""
    q, k, v, mask = n.arg("query"), n.arg("key"), n.arg("value"), n.arg("attn_mask")
    if n.arg("dropout_p") or g.ndim(q) != 4 or n.arg("enable_gqa"):
        return g.fallback(n)
    if str(g.shape(v)[-1]) != str(g.shape(q)[-1]):
        return g.fallback(n)  # jax's wants the value's head size to be the query's; torch's does not
    kw = {}
    if mask is not None:
        m = g.ref(mask, L.PLAIN)
        extra = 4 - g.ndim(mask)
        if extra:
            m = X(f"A[{', '.join(['None'] * extra)}]", A=m)
        kw["mask" if str(g.dtype(mask)) == "torch.bool" else "bias"] = m
    if n.arg("is_causal"):
        kw["is_causal"] = True
    if n.arg("scale") is not None:
        kw["scale"] = n.arg("scale")
    e = call("jax.nn.dot_product_attention", X("jnp.swapaxes(Q, 1, 2)", Q=g.ref(q, L.PLAIN)),
             X("jnp.swapaxes(K, 1, 2)", K=g.ref(k, L.PLAIN)), X("jnp.swapaxes(V, 1, 2)", V=g.ref(v, L.PLAIN)), **kw)
    g.emit(n.name, X("jnp.swapaxes(E, 1, 2)", E=e), L.PLAIN)
