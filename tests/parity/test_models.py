"""Every model class of the notes against its PyTorch original: weights converted with
jaxdl.interop, then forward outputs, input gradients and every parameter gradient.

Tolerances from the issue: max |torch - jax| <= 1e-5 in float32 (relative to the
output scale for large values) and <= 1e-10 in float64.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

import torch_reference as T
from jaxdl import interop, models

# name: (jaxdl factory, torch class, torch input shape, input is an image)
MODELS = {
    "LinearRegression": (lambda r: models.LinearRegression(rngs=r), T.LinearRegression, (8, 1), False),
    "LogisticRegression": (lambda r: models.LogisticRegression(rngs=r), T.LogisticRegression, (8, 1), False),
    "IrisModel": (lambda r: models.IrisModel(rngs=r), T.IrisModel, (8, 4), False),
    "WideDeep": (lambda r: models.WideDeep(rngs=r), T.WideDeep, (8, 8), False),
    "Net": (lambda r: models.Net(rngs=r), T.Net, (4, 1, 28, 28), True),
    "BinaryANN": (lambda r: models.BinaryANN(rngs=r), T.BinaryANN, (4, 1, 28, 28), True),
    "MNISTClassifier": (lambda r: models.MNISTClassifier(rngs=r), T.MNISTClassifier, (6, 1, 28, 28), True),
    "FashionMNISTModel": (lambda r: models.FashionMNISTModel(rngs=r), T.FashionMNISTModel, (4, 1, 28, 28), True),
    "ConvolutionalNetwork": (lambda r: models.ConvolutionalNetwork(rngs=r), T.ConvolutionalNetwork, (4, 1, 28, 28),
                             True),
    "LeNet5": (lambda r: models.LeNet5(rngs=r), T.LeNet5, (4, 1, 32, 32), True),
    "TinyVGG": (lambda r: models.TinyVGG(rngs=r), T.TinyVGG, (4, 1, 28, 28), True),
    "CifarNet": (lambda r: models.CifarNet(rngs=r), T.CifarNet, (4, 3, 32, 32), True),
    "CNN": (lambda r: models.CNN(rngs=r), T.CNN, (4, 3, 32, 32), True),
    "LSTMNetwork": (lambda r: models.LSTMNetwork(rngs=r), T.LSTMNetwork, (12, 1), False),
}


def make_pair(name, seed=0):
    factory, torch_cls, shape, image = MODELS[name]
    torch.manual_seed(seed)
    tm = torch_cls()
    jm = factory(nnx.Rngs(params=seed + 1, dropout=seed + 2))
    interop.from_torch(jm, tm.state_dict())
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    return tm, jm, x, image


def to_jax_input(x, image):
    return x.transpose(0, 2, 3, 1) if image else x


def jax_outputs_and_grads(jm, x, r, train):
    """Outputs, d(sum(out*r))/dx and parameter gradients in torch layout."""
    if not train:
        jm.eval()
    graphdef, params, rest = nnx.split(jm, nnx.Param, ...)

    def f(params, x):
        out = nnx.merge(graphdef, params, rest, copy=True)(x)
        return jnp.sum(out * r), out

    (_, out), (gp, gx) = jax.jit(jax.value_and_grad(f, argnums=(0, 1), has_aux=True))(params, x)
    grads = interop.to_torch(nnx.merge(graphdef, gp, rest))
    return np.asarray(out), np.asarray(gx), grads


def torch_outputs_and_grads(tm, x, r, train):
    tm.train(train)
    xt = torch.tensor(x, requires_grad=True)
    out = tm(xt)
    (out * torch.tensor(r)).sum().backward()
    return out.detach().numpy(), xt.grad.numpy(), {k: p.grad.numpy() for k, p in tm.named_parameters()}


def assert_close(got, want, tol, what):
    err = float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64)))) if np.size(want) else 0.0
    scale = max(1.0, float(np.max(np.abs(want)))) if np.size(want) else 1.0
    assert err <= tol * scale, f"{what}: max abs diff {err:.3g} > {tol:g} (scale {scale:.3g})"
    return err


@pytest.mark.parametrize("name", MODELS)
def test_forward_and_gradients_match_torch_fp32(name):
    tm, jm, x, image = make_pair(name)
    train = name == "MNISTClassifier"  # BatchNorm in training mode: batch statistics
    out_t = tm.train(train)(torch.tensor(x)).detach().numpy()
    r = np.random.default_rng(5).normal(size=out_t.shape).astype(np.float32)
    out_t, gx_t, gp_t = torch_outputs_and_grads(tm, x, r, train)
    out_j, gx_j, gp_j = jax_outputs_and_grads(jm, jnp.asarray(to_jax_input(x, image)), jnp.asarray(r), train)
    assert_close(out_j, out_t, 1e-5, "output")
    assert_close(gx_j.transpose(0, 3, 1, 2) if image else gx_j, gx_t, 1e-5, "input gradient")
    assert set(gp_t) <= set(gp_j)
    for k, g in gp_t.items():
        assert_close(gp_j[k].numpy(), g, 1e-5, f"gradient of {k}")


@pytest.mark.parametrize("name", ["ConvolutionalNetwork", "TinyVGG", "MNISTClassifier", "LSTMNetwork", "CifarNet"])
def test_forward_and_gradients_match_torch_fp64(name):
    tm, jm, x, image = make_pair(name)
    tm = tm.double()
    train = name == "MNISTClassifier"
    x = x.astype(np.float64)
    r = np.random.default_rng(5).normal(size=tm.train(train)(torch.tensor(x)).shape)
    tm, jm, _, _ = make_pair(name)  # fresh BatchNorm statistics for the compared call
    tm = tm.double()
    out_t, gx_t, gp_t = torch_outputs_and_grads(tm, x, r, train)
    with jax.enable_x64(True):
        graphdef, state = nnx.split(jm)
        state = jax.tree.map(lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, state)
        jm64 = nnx.merge(graphdef, state)
        out_j, gx_j, gp_j = jax_outputs_and_grads(jm64, jnp.asarray(to_jax_input(x, image)), jnp.asarray(r), train)
    assert out_j.dtype == np.float64
    assert_close(out_j, out_t, 1e-10, "output")
    assert_close(gx_j.transpose(0, 3, 1, 2) if image else gx_j, gx_t, 1e-10, "input gradient")
    for k, g in gp_t.items():
        assert_close(gp_j[k].numpy(), g, 1e-10, f"gradient of {k}")


@pytest.mark.parametrize("name", MODELS)
def test_round_trip_is_bit_exact_and_loads_strictly(name):
    tm, jm, _, _ = make_pair(name, seed=3)
    back = interop.to_torch(jm)
    sd = tm.state_dict()
    assert list(back) == list(sd)  # torch's key order, so the file reads like the notes' state_dict
    for k, v in sd.items():
        assert torch.equal(back[k], v), k
    fresh = MODELS[name][1]()
    fresh.load_state_dict(back, strict=True)


def test_from_torch_reads_a_pt_file(tmp_path):
    tm, _, x, _ = make_pair("IrisModel", seed=4)
    torch.save(tm.state_dict(), tmp_path / "iris_model.pt")  # the notes' save
    jm = interop.from_torch(models.IrisModel(rngs=nnx.Rngs(0)), tmp_path / "iris_model.pt")
    np.testing.assert_allclose(np.asarray(jm(jnp.asarray(x))), tm(torch.tensor(x)).detach().numpy(), atol=1e-6)


def test_mismatched_state_dict_lists_every_problem_and_changes_nothing():
    tm = T.ConvolutionalNetwork()
    jm = models.ConvolutionalNetwork(rngs=nnx.Rngs(0))
    before = np.asarray(jm.conv1.kernel[...]).copy()
    sd = tm.state_dict()
    sd.pop("fc2.bias")
    sd["extra.weight"] = torch.zeros(3)
    sd["conv1.weight"] = torch.zeros(6, 1, 5, 5)
    with pytest.raises(interop.StateDictMismatchError) as e:
        interop.from_torch(jm, sd)
    msg = str(e.value)
    assert "missing: fc2.bias" in msg and "unexpected: extra.weight" in msg
    assert "conv1.weight found (6, 1, 5, 5) expected (6, 1, 3, 3)" in msg
    np.testing.assert_array_equal(np.asarray(jm.conv1.kernel[...]), before)
