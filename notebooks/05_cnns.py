# %% [markdown]
# # 5. CNNs: the MNIST CNN and the CIFAR-10 Net
# Layout: PyTorch is NCHW with OIHW kernels, JAX/Flax is NHWC with HWIO kernels (what XLA
# prefers on CPU/GPU/TPU). `jaxdl.interop` transposes kernels and, for the first dense layer
# after the convolutions, permutes its rows: torch flattens (C, H, W), jaxdl flattens (H, W, C).

# %%
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx

from jaxdl import data, interop, losses, optim
from jaxdl.models import CifarNet, ConvolutionalNetwork
from jaxdl.train import Learner
import torch_reference as T

# %% [markdown]
# ## Same weights, same outputs (NCHW input for torch, NHWC for JAX)

# %%
torch.manual_seed(101)
tm = T.ConvolutionalNetwork()
jm = ConvolutionalNetwork(rngs=nnx.Rngs(0))
interop.from_torch(jm, tm.state_dict())
ds = data.load("mnist_5k")
x, y = ds.train[:64]
x_nchw = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
np.testing.assert_allclose(np.asarray(jm(jnp.asarray(x))), tm(x_nchw).detach().numpy(), atol=1e-5)
print("kernel shapes:", tuple(tm.conv1.weight.shape), "(OIHW) ->", jm.conv1.kernel[...].shape, "(HWIO)")

# %% [markdown]
# ## 20 training steps of the notes' recipe (Adam 1e-3, NLL on log_softmax, batch 10)

# %%
opt = torch.optim.Adam(tm.parameters(), lr=1e-3)
learner = Learner(jm, losses.nll_loss, optim.adam(1e-3))
state = learner.init_state()
for i in range(20):
    xb, yb = x[i * 3:i * 3 + 10], y[i * 3:i * 3 + 10]
    loss = torch.nn.functional.nll_loss(tm(torch.from_numpy(xb.transpose(0, 3, 1, 2).copy())), torch.from_numpy(yb).long())
    opt.zero_grad(); loss.backward(); opt.step()
    state, m = learner.train_step(state, (jnp.asarray(xb), jnp.asarray(yb)))
    assert abs(loss.item() - float(m["loss"])) < 1e-4, (i, loss.item(), float(m["loss"]))
print("20 steps agree; last loss", loss.item())

# %% [markdown]
# ## The CIFAR-10 Net: flatten order matters
# `x.view(-1, 16 * 5 * 5)` flattens channels first. A converter that forgot to permute `fc1`
# would give different outputs; `jaxdl.interop` does it from the model's `torch_flatten`.

# %%
torch.manual_seed(0)
tc = T.CifarNet()
jc = CifarNet(rngs=nnx.Rngs(0))
interop.from_torch(jc, tc.state_dict())
img = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
out_t = tc(torch.from_numpy(img.transpose(0, 3, 1, 2).copy())).detach().numpy()
np.testing.assert_allclose(np.asarray(jc(jnp.asarray(img))), out_t, atol=1e-5)
print("CifarNet.torch_flatten =", CifarNet.torch_flatten)
