# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 8. Transfer learning: `requires_grad = False` vs an optimizer mask; the notes' AlexNet recipe
# JAX parameters have no `requires_grad` flag: `jax.grad` differentiates with respect to the
# whole parameter pytree. Freezing is decided by the optimizer: `jaxdl.optim.freeze(tx,
# patterns)` labels the leaves whose dotted path matches and gives them `optax.set_to_zero()`
# (no update, no weight decay). A frozen leaf's gradient is then used nowhere, so XLA does
# not compute it (jaxdl's train step checks the updates, not the raw gradients, for NaN):
# freezing costs what `requires_grad = False` costs in torch. Below: the notes'
# `nn.Sequential(nn.Linear(64,128), nn.Linear(128,256))` with layer 0 frozen, trained 10
# steps in both frameworks; then the notes' AlexNet recipe (002, 003) next to torchvision's.
#
# **`import torchvision` fails** beside the CPU build of torch from PyPI (the torchvision
# 0.28 wheel is CUDA-linked: `operator torchvision::nms does not exist`). Import its models
# with `from torch_reference.vision import models; torchvision_models = models()` (installed
# with jaxdl), as this chapter does; or install torch and torchvision from the same index.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
from flax import nnx

from jaxdl import interop, optim
from jaxdl.layers import Linear

# %% tags=["pytorch"]
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Linear(128, 256))
for name, param in model.named_parameters():
    if name == '0.weight' or name == '0.bias':   # the parameters of the first layer
        param.requires_grad = False
optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9,
                            weight_decay=1e-3)
tm = model

# %% tags=["jax"]
jm = nnx.Sequential(Linear(64, 128, rngs=nnx.Rngs(0)), Linear(128, 256, rngs=nnx.Rngs(1)))
interop.from_torch(jm, tm.state_dict())
graphdef, params = nnx.split(jm, nnx.Param)
params = params.to_pure_dict()
tx = optim.freeze(optim.sgd(0.01, momentum=0.9, weight_decay=1e-3), [r"layers\.0\."])
opt_state = tx.init(params)
x = np.random.default_rng(0).normal(size=(8, 64)).astype(np.float32)


@jax.jit
def step(params, opt_state, x):
    loss, g = jax.value_and_grad(lambda p: jnp.mean(nnx.merge(graphdef, p)(x) ** 2))(params)
    upd, opt_state = tx.update(g, opt_state, params)
    return optax.apply_updates(params, upd), opt_state, loss


# %%
frozen_before = np.asarray(params["layers"][0]["kernel"]).copy()
for _ in range(10):
    loss = (tm(torch.from_numpy(x)) ** 2).mean()
    optimizer.zero_grad(); loss.backward(); optimizer.step()
    params, opt_state, jloss = step(params, opt_state, jnp.asarray(x))
    assert abs(loss.item() - float(jloss)) < 1e-5
assert np.array_equal(np.asarray(params["layers"][0]["kernel"]), frozen_before)      # bit-identical
np.testing.assert_allclose(np.asarray(params["layers"][1]["kernel"]), tm[1].weight.detach().numpy().T, atol=1e-5)
print("layer 0 frozen bit-exactly; layer 1 trained the same as torch")

# %% [markdown]
# A pattern that matches nothing is an error listing the real paths (a typo would otherwise
# silently train everything):

# %%
try:
    optim.freeze(optim.sgd(0.1), ["features"]).init(params)
    raise AssertionError("a pattern matching nothing must be refused")
except ValueError as e:
    assert "layers.0.kernel" in str(e)
    print(str(e)[:120], "...")

# %% [markdown]
# ## The notes' AlexNet recipe, side by side with torchvision
# ```python
# alexnet = torchvision.models.alexnet(pretrained=True)
# for param in alexnet.features.parameters():
#     param.requires_grad = False
# alexnet.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 256), nn.ReLU(),
#                                    nn.Linear(256, num_classes))
# ```
# `jaxdl.models.vision.alexnet` has torchvision's names and arguments, so torchvision's
# `state_dict` copies in key for key. No ImageNet weights can be fetched here: both sides
# start from torchvision's random weights (`weights=None`, seeded), copied into jaxdl with
# `interop.from_torch` (a real `pretrained=True` reads torchvision's file from the torch hub
# cache the same way). Images are NHWC in jaxdl: `x_NCHW.transpose(0, 2, 3, 1)`.

# %%
from jaxdl.layers import Dropout
from jaxdl.models import vision
from torch_reference.vision import models as torchvision_models

torch.manual_seed(0)
t_alex = torchvision_models().alexnet(weights=None)
j_alex = vision.alexnet(rngs=nnx.Rngs(0))
interop.from_torch(j_alex, t_alex.state_dict())
x_NCHW = np.random.default_rng(1).normal(size=(4, 3, 96, 96)).astype(np.float32)
x_NHWC = x_NCHW.transpose(0, 2, 3, 1)
t_alex.eval()
j_alex.eval()
with torch.no_grad():
    t_logits = t_alex(torch.from_numpy(x_NCHW)).numpy()
j_logits = np.asarray(j_alex(x_NHWC))
print("torchvision vs jaxdl alexnet, max |diff| of the 1000 logits:", np.abs(t_logits - j_logits).max())
assert t_logits.shape == j_logits.shape == (4, 1000)
assert np.abs(t_logits - j_logits).max() < 1e-5

# %% [markdown]
# The recipe on both sides: freeze `features`, put the notes' classifier in place (the
# same weights: copied from torch), train a few SGD steps on the same batch. torch freezes
# by flag, jaxdl by a parameter-path filter on the optimizer; jaxdl's `Linear(256 * 6 * 6,
# 256)` sees the features flattened in (H, W, C) order, and AlexNet's `torch_flatten`
# (`{"classifier.1": (256, 6, 6)}`) tells `interop` to permute its rows. Dropout masks come
# from different generators and cannot match, so the side-by-side steps run in eval mode
# (Dropout off; AlexNet has no BatchNorm, so nothing else changes).

# %% tags=["pytorch"]
num_classes = 3
nn = torch.nn
for param in t_alex.features.parameters():   # Freeze feature extractor
    param.requires_grad = False
t_alex.classifier = nn.Sequential(           # Replace classifier for new task
    nn.Dropout(0.5),
    nn.Linear(256 * 6 * 6, 256),
    nn.ReLU(),
    nn.Linear(256, num_classes)
)

# %% tags=["jax"]
head_rngs = nnx.Rngs(1)  # jaxdl: the same layers, the same indices
j_alex.classifier = nnx.Sequential(Dropout(0.5, rngs=head_rngs), Linear(256 * 6 * 6, 256, rngs=head_rngs),
                                   jax.nn.relu, Linear(256, num_classes, rngs=head_rngs))
tx = optim.freeze(optim.sgd(0.01, momentum=0.9), [r"features\."])   # freezing is the optimizer's business

# %%
interop.from_torch(j_alex, t_alex.state_dict())  # the new classifier's weights too (torch's), rows permuted
j_alex.eval()
t_alex.eval()
y = np.array([0, 1, 2, 1])

head_before = {k: v.clone() for k, v in t_alex.state_dict().items() if k.startswith("classifier.")}
t_opt = torch.optim.SGD([p for p in t_alex.parameters() if p.requires_grad], lr=0.01, momentum=0.9)
graphdef, params, rest = nnx.split(j_alex, nnx.Param, ...)
params, rest = params.to_pure_dict(), rest.to_pure_dict()
opt_state = tx.init(params)


@jax.jit
def alexnet_step(params, opt_state, x, y):
    def loss_fn(p):
        logits = nnx.merge(graphdef, p, rest, copy=True)(x)
        return jnp.mean(optax.losses.softmax_cross_entropy_with_integer_labels(logits, y))

    loss, g = jax.value_and_grad(loss_fn)(params)
    upd, opt_state = tx.update(g, opt_state, params)
    return optax.apply_updates(params, upd), opt_state, loss


features_before = jax.tree.map(lambda a: np.asarray(a).copy(), params["features"])
t_features_before = {k: v.clone() for k, v in t_alex.state_dict().items() if k.startswith("features.")}
for i in range(3):
    t_loss = nn.functional.cross_entropy(t_alex(torch.from_numpy(x_NCHW)), torch.from_numpy(y))
    t_opt.zero_grad(); t_loss.backward(); t_opt.step()
    params, opt_state, j_loss = alexnet_step(params, opt_state, jnp.asarray(x_NHWC), jnp.asarray(y))
    print(f"step {i}: torch loss {t_loss.item():.6f}  jaxdl loss {float(j_loss):.6f}")
    assert abs(t_loss.item() - float(j_loss)) < 1e-5

# frozen: bit-identical on both sides; the head: the same weights as torch's (as state_dicts)
assert all(np.array_equal(a, np.asarray(b)) for a, b in
           zip(jax.tree.leaves(features_before), jax.tree.leaves(params["features"])))
nnx.update(j_alex, nnx.State(params))
trained, t_state = interop.to_torch(j_alex), t_alex.state_dict()
assert all(torch.equal(trained[k], t_state[k]) and torch.equal(t_state[k], t_features_before[k])
           for k in t_features_before)
for key in ("classifier.1.weight", "classifier.1.bias", "classifier.3.weight", "classifier.3.bias"):
    diff = (trained[key] - t_state[key]).abs().max().item()
    moved = (t_state[key] - head_before[key]).abs().max().item()
    print(f"{key}: moved by up to {moved:.1e}; max |jaxdl - torch| = {diff:.1e}")
    assert diff < 1e-5 and diff < 1e-3 * moved
print("features frozen bit-exactly on both sides; the new classifier trained the same")

# %% [markdown]
# `python -m experiments.transfer_learning --backbone alexnet --data-dir FOLDER` runs this
# recipe on a folder of images (`train/` and `test/` in ImageFolder layout) with
# `train_and_evaluate`; `--cache-features` computes each image's features once and trains
# the head alone on them (the same head, far faster). The book's page "torchvision
# backbones and transfer learning" has the commands and the measured numbers.
