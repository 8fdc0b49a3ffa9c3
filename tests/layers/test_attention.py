"""jaxdl.layers' attention without torch: attention dropout (train mode only, kept weights
scaled by 1/(1-p), a fraction p dropped), the errors that say what to do, and lowering
for GPU and TPU (the same plain-XLA program on every platform)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import stats

from jaxdl.layers import (
    LSTM,
    MultiheadAttention,
    TransformerEncoder,
    TransformerEncoderLayer,
    scaled_dot_product_attention,
)


def _binomial_ok(dropped: np.ndarray, p: float) -> bool:
    return stats.binomtest(int(dropped.sum()), dropped.size, p).pvalue > 1e-3


def test_attention_dropout_scales_kept_weights():
    p = 0.25
    m = MultiheadAttention(8, 2, dropout=p, batch_first=True, rngs=nnx.Rngs(0))
    x = np.random.default_rng(0).normal(size=(16, 12, 8)).astype(np.float32)
    _, w_train = nnx.jit(lambda m, x: m(x, x, x, average_attn_weights=False))(m, jnp.asarray(x))
    w_train = np.asarray(w_train)  # as torch returns them: after dropout
    q, k = (x @ np.asarray(m.in_proj_kernel[...])[:, i * 8:(i + 1) * 8] for i in (0, 1))  # zero biases
    q, k = (t.reshape(16, 12, 2, 4).transpose(0, 2, 1, 3) for t in (q, k))
    scores = q @ k.transpose(0, 1, 3, 2) / 2.0  # sqrt(head_dim)
    w = np.exp(scores - scores.max(-1, keepdims=True))
    w /= w.sum(-1, keepdims=True)
    kept = w_train != 0
    np.testing.assert_allclose(w_train[kept], w[kept] / (1 - p), rtol=1e-4)
    assert _binomial_ok(~kept, p)  # 4,608 weights (eval mode: tests/parity/test_attention.py, dropout 0.3)


def test_sdpa_dropout_needs_a_key_and_scales_kept_weights():
    q, k = (jnp.asarray(np.random.default_rng(i).normal(size=(4, 2, 16, 8)), jnp.float32) for i in (1, 2))
    v = jnp.broadcast_to(jnp.eye(16), (4, 2, 16, 16))  # value = identity: the output is the weight matrix
    full, dropped = (np.asarray(a) for a in jax.jit(lambda r: (
        scaled_dot_product_attention(q, k, v), scaled_dot_product_attention(q, k, v, dropout_p=0.5, dropout_rng=r)))(
        jax.random.key(0)))
    kept = dropped != 0
    np.testing.assert_allclose(dropped[kept], full[kept] / 0.5, rtol=1e-5)
    assert _binomial_ok(~kept, 0.5)
    with pytest.raises(ValueError, match="dropout_p > 0 needs dropout_rng"):
        scaled_dot_product_attention(q, k, v, dropout_p=0.1)


@pytest.mark.parametrize("call,error,match", [
    (lambda m, x: m(x, x, x, is_causal=True), ValueError, "is_causal=True.* needs attn_mask"),
    (lambda m, x: m(x, x[..., :4], x), ValueError, "key must have 8 features"),
    (lambda m, x: m(x, x, x, attn_mask=jnp.ones((3, 3), jnp.int32)), TypeError, "bool or floating-point"),
    (lambda m, x: m(x, x, x, attn_mask=jnp.ones((2, 3), bool)), ValueError, r"attn_mask must have shape \(3, 3\)"),
    (lambda m, x: m(x, x, x, key_padding_mask=jnp.ones((3, 2), bool)), ValueError,
     r"key_padding_mask must be \(N, S\) = \(2, 3\)"),
    (lambda m, x: m(x[0], x, x), ValueError, "all 3-D .* or all 2-D"),
])
def test_bad_input_says_what_was_expected(call, error, match):
    m = MultiheadAttention(8, 2, rngs=nnx.Rngs(0))
    with pytest.raises(error, match=match):
        call(m, jnp.ones((3, 2, 8)))  # (L, N, E)


def test_bad_settings_and_sdpa_arguments_are_refused():
    with pytest.raises(ValueError, match="embed_dim=10 must be divisible by num_heads=4"):
        MultiheadAttention(10, 4, rngs=nnx.Rngs(0))
    q = jnp.ones((2, 3, 4))
    with pytest.raises(ValueError, match="either attn_mask or is_causal=True"):
        scaled_dot_product_attention(q, q, q, attn_mask=jnp.ones((3, 3), bool), is_causal=True)
    with pytest.raises(ValueError, match="query's 3 heads are not a multiple of key's 2"):
        scaled_dot_product_attention(jnp.ones((3, 4, 8)), jnp.ones((2, 4, 8)), jnp.ones((2, 4, 8)), enable_gqa=True)


def test_layers_lower_for_gpu_and_tpu():
    """No per-platform branch: the program exported for cuda and tpu is the CPU's."""
    enc = TransformerEncoder(TransformerEncoderLayer(8, 2, 16, batch_first=True, rngs=nnx.Rngs(0)), 2)
    lstm = LSTM(8, 4, num_layers=2, bidirectional=True, rngs=nnx.Rngs(0))
    for model, x in ((enc, jnp.ones((2, 5, 8))), (lstm, jnp.ones((5, 2, 8)))):
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        f = jax.jit(jax.grad(
            lambda p, x, g=graphdef, r=rest: jnp.sum(jax.tree.leaves(nnx.merge(g, p, r, copy=True)(x))[0])))
        exported = jax.export.export(f, platforms=["cuda", "tpu"])(params, x)
        assert exported.platforms == ("cuda", "tpu")
