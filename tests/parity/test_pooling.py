"""Pooling and strided/grouped/dilated convolutions as torchvision's backbones use them,
against torch: values and input gradients, with ties (integer inputs) for max-pool."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flax import nnx

from jaxdl import interop
from jaxdl.layers import Conv2d, adaptive_avg_pool2d, avg_pool2d, max_pool2d


def _compare(jax_fn, torch_fn, x_NCHW, atol=1e-6):
    """Values and the input gradient of sum(f(x) * r) for a fixed random r."""
    xt = torch.tensor(x_NCHW, requires_grad=True)
    yt = torch_fn(xt)
    r = np.random.default_rng(1).normal(size=yt.shape).astype(np.float32)
    (yt * torch.from_numpy(r)).sum().backward()
    x = jnp.asarray(x_NCHW.transpose(0, 2, 3, 1))
    y, vjp = jax.vjp(jax.jit(jax_fn), x)
    (gx,) = vjp(jnp.asarray(r.transpose(0, 2, 3, 1)))
    np.testing.assert_allclose(np.asarray(y).transpose(0, 3, 1, 2), yt.detach().numpy(), atol=atol)
    np.testing.assert_allclose(np.asarray(gx).transpose(0, 3, 1, 2), xt.grad.numpy(), atol=atol)


# (kernel, stride, padding, ceil_mode): AlexNet/Inception 3/2, ResNet 3/2/1, VGG 2/2, odd sizes
POOLS = [(3, 2, 0, False), (3, 2, 1, False), (2, 2, 0, False), (2, 2, 0, True), (3, 2, 0, True),
         (3, 1, 1, False), (2, 1, 0, False)]


@pytest.mark.parametrize("size", [13, 14])
@pytest.mark.parametrize("k,s,p,ceil", POOLS)
def test_max_pool_matches_torch_with_ties(k, s, p, ceil, size):
    x = np.random.default_rng(0).integers(0, 3, (2, 3, size, size)).astype(np.float32)  # many ties
    _compare(lambda x: max_pool2d(x, k, s, p, ceil), lambda x: F.max_pool2d(x, k, s, p, ceil_mode=ceil), x)


@pytest.mark.parametrize("size", [13, 14])
@pytest.mark.parametrize("k,s,p,ceil", POOLS)
@pytest.mark.parametrize("include_pad", [True, False])
def test_avg_pool_matches_torch(k, s, p, ceil, size, include_pad):
    x = np.random.default_rng(0).normal(size=(2, 3, size, size)).astype(np.float32)
    _compare(lambda x: avg_pool2d(x, k, s, p, ceil, include_pad),
             lambda x: F.avg_pool2d(x, k, s, p, ceil_mode=ceil, count_include_pad=include_pad), x)


@pytest.mark.parametrize("size,out", [(13, 6), (6, 6), (1, 6), (7, 1), (14, 7), (5, (3, 2))])
def test_adaptive_avg_pool_matches_torch(size, out):
    x = np.random.default_rng(0).normal(size=(2, 3, size, size + 1)).astype(np.float32)
    _compare(lambda x: adaptive_avg_pool2d(x, out), lambda x: F.adaptive_avg_pool2d(x, out), x)


@pytest.mark.parametrize("cin,cout,k,stride,pad,dil,groups", [
    (3, 8, 7, 2, 3, 1, 1),      # ResNet stem
    (8, 8, 3, 1, 1, 1, 8),      # depthwise (MobileNet)
    (8, 16, 3, 1, 2, 2, 2),     # dilated, grouped
    (4, 6, (1, 7), 1, (0, 3), 1, 1),  # Inception's factorised 1x7
    (4, 6, 3, 1, "same", 1, 1),
])
def test_conv2d_options_match_torch(cin, cout, k, stride, pad, dil, groups):
    torch.manual_seed(0)
    tc = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=pad, dilation=dil, groups=groups, bias=False)
    jc = Conv2d(cin, cout, k, stride, pad, dil, groups, use_bias=False, rngs=nnx.Rngs(0))
    interop.from_torch(jc, tc.state_dict())
    x = np.random.default_rng(0).normal(size=(2, cin, 15, 15)).astype(np.float32)
    _compare(jc, tc, x, atol=1e-5)


def test_conv2d_rejects_groups_that_do_not_divide():
    with pytest.raises(ValueError, match="divide by groups"):
        Conv2d(6, 4, 3, groups=4, rngs=nnx.Rngs(0))
