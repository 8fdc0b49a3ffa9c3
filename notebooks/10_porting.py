# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 10. Porting your own PyTorch model: `jaxdl.port`
# Chapters 1-9 use the notes' classes, rewritten by hand in `jaxdl.models`. Your own
# `nn.Module` does not need that: `jaxdl.port.port(model, example_input)` records its
# forward with `torch.export`, and writes the NNX module a person would have written:
# one class per torch class with torch's names, `jaxdl.layers` with torch's semantics,
# NHWC images, and the weights converted. This chapter ports two of the notes' models and
# puts each next to its hand-written twin, then ports a model that is not in the notes.

# %%
import inspect
import tempfile

import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx
from torch import nn

import jaxdl.models as M
import torch_reference as T
from jaxdl import interop, losses, optim
from jaxdl.port import UnsupportedError, port, verify
from jaxdl.train import Learner

# %% [markdown]
# ## The CIFAR-10 Net, ported: the code
# Compare with `jaxdl/models/cnn.py`'s `CifarNet`: the same layers, the same `__call__`
# line for line (the notes' own statements and names), and the same `torch_flatten`.

# %% tags=["pytorch"]
print(inspect.getsource(T.CifarNet))   # 004's Net, as the notes write it
torch.manual_seed(0)
tm = T.CifarNet()

# %% tags=["jax"]
ported = port(tm, torch.randn(4, 3, 32, 32))
print(ported.source)

# %% [markdown]
# ## ... next to its hand-written twin: the same parameter tree, the same outputs

# %%
hand = interop.from_torch(M.CifarNet(rngs=nnx.Rngs(0)), tm.state_dict())


def shapes(model):
    state = nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat))
    return {".".join(map(str, p)): v.get_value().shape for p, v in nnx.to_flat_state(state)}


assert shapes(ported.module) == shapes(hand)
img = np.random.default_rng(0).normal(size=(8, 32, 32, 3)).astype(np.float32)
out_ported, out_hand = np.asarray(ported.module(jnp.asarray(img))), np.asarray(hand(jnp.asarray(img)))
out_torch = tm(torch.from_numpy(img.transpose(0, 3, 1, 2).copy())).detach().numpy()
np.testing.assert_allclose(out_ported, out_hand, atol=1e-6)
np.testing.assert_allclose(out_ported, out_torch, atol=1e-5)
print("ported == hand-written == torch; parameters:", list(shapes(hand)))

# %% [markdown]
# ## A ported module is an ordinary NNX module: it trains with `jaxdl.train`
# Ten Adam steps of the same batch on the ported and on the hand-written TinyVGG, from
# the same torch weights: the losses are the same at every step.

# %%
torch.manual_seed(1)
t_vgg = T.TinyVGG()
p_vgg = port(t_vgg, torch.randn(4, 1, 28, 28))
h_vgg = interop.from_torch(M.TinyVGG(rngs=nnx.Rngs(0)), t_vgg.state_dict())
x = jnp.asarray(np.random.default_rng(1).normal(size=(16, 28, 28, 1)).astype(np.float32))
y = jnp.arange(16) % 10
runs = []
for model in (p_vgg.module, h_vgg):
    learner = Learner(model, losses.cross_entropy, optim.adam(1e-3))
    state, curve = learner.init_state(), []
    for _ in range(10):
        state, metrics = learner.train_step(state, (x, y))
        curve.append(float(metrics["loss"]))
    runs.append(curve)
np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5)
print("losses, ported vs hand-written:", [f"{a:.4f}/{b:.4f}" for a, b in zip(*runs)][::3])

# %% [markdown]
# ## A model that is not in the notes
# A residual CNN written the way people write them: a block class used twice with
# `+=` and `ReLU(inplace=True)`, an `nn.ModuleList` loop, `x.view(x.size(0), -1)`.
# The port turns the in-place ops pure, keeps the loop, keeps NHWC from the input to
# the flatten, and gives the dense layer `torch_flatten`. `Ported.write(dir)` adds the
# weights (safetensors) and a `test_parity.py`; here its checks run inline.

# %%
class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.bn(self.conv(x))
        out += x
        return self.relu(out)


class ResNetLike(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.ModuleList([Block(8) for _ in range(2)])
        self.fc = nn.Linear(8 * 8 * 8, 10)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        x = nn.functional.max_pool2d(x, 2)
        return self.fc(x.view(x.size(0), -1))


torch.manual_seed(2)
t_res = ResNetLike()
p_res = port(t_res, torch.randn(2, 3, 16, 16))
print(p_res.source[p_res.source.index("class Block"):])
checks = {
    "eval outputs": verify.check_eval_outputs(t_res, p_res.module, p_res.inputs, p_res.output_images),
    "train outputs": verify.check_train_outputs(t_res, p_res.module, p_res.inputs, p_res.output_images),
    "BatchNorm statistics": verify.check_batchnorm_stats(t_res, p_res.module, p_res.inputs),
    "gradients": verify.check_gradients(t_res, p_res.module, p_res.inputs, p_res.output_images),
}
assert "for block in self.blocks:" in p_res.source
assert "torch_flatten: ClassVar[dict] = {'fc': (8, 8, 8)}" in p_res.source
print(checks)

# %% [markdown]
# ## What it cannot port says so
# An op without a JAX mapping, or Python control flow on a tensor's value, stops with
# one message naming it and the module; `partial=True` (`--partial`) writes the rest with
# a stub that raises at that point.

# %%
class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(4, 4), nn.Linear(4, 4)

    def forward(self, x):
        return self.a(x) if x.sum() > 0 else self.b(x)


try:
    port(Gate(), torch.randn(2, 4))
    raise AssertionError("expected UnsupportedError")
except UnsupportedError as e:
    print(e)
    assert "data-dependent control flow" in str(e)
with tempfile.TemporaryDirectory() as d:
    print(sorted(p.name for p in p_res.write(d, torch_factory=f"{d}/nowhere.py:ResNetLike").iterdir()))
