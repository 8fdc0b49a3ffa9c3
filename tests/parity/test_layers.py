"""Single layers and activations against torch: values and gradients (float32 <= 1e-5,
float64 <= 1e-10), including relu's gradient at exactly 0 and torch's RNN/LSTM layouts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flax import nnx

from jaxdl import interop
from jaxdl.layers import (
    LSTM,
    RNN,
    Embedding,
    LayerNorm,
    avg_pool2d,
    leaky_relu,
    max_pool2d,
)

X = np.array([[-2.0, -0.5, 0.0, 0.5, 3.0], [1.0, -1.0, 0.0, 2.0, -3.0]])

ACTIVATIONS = {
    "relu": (jax.nn.relu, torch.relu),
    "leaky_relu_0.05": (lambda x: leaky_relu(x, 0.05), lambda x: F.leaky_relu(x, 0.05)),
    "sigmoid": (jax.nn.sigmoid, torch.sigmoid),
    "tanh": (jnp.tanh, torch.tanh),
    "softmax": (lambda x: jax.nn.softmax(x, axis=1), lambda x: F.softmax(x, dim=1)),
    "log_softmax": (lambda x: jax.nn.log_softmax(x, axis=1), lambda x: F.log_softmax(x, dim=1)),
}


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype,tol", [("float32", 1e-6), ("float64", 1e-12)])
def test_activation_values_and_gradients(name, dtype, tol):
    jf, tf = ACTIVATIONS[name]
    w = np.random.default_rng(0).normal(size=X.shape)
    with jax.enable_x64(dtype == "float64"):
        x = jnp.asarray(X, dtype)
        _, grad = jax.jit(jax.value_and_grad(lambda x: jnp.sum(jf(x) * w)))(x)
        jout = np.asarray(jax.jit(jf)(x))
    xt = torch.tensor(X, dtype=getattr(torch, dtype), requires_grad=True)
    yt = tf(xt)
    (yt * torch.tensor(w, dtype=xt.dtype)).sum().backward()
    np.testing.assert_allclose(jout, yt.detach().numpy(), atol=tol)
    np.testing.assert_allclose(np.asarray(grad), xt.grad.numpy(), atol=tol)


def test_relu_gradient_at_zero_is_zero_as_torch():
    xt = torch.tensor(0.0, requires_grad=True)
    torch.relu(xt).backward()
    assert float(jax.grad(jax.nn.relu)(0.0)) == xt.grad.item() == 0.0


def test_leaky_relu_gradient_at_zero_is_torchs_slope_not_jaxs_one():
    xt = torch.tensor(0.0, requires_grad=True)
    F.leaky_relu(xt, 0.05).backward()
    assert float(jax.grad(lambda x: leaky_relu(x, 0.05))(0.0)) == pytest.approx(xt.grad.item()) == pytest.approx(0.05)
    assert float(jax.grad(lambda x: jax.nn.leaky_relu(x, 0.05))(0.0)) == 1.0  # why jaxdl has its own


@pytest.mark.parametrize("kind", ["lstm", "rnn"])
def test_recurrent_layers_match_torch(kind):
    torch.manual_seed(0)
    tl = (torch.nn.LSTM if kind == "lstm" else torch.nn.RNN)(3, 5)
    jl = (LSTM if kind == "lstm" else RNN)(3, 5, rngs=nnx.Rngs(0))
    interop.from_torch(jl, tl.state_dict())
    x = np.random.default_rng(0).normal(size=(7, 2, 3)).astype(np.float32)  # (T, B, I)
    xt = torch.tensor(x, requires_grad=True)
    yt, _ = tl(xt)
    yt.sum().backward()
    graphdef, params = nnx.split(jl, nnx.Param)
    f = lambda p, x: nnx.merge(graphdef, p)(x)[0]
    out = np.asarray(jax.jit(f)(params, jnp.asarray(x)))
    gp, gx = jax.jit(jax.grad(lambda p, x: jnp.sum(f(p, x)), argnums=(0, 1)))(params, jnp.asarray(x))
    np.testing.assert_allclose(out, yt.detach().numpy(), atol=1e-6)
    np.testing.assert_allclose(np.asarray(gx), xt.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(gp["w_hh"]).T, tl.weight_hh_l0.grad.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(gp["b_ih"]), tl.bias_ih_l0.grad.numpy(), atol=1e-5)


def test_layernorm_and_embedding_match_torch():
    torch.manual_seed(0)
    tln, tem = torch.nn.LayerNorm(6), torch.nn.Embedding(10, 4)
    jln, jem = LayerNorm(6, rngs=nnx.Rngs(0)), Embedding(10, 4, rngs=nnx.Rngs(0))
    interop.from_torch(jem, tem.state_dict())
    x = np.random.default_rng(0).normal(size=(3, 6)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(jln(jnp.asarray(x))), tln(torch.from_numpy(x)).detach().numpy(), atol=1e-6)
    idx = np.array([[1, 9], [0, 3]])
    np.testing.assert_array_equal(np.asarray(jem(jnp.asarray(idx))), tem(torch.from_numpy(idx)).detach().numpy())
    with pytest.raises(IndexError, match="out of range"):
        jem(jnp.asarray([10]))


@pytest.mark.parametrize("kernel,stride", [(2, None), (3, None), (3, 2)])
def test_pooling_matches_torch_with_ties(kernel, stride):
    """Integer-valued inputs make most windows hold tied maxima: torch routes the gradient
    to the first of them (row-major), and so must max_pool2d, exactly."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 3, size=(4, 3, 13, 13)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    out_t = F.max_pool2d(xt, kernel, stride)
    r = rng.normal(size=out_t.shape).astype(np.float32)
    (out_t * torch.from_numpy(r)).sum().backward()
    x_j = jnp.asarray(x.transpose(0, 2, 3, 1))
    y = jax.jit(lambda x: max_pool2d(x, kernel, stride))(x_j)
    np.testing.assert_array_equal(np.asarray(y).transpose(0, 3, 1, 2), out_t.detach().numpy())
    if stride is None:  # the tiled path: exact gradient; reduce_window's shares ties
        g = jax.jit(jax.grad(lambda x: jnp.sum(max_pool2d(x, kernel, stride) * r.transpose(0, 2, 3, 1))))(x_j)
        np.testing.assert_array_equal(np.asarray(g).transpose(0, 3, 1, 2), xt.grad.numpy())
    a = jax.jit(lambda x: avg_pool2d(x, kernel, stride))(x_j)
    np.testing.assert_allclose(np.asarray(a).transpose(0, 3, 1, 2),
                               F.avg_pool2d(torch.tensor(x), kernel, stride).numpy(), rtol=1e-6)
