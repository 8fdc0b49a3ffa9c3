"""nn.MultiheadAttention and F.scaled_dot_product_attention against torch: batch_first
either way, self- and cross-attention, kdim/vdim, bias=False, add_bias_kv, add_zero_attn,
bool and float key-padding and attention masks (2-D and per head), need_weights with and
without averaging, is_causal, and torch's answers for queries whose keys are all masked
(NaN with need_weights, 0 without; 0 from scaled_dot_product_attention).

Outputs, attention weights, input gradients and every parameter's gradient within 1e-5 of
their scale (tests/parity/test_recurrent.py's ``compare_with_torch``); torch's eval-mode
fast path (``torch._native_multi_head_attention`` under ``no_grad``) against jaxdl's eval
mode; the state_dict round trip bit-exact; the init distribution by KS tests.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flax import nnx
from scipy import stats

from jaxdl import interop
from jaxdl.layers import MultiheadAttention, scaled_dot_product_attention
from tests.parity.test_recurrent import P_MIN, compare_with_torch, jaxdl_layer

nn = torch.nn
RNG = np.random.default_rng(0)


def _x(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def _causal(L, S=None):
    return np.triu(np.ones((L, S or L), bool), 1)  # MultiheadAttention's bool mask: True = not attended


def _padding(N, S, pad=2):
    m = np.zeros((N, S), bool)
    m[-1, S - pad:] = True  # the last sequence ends in padding
    return m


def _self(m, x, key_padding_mask=None, attn_mask=None, *, need_weights=True, average=True, is_causal=False):
    return m(x, x, x, key_padding_mask=key_padding_mask, attn_mask=attn_mask, need_weights=need_weights,
             average_attn_weights=average, is_causal=is_causal)


def _cross(m, q, k, v, key_padding_mask=None, attn_mask=None, *, need_weights=True, average=True):
    return m(q, k, v, key_padding_mask=key_padding_mask, attn_mask=attn_mask, need_weights=need_weights,
             average_attn_weights=average)


N, L, S = 2, 4, 5
CASES = {  # name: (torch module, call, inputs)
    "self_seq_first_bool_masks_weights": (
        lambda: nn.MultiheadAttention(8, 2), _self,
        {"x": _x(L, N, 8), "key_padding_mask": _padding(N, L), "attn_mask": _causal(L)}),
    "cross_batch_first_kdim_vdim_bias_kv_zero_attn_float_masks_per_head": (
        lambda: nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, kdim=5, vdim=3, batch_first=True),
        lambda m, **a: _cross(m, **a, average=False),
        {"q": _x(N, L, 8), "k": _x(N, S, 5), "v": _x(N, S, 3),
         "key_padding_mask": np.where(_padding(N, S), -np.inf, _x(N, S)).astype(np.float32),
         "attn_mask": _x(N * 2, L, S)}),
    "cross_no_bias_no_weights_3d_bool_mask": (
        lambda: nn.MultiheadAttention(8, 4, bias=False), lambda m, **a: _cross(m, **a, need_weights=False),
        {"q": _x(L, N, 8), "k": _x(S, N, 8), "v": _x(S, N, 8), "attn_mask": RNG.random((N * 4, L, S)) < 0.3}),
    "self_is_causal_hint_no_weights": (
        lambda: nn.MultiheadAttention(8, 2, batch_first=True),
        lambda m, **a: _self(m, **a, need_weights=False, is_causal=True),
        {"x": _x(N, L, 8), "attn_mask": _causal(L)}),
    "self_unbatched_per_head_mask": (
        lambda: nn.MultiheadAttention(8, 2), lambda m, **a: _self(m, **a, average=False),
        {"x": _x(L, 8), "attn_mask": _x(2, L, L), "key_padding_mask": np.array([False, False, True, False])}),
}


def _nonzero_biases(tm):
    with torch.no_grad():  # torch initialises them to 0, which would hide a misplaced bias
        for name, p in tm.named_parameters():
            if "bias" in name:
                p.normal_()


@pytest.mark.parametrize("name", CASES)
def test_multihead_attention_matches_torch(name):
    make, call, inputs = CASES[name]
    torch.manual_seed(0)
    tm = make()
    _nonzero_biases(tm)
    diffs = compare_with_torch(tm, jaxdl_layer(tm), inputs, call, train=True)
    assert any(k.startswith("grad out_proj") for k in diffs)


def test_eval_mode_matches_torchs_inference_fast_path():
    """torch's eval mode under no_grad runs ``_native_multi_head_attention`` (batch_first
    self-attention); attention dropout is off in eval on both sides."""
    torch.manual_seed(0)
    tm = nn.MultiheadAttention(8, 2, dropout=0.3, batch_first=True).eval()
    _nonzero_biases(tm)
    jm = jaxdl_layer(tm)
    jm.eval()
    x, kpm = _x(N, L, 8), _padding(N, L)
    with torch.no_grad():
        out_t, w_t = tm(*[torch.from_numpy(x)] * 3, key_padding_mask=torch.from_numpy(kpm))
    out_j, w_j = jm(*[jnp.asarray(x)] * 3, key_padding_mask=jnp.asarray(kpm))
    np.testing.assert_allclose(np.asarray(out_j), out_t.numpy(), atol=1e-5 * np.abs(out_t.numpy()).max())
    np.testing.assert_allclose(np.asarray(w_j), w_t.numpy(), atol=1e-6)


@pytest.mark.parametrize("need_weights", [True, False])
def test_queries_with_every_key_masked_as_torch(need_weights):
    """NaN rows with need_weights (torch's explicit softmax); zeros, and zero gradients,
    without (torch's scaled_dot_product_attention), so that out_proj gives its bias."""
    torch.manual_seed(0)
    tm = nn.MultiheadAttention(8, 2, batch_first=True)
    _nonzero_biases(tm)
    jm = jaxdl_layer(tm)
    x, kpm = _x(N, L, 8), _padding(N, L, pad=L)  # the last sequence: all padding
    xt = torch.tensor(x, requires_grad=True)
    out_t, _ = tm(xt, xt, xt, key_padding_mask=torch.from_numpy(kpm), need_weights=need_weights)
    out_j, _ = jm(*[jnp.asarray(x)] * 3, key_padding_mask=jnp.asarray(kpm), need_weights=need_weights)
    np.testing.assert_array_equal(np.isnan(np.asarray(out_j)), np.isnan(out_t.detach().numpy()))
    assert np.isnan(np.asarray(out_j)[-1]).all() == need_weights
    np.testing.assert_allclose(np.asarray(out_j)[:-1], out_t.detach().numpy()[:-1], atol=1e-5)
    if not need_weights:
        np.testing.assert_allclose(np.asarray(out_j)[-1], np.broadcast_to(tm.out_proj.bias.detach().numpy(), (L, 8)),
                                   atol=1e-6)
        out_t.sum().backward()
        gx = nnx.jit(nnx.grad(lambda x, m: m(x, x, x, key_padding_mask=jnp.asarray(kpm), need_weights=False)[0].sum()))(
            jnp.asarray(x), jm)
        assert np.isfinite(np.asarray(gx)).all()
        np.testing.assert_allclose(np.asarray(gx), xt.grad.numpy(), atol=1e-5)


SDPA_CASES = {  # name: (q, k, v shapes, mask, kwargs)
    "bool_mask_one_row_all_false": ((2, 2, 4, 8), (2, 2, 6, 8), (2, 2, 6, 5),
                                    np.array([[1, 1, 0, 0, 1, 0], [0] * 6, [1] * 6, [0, 1, 0, 1, 0, 1]], bool), {}),
    "float_mask_with_minus_inf_rows": ((2, 2, 4, 8), (2, 2, 6, 8), (2, 2, 6, 8),
                                       np.where(RNG.random((2, 1, 4, 6)) < 0.4, -np.inf, _x(2, 1, 4, 6)), {}),
    "causal_longer_keys_scale": ((2, 3, 4, 8), (2, 3, 6, 8), (2, 3, 6, 8), None, {"is_causal": True, "scale": 0.7}),
    "causal_fewer_keys_unbatched": ((5, 8), (3, 8), (3, 4), None, {"is_causal": True}),
    "grouped_query_heads": ((2, 4, 4, 8), (2, 2, 6, 8), (2, 2, 6, 8), None, {"enable_gqa": True}),
}


@pytest.mark.parametrize("name", SDPA_CASES)
def test_scaled_dot_product_attention_matches_torch(name):
    qs, ks, vs, mask, kwargs = SDPA_CASES[name]
    q, k, v = _x(*qs), _x(*ks), _x(*vs)
    r = _x(*qs[:-1], vs[-1])
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    tmask = None if mask is None else torch.from_numpy(
        np.asarray(mask, mask.dtype if mask.dtype == bool else np.float32))
    out_t = F.scaled_dot_product_attention(*ts, attn_mask=tmask, **kwargs)
    (out_t * torch.from_numpy(r)).sum().backward()
    jmask = None if mask is None else jnp.asarray(tmask.numpy())

    def f(q, k, v):
        return scaled_dot_product_attention(q, k, v, attn_mask=jmask, **kwargs)

    out_j, grads = jax.jit(lambda r, *a: (f(*a), jax.vjp(f, *a)[1](r)))(jnp.asarray(r), *map(jnp.asarray, (q, k, v)))
    scale = max(1.0, float(np.abs(out_t.detach().numpy()).max()))
    np.testing.assert_allclose(np.asarray(out_j), out_t.detach().numpy(), atol=1e-5 * scale)
    for g, t in zip(grads, ts):
        assert np.isfinite(np.asarray(g)).all()
        np.testing.assert_allclose(np.asarray(g), t.grad.numpy(), atol=1e-5 * max(1.0, float(t.grad.abs().max())))


def test_init_is_torchs_distribution():
    """xavier-uniform in_proj_weight (as one (3E, E) tensor) and kdim/vdim projections,
    xavier-normal bias_k/bias_v, torch's Linear init for out_proj, zero biases."""
    def jax_side(i):
        return [interop.to_torch(MultiheadAttention(128, 4, add_bias_kv=True, rngs=nnx.Rngs(i))),
                interop.to_torch(MultiheadAttention(64, 2, kdim=32, vdim=96, rngs=nnx.Rngs(i)))]

    def torch_side(i):
        torch.manual_seed(i)
        return [nn.MultiheadAttention(128, 4, add_bias_kv=True).state_dict(),
                nn.MultiheadAttention(64, 2, kdim=32, vdim=96).state_dict()]

    def draws(make):  # {(module, key): every value drawn over 10 seeds}
        sds = [make(i) for i in range(10)]
        return {(m, k): np.concatenate([sd[m][k].numpy().ravel() for sd in sds]) for m in (0, 1) for k in sds[0][m]}

    j, t = draws(jax_side), draws(torch_side)
    assert sorted(j) == sorted(t)
    for key in j:
        if key[1].endswith("bias") and not key[1].startswith("bias_"):
            assert not j[key].any() and not t[key].any(), key  # in_proj_bias, out_proj.bias: zeros
            continue
        assert j[key].size == t[key].size >= 1280, key
        assert stats.ks_2samp(j[key], t[key]).pvalue > P_MIN, key
    assert np.abs(j[0, "in_proj_weight"]).max() <= np.sqrt(6 / (128 + 3 * 128))
