"""Every registered torch layer (``jaxdl.layers.TORCH_LAYERS``) against torch, driven by the
registry: the jaxdl layer is built from the torch module with its record
(``torch_arguments``), given torch's weights with ``from_torch`` and compared in eval and
train mode: outputs, input gradients, parameter gradients (through ``to_torch``) and the
running statistics after a train-mode forward. A layer registered without an example
here fails ``test_every_registered_layer_has_an_example``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from jaxdl import interop
from jaxdl.layers import TORCH_LAYERS, for_torch_module
from jaxdl.layers.torch_layer import CHANNELS_LAST, constructor
from torch_reference.vision import models as _torchvision_models

nn = torch.nn


def _frozen_bn():
    _torchvision_models()
    from torchvision.ops import FrozenBatchNorm2d

    m = FrozenBatchNorm2d(4)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean"):
            getattr(m, name).normal_()
        m.running_var.uniform_(0.5, 2.0)
    return m


def _bn(cls, *shape):
    def make():
        m = cls(*shape)
        with torch.no_grad():  # statistics and affine away from their initial 0/1
            m.weight.normal_(), m.bias.normal_(), m.running_mean.normal_(), m.running_var.uniform_(0.5, 2.0)
        return m
    return make


# torch name: (torch module factory, torch input shape or ("int", shape, high), train mode comparable)
EXAMPLES = {
    "Linear": (lambda: nn.Linear(5, 3), (4, 5), True),
    "Conv2d": (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, groups=1), (2, 3, 9, 8), True),
    "BatchNorm1d": (_bn(nn.BatchNorm1d, 4), (6, 4, 5), True),
    "BatchNorm2d": (_bn(nn.BatchNorm2d, 4), (3, 4, 5, 6), True),
    "BatchNorm3d": (_bn(nn.BatchNorm3d, 2), (2, 2, 3, 4, 3), True),
    "FrozenBatchNorm2d": (_frozen_bn, (2, 4, 5, 3), True),
    "LayerNorm": (lambda: nn.LayerNorm(6), (3, 2, 6), True),
    "Dropout": (lambda: nn.Dropout(0.3), (4, 5), False),  # train masks are random: eval only
    "Embedding": (lambda: nn.Embedding(10, 4), ("int", (3, 5), 10), True),
    "MaxPool2d": (lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), (2, 3, 9, 8), True),
    "AvgPool2d": (lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), (2, 3, 9, 8), True),
    "AdaptiveAvgPool2d": (lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5), True),
    "Identity": (lambda: nn.Identity(), (2, 3), True),
    "Flatten": (lambda: nn.Flatten(1, 2), (2, 3, 4, 5), True),
    "LSTM": (lambda: nn.LSTM(3, 5, batch_first=True), (2, 7, 3), True),
    "RNN": (lambda: nn.RNN(3, 5), (7, 2, 3), True),
}


def test_every_registered_layer_has_an_example():
    assert sorted(TORCH_LAYERS) == sorted(EXAMPLES)


def _input(spec, rng):
    if spec[0] == "int":
        return rng.integers(0, spec[2], size=spec[1])
    return rng.normal(size=spec).astype(np.float32)


def _to_jaxdl_layout(cls, x):
    return np.moveaxis(x, 1, -1) if cls.torch_layout == CHANNELS_LAST and x.ndim > 2 else x


def _to_torch_layout(cls, y):
    return np.moveaxis(y, -1, 1) if cls.torch_layout == CHANNELS_LAST and y.ndim > 2 else y


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def build(name: str):
    """(torch module, jaxdl layer with torch's weights, jaxdl class), both in train mode."""
    torch.manual_seed(0)
    tm = EXAMPLES[name][0]()
    cls = for_torch_module(tm)
    assert cls is TORCH_LAYERS[name]
    kwargs = cls.torch_arguments(tm)
    if "rngs" in constructor(cls).parameters:
        kwargs["rngs"] = nnx.Rngs(0)
    jm = interop.from_torch(cls(**kwargs), tm.state_dict())
    return tm, jm, cls


def compare(name: str, *, train: bool) -> dict[str, float]:
    """Max |jaxdl - torch| of the output, the input gradient, each parameter gradient and
    each buffer after the forward, relative to the scale of torch's values (max(1, max|.|))."""
    tm, jm, cls = build(name)
    tm.train(train)
    jm.train() if train else jm.eval()
    rng = np.random.default_rng(1)
    x = _input(EXAMPLES[name][1], rng)
    floating = x.dtype == np.float32
    xt = torch.tensor(x, requires_grad=floating)
    yt = _first(tm(xt))
    r = rng.normal(size=tuple(yt.shape)).astype(np.float32)
    (yt * torch.from_numpy(r)).sum().backward()

    graphdef, params, rest = nnx.split(jm, nnx.Param, ...)

    def loss(p, x):
        model = nnx.merge(graphdef, p, rest, copy=True)
        y = _first(model(x))
        return jnp.sum(y * _to_jaxdl_layout(cls, r)), (y, nnx.state(model, nnx.BatchStat))

    xj = jnp.asarray(_to_jaxdl_layout(cls, x))
    argnums = (0, 1) if floating else 0
    grads, (y, stats) = jax.grad(loss, argnums=argnums, has_aux=True)(params, xj)
    gp, gx = grads if floating else (grads, None)

    def diff(a, b):
        b = np.asarray(b, np.float64)
        return float(np.max(np.abs(np.asarray(a, np.float64) - b), initial=0.0) / max(1.0, np.max(np.abs(b), initial=0)))

    out = {"output": diff(_to_torch_layout(cls, np.asarray(y)), yt.detach().numpy())}
    if floating:
        out["input grad"] = diff(_to_torch_layout(cls, np.asarray(gx)), xt.grad.numpy())
    grad_sd = interop.to_torch(nnx.merge(graphdef, gp, rest))
    for key, p in tm.named_parameters():
        out[f"grad {key}"] = diff(grad_sd[key].numpy(), p.grad.numpy())
    after = interop.to_torch(nnx.merge(graphdef, params, stats if train else rest))
    for key, b in tm.named_buffers():
        if key in after:
            out[key] = diff(after[key].numpy(), b.numpy())
    return out


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_registered_layer_matches_torch(name, train):
    if train and not EXAMPLES[name][2]:
        pytest.skip(f"{name}: train mode is random")
    diffs = compare(name, train=train)
    assert max(diffs.values()) <= 2e-6, diffs


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_to_torch_gives_torchs_keys_in_torchs_order(name):
    tm, jm, _ = build(name)
    sd = interop.to_torch(jm)
    expected = [k for k in tm.state_dict() if not (name == "FrozenBatchNorm2d" and k.endswith("tracked"))]
    assert [k for k in sd if not (name == "FrozenBatchNorm2d" and k.endswith("tracked"))] == expected
    tm.load_state_dict(sd, strict=True)
