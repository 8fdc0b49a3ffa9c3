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
    (Attend, torch.randn(2, 3, 4), ["nn.MultiheadAttention, a layer called with several tensors", "module `mha`"]),
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
