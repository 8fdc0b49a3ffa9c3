"""jaxdl.layers.Conv2d on the CPU (the im2col of jaxdl.platform, with and without padding and
stride: torchvision's 7x7/2 stem, 1x1/2 downsample, 3x3/2; dilated and grouped convs are
lax.conv, tests/parity/test_pooling.py) against torch.nn.Conv2d: outputs and gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from jaxdl import interop
from jaxdl.layers import Conv2d


@pytest.mark.parametrize("batch,cin,cout,k,pad,stride", [(4, 3, 6, 5, 0, 1), (32, 3, 6, 5, 0, 1),
                                                         (64, 6, 16, 3, 0, 1), (64, 1, 10, 3, 1, 1),
                                                         (8, 3, 4, 3, 1, 2), (16, 3, 8, 7, 3, 2),
                                                         (16, 8, 16, 1, 0, 2), (8, 4, 4, 3, 1, 3)])
def test_conv2d_matches_torch(batch, cin, cout, k, pad, stride):
    torch.manual_seed(0)
    tc = torch.nn.Conv2d(cin, cout, k, stride=stride, padding=pad)
    jc = Conv2d(cin, cout, k, stride=stride, padding=pad, rngs=nnx.Rngs(0))
    interop.from_torch(jc, tc.state_dict())
    x = np.random.default_rng(0).normal(size=(batch, cin, 20, 20)).astype(np.float32)
    side = (20 + 2 * pad - k) // stride + 1
    r = np.random.default_rng(1).normal(size=(batch, cout, side, side)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    (tc(xt) * torch.from_numpy(r)).sum().backward()
    graphdef, params = nnx.split(jc, nnx.Param)
    f = lambda p, x: jnp.sum(nnx.merge(graphdef, p)(x) * r.transpose(0, 2, 3, 1))
    gp, gx = jax.jit(jax.grad(f, argnums=(0, 1)))(params, jnp.asarray(x.transpose(0, 2, 3, 1)))
    out = np.asarray(jax.jit(lambda p, x: nnx.merge(graphdef, p)(x))(params, jnp.asarray(x.transpose(0, 2, 3, 1))))
    np.testing.assert_allclose(out.transpose(0, 3, 1, 2), tc(torch.from_numpy(x)).detach().numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(gx).transpose(0, 3, 1, 2), xt.grad.numpy(), atol=1e-4, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(gp["kernel"]).transpose(3, 2, 0, 1), tc.weight.grad.numpy(),
                               rtol=1e-4, atol=1e-3)
