"""Initialisation: jaxdl's layers draw from torch's default distributions (two-sample
Kolmogorov-Smirnov tests against torch's own draws), with JAX's generator, so the
values differ from torch's for the same seed; the README says exactly that."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from flax import nnx
from scipy import stats

from jaxdl import interop
from jaxdl.layers import TORCH_LAYERS, Conv2d, Linear
from jaxdl.layers.torch_layer import constructor
from tests.parity.test_torch_layers import CASES
from torch_reference.vision import models as _torchvision_models

ROOT = Path(__file__).resolve().parent.parent.parent
P_MIN = 1e-3  # same distribution: measured p 0.13-0.90 for these draws; Flax's default init: p ~ 0


def _draws(make, n):
    """Weights and biases of ``n`` freshly initialised layers, flattened."""
    ws, bs = zip(*(make(i) for i in range(n)))
    return np.concatenate([np.ravel(w) for w in ws]), np.concatenate([np.ravel(b) for b in bs])


def _jax(layer):
    return np.asarray(layer.kernel[...]), np.asarray(layer.bias[...])


def _torch(layer):
    return layer.weight.detach().numpy(), layer.bias.detach().numpy()


def _torch_seeded(cls, i, *a):
    torch.manual_seed(i)
    return _torch(cls(*a))


LAYERS = {  # name: (jaxdl layer of seed i, torch layer of seed i, layers drawn)
    "Linear(200, 50)": (lambda i: _jax(Linear(200, 50, rngs=nnx.Rngs(i))),
                        lambda i: _torch_seeded(torch.nn.Linear, i, 200, 50), 20),
    "Conv2d(6, 16, 5)": (lambda i: _jax(Conv2d(6, 16, 5, rngs=nnx.Rngs(i))),
                         lambda i: _torch_seeded(torch.nn.Conv2d, i, 6, 16, 5), 60),
}


@pytest.mark.parametrize("name", LAYERS)
def test_init_is_torch_distribution(name):
    make_jax, make_torch, n = LAYERS[name]
    (wj, bj), (wt, bt) = _draws(make_jax, n), _draws(make_torch, n)
    assert wj.size == wt.size and bj.size == bt.size >= 960
    assert stats.ks_2samp(wj, wt).pvalue > P_MIN, "weights"
    assert stats.ks_2samp(bj, bt).pvalue > P_MIN, "biases"
    bound = 1 / np.sqrt(200 if name.startswith("Linear") else 6 * 5 * 5)  # U(+-1/sqrt(fan_in))
    assert np.abs(wj).max() <= bound and np.abs(wj).max() > 0.99 * bound


def _frozen_bn(n):
    _torchvision_models()
    from torchvision.ops import FrozenBatchNorm2d

    return FrozenBatchNorm2d(n)


nn = torch.nn
# torch name: (torch layer, layers drawn): every registered layer with weights or buffers
INIT_EXAMPLES = {
    "Linear": (lambda: nn.Linear(40, 30), 14),
    "Conv2d": (lambda: nn.Conv2d(4, 6, (3, 2), groups=2), 70),
    "BatchNorm1d": (lambda: nn.BatchNorm1d(5), 1),
    "BatchNorm2d": (lambda: nn.BatchNorm2d(5), 1),
    "BatchNorm3d": (lambda: nn.BatchNorm3d(5), 1),
    "FrozenBatchNorm2d": (lambda: _frozen_bn(5), 1),
    "LayerNorm": (lambda: nn.LayerNorm(5), 1),
    "Embedding": (lambda: nn.Embedding(50, 10, padding_idx=3), 2),
    "Conv1d": (lambda: nn.Conv1d(4, 6, 5), 70),
    "ConvTranspose1d": (lambda: nn.ConvTranspose1d(6, 4, 5, groups=2), 100),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(6, 4, (3, 2)), 100),
    "InstanceNorm2d": (lambda: nn.InstanceNorm2d(5, affine=True, track_running_stats=True), 1),
    "InstanceNorm3d": (lambda: nn.InstanceNorm3d(5, track_running_stats=True), 1),
    "GroupNorm": (lambda: nn.GroupNorm(2, 6), 1),
    "PReLU": (lambda: nn.PReLU(4), 1),
    "LSTM": (lambda: nn.LSTM(6, 10), 11),
    "RNN": (lambda: nn.RNN(12, 20), 21),
}


def test_every_registered_layer_with_weights_has_an_init_example():
    """Every torch name with a parity case whose layer has weights or buffers (the cases
    are tests/parity/test_torch_layers.py's) is drawn here."""
    stateful = {case[0] for case in CASES if case[2]().state_dict()}
    assert stateful == set(INIT_EXAMPLES)


@pytest.mark.parametrize("name", sorted(INIT_EXAMPLES))
def test_every_layer_initialises_as_torch(name):
    """Each state_dict entry of n freshly built layers: the same distribution as torch's
    (KS test), or the same constant (norm layers' ones and zeros, statistics)."""
    make, n = INIT_EXAMPLES[name]
    cls = TORCH_LAYERS[name]
    jaxdl, ref = {}, {}
    for i in range(n):
        torch.manual_seed(i)
        tm = make()
        kwargs = cls.torch_arguments(tm) | ({"rngs": nnx.Rngs(i)} if "rngs" in constructor(cls).parameters else {})
        for k, v in interop.to_torch(cls(**kwargs)).items():
            jaxdl.setdefault(k, []).append(v.double().numpy().ravel())
        for k, v in tm.state_dict().items():
            ref.setdefault(k, []).append(v.double().numpy().ravel())
    assert set(ref) <= set(jaxdl)
    for k, drawn in ref.items():
        j, t = np.concatenate(jaxdl[k]), np.concatenate(drawn)
        if np.all(t == t[0]):
            np.testing.assert_array_equal(j, t, err_msg=k)
        else:
            assert t.size >= 400, (k, t.size)
            assert stats.ks_2samp(j, t).pvalue > P_MIN, k


def test_the_ks_test_tells_another_distribution_apart():
    """The control: Flax's default Linear init (truncated lecun normal, zero bias) fails it."""
    wf = np.concatenate([np.ravel(nnx.Linear(200, 50, rngs=nnx.Rngs(i)).kernel[...]) for i in range(20)])
    wt, _ = _draws(lambda i: _torch_seeded(torch.nn.Linear, i, 200, 50), 20)
    assert stats.ks_2samp(wf, wt).pvalue < 1e-6


def test_same_seed_other_values():
    """Equal in distribution, not in values: seed 0 gives other weights than torch.manual_seed(0)."""
    wj, _ = _jax(Linear(4, 3, rngs=nnx.Rngs(0)))
    wt, _ = _torch_seeded(torch.nn.Linear, 0, 4, 3)
    assert not np.allclose(wj, wt.T, atol=1e-3)


def test_readme_claims_init_equal_in_distribution_not_in_values():
    readme = " ".join((ROOT / "README.md").read_text().split())
    exact = re.search(r"Numerically equal to PyTorch[^.]*\.", readme).group(0)
    assert "init" not in exact  # the claim of equal numbers does not cover initialisation
    assert "Initialisation is equal in distribution, not in values" in readme
