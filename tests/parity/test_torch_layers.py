"""Every registered torch layer (``jaxdl.layers.TORCH_LAYERS``) against torch, driven by the
registry: the jaxdl layer is built from the torch module with its record
(``torch_arguments``), given torch's weights with ``from_torch`` and compared in eval and
train mode: outputs, input gradients, parameter gradients (through ``to_torch``) and the
running statistics after two train-mode forwards. A registered torch name without a
case here fails ``test_every_registered_layer_has_a_case``."""

from __future__ import annotations

import re
from pathlib import Path

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
TOL = 2e-6  # max |jaxdl - torch| / max(1, max |torch|), float32


def _torchvision_ops():
    _torchvision_models()
    import torchvision.ops

    return torchvision.ops


def _frozen_bn():
    m = _torchvision_ops().FrozenBatchNorm2d(4)
    with torch.no_grad():
        for name in ("weight", "bias", "running_mean"):
            getattr(m, name).normal_()
        m.running_var.uniform_(0.5, 2.0)
    return m


def _randomised(make):
    """``make()`` with its floating parameters and buffers away from their initial values
    (norm layers start at ones and zeros, which hide a mixed-up scale and bias)."""
    def build():
        m = make()
        with torch.no_grad():
            for name, t in [*m.named_parameters(), *m.named_buffers()]:
                if t.is_floating_point():
                    t.copy_(torch.rand_like(t) + 0.5 if "var" in name else torch.randn_like(t))
        return m
    return build


KINKS = np.array([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0, 2.5, -2.0, 20.0, -0.5, 0.5, 4.0], np.float32)

# (torch name, case id, torch module factory, torch input (shape, ("int", shape, high) or "kinks"),
#  train mode differs: compared in eval and train mode; the others (no modes) are compared once)
CASES = [
    ("Linear", "", lambda: nn.Linear(5, 3), (4, 5), False),
    ("Linear", "no-bias", lambda: nn.Linear(5, 3, bias=False), (2, 3, 5), False),
    ("Conv1d", "strided-dilated-grouped", lambda: nn.Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2),
     (2, 4, 11), False),
    ("Conv1d", "reflect", lambda: nn.Conv1d(3, 4, 3, padding=2, padding_mode="reflect"), (2, 3, 9), False),
    ("Conv2d", "", lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 9, 8), False),
    ("Conv2d", "replicate", lambda: nn.Conv2d(3, 4, (3, 2), padding=(1, 2), padding_mode="replicate"),
     (2, 3, 6, 7), False),
    ("ConvTranspose1d", "", lambda: nn.ConvTranspose1d(3, 4, 4, stride=3, padding=1, bias=False), (2, 3, 7), False),
    ("ConvTranspose2d", "grouped", lambda: nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1,
                                                              groups=2), (2, 4, 5, 6), False),
    ("ConvTranspose2d", "dilated", lambda: nn.ConvTranspose2d(4, 6, (3, 2), stride=(2, 3), padding=(2, 0),
                                                              dilation=2, output_padding=(1, 0)), (2, 4, 4, 5), False),
    ("ConvTranspose2d", "stride-1", lambda: nn.ConvTranspose2d(3, 2, 3, padding=1), (2, 3, 5, 4), False),
    ("BatchNorm1d", "", _randomised(lambda: nn.BatchNorm1d(4)), (6, 4, 5), True),
    ("BatchNorm1d", "momentum-None", _randomised(lambda: nn.BatchNorm1d(4, momentum=None)), (6, 4), True),
    ("BatchNorm2d", "", _randomised(lambda: nn.BatchNorm2d(4)), (3, 4, 5, 6), True),
    ("BatchNorm2d", "affine-False", _randomised(lambda: nn.BatchNorm2d(4, affine=False)), (3, 4, 5, 6), True),
    ("BatchNorm2d", "no-running-stats", _randomised(lambda: nn.BatchNorm2d(4, track_running_stats=False)),
     (3, 4, 5, 6), True),
    ("BatchNorm3d", "", _randomised(lambda: nn.BatchNorm3d(2)), (2, 2, 3, 4, 3), True),
    ("FrozenBatchNorm2d", "", _frozen_bn, (2, 4, 5, 3), True),
    ("InstanceNorm1d", "", lambda: nn.InstanceNorm1d(4), (2, 4, 7), True),
    ("InstanceNorm2d", "affine-tracked", _randomised(lambda: nn.InstanceNorm2d(4, affine=True,
                                                                               track_running_stats=True)),
     (2, 4, 5, 6), True),
    ("InstanceNorm3d", "", lambda: nn.InstanceNorm3d(2, momentum=None, track_running_stats=True), (2, 2, 3, 2, 3),
     True),
    ("GroupNorm", "", _randomised(lambda: nn.GroupNorm(2, 6)), (2, 6, 4, 5), False),
    ("GroupNorm", "affine-False", lambda: nn.GroupNorm(3, 6, affine=False), (3, 6, 7), False),
    ("LayerNorm", "", _randomised(lambda: nn.LayerNorm(6)), (3, 2, 6), False),
    ("LayerNorm", "two-axes", _randomised(lambda: nn.LayerNorm((3, 4))), (2, 5, 3, 4), False),
    ("LayerNorm", "no-affine", lambda: nn.LayerNorm(6, elementwise_affine=False), (3, 6), False),
    ("LayerNorm", "no-bias", _randomised(lambda: nn.LayerNorm(6, bias=False)), (3, 6), False),
    ("Dropout", "", lambda: nn.Dropout(0.3), (4, 5), False),  # train: random masks (tests/layers/test_dropout.py)
    ("StochasticDepth", "", lambda: _torchvision_ops().StochasticDepth(0.3, "row"), (4, 3, 2, 2), False),
    ("Embedding", "", lambda: nn.Embedding(10, 4), ("int", (3, 5), 10), False),
    ("Embedding", "padding_idx", lambda: nn.Embedding(10, 4, padding_idx=-3), ("int", (6, 5), 10), False),
    ("MaxPool1d", "", lambda: nn.MaxPool1d(3, 2, padding=1, ceil_mode=True), (2, 3, 10), False),
    ("MaxPool2d", "", lambda: nn.MaxPool2d(3, 2, padding=1, ceil_mode=True), (2, 3, 9, 8), False),
    ("AvgPool1d", "", lambda: nn.AvgPool1d(3, 2, padding=1, count_include_pad=False), (2, 3, 10), False),
    ("AvgPool2d", "", lambda: nn.AvgPool2d(3, 2, padding=1, count_include_pad=False), (2, 3, 9, 8), False),
    ("AdaptiveAvgPool1d", "", lambda: nn.AdaptiveAvgPool1d(4), (2, 3, 10), False),
    ("AdaptiveAvgPool2d", "", lambda: nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5), False),
    ("AdaptiveMaxPool1d", "", lambda: nn.AdaptiveMaxPool1d(3), (2, 3, 10), False),
    ("AdaptiveMaxPool2d", "", lambda: nn.AdaptiveMaxPool2d((3, 2)), (2, 3, 7, 5), False),
    ("AdaptiveMaxPool2d", "dividing", lambda: nn.AdaptiveMaxPool2d(2), (2, 3, 4, 6), False),
    ("Identity", "", lambda: nn.Identity(), (2, 3), False),
    ("Flatten", "", lambda: nn.Flatten(1, 2), (2, 3, 4, 5), False),
    ("Unflatten", "", lambda: nn.Unflatten(1, (2, 3)), (2, 6, 4), False),
    ("PixelShuffle", "", lambda: nn.PixelShuffle(2), (2, 8, 3, 4), False),
    ("PixelUnshuffle", "", lambda: nn.PixelUnshuffle(2), (2, 2, 4, 6), False),
    ("ChannelShuffle", "", lambda: nn.ChannelShuffle(3), (2, 6, 3, 3), False),
    ("ZeroPad1d", "", lambda: nn.ZeroPad1d(2), (2, 3, 5), False),
    ("ZeroPad2d", "cropping", lambda: nn.ZeroPad2d((1, 0, 2, -1)), (2, 3, 4, 5), False),
    ("ConstantPad1d", "", lambda: nn.ConstantPad1d((1, 2), 3.5), (2, 3, 5), False),
    ("ConstantPad2d", "", lambda: nn.ConstantPad2d(1, -1.0), (2, 3, 4, 5), False),
    ("ReflectionPad1d", "", lambda: nn.ReflectionPad1d(2), (2, 3, 5), False),
    ("ReflectionPad2d", "", lambda: nn.ReflectionPad2d((1, 2, 0, 3)), (2, 3, 5, 6), False),
    ("ReplicationPad1d", "", lambda: nn.ReplicationPad1d((0, 3)), (2, 3, 5), False),
    ("ReplicationPad2d", "", lambda: nn.ReplicationPad2d(2), (2, 3, 4, 5), False),
    ("CircularPad1d", "", lambda: nn.CircularPad1d(1), (2, 3, 5), False),
    ("CircularPad2d", "", lambda: nn.CircularPad2d((1, 1, 2, 0)), (2, 3, 4, 5), False),
    ("Upsample", "nearest-size", lambda: nn.Upsample((7, 5)), (2, 3, 4, 3), False),
    ("Upsample", "nearest-x2", lambda: nn.Upsample(scale_factor=2), (2, 3, 4, 3), False),
    ("Upsample", "nearest-x1.5", lambda: nn.Upsample(scale_factor=1.5), (2, 3, 5, 4), False),
    ("Upsample", "nearest-exact", lambda: nn.Upsample(scale_factor=1.7, mode="nearest-exact"), (2, 3, 5, 4), False),
    ("Upsample", "linear", lambda: nn.Upsample(scale_factor=2.5, mode="linear"), (2, 3, 4), False),
    ("Upsample", "bilinear", lambda: nn.Upsample((7, 9), mode="bilinear"), (2, 3, 4, 5), False),
    ("Upsample", "bilinear-corners", lambda: nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True),
     (2, 3, 4, 5), False),
    ("Upsample", "bilinear-down", lambda: nn.Upsample((3, 2), mode="bilinear"), (2, 3, 7, 5), False),
    ("Upsample", "bicubic", lambda: nn.Upsample(scale_factor=1.5, mode="bicubic"), (2, 3, 4, 5), False),
    ("Upsample", "bicubic-corners", lambda: nn.Upsample((5, 7), mode="bicubic", align_corners=True),
     (2, 3, 4, 5), False),
    ("Upsample", "trilinear", lambda: nn.Upsample(scale_factor=2, mode="trilinear"), (1, 2, 3, 2, 3), False),
    ("Upsample", "area", lambda: nn.Upsample((3, 2), mode="area"), (2, 3, 7, 5), False),
    ("UpsamplingNearest2d", "", lambda: nn.UpsamplingNearest2d(scale_factor=2), (2, 3, 3, 2), False),
    ("UpsamplingBilinear2d", "", lambda: nn.UpsamplingBilinear2d((5, 7)), (2, 3, 3, 4), False),
    ("ReLU", "", lambda: nn.ReLU(), "kinks", False),
    ("ReLU6", "", lambda: nn.ReLU6(), "kinks", False),
    ("Hardtanh", "", lambda: nn.Hardtanh(-2.0, 3.0), "kinks", False),
    ("LeakyReLU", "", lambda: nn.LeakyReLU(0.2), "kinks", False),
    ("ELU", "", lambda: nn.ELU(0.5), "kinks", False),
    ("CELU", "", lambda: nn.CELU(1.5), "kinks", False),
    ("SELU", "", lambda: nn.SELU(), "kinks", False),
    ("GELU", "", lambda: nn.GELU(), "kinks", False),
    ("GELU", "tanh", lambda: nn.GELU("tanh"), "kinks", False),
    ("SiLU", "", lambda: nn.SiLU(), "kinks", False),
    ("Mish", "", lambda: nn.Mish(), "kinks", False),
    ("Hardswish", "", lambda: nn.Hardswish(), "kinks", False),
    ("Hardsigmoid", "", lambda: nn.Hardsigmoid(), "kinks", False),
    ("Softplus", "", lambda: nn.Softplus(2.0, 5.0), "kinks", False),
    ("Sigmoid", "", lambda: nn.Sigmoid(), "kinks", False),
    ("Tanh", "", lambda: nn.Tanh(), "kinks", False),
    ("LogSigmoid", "", lambda: nn.LogSigmoid(), "kinks", False),
    ("Softmax", "", lambda: nn.Softmax(1), (3, 4, 2), False),
    ("LogSoftmax", "", lambda: nn.LogSoftmax(-1), (3, 4, 2), False),
    ("GLU", "", lambda: nn.GLU(1), (3, 4, 2), False),
    ("PReLU", "", lambda: nn.PReLU(), "kinks", False),
    ("PReLU", "per-channel", _randomised(lambda: nn.PReLU(3)), (2, 3, 4, 2), False),
    ("LSTM", "", lambda: nn.LSTM(3, 5, batch_first=True), (2, 7, 3), False),
    ("RNN", "", lambda: nn.RNN(3, 5), (7, 2, 3), False),
]
_IDS = [f"{name}-{case}" if case else name for name, case, *_ in CASES]


# layers with a parity module of their own (several inputs, states, masks): name -> that module
OWN_TESTS = {"GRU": "test_recurrent.py", "MultiheadAttention": "test_attention.py",
             **{name: "test_transformer.py" for name in ("TransformerEncoderLayer", "TransformerEncoder",
                                                          "TransformerDecoderLayer", "TransformerDecoder")}}


def test_every_registered_layer_has_a_case():
    assert sorted({c[0] for c in CASES} | set(OWN_TESTS)) == sorted(TORCH_LAYERS)
    here = Path(__file__).parent
    for name, module in OWN_TESTS.items():
        assert re.search(rf"nn\.{name}\b", (here / module).read_text()), (name, module)


def _input(spec, rng):
    if isinstance(spec, str):  # the kinks of the activations, then random values
        return np.concatenate([KINKS, rng.normal(size=12).astype(np.float32) * 3]).reshape(4, 6)
    if spec[0] == "int":
        return rng.integers(0, spec[2], size=spec[1])
    return rng.normal(size=spec).astype(np.float32)


def _to_jaxdl_layout(cls, x):
    return np.moveaxis(x, 1, -1) if cls.torch_layout == CHANNELS_LAST and x.ndim > 2 else x


def _to_torch_layout(cls, y):
    return np.moveaxis(y, -1, 1) if cls.torch_layout == CHANNELS_LAST and y.ndim > 2 else y


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def build(case):
    """(torch module, jaxdl layer built from it by its record with torch's weights, jaxdl class)."""
    torch.manual_seed(0)
    tm = case[2]()
    cls = for_torch_module(tm)
    assert cls is TORCH_LAYERS[case[0]]
    kwargs = cls.torch_arguments(tm)
    if "rngs" in constructor(cls).parameters:
        kwargs["rngs"] = nnx.Rngs(0)
    jm = interop.from_torch(cls(**kwargs), tm.state_dict())
    return tm, jm, cls


def _diff(a, b) -> float:
    b = np.asarray(b, np.float64)
    return float(np.max(np.abs(np.asarray(a, np.float64) - b), initial=0.0) / max(1.0, np.max(np.abs(b), initial=0)))


def compare(case, *, train: bool) -> dict[str, float]:
    """Max relative |jaxdl - torch| of the output, the input gradient, each parameter
    gradient, and (train mode) each buffer after one and after two forwards."""
    tm, jm, cls = build(case)
    tm.train(train)
    jm.train() if train else jm.eval()
    rng = np.random.default_rng(1)
    x = _input(case[3], rng)
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
    grad = jax.jit(jax.grad(loss, argnums=(0, 1) if floating else 0, has_aux=True))  # one compile, not op by op
    grads, (y, stats) = grad(params, xj)
    gp, gx = grads if floating else (grads, None)
    out = {"output": _diff(_to_torch_layout(cls, np.asarray(y)), yt.detach().numpy())}
    if floating:
        out["input grad"] = _diff(_to_torch_layout(cls, np.asarray(gx)), xt.grad.numpy())
    grad_sd = interop.to_torch(nnx.merge(graphdef, gp, rest))
    for key, p in tm.named_parameters():
        out[f"grad {key}"] = _diff(grad_sd[key].numpy(), p.grad.numpy())
    if train and list(tm.named_buffers()):
        after = interop.to_torch(nnx.merge(graphdef, params, stats))
        for key, b in tm.named_buffers():
            out[key] = _diff(after[key].numpy(), b.numpy())
        x2 = _input(case[3], rng)  # a second step: momentum=None's cumulative average
        tm(torch.tensor(x2))
        jm = nnx.merge(graphdef, params, stats)
        jm.train()
        jm(jnp.asarray(_to_jaxdl_layout(cls, x2)))
        after = interop.to_torch(jm)
        for key, b in tm.named_buffers():
            out[f"{key} (2 steps)"] = _diff(after[key].numpy(), b.numpy())
    return out


@pytest.mark.parametrize("case", CASES, ids=_IDS)
def test_registered_layer_matches_torch(case):
    diffs = {f"eval {k}": v for k, v in compare(case, train=False).items()}
    if case[4]:
        diffs |= {f"train {k}": v for k, v in compare(case, train=True).items()}
    assert max(diffs.values()) <= TOL, diffs


@pytest.mark.parametrize("case", [c for c in CASES if c[1] == ""], ids=[c[0] for c in CASES if c[1] == ""])
def test_to_torch_gives_torchs_keys_in_torchs_order(case):
    tm, jm, _ = build(case)
    frozen = case[0] == "FrozenBatchNorm2d"  # torchvision's FrozenBatchNorm2d has no num_batches_tracked
    keys = [k for k in interop.to_torch(jm) if not (frozen and k.endswith("tracked"))]
    assert keys == list(tm.state_dict())
    tm.load_state_dict(interop.to_torch(jm), strict=True)
