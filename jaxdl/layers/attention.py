"""Attention (torch: ``F.scaled_dot_product_attention``, ``nn.MultiheadAttention``).

Plain XLA on every platform: softmax(q k^T * scale + mask) v as einsums. ``jax.nn.
dot_product_attention``'s cuDNN kernel is not used because its semantics differ from
torch's: it takes float16/bfloat16 only, has no dropout, and it fills masked logits with
a large finite negative number, so a query whose keys are all masked averages every
value, where torch's ``scaled_dot_product_attention`` returns 0 (its XLA implementation
does the same).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl.init import normal_init, xavier_uniform_init, zeros_init
from jaxdl.layers.dropout import Dropout
from jaxdl.layers.linear import Linear
from jaxdl.layers.torch_layer import SAME, TORCH, TRANSPOSED, Rule, torch_layer


def _bias_from_mask(mask: jax.Array, dtype, *, true_means: str, name: str) -> jax.Array:
    """An additive float mask (0 / -inf) from torch's bool mask, a float mask as it is.
    ``true_means``: what True means, "keep" (scaled_dot_product_attention) or "ignore"
    (MultiheadAttention's key_padding_mask and attn_mask)."""
    mask = jnp.asarray(mask)
    if mask.dtype == jnp.bool_:
        keep = mask if true_means == "keep" else ~mask
        return jnp.where(keep, jnp.zeros((), dtype), jnp.array(-jnp.inf, dtype))
    if not jnp.issubdtype(mask.dtype, jnp.floating):
        raise TypeError(f"{name} must be bool or floating-point (an additive mask), got dtype {mask.dtype} "
                        "(torch raises the same)")
    return mask.astype(dtype)


def _attend(q, k, v, bias, scale, *, zero_masked_rows: bool, dropout=None):
    """softmax(q k^T * scale + bias) v over (..., L, E) / (..., S, E) / (..., S, Ev);
    returns (output, weights). ``zero_masked_rows``: a query whose scores are all -inf
    gets weights 0 and output 0 (torch's scaled_dot_product_attention, gradient 0);
    otherwise NaN, as a plain softmax (torch's MultiheadAttention with need_weights)."""
    scores = jnp.einsum("...le,...se->...ls", q * jnp.asarray(scale, q.dtype), k)
    if bias is not None:
        scores = scores + bias
    if zero_masked_rows:
        dead = jnp.all(scores == -jnp.inf, axis=-1, keepdims=True)
        scores = jnp.where(dead, jnp.zeros((), scores.dtype), scores)  # no NaN, forward or backward
    weights = jax.nn.softmax(scores, axis=-1)
    if zero_masked_rows:
        weights = jnp.where(dead, jnp.zeros((), weights.dtype), weights)
    if dropout is not None:
        weights = dropout(weights)
    return jnp.einsum("...ls,...sv->...lv", weights, v), weights


def _causal_bias(L: int, S: int, dtype) -> jax.Array:
    """torch's ``is_causal``: query i sees keys 0..i (``ones(L, S).tril()``, top-left aligned)."""
    return jnp.where(jnp.tril(jnp.ones((L, S), bool)), jnp.zeros((), dtype), jnp.array(-jnp.inf, dtype))


def scaled_dot_product_attention(query: jax.Array, key: jax.Array, value: jax.Array,
                                 attn_mask: jax.Array | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False, *, dropout_rng: jax.Array | None = None) -> jax.Array:
    """torch: ``F.scaled_dot_product_attention(query, key, value, attn_mask, dropout_p,
    is_causal, scale, enable_gqa)``.

    ``softmax(query @ key^T * scale + mask) @ value`` with torch's mask conventions: a
    bool ``attn_mask`` is True where a query may attend (the opposite of
    MultiheadAttention's), a float mask is added to the scores. A query that may attend
    to no key gets output 0 (and gradient 0), as torch's; ``jax.nn.dot_product_attention``
    gives the mean of the values instead. Dropout needs a key (torch draws from its
    global generator): masks cannot equal torch's; kept weights are scaled by 1/(1-p).

    Args:
        query: (..., L, E); key: (..., S, E); value: (..., S, Ev). With ``enable_gqa`` the
            head axis (-3) of key and value may divide query's (grouped-query attention).
        attn_mask: bool or float, broadcastable to (..., L, S).
        dropout_p: probability of dropping an attention weight (pass ``dropout_rng``).
        is_causal: query i attends to keys 0..i (top-left aligned); not with ``attn_mask``.
        scale: defaults to 1 / sqrt(E).
        dropout_rng: a ``jax.random`` key, required when ``dropout_p > 0``.

    Returns:
        (..., L, Ev).
    """
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both "
                         "(torch raises the same); put the causal part into attn_mask")
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"scaled_dot_product_attention: dropout_p must be in [0, 1), got {dropout_p}")
    if dropout_p > 0.0 and dropout_rng is None:
        raise ValueError("scaled_dot_product_attention with dropout_p > 0 needs dropout_rng=<jax.random key> "
                         "(torch draws from its global generator); pass dropout_p=0.0 in evaluation")
    if query.shape[-1] != key.shape[-1] or key.shape[-2] != value.shape[-2]:
        raise ValueError(f"scaled_dot_product_attention: query (..., L, E), key (..., S, E), value (..., S, Ev) "
                         f"expected, got {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
    if enable_gqa and key.ndim >= 3 and key.shape[-3] != query.shape[-3]:
        groups, rest = divmod(query.shape[-3], key.shape[-3])
        if rest:
            raise ValueError(f"scaled_dot_product_attention(enable_gqa=True): query's {query.shape[-3]} heads are "
                             f"not a multiple of key's {key.shape[-3]}")
        key, value = (jnp.repeat(t, groups, axis=-3) for t in (key, value))
    L, S = query.shape[-2], key.shape[-2]
    bias = None
    if is_causal:
        bias = _causal_bias(L, S, query.dtype)
    elif attn_mask is not None:
        bias = _bias_from_mask(attn_mask, query.dtype, true_means="keep", name="attn_mask")
    dropout = None
    if dropout_p > 0.0:
        def dropout(w):
            keep = jax.random.bernoulli(dropout_rng, 1.0 - dropout_p, w.shape)
            return jnp.where(keep, w / (1.0 - dropout_p), jnp.zeros((), w.dtype))
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    return _attend(query, key, value, bias, scale, zero_masked_rows=True, dropout=dropout)[0]


@torch_layer("MultiheadAttention", layout=TORCH)
class MultiheadAttention(nnx.Module):
    """torch: ``nn.MultiheadAttention(embed_dim, num_heads, dropout=0.0, bias=True,
    add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None, batch_first=False)``
    (``use_bias`` is torch's ``bias``).

    Parameters, torch's as kernels (transposed, as :class:`Linear`): ``in_proj_kernel``
    (E, 3E) = ``in_proj_weight.T`` with q, k, v in its column blocks, or, when kdim or
    vdim differ from embed_dim, ``q_proj_kernel`` (E, E), ``k_proj_kernel`` (kdim, E),
    ``v_proj_kernel`` (vdim, E); ``in_proj_bias`` (3E,); ``bias_k`` / ``bias_v`` (1, 1, E);
    ``out_proj`` a :class:`Linear`. Init as torch's (xavier-uniform projections, zero
    biases, xavier-normal bias_k/bias_v), in distribution.

    Masks as torch: a bool ``key_padding_mask`` / ``attn_mask`` is True where a key is
    ignored (the opposite of :func:`scaled_dot_product_attention`), a float one is added.
    A query whose keys are all masked gets NaN with ``need_weights=True`` and 0 (before
    ``out_proj``) with ``need_weights=False``, as torch's two code paths do. Attention
    dropout acts in train mode, with masks from the module's RNG stream.

    Args:
        query: (L, N, E), (N, L, E) with ``batch_first``, or unbatched (L, E).
        key: (S, N, kdim) likewise; value: (S, N, vdim) likewise.
        key_padding_mask: (N, S) (unbatched: (S,)), bool or float.
        need_weights: also return the attention weights.
        attn_mask: (L, S) or (N * num_heads, L, S) (unbatched: (num_heads, L, S)), bool or float.
        average_attn_weights: average the returned weights over the heads.
        is_causal: torch's hint that ``attn_mask`` is the causal mask; it needs ``attn_mask``.
            Like torch, without ``key_padding_mask`` and with ``need_weights=False`` the
            causal mask is used in place of ``attn_mask``.

    Returns:
        ``(attn_output, attn_weights)``: output shaped as query with E features; weights
        (N, L, S) averaged or (N, num_heads, L, S) (unbatched without N), after dropout as
        torch's, or None when ``need_weights=False``.
    """

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, use_bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, *, rngs: nnx.Rngs):
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"MultiheadAttention: embed_dim and num_heads must be greater than 0, got "
                             f"embed_dim={embed_dim} and num_heads={num_heads}")
        if embed_dim % num_heads:
            raise ValueError(f"MultiheadAttention: embed_dim={embed_dim} must be divisible by num_heads={num_heads}")
        self.embed_dim, self.num_heads, self.dropout = embed_dim, num_heads, float(dropout)
        self.kdim, self.vdim = kdim or embed_dim, vdim or embed_dim
        self.batch_first, self.add_zero_attn, self.head_dim = batch_first, add_zero_attn, embed_dim // num_heads
        self.packed = self.kdim == embed_dim and self.vdim == embed_dim  # torch: _qkv_same_embed_dim
        E = embed_dim
        if self.packed:  # torch: xavier_uniform_ on the whole (3E, E) in_proj_weight
            self.in_proj_kernel = nnx.Param(xavier_uniform_init(E, 3 * E)(rngs.params(), (E, 3 * E)))
        else:
            self.q_proj_kernel = nnx.Param(xavier_uniform_init(E, E)(rngs.params(), (E, E)))
            self.k_proj_kernel = nnx.Param(xavier_uniform_init(self.kdim, E)(rngs.params(), (self.kdim, E)))
            self.v_proj_kernel = nnx.Param(xavier_uniform_init(self.vdim, E)(rngs.params(), (self.vdim, E)))
        self.in_proj_bias = nnx.Param(zeros_init(None, (3 * E,))) if use_bias else None
        if add_bias_kv:  # torch: xavier_normal_ on (1, 1, E): std sqrt(2 / (E + E))
            normal = normal_init(1.0 / math.sqrt(E))
            self.bias_k = nnx.Param(normal(rngs.params(), (1, 1, E)))
            self.bias_v = nnx.Param(normal(rngs.params(), (1, 1, E)))
        else:
            self.bias_k = self.bias_v = None
        self.out_proj = Linear(E, E, use_bias=use_bias, rngs=rngs)
        if use_bias:
            self.out_proj.bias.set_value(zeros_init(None, (E,)))  # torch zeroes it too
        self.attn_dropout = Dropout(dropout, rngs=rngs) if dropout else None

    @classmethod
    def torch_arguments(cls, m) -> dict:
        same = lambda d: None if d == m.embed_dim else d
        return {"embed_dim": m.embed_dim, "num_heads": m.num_heads, "dropout": float(m.dropout),
                "use_bias": m.in_proj_bias is not None, "add_bias_kv": m.bias_k is not None,
                "add_zero_attn": bool(m.add_zero_attn), "kdim": same(m.kdim), "vdim": same(m.vdim),
                "batch_first": bool(m.batch_first)}

    def torch_state(self) -> list[Rule]:
        """The module's own parameters in torch's order: in_proj_weight (or q/k/v_proj_weight)
        transposed, in_proj_bias, bias_k, bias_v; ``out_proj`` is a Linear with its own record."""
        proj = ["in_proj"] if self.packed else ["q_proj", "k_proj", "v_proj"]
        rules = [Rule(f"{p}_weight", f"{p}_kernel", *TRANSPOSED) for p in proj]
        rules += [Rule("in_proj_bias", "in_proj_bias", *SAME)] if self.in_proj_bias is not None else []
        rules += [Rule("bias_k", "bias_k", *SAME), Rule("bias_v", "bias_v", *SAME)] if self.bias_k is not None else []
        return rules

    def _check(self, query, key, value, key_padding_mask, attn_mask) -> bool:
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise ValueError(f"MultiheadAttention expects query, key and value all 3-D (batched) or all 2-D "
                             f"(unbatched), got shapes {tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}")
        order = ("(N, L, E)" if self.batch_first else "(L, N, E)") if batched else "(L, E)"
        for name, t, n in (("query", query, self.embed_dim), ("key", key, self.kdim), ("value", value, self.vdim)):
            if t.shape[-1] != n:
                raise ValueError(f"MultiheadAttention({self.embed_dim}, {self.num_heads}): {name} must have {n} "
                                 f"features on the last axis {order}, got shape {tuple(t.shape)}")
        if key.shape[:-1] != value.shape[:-1]:
            raise ValueError(f"MultiheadAttention: key and value must have the same sequence and batch axes, got "
                             f"{tuple(key.shape)} and {tuple(value.shape)}")
        b = 0 if self.batch_first else 1
        if batched and query.shape[b] != key.shape[b]:
            raise ValueError(f"MultiheadAttention: query and key batch sizes differ: {tuple(query.shape)} and "
                             f"{tuple(key.shape)} {order}")
        if key_padding_mask is not None:
            n, s = (query.shape[b], key.shape[1 - b]) if batched else (None, key.shape[0])
            want = (n, s) if batched else (s,)
            if tuple(key_padding_mask.shape) != want:
                raise ValueError(f"MultiheadAttention: key_padding_mask must be (N, S) = {want} for query "
                                 f"{tuple(query.shape)} and key {tuple(key.shape)} {order}, got shape "
                                 f"{tuple(key_padding_mask.shape)}")
        if attn_mask is not None and attn_mask.ndim not in (2, 3):
            raise ValueError(f"MultiheadAttention: attn_mask must be 2-D (L, S) or 3-D (N * num_heads, L, S), "
                             f"got shape {tuple(attn_mask.shape)}")
        return batched

    def _project(self, query, key, value):
        """q, k, v projections, (N, L|S, E) each; one matmul for self-attention, as torch."""
        E, b = self.embed_dim, self.in_proj_bias
        bias = (lambda i: 0.0) if b is None else (lambda i: b[i * E:(i + 1) * E])
        if not self.packed:
            return tuple(x @ w[...] + bias(i) for i, (x, w) in
                         enumerate(((query, self.q_proj_kernel), (key, self.k_proj_kernel),
                                    (value, self.v_proj_kernel))))
        w = self.in_proj_kernel[...]
        if query is key and key is value:
            qkv = query @ w + (0.0 if b is None else b[...])
            return qkv[..., :E], qkv[..., E:2 * E], qkv[..., 2 * E:]
        if key is value:
            kv = key @ w[:, E:] + (0.0 if b is None else b[E:])
            return query @ w[:, :E] + bias(0), kv[..., :E], kv[..., E:]
        return tuple(x @ w[:, i * E:(i + 1) * E] + bias(i) for i, x in enumerate((query, key, value)))

    def __call__(self, query: jax.Array, key: jax.Array, value: jax.Array,
                 key_padding_mask: jax.Array | None = None, need_weights: bool = True,
                 attn_mask: jax.Array | None = None, average_attn_weights: bool = True,
                 is_causal: bool = False):
        batched = self._check(query, key, value, key_padding_mask, attn_mask)
        if is_causal and attn_mask is None:
            raise ValueError("MultiheadAttention(is_causal=True) needs attn_mask, the causal mask it hints at "
                             "(torch raises the same); build it with generate_square_subsequent_mask(L)")
        # batch first inside, identities kept (self-attention projects once)
        to_nle = (lambda t: t[None]) if not batched else (lambda t: t) if self.batch_first else \
            (lambda t: jnp.swapaxes(t, 0, 1))
        q_in = to_nle(query)
        k_in = q_in if key is query else to_nle(key)
        v_in = k_in if value is key else q_in if value is query else to_nle(value)
        q, k, v = self._project(q_in, k_in, v_in)
        N, L, S, H, E = q.shape[0], q.shape[1], k.shape[1], self.num_heads, self.embed_dim
        dtype = q.dtype
        kpm = None if key_padding_mask is None else \
            _bias_from_mask(key_padding_mask, dtype, true_means="ignore", name="key_padding_mask")
        if kpm is not None and not batched:
            kpm = kpm[None]
        use_causal = is_causal and kpm is None and not need_weights  # torch: the hint replaces attn_mask
        mask = None
        if attn_mask is not None and not use_causal:
            mask = _bias_from_mask(attn_mask, dtype, true_means="ignore", name="attn_mask")
            want = [(L, S), (N * H, L, S) if batched else (H, L, S)]
            if tuple(mask.shape) not in want:
                raise ValueError(f"MultiheadAttention: attn_mask must have shape {want[0]} or {want[1]}, got "
                                 f"{tuple(mask.shape)}")
            mask = mask[None, None] if mask.ndim == 2 else mask.reshape(N, H, L, S)
        if self.bias_k is not None:  # one more key and value, never masked
            k = jnp.concatenate([k, jnp.broadcast_to(self.bias_k[...], (N, 1, E)).astype(k.dtype)], axis=1)
            v = jnp.concatenate([v, jnp.broadcast_to(self.bias_v[...], (N, 1, E)).astype(v.dtype)], axis=1)
            mask, kpm = _pad_key(mask), _pad_key(kpm)
        heads = lambda t: t.reshape(N, t.shape[1], H, self.head_dim).transpose(0, 2, 1, 3)
        q, k, v = heads(q), heads(k), heads(v)
        if self.add_zero_attn:  # a zero key and value, never masked
            zeros = jnp.zeros((N, H, 1, self.head_dim), k.dtype)
            k, v = jnp.concatenate([k, zeros], axis=2), jnp.concatenate([v, zeros], axis=2)
            mask, kpm = _pad_key(mask), _pad_key(kpm)
        S = k.shape[2]
        if kpm is not None:
            kpm = kpm[:, None, None, :]
            mask = kpm if mask is None else mask + kpm
        if use_causal:
            mask = _causal_bias(L, S, dtype)
        dropout = self.attn_dropout
        out, weights = _attend(q, k, v, mask, 1.0 / math.sqrt(self.head_dim), zero_masked_rows=not need_weights,
                               dropout=dropout)
        out = self.out_proj(out.transpose(0, 2, 1, 3).reshape(N, L, E))
        out = out[0] if not batched else out if self.batch_first else jnp.swapaxes(out, 0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        return out, weights if batched else weights[0]


def _pad_key(mask):
    """One more key that every query may attend to (torch: ``F.pad(mask, (0, 1))``)."""
    if mask is None:
        return None
    return jnp.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, 1)])

