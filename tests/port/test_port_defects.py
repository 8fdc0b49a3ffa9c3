"""The defects jaxdl.port had on the models people bring (issue 20), each on a small
model written as the public model libraries write it (tests/port/defects.py): the port
gives torch's outputs and gradients, or, where it cannot port, a stub that raises."""

import jax
import jax.numpy as jnp
import pytest
import torch
from flax import nnx

from jaxdl import aten
from jaxdl.port import (
    UnsupportedError,
    load_weights,
    port,
    registry,
    save_weights,
    verify,
)
from tests.port import defects as D


def ported(model, *inputs, grads=True, **kw):
    torch.manual_seed(0)
    p = port(model, *inputs, **kw)
    assert verify.check_eval_outputs(model, p.module, p.inputs, p.output_images) <= 1e-5
    if grads:
        verify.check_gradients(model, p.module, p.inputs, p.output_images)
    return p


def n_params(p) -> int:
    return sum(int(x.size) for x in jax.tree.leaves(nnx.state(p.module, nnx.Param)))


# ---- 1. layouts
def test_channel_shuffle_into_convolutions():
    """shufflenet's channel shuffle leaves a value in torch's order that goes into convs,
    into the next unit (a class whose instances get different layouts) and into an
    nn.Sequential that starts with a parameterless layer; C == H == W (8) after the
    first unit, where a missed conversion would run and be wrong."""
    torch.manual_seed(0)
    p = ported(D.TinyShuffleNet(), torch.randn(2, 3, 16, 16))
    verify.check_train_outputs(D.TinyShuffleNet(), p.module, p.inputs, p.output_images)


def test_one_block_called_in_two_layouts():
    ported(D.CalledTwice(), torch.randn(2, 4, 4, 4))


# ---- 2. in-place ops
def test_in_place_ops_become_functional():
    p = ported(D.InPlace(), torch.randn(2, 4, 4, 4))
    assert "result = self.block(x)\n        return result + x" in p.source  # += on a submodule's output
    assert "y = y.at[:, :2].set(jnp.full_like(y[:, :2], 0.5))" in p.source  # fill_ on a slice
    assert "z = z.at[:, 3:].set(" in p.source  # copy_ into a slice
    assert ".at[:, jnp.asarray([0, 2], jnp.int32)].set(" in p.source  # x[:, idx] = v
    assert "self.drop(flatten(self.se(x)))" in p.source  # Dropout(inplace=True) after a flatten


# ---- 3. named children
def test_named_sequentials_keep_torch_names():
    p = ported(D.Named(), torch.randn(2, 3, 6, 6))
    assert "'block1-0': Conv2d(4, 4, 1, rngs=rngs)" in p.source
    assert "self.trunk_output = NamedSequential(" in p.source


# ---- 4. generated code compiles
def test_a_discriminating_argument_after_an_optional_child():
    """densenet: a required constructor argument once came after defaulted ones."""
    p = ported(D.Units(), torch.randn(2, 3, 4, 4))
    assert "def __init__(self, variant, extra=None, *, rngs: nnx.Rngs):" in p.source


# ---- 5. stubs raise
def test_partial_port_stubs_raise_and_compile(tmp_path):
    torch.manual_seed(0)
    with pytest.raises(UnsupportedError, match="jaxdl_port_tests.mystery"):
        port(D.WithStubs(), torch.randn(3, 4))
    p = port(D.WithStubs(), torch.randn(3, 4), partial=True)
    assert len(p.unsupported) == 1
    compile(p.source, "model.py", "exec")
    with pytest.raises(NotImplementedError, match="jaxdl_port_tests.mystery"):
        p.module(jnp.ones((3, 4)))
    p.write(tmp_path, torch_factory="tests.port.defects:WithStubs")
    compile((tmp_path / "test_parity.py").read_text(), "test_parity.py", "exec")


def test_a_parameterless_layer_without_mapping_is_never_the_identity(monkeypatch):
    """nn.SELU ports; without its handler it is a call of jaxdl.aten.selu; without that
    too, partial=True makes a stub that raises, not ``lambda x: x`` (which was 7.9e-2
    off, silently)."""
    ported(D.Selu(), torch.randn(3, 4))
    monkeypatch.delitem(registry.OPS._table, "selu")
    p = ported(D.Selu(), torch.randn(3, 4))
    assert "aten.selu," in p.source and "from jaxdl import aten" in p.source
    real = aten.get
    monkeypatch.setattr(aten, "get", lambda name: None if name == "selu" else real(name))
    p = port(D.Selu(), torch.randn(3, 4), partial=True)
    assert "lambda x: x" not in p.source and "unsupported('jaxdl.port: the op aten.selu" in p.source
    assert "module `seq.1` (SELU)" in p.unsupported[0]
    with pytest.raises(NotImplementedError, match="aten.selu"):
        p.module(jnp.ones((3, 4)))


# ---- 6. shared weights
@pytest.mark.parametrize("name, inputs", [
    ("TiedLM", lambda: [torch.randint(0, 20, (2, 5))]),
    ("TiedSame", lambda: [torch.randn(3, 6)]),
    ("SharedModule", lambda: [torch.randint(0, 12, (2, 5)), torch.randint(0, 12, (2, 4))]),
])
def test_shared_weights_stay_one_parameter(name, inputs, tmp_path):
    torch.manual_seed(0)
    tm = getattr(D, name)()
    p = ported(tm, *inputs())
    assert n_params(p) == sum(x.numel() for x in tm.parameters())
    verify.check_sgd_step(tm, p.module, p.inputs, p.output_images)
    assert "# one tensor in torch (tied weights)" in p.source
    save_weights(p.module, tmp_path / "w.safetensors")  # one array for the shared variable, loads back
    load_weights(p.module, tmp_path / "w.safetensors")


# ---- 7. the parity rule
def test_parity_checks_accept_float32_rounding_measured_against_float64():
    """A correct port whose float32 result is 2.4e-4 from torch's (cancellation): within
    twice torch float32's distance from float64, so it passes; a real error does not."""
    torch.manual_seed(0)
    tm = D.Cancel()
    p = port(tm, torch.randn(2, 512))
    assert verify.check_eval_outputs(tm, p.module, p.inputs, p.output_images) > 1e-5
    p.module.a.kernel.set_value(p.module.a.kernel[...] * (1 + 1e-5))
    with pytest.raises(AssertionError, match="from torch float64"):
        verify.check_eval_outputs(tm, p.module, p.inputs, p.output_images)


# ---- 8. short messages
def test_a_weights_mismatch_is_summarised():
    torch.manual_seed(0)
    a, b = port(D.Named(), torch.randn(2, 3, 6, 6)), port(D.TinyShuffleNet(), torch.randn(2, 3, 16, 16))
    with pytest.raises(ValueError) as e:
        save_weights(b.module, "/tmp/jaxdl_port_defects_w.safetensors")
        load_weights(a.module, "/tmp/jaxdl_port_defects_w.safetensors")
    msg = str(e.value)
    assert "missing (" in msg and "unexpected (" in msg and "more" in msg and len(msg) < 1000


# ---- more defects from public model libraries
def test_one_field_output_objects():
    p = ported(D.OneFieldOutputs(), torch.randn(3, 4))
    assert "return (jnp.tanh(self.fc(x)),)" in p.source


def test_position_ids_and_non_persistent_buffers():
    """nn.Embedding on a buffer; buffers registered with persistent=False come from the
    module (they are not in its state_dict)."""
    p = ported(D.Positions(), torch.randint(0, 10, (2, 6)), grads=False)
    assert "self.position_ids = nnx.Variable(jnp.asarray([[0, 1, 2, 3, 4, 5]], jnp.int32))" in p.source
    assert "torch_params" not in p.source


def test_sdpa_with_a_float_additive_mask():
    q, k, v = (torch.randn(2, 2, 5, 4) for _ in range(3))
    p = ported(D.AdditiveMask(), q, k, v, grads=False)
    assert "bias=bias[None, None]" in p.source


def test_submodule_returning_its_input():
    ported(D.PassThrough(), torch.randn(3, 4))


def test_a_square_parameter_keeps_its_shape():
    p = ported(D.SquareParam(), torch.randn(3, 32))
    assert "nnx.Param(jnp.zeros((32, 32), jnp.float32))" in p.source


def test_no_grad_forwards_and_vmap_masks():
    ported(D.NoGrad(), torch.randn(3, 4), grads=False)
    ported(D.VmapMask(), torch.randn(2, 5, 4), torch.tensor([3, 5]))


# ---- the torchvision sweep's failures (benchmarks/results/port-zoo-cpu.md)
def _calibrated(model):
    """BatchNorm statistics away from 0/1, so that a skipped or misplaced normalisation shows."""
    torch.manual_seed(1)
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)
    return model.eval()


def test_a_layer_called_on_its_parents_buffer():
    """swin_v2: ``self.cpb_mlp(self.relative_coords_table)``, an nn.Sequential of Linears
    called on a buffer (the Linear had no input: IndexError), F.normalize, a clamped
    logit_scale parameter, a bias cloned and partly zeroed."""
    torch.manual_seed(0)
    p = ported(D.ContinuousPositionBias(), torch.randn(2, 9, 8))
    assert "self.cpb_mlp(self.relative_coords_table[...])" in p.source


def test_parameters_passed_and_returned_as_values():
    """The same defect beside it: a parameter returned by a submodule (once an undefined
    name), a torch layer called on its parent's parameter, and an nn.Sequential whose
    convolution takes a parameter (converted to NHWC by the caller)."""
    ported(D.ParametersAsValues(), torch.randn(3, 4))


def test_instances_that_differ_in_list_length_and_a_pair_attribute():
    """maxvit: blocks with 2 and 5 layers, once told apart by ``grid_size == (28, 28)``
    where the attribute was built as ``grid_size=28`` (the wrong branch: IndexError, or
    silently wrong values); a loop that returns its last value is a loop again."""
    torch.manual_seed(0)
    p = ported(D.GridStages(), torch.randn(2, 4, 8, 8))
    assert "for layer in self.layers:\n            x = layer(x)\n        return x" in p.source
    assert "if self.grid_size == 8:" in p.source and "grid_size=8," in p.source


def test_a_sequential_subclass_with_a_forward_of_its_own():
    """deeplabv3's ASPPPooling (nn.Sequential, then F.interpolate) was ported as the plain
    chain: the interpolation was lost and its NHWC output taken for NCHW (torch.cat failed)."""
    torch.manual_seed(0)
    p = ported(_calibrated(D.PyramidPooling()), torch.randn(2, 4, 5, 5))
    assert "class PoolingBranch(nnx.Sequential):" in p.source and "def __call__(self, x):" in p.source


def test_children_named_by_numbers_outside_a_sequential(tmp_path):
    """torchvision's IntermediateLayerGetter (an nn.ModuleDict with children '0', '1', ...):
    attributes ``layer0``, ... that jaxdl.interop maps to torch's keys both ways."""
    from jaxdl import interop

    torch.manual_seed(0)
    tm = _calibrated(D.SegmentationBackbone())
    p = ported(tm, torch.randn(2, 3, 8, 8))
    assert "torch_names: ClassVar[dict] = {'layer0': '0', 'layer1': '1', 'layer3': '3'}" in p.source
    assert "self.layer0 = nnx.Sequential(" in p.source
    sd = interop.to_torch(p.module)
    assert list(sd) == list(tm.state_dict())
    tm.load_state_dict(sd, strict=True)
    interop.from_torch(p.module, tm.state_dict())
    p.write(tmp_path, torch_factory="tests.port.defects:SegmentationBackbone")
    compile((tmp_path / "test_parity.py").read_text(), "test_parity.py", "exec")
