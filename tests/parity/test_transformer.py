"""nn.TransformerEncoder/Decoder and their layers against torch: post- and pre-norm,
relu and gelu, batch_first either way, padding and causal masks, the final norm, built
through the records (the stacks' torch_arguments hold torch modules, built in turn) and
loaded with from_torch (state_dict keys torch's, round trip bit-exact).

Train mode without dropout and eval mode with dropout (off in eval): outputs, input
gradients and every parameter's gradient (tests/parity/test_recurrent.py's
``compare_with_torch``). torch's inference fast path for the encoder (nested tensors:
zeros at padded positions) against jaxdl's eval mode.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxdl.layers import (
    TransformerEncoderLayer,
    UnsupportedSetting,
    generate_square_subsequent_mask,
)
from tests.parity.test_recurrent import compare_with_torch, jaxdl_layer

nn = torch.nn
RNG = np.random.default_rng(0)
N, S, T, E = 2, 5, 4, 8


def _x(*shape):
    return RNG.normal(size=shape).astype(np.float32)


def _padding(n, s, pad=2):
    m = np.zeros((n, s), bool)
    m[-1, s - pad:] = True
    return m


def _encoder(m, src, src_key_padding_mask=None):
    return m(src, src_key_padding_mask=src_key_padding_mask)


def _decoder(m, tgt, memory, tgt_mask=None, memory_key_padding_mask=None, tgt_key_padding_mask=None):
    return m(tgt, memory, tgt_mask=tgt_mask, memory_key_padding_mask=memory_key_padding_mask,
             tgt_key_padding_mask=tgt_key_padding_mask)


def _layer(cls, **kw):
    return lambda: cls(E, 2, dim_feedforward=16, **kw)


CASES = {  # name: (torch module, call, inputs, train)
    "encoder_post_norm_relu_batch_first_padding_final_norm": (
        lambda: nn.TransformerEncoder(_layer(nn.TransformerEncoderLayer, dropout=0.0, batch_first=True)(), 2,
                                      norm=nn.LayerNorm(E)),
        _encoder, {"src": _x(N, S, E), "src_key_padding_mask": _padding(N, S)}, True),
    "encoder_layer_pre_norm_gelu_causal_hint": (
        _layer(nn.TransformerEncoderLayer, dropout=0.0, activation="gelu", norm_first=True),
        lambda m, src, src_mask: m(src, src_mask=src_mask, is_causal=True),
        {"src": _x(S, N, E), "src_mask": np.asarray(generate_square_subsequent_mask(S))}, True),
    "decoder_post_norm_causal_bool_memory_padding": (
        lambda: nn.TransformerDecoder(_layer(nn.TransformerDecoderLayer, dropout=0.0)(), 1, norm=nn.LayerNorm(E)),
        _decoder, {"tgt": _x(T, N, E), "memory": _x(S, N, E), "tgt_mask": np.triu(np.ones((T, T), bool), 1),
                   "memory_key_padding_mask": _padding(N, S)}, True),
    "decoder_layer_pre_norm_gelu_batch_first_no_bias_float_masks_eval": (
        _layer(nn.TransformerDecoderLayer, dropout=0.2, activation="gelu", norm_first=True, batch_first=True,
               bias=False),
        _decoder, {"tgt": _x(N, T, E), "memory": _x(N, S, E),
                   "tgt_mask": np.asarray(generate_square_subsequent_mask(T)),
                   "tgt_key_padding_mask": np.where(_padding(N, T, 1), -np.inf, 0.0).astype(np.float32)}, False),
}


def _randomise(tm):
    with torch.no_grad():  # LayerNorm 1/0 and zero attention biases would hide swapped parameters
        for p in tm.parameters():
            p.add_(0.3 * torch.randn_like(p))


@pytest.mark.parametrize("name", CASES)
def test_transformer_matches_torch(name):
    make, call, inputs, train = CASES[name]
    torch.manual_seed(0)
    tm = make()
    _randomise(tm)
    diffs = compare_with_torch(tm, jaxdl_layer(tm), inputs, call, train=train)
    assert len([k for k in diffs if k.startswith("grad ")]) == len(list(tm.parameters())) + len(
        [k for k, v in inputs.items() if v.dtype.kind == "f" and "mask" not in k])


def test_encoder_eval_gives_torchs_inference_output_zeros_at_padding():
    """torch under no_grad in eval mode runs the encoder on nested tensors: padded positions
    come back 0 (then the final norm: its bias); jaxdl's eval mode does the same, its
    train mode (and torch's with autograd) computes them."""
    torch.manual_seed(0)
    tm = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, 2, 16, dropout=0.1, batch_first=True), 2,
                               norm=nn.LayerNorm(E)).eval()
    _randomise(tm)
    jm = jaxdl_layer(tm)
    jm.eval()
    x, kpm = _x(N, S, E), _padding(N, S)
    with torch.no_grad():
        want = tm(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(kpm)).numpy()
    got = np.asarray(jm(jnp.asarray(x), src_key_padding_mask=jnp.asarray(kpm)))
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max())
    np.testing.assert_allclose(got[kpm], np.broadcast_to(tm.norm.bias.detach().numpy(), got[kpm].shape), atol=1e-6)
    with torch.no_grad():  # padding not at the end: torch keeps the regular path, as jaxdl
        kpm_mid = np.roll(kpm, -1, axis=1)
        want = tm(torch.from_numpy(x), src_key_padding_mask=torch.from_numpy(kpm_mid)).numpy()
    got = np.asarray(jm(jnp.asarray(x), src_key_padding_mask=jnp.asarray(kpm_mid)))
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max())


def test_records_refuse_what_they_cannot_mirror():
    with pytest.raises(UnsupportedSetting, match=r"activation=<built-in method tanh"):
        TransformerEncoderLayer.torch_arguments(nn.TransformerEncoderLayer(E, 2, activation=torch.tanh))
    args = TransformerEncoderLayer.torch_arguments(nn.TransformerEncoderLayer(E, 2, activation=nn.GELU()))
    assert args["activation"] == "gelu" and args["dim_feedforward"] == 2048 and args["dropout"] == 0.1
    with pytest.raises(UnsupportedSetting, match="activation=GELU"):
        TransformerEncoderLayer.torch_arguments(nn.TransformerEncoderLayer(E, 2, activation=nn.GELU("tanh")))
