"""Normalisation layers' own rules: errors that name the shape they expect, and the
variables torch's settings leave out (compared with torch in tests/parity/test_torch_layers.py)."""

import jax.numpy as jnp
import pytest
from flax import nnx

from jaxdl.layers import BatchNorm, GroupNorm, InstanceNorm, LayerNorm, freeze_batchnorm


def test_settings_leave_out_the_variables_torch_leaves_out():
    bn = BatchNorm(3, affine=False, track_running_stats=False)
    assert bn.scale is None and bn.mean is None and bn.torch_state() == []
    assert [r.torch_key for r in InstanceNorm(3).torch_state()] == []
    assert [r.torch_key for r in LayerNorm(3, use_bias=False).torch_state()] == ["weight"]


def test_a_batchnorm_without_statistics_cannot_be_frozen():
    model = nnx.Sequential(BatchNorm(3, track_running_stats=False))
    with pytest.raises(ValueError, match="no running statistics"):
        freeze_batchnorm(model)


@pytest.mark.parametrize("layer,x,match", [
    (GroupNorm(2, 4), jnp.zeros((2, 4, 5, 5)), r"\(N, \*spatial, 4\) channels-last"),
    (InstanceNorm(4), jnp.zeros((2, 4, 5, 5)), r"\(N, \*spatial, 4\) channels-last"),
    (LayerNorm((3, 4)), jnp.zeros((2, 4, 3)), r"trailing axes \(3, 4\)"),
])
def test_wrong_input_names_the_expected_shape(layer, x, match):
    with pytest.raises(ValueError, match=match):
        layer(x)


def test_group_count_must_divide_the_channels():
    with pytest.raises(ValueError, match="num_channels 6 must divide by num_groups 4"):
        GroupNorm(4, 6)
