"""jaxdl.port.verify: the checks fail when the port is wrong, and the report names the
submodule that diverges; weights survive the safetensors round trip."""

import numpy as np
import pytest
import torch

import torch_reference as T
from jaxdl import interop
from jaxdl.port import build, load_weights, port, save_weights, verify


@pytest.fixture(scope="module")
def tinyvgg():
    torch.manual_seed(0)
    tm = T.TinyVGG()
    return tm, port(tm, torch.randn(4, 1, 28, 28))


def test_a_corrupted_weight_is_reported_at_its_submodule(tinyvgg):
    tm, p = tinyvgg
    jm = build(p.source, p.class_name)
    interop.from_torch(jm, tm.state_dict())
    conv = jm.block_2.layers[2]  # torch: block_2.2
    conv.kernel.set_value(conv.kernel[...] * 1.1)
    with pytest.raises(AssertionError) as e:
        verify.check_eval_outputs(tm, jm, p.inputs, p.output_images)
    msg = str(e.value)
    assert "first divergent submodule: `block_2.2` (Conv2d)" in msg
    assert "last: `block_2.0`" in msg  # everything before it agrees
    d = verify.first_divergence(tm, jm, p.inputs)
    assert (d.path, d.cls) == ("block_2.2", "Conv2d")
    assert verify.first_divergence(tm, p.module, p.inputs) is None


def test_wrong_gradients_with_right_outputs_fail_the_gradient_check():
    torch.manual_seed(0)
    tm = T.ConvolutionalNetwork()
    p = port(tm, torch.randn(4, 1, 28, 28))
    line = "X = jax.nn.relu(self.fc1(X))"
    assert line in p.source
    jm = build(p.source.replace(line, "X = jax.lax.stop_gradient(jax.nn.relu(self.fc1(X)))"), p.class_name)
    interop.from_torch(jm, tm.state_dict())
    verify.check_eval_outputs(tm, jm, p.inputs, p.output_images)  # same outputs
    with pytest.raises(AssertionError, match="gradient of (conv|fc1)"):
        verify.check_gradients(tm, jm, p.inputs, p.output_images)


def test_batchnorm_statistics_check_catches_a_different_momentum():
    torch.manual_seed(0)
    tm = T.MNISTClassifier()
    p = port(tm, torch.randn(6, 1, 28, 28))
    p.module.bn.momentum = 0.01  # nnx.BatchNorm's momentum means the opposite of torch's
    with pytest.raises(AssertionError, match="BatchNorm statistic bn.running_"):
        verify.check_batchnorm_stats(tm, p.module, p.inputs)


def test_weights_round_trip_through_safetensors(tinyvgg, tmp_path):
    tm, p = tinyvgg
    save_weights(p.module, tmp_path / "w.safetensors")
    fresh = build(p.source, p.class_name)
    load_weights(fresh, tmp_path / "w.safetensors")
    back = interop.to_torch(fresh)
    for k, v in tm.state_dict().items():
        np.testing.assert_array_equal(back[k].numpy(), v.numpy(), err_msg=k)
    torch.manual_seed(0)
    other = port(T.CifarNet(), torch.randn(4, 3, 32, 32))
    with pytest.raises(ValueError, match=r"does not fit CifarNet: \d+ missing \(conv1.bias"):
        load_weights(other.module, tmp_path / "w.safetensors")


def test_the_report_sees_through_in_place_ops():
    """torch's forward hooks see a tensor that a later ReLU(inplace=True) overwrites: the
    report compares copies."""
    from tests.port import constructs as C

    torch.manual_seed(0)
    tm = C.Residual()
    p = port(tm, torch.randn(2, 4, 6, 6))
    p.module.bn2.bias.set_value(p.module.bn2.bias[...] + 0.5)
    d = verify.first_divergence(tm, p.module, p.inputs)
    assert (d.path, d.last_good) == ("bn2", "conv2")
