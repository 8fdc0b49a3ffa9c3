"""jaxdl.port on nn.MultiheadAttention and the transformer layers: the call is read back
from the ops torch.export recorded (query, key, value; key_padding_mask, attn_mask, bool or
float; need_weights and average_attn_weights; the is_causal hint) and written as a call of
the jaxdl layer, compared with torch in eval mode on fixed inputs (masks included)."""

import jax
import numpy as np
import pytest
import torch
from torch import nn

from jaxdl.port import UnsupportedError, port, verify
from tests.port.generated import ruff_check

E, H, N, L, S = 8, 2, 3, 5, 4


def _leaves(out) -> list[np.ndarray]:
    if isinstance(out, torch.Tensor):
        return [out.detach().numpy()]
    if isinstance(out, (tuple, list)):
        return [a for o in out if o is not None for a in _leaves(o)]
    return []


def max_difference(tm, p, *inputs) -> float:
    """max |JAX - torch| over every output (eval mode); NaN and inf where torch has them."""
    xs = [x.numpy() for x in inputs]
    want = _leaves(verify.run_torch(tm, xs))
    got = [np.asarray(a) for a in jax.tree.leaves(verify.run_jax(p.module, verify.to_jax_inputs(xs, p.inputs)))]
    assert len(got) == len(want), (len(got), len(want))
    return max(verify.max_error(g, w)[0] for g, w in zip(got, want))


def ported(tm, inputs, says, tmp_path, tol=1e-5):
    """Port ``tm`` on ``inputs``; the generated code says each of ``says``, passes ruff, and
    its eval outputs match torch's; returns (port, difference)."""
    p = port(tm, *inputs)
    for text in says:
        assert text in p.source, f"{text!r} not in\n{p.source}"
    (tmp_path / "model.py").write_text(p.source)
    ruff_check(tmp_path)
    diff = max_difference(tm, p, *inputs)
    print(f"\n{type(tm).__name__}: max |JAX - torch| = {diff:.2e}")
    assert diff <= tol, diff
    return p, diff


def _padding(n=N, s=S) -> torch.Tensor:
    """A bool key padding mask (True = ignored) with a different length per sequence."""
    mask = torch.zeros(n, s, dtype=torch.bool)
    for i in range(n):
        mask[i, s - i % s:] = True
    return mask


def _causal_bool(t=L, s=S) -> torch.Tensor:
    return torch.ones(t, s, dtype=torch.bool).triu(1)  # True = not attended, query i sees keys 0..i


# ----------------------------------------------------------------------------- modules
class SelfAttention(nn.Module):
    """Batch first, self-attention, the averaged weights returned."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, H, batch_first=True)
        self.head = nn.Linear(E, 3)

    def forward(self, x):
        y, w = self.attn(x, x, x)
        return self.head(y + x), w


class CrossAttention(nn.Module):
    """Sequence first, key is value, need_weights=False (the caller's ``x, _ =``)."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, H)

    def forward(self, q, memory):
        x, _ = self.attn(q, memory, memory, need_weights=False)
        return x


class Distinct(nn.Module):
    """Query, key, value three tensors; the weights per head (average_attn_weights=False)."""

    def __init__(self, batch_first):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, H, batch_first=batch_first)

    def forward(self, q, k, v):
        return self.attn(q, k, v, average_attn_weights=False)


class OnlyWeights(nn.Module):
    """Only the attention weights read: the value's projection is not in the graph."""

    def __init__(self, **kwargs):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, H, **kwargs)

    def forward(self, q, k, v):
        return self.attn(q, k, v)[1].sum(-1)


class Padded(nn.Module):
    """A bool key padding mask, with the weights and without."""

    def __init__(self, batch_first=True):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, H, batch_first=batch_first)

    def forward(self, x, mask):
        y, w = self.attn(x, x, x, key_padding_mask=mask)
        z = self.attn(y, x, x, key_padding_mask=mask, need_weights=False)[0]
        return z, w


class Masked(nn.Module):
    """attn_mask (bool or float, 2-D or 3-D) and, optionally, a key padding mask."""

    def __init__(self, need_weights, batch_first=False):
        super().__init__()
        self.need_weights = need_weights
        self.attn = nn.MultiheadAttention(E, H, batch_first=batch_first)

    def forward(self, q, kv, attn_mask, key_padding_mask=None):
        out, w = self.attn(q, kv, kv, attn_mask=attn_mask, key_padding_mask=key_padding_mask,
                           need_weights=self.need_weights)
        return (out, w) if self.need_weights else out


class Causal(nn.Module):
    """The is_causal hint: with need_weights=False and no key padding mask torch drops
    attn_mask and runs causal attention; the port writes torch's causal mask there."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, H, batch_first=True)

    def forward(self, x, mask):
        return self.attn(x, x, x, attn_mask=mask, is_causal=True, need_weights=False)[0]


class BufferMask(nn.Module):
    """A mask registered as a buffer of the caller; unbatched (L, E) input."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, H)
        self.register_buffer("mask", _causal_bool(L, L))

    def forward(self, x):
        return self.attn(x, x, x, attn_mask=self.mask)


class Odd(nn.Module):
    """kdim and vdim (separate projections), bias_k/bias_v, a zero key, no biases."""

    def __init__(self):
        super().__init__()
        self.attn = nn.MultiheadAttention(E, H, bias=False, add_bias_kv=True, add_zero_attn=True, kdim=5, vdim=3,
                                          batch_first=True)

    def forward(self, q, k, v, mask):
        return self.attn(q, k, v, key_padding_mask=mask)


class Decoder(nn.Module):
    """A TransformerDecoderLayer called with the target and the encoder's memory."""

    def __init__(self, norm_first, batch_first=True):
        super().__init__()
        self.embed = nn.Linear(4, E)
        self.layer = nn.TransformerDecoderLayer(E, H, 16, dropout=0.1, batch_first=batch_first,
                                                norm_first=norm_first)

    def forward(self, tgt, memory):
        return self.layer(self.embed(tgt), memory)


class MaskedDecoder(nn.Module):
    """A TransformerDecoder stack with every mask, and an encoder layer with its own."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.TransformerEncoderLayer(E, H, 16, dropout=0.0)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(E, H, 16, dropout=0.0), 2, norm=nn.LayerNorm(E))

    def forward(self, tgt, src, tgt_mask, src_padding, tgt_padding):
        memory = self.encoder(src, src_key_padding_mask=src_padding)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, tgt_key_padding_mask=tgt_padding,
                            memory_key_padding_mask=src_padding, tgt_is_causal=False)  # None: torch reads the mask


class CausalDecoder(nn.Module):
    """tgt_is_causal=True without a key padding mask: torch drops tgt_mask from the graph."""

    def __init__(self):
        super().__init__()
        self.decoder = nn.TransformerDecoderLayer(E, H, 16, dropout=0.0, batch_first=True)

    def forward(self, tgt, memory, tgt_mask, memory_mask):
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_is_causal=True)


class PaddedEncoder(nn.Module):
    """A batch-first TransformerEncoder with a key padding mask: in eval mode torch's
    inference fast path returns zeros at the padded positions, as jaxdl's eval mode."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(E, H, 16, dropout=0.1, batch_first=True), 2)

    def forward(self, x, padding):
        return self.encoder(x, src_key_padding_mask=padding)


class TinyViT(nn.Module):
    """A ViT in small: patches by a strided conv, a class token and a position embedding
    (nn.Parameters of the model), a pre-norm TransformerEncoder from torch, the class token's head."""

    def __init__(self, patch=4, image=16, dim=16, depth=2, heads=4, classes=5):
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, stride=patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embedding = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.1, activation="gelu", batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth, norm=nn.LayerNorm(dim), enable_nested_tensor=False)
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding
        x = self.encoder(x)
        return self.head(x[:, 0])


# ----------------------------------------------------------------------------- tests
def test_self_attention_batch_first_with_its_averaged_weights(tmp_path):
    torch.manual_seed(0)
    tm = SelfAttention().eval()
    p, _ = ported(tm, [torch.randn(N, L, E)], ["MultiheadAttention(8, 2, batch_first=True, rngs=rngs)",
                                               "y, w = self.attn(x, x, x)"], tmp_path)
    assert verify.check_gradients(tm, p.module, p.inputs, p.output_images) == len(list(tm.parameters()))


def test_cross_attention_sequence_first_without_weights(tmp_path):
    torch.manual_seed(0)
    tm = CrossAttention().eval()
    p, _ = ported(tm, [torch.randn(L, N, E), torch.randn(S, N, E)],
                  ["self.attn = MultiheadAttention(8, 2, rngs=rngs)",
                   "x, _ = self.attn(q, memory, memory, need_weights=False)"], tmp_path)
    assert verify.check_gradients(tm, p.module, p.inputs, p.output_images) == len(list(tm.parameters()))


@pytest.mark.parametrize("batch_first", [True, False])
def test_distinct_query_key_value_with_weights_per_head(batch_first, tmp_path):
    torch.manual_seed(0)
    tm = Distinct(batch_first).eval()
    shape = (lambda n, s: (n, s, E)) if batch_first else (lambda n, s: (s, n, E))
    ported(tm, [torch.randn(*shape(N, L)), torch.randn(*shape(N, S)), torch.randn(*shape(N, S))],
           ["self.attn(q, k, v, average_attn_weights=False)"], tmp_path)


def test_only_the_weights_read(tmp_path):
    """The weights do not depend on the value: key stands in for it (one shape with packed weights)."""
    torch.manual_seed(0)
    tm = OnlyWeights().eval()
    ported(tm, [torch.randn(L, N, E), torch.randn(S, N, E), torch.randn(S, N, E)], ["_, attn_1 = self.attn(q, k, k)"],
           tmp_path)


def test_only_the_weights_read_with_kdim_is_refused_in_one_line():
    torch.manual_seed(0)
    tm = OnlyWeights(kdim=3, vdim=5).eval()
    with pytest.raises(UnsupportedError) as e:
        port(tm, torch.randn(L, N, E), torch.randn(S, N, 3), torch.randn(S, N, 5))
    assert "\n" not in str(e.value)
    assert "nn.MultiheadAttention with kdim or vdim, and only the weights read" in str(e.value)
    assert "module `attn`" in str(e.value)


@pytest.mark.parametrize("batch_first", [True, False])
def test_bool_key_padding_mask_with_and_without_weights(batch_first, tmp_path):
    torch.manual_seed(0)
    tm = Padded(batch_first).eval()
    x = torch.randn(N, L, E) if batch_first else torch.randn(L, N, E)
    ported(tm, [x, _padding(N, L)], ["y, w = self.attn(x, x, x, key_padding_mask=mask)",
                                     "self.attn(y, x, x, key_padding_mask=mask, need_weights=False)"], tmp_path)


def test_float_key_padding_mask(tmp_path):
    torch.manual_seed(0)
    tm = Padded().eval()
    mask = torch.zeros(N, L).masked_fill(_padding(N, L), float("-inf")) + 0.5 * torch.randn(N, L)  # additive
    ported(tm, [torch.randn(N, L, E), mask], ["key_padding_mask=mask"], tmp_path)


MASKS = {
    "bool 2-D": lambda: _causal_bool(),
    "float 2-D": lambda: torch.randn(L, S),  # additive
    "float 3-D": lambda: torch.randn(N * H, L, S),  # per batch and head
    "float -inf 2-D": lambda: torch.zeros(L, S).masked_fill(_causal_bool(), float("-inf")),
}


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("mask", MASKS)
def test_attn_mask_bool_and_additive(mask, need_weights, tmp_path):
    torch.manual_seed(0)
    tm = Masked(need_weights).eval()
    says = ["self.attn(q, kv, kv, attn_mask=attn_mask" if need_weights else
            "self.attn(q, kv, kv, need_weights=False, attn_mask=attn_mask)"]
    ported(tm, [torch.randn(L, N, E), torch.randn(S, N, E), MASKS[mask]()], says, tmp_path)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("kind", ["bool", "float"])  # both of one kind (torch deprecates mixing them)
def test_attn_mask_and_key_padding_mask_together(kind, need_weights, tmp_path):
    torch.manual_seed(0)
    tm = Masked(need_weights, batch_first=True).eval()
    masks = [_causal_bool(), _padding()]
    if kind == "float":
        masks = [torch.randn(L, S), torch.zeros(N, S).masked_fill(_padding(), float("-inf"))]
    ported(tm, [torch.randn(N, L, E), torch.randn(N, S, E), *masks],
           ["attn_mask=attn_mask", "key_padding_mask=key_padding_mask"], tmp_path)


def test_the_is_causal_hint_writes_torchs_causal_mask(tmp_path):
    torch.manual_seed(0)
    tm = Causal().eval()
    mask = torch.zeros(L, L).masked_fill(_causal_bool(L, L), float("-inf"))
    ported(tm, [torch.randn(N, L, E), mask],
           ["attn_mask=jnp.triu(jnp.full((x.shape[1], x.shape[1]), -jnp.inf), 1), is_causal=True"], tmp_path)


def test_a_buffer_mask_and_unbatched_input(tmp_path):
    torch.manual_seed(0)
    tm = BufferMask().eval()
    ported(tm, [torch.randn(L, E)], ["= self.attn(x, x, x, attn_mask=self.mask[...])"], tmp_path)


def test_separate_projections_bias_kv_and_zero_attention(tmp_path):
    torch.manual_seed(0)
    tm = Odd().eval()
    ported(tm, [torch.randn(N, L, E), torch.randn(N, S, 5), torch.randn(N, S, 3), _padding()],
           ["add_zero_attn=True,\n            kdim=5,", "self.attn(q, k, v, key_padding_mask=mask)"],
           tmp_path)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_with_target_and_memory(norm_first, tmp_path):
    torch.manual_seed(0)
    tm = Decoder(norm_first).eval()
    p, _ = ported(tm, [torch.randn(N, L, 4), torch.randn(N, S, E)], ["self.layer(self.embed(tgt), memory)"],
                  tmp_path)
    assert verify.check_gradients(tm, p.module, p.inputs, p.output_images) == len(list(tm.parameters()))


def test_decoder_stack_with_every_mask(tmp_path):
    torch.manual_seed(0)
    tm = MaskedDecoder().eval()
    tgt_mask = torch.zeros(L, L).masked_fill(_causal_bool(L, L), float("-inf"))
    ported(tm, [torch.randn(L, N, E), torch.randn(S, N, E), tgt_mask, _padding(N, S), _padding(N, L)],
           ["memory = self.encoder(src, src_key_padding_mask=src_padding)",
            "self.decoder(tgt, memory, tgt_mask=tgt_mask, tgt_key_padding_mask=tgt_padding, "
            "memory_key_padding_mask=src_padding)"], tmp_path)


def test_the_decoders_causal_hint(tmp_path):
    torch.manual_seed(0)
    tm = CausalDecoder().eval()
    tgt_mask = torch.zeros(L, L).masked_fill(_causal_bool(L, L), float("-inf"))
    ported(tm, [torch.randn(N, L, E), torch.randn(N, S, E), tgt_mask, torch.randn(L, S)],
           ["self.decoder(tgt, memory, tgt_mask=jnp.triu(jnp.full((tgt.shape[1], tgt.shape[1]), -jnp.inf), 1), "
            "memory_mask=memory_mask, tgt_is_causal=True)"], tmp_path)


def test_encoder_with_padding_zeros_at_padded_positions_as_torch_eval(tmp_path):
    torch.manual_seed(0)
    tm = PaddedEncoder().eval()
    x, padding = torch.randn(N, L, E), _padding(N, L)
    with torch.no_grad():
        assert (tm(x, padding)[padding] == 0).all()  # torch's inference fast path
    ported(tm, [x, padding], ["return self.encoder(x, src_key_padding_mask=padding)"], tmp_path)


def test_a_tiny_vit(tmp_path):
    torch.manual_seed(0)
    tm = TinyViT().eval()
    p, _ = ported(tm, [torch.randn(2, 3, 16, 16)], ["x = self.encoder(x)"], tmp_path)
    assert verify.check_gradients(tm, p.module, p.inputs, p.output_images) == len(list(tm.parameters()))


@pytest.mark.slow
def test_torchvision_vit_b_32_within_the_zoo_rule(monkeypatch):
    """torchvision's vit_b_32 at 224 (random weights) through the sweep's own check. torchvision
    initialises the classification head to zero, so its logits are 0 whatever the encoder
    computes: the head gets random weights here, or the comparison would say nothing."""
    from jaxdl.port import zoo

    build = zoo.build

    def with_a_head(name):
        net, x = build(name)
        gen = torch.Generator().manual_seed(3)
        with torch.no_grad():
            for t in (net.heads.head.weight, net.heads.head.bias):
                t.copy_(0.02 * torch.randn(t.shape, generator=gen))
        return net, x

    monkeypatch.setattr(zoo, "build", with_a_head)
    row = zoo.check("vit_b_32")
    print(f"\nvit_b_32: {row.status}, diff {row.diff}, torch f32 vs f64 {row.torch_vs_f64}, JAX vs f64 "
          f"{row.jax_vs_f64}, port {row.port_s} s")
    assert row.status == "pass", f"{row.stage}: {row.reason}\n{row.traceback}"
    assert row.params_port == row.params_torch
    assert row.torch_vs_f64 > 0  # logits that are not all zero
