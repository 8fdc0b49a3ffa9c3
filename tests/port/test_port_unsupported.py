"""What jaxdl.port cannot port stops with one message naming the op (or layer) and the
module path; ``partial=True`` (``--partial``) writes the rest with a stub that raises
there."""

import jax.numpy as jnp
import pytest
import torch
from torch import nn

from jaxdl.port import UnsupportedError, port, verify
from tests.port import constructs as C
from tests.port.generated import ruff_check


def test_an_op_without_mapping_names_the_op_the_module_and_the_line():
    with pytest.raises(UnsupportedError) as e:
        port(C.FFTNet(), torch.randn(3, 4))
    msg = str(e.value)
    assert "jaxdl_port_tests.mystery" in msg and "module `spec` (Spectral)" in msg
    assert "mystery(self.fc(x))[:, :5]" in msg  # the user's line
    assert e.value.path == "spec"


def test_partial_port_writes_the_rest_with_a_stub_that_raises_there(tmp_path):
    torch.manual_seed(0)
    tm = C.FFTNet()
    p = port(tm, torch.randn(3, 4), partial=True)
    assert len(p.unsupported) == 1 and "jaxdl_port_tests.mystery" in p.unsupported[0]
    assert "raise NotImplementedError(" in p.source.split("class Spectral", 1)[1].split("class FFTNet")[0]
    jm = p.module  # every weight is there
    torch_h = torch.relu(tm.inp(torch.ones(3, 4))).detach().numpy()
    assert jnp.allclose(jax_relu(jm.inp(jnp.ones((3, 4)))), torch_h, atol=1e-6)
    with pytest.raises(NotImplementedError, match="jaxdl_port_tests.mystery"):
        jm(jnp.ones((3, 4)))
    p.write(tmp_path, torch_factory="tests.port.constructs:FFTNet")
    ruff_check(tmp_path)


def jax_relu(x):
    return jnp.maximum(x, 0)


def test_data_dependent_control_flow_names_the_module_and_the_branch():
    with pytest.raises(UnsupportedError) as e:
        port(C.GateNet(), torch.randn(3, 4))
    msg = str(e.value)
    assert "data-dependent control flow" in msg and "module `gate` (Gate)" in msg
    assert "if x.sum() > 0:" in msg and "torch.where" in msg


def test_partial_port_stubs_the_module_with_data_dependent_control_flow():
    torch.manual_seed(0)
    tm = C.GateNet()
    p = port(tm, torch.randn(3, 4), partial=True)
    assert "module `gate` (Gate)" in p.unsupported[0]
    assert "self.a = Linear(8, 8, rngs=rngs)" in p.source  # the stub keeps its layers and weights
    assert jnp.allclose(p.module.gate.a.kernel[...], tm.gate.a.weight.detach().numpy().T)
    with pytest.raises(NotImplementedError, match="data-dependent"):
        p.module(jnp.ones((3, 4)))


class Attend(nn.Module):
    def __init__(self):
        super().__init__()
        self.mha = nn.MultiheadAttention(4, 1, batch_first=True)

    def forward(self, x):
        return self.mha(x, x, x)[0]


@pytest.mark.parametrize("model, x, says", [
    (C.DeepLSTM, torch.randn(5, 2, 3), None),  # num_layers=2 ports since jaxdl.layers.LSTM has it
    (Attend, torch.randn(2, 3, 4), None),  # ports since the MultiheadAttention handler
])
def test_unsupported_layers_and_parameters_are_named(model, x, says):
    if says is None:
        tm = model()
        p = port(tm, x)
        assert not p.unsupported and verify.check_eval_outputs(tm, p.module, p.inputs, p.output_images) <= 1e-5
        return
    with pytest.raises(UnsupportedError) as e:
        port(model(), x)
    assert "\n" not in str(e.value)
    for text in says:
        assert text in str(e.value)


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="needs example inputs"):
        port(C.Stack())
    with pytest.raises(TypeError, match="torch.nn.Module"):
        port(lambda x: x, torch.randn(2, 8))


class Misfit(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8 * 6 * 6, 4)

    def forward(self, x):
        return self.fc(self.c(x).flatten(1))


@pytest.mark.parametrize("partial", [False, True])
def test_an_example_input_that_does_not_fit_the_model_is_one_line(partial):
    with pytest.raises(UnsupportedError) as e:
        port(Misfit(), torch.randn(2, 3, 9, 9), partial=partial)
    msg = str(e.value)
    assert "\n" not in msg
    assert type(e.value).__name__ == "InputMismatchError" and e.value.partial_helps is False
    assert "the example input of shape 2x3x9x9 does not fit the model" in msg
    assert "module `fc` (Linear)" in msg and "test_port_unsupported.py" in msg
    assert "`return self.fc(self.c(x).flatten(1))`" in msg  # the user's line, not torch's linear.py
    assert "mat1 and mat2 shapes cannot be multiplied (2x392 and 288x4)" in msg  # torch's own words, real sizes
    assert "of the size the model was built for" in msg and "partial" not in msg


class MaskedEncoder(nn.Module):
    def __init__(self, is_causal=None):
        super().__init__()
        layer = nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.is_causal = is_causal

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        if self.is_causal is None:
            return self.enc(x, mask=mask)
        return self.enc(x, mask=mask, is_causal=self.is_causal)


class MaskedDecoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, batch_first=True), 1)

    def forward(self, x):
        mask = nn.Transformer.generate_square_subsequent_mask(x.shape[1])
        return self.dec(x, x, tgt_mask=mask)


@pytest.mark.parametrize("model, arg, names", [
    (MaskedEncoder, "is_causal", ["nn.TransformerEncoder called with `mask`", "module `enc` (TransformerEncoder)",
                                  "`return self.enc(x, mask=mask)`"]),
    (MaskedDecoder, "tgt_is_causal", ["nn.TransformerDecoder called with `tgt_mask`",
                                      "module `dec` (TransformerDecoder)", "`return self.dec(x, x, tgt_mask=mask)`"]),
])
def test_a_transformer_mask_without_is_causal_says_to_pass_it(model, arg, names):
    with pytest.raises(UnsupportedError) as e:
        port(model(), torch.randn(2, 5, 8))
    msg = str(e.value)
    assert "\n" not in msg and "torch.where" not in msg
    assert f"Pass `{arg}=True` (the mask is causal) or `{arg}=False`" in msg
    for text in names:
        assert text in msg


class SequentialRReLU(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 8), nn.RReLU(), nn.Linear(8, 2))

    def forward(self, x):
        y = self.body(x)
        return y


def test_a_layer_inside_an_nn_sequential_that_fails_names_the_users_line():
    with pytest.raises(UnsupportedError) as e:
        port(SequentialRReLU(), torch.randn(3, 4))
    msg = str(e.value)
    assert "nn.RReLU" in msg and "module `body.1` (RReLU)" in msg
    assert "test_port_unsupported.py" in msg and "`y = self.body(x)`" in msg
