"""The transposed convolution's per-platform formulations (jaxdl.platform.conv_transpose2d),
proved by lowering without the hardware: for ``cuda`` one native ``stablehlo.convolution``
with ``lhs_dilate`` (cuDNN's kernel), for ``cpu`` no convolution at all (the dilated input
and the im2col matmul). Their values agree (the CPU result is compared with torch in
tests/parity/test_torch_layers.py)."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxdl import platform
from jaxdl.layers import ConvTranspose2d


def _convolutions(mlir: str) -> list[str]:
    return [line for line in mlir.splitlines() if re.search(r'= "?stablehlo\.convolution\b', line)]


def _exported(layer, x, target: str) -> str:
    graphdef, params = nnx.split(layer)
    loss = lambda p, x: jnp.sum(nnx.merge(graphdef, p)(x) ** 2)
    step = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    return jax.export.export(step, platforms=[target])(params, x).mlir_module()


def test_cuda_gets_the_native_lhs_dilated_convolution_and_cpu_none():
    layer = ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, rngs=nnx.Rngs(0))
    x = jnp.zeros((2, 5, 5, 4))
    cuda = _convolutions(_exported(layer, x, "cuda"))
    assert any("lhs_dilate = [2, 2]" in line for line in cuda), cuda
    assert len(cuda) == 3  # forward, input gradient, kernel gradient
    assert _convolutions(_exported(layer, x, "cpu")) == []


@pytest.mark.parametrize("stride,padding", [((2, 2), ((1, 2), (1, 2))), ((3, 1), ((-1, 0), (2, 2)))])
def test_both_formulations_compute_the_same(stride, padding):
    rng = np.random.default_rng(0)
    x, k = (jnp.asarray(rng.normal(size=(2, 4, 5, 3)), jnp.float32),
            jnp.asarray(rng.normal(size=(3, 3, 3, 2)), jnp.float32))
    native = jax.lax.conv_general_dilated(x, k, (1, 1), padding, lhs_dilation=stride,
                                          dimension_numbers=("NHWC", "HWIO", "NHWC"))
    here = platform.conv_transpose2d(x, k, stride=stride, padding=padding)  # the CPU branch on this machine
    np.testing.assert_allclose(np.asarray(here), np.asarray(native), rtol=1e-5, atol=1e-5)


def test_output_padding_must_be_smaller_than_stride_or_dilation():
    with pytest.raises(ValueError, match="output_padding .* must be smaller than either stride"):
        ConvTranspose2d(2, 2, 3, stride=2, output_padding=2, rngs=nnx.Rngs(0))
