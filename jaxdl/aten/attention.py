"""Scaled dot-product attention with torch's mask rules.

torch: F.scaled_dot_product_attention (what nn.MultiheadAttention and
nn.Transformer*Layer call).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxdl.aten.dtypes import promote, to_array
from jaxdl.aten.registry import aten_op
from jaxdl.aten.stochastic import dropout


@aten_op("scaled_dot_product_attention")
def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None,
                                 enable_gqa=False, *, rng=None):
    """torch: F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal,
    scale, enable_gqa) on (..., L, E) queries and (..., S, E) keys: a boolean
    ``attn_mask`` marks the positions that take part (True = attend), a float one is
    added to the scores; ``is_causal`` keeps the lower-left triangle; a query row with
    no position left gets zeros (torch's safe softmax). ``dropout_p > 0`` needs ``rng``."""
    q, k, v = promote(query, key, value)
    if enable_gqa and k.ndim >= 3 and k.shape[-3] != q.shape[-3]:
        k = jnp.repeat(k, q.shape[-3] // k.shape[-3], axis=-3)
        v = jnp.repeat(v, q.shape[-3] // v.shape[-3], axis=-3)
    length, source = q.shape[-2], k.shape[-2]
    factor = 1 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = jnp.matmul(q, jnp.swapaxes(k, -1, -2)) * jnp.asarray(factor, q.dtype)
    allowed = None
    if is_causal:
        allowed = jnp.tril(jnp.ones((length, source), bool))
    if attn_mask is not None:
        mask = to_array(attn_mask)
        if mask.dtype == jnp.bool_:
            allowed = mask if allowed is None else allowed & mask
        else:
            scores = scores + mask.astype(scores.dtype)
    if allowed is not None:
        scores = jnp.where(allowed, scores, -jnp.inf)
    row_max = jnp.max(scores, axis=-1, keepdims=True)
    dead = jnp.isneginf(row_max)  # every position masked: torch's safe softmax gives zeros
    weights = jax.nn.softmax(jnp.where(dead, 0.0, scores), axis=-1)
    weights = jnp.where(dead, 0.0, weights)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, True, rng=rng)
    return jnp.matmul(weights, v)
