# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1. Tensors: PyTorch and JAX side by side
# The notes' "Torch basics" (000, 002) and "Tensor" (001), line by line. Cells tagged
# **pytorch** are the notes' code, the **jax** cell after each does the same, and a third
# cell asserts that they agree. Three differences to remember: JAX arrays are
# **immutable**, randomness takes an explicit **key**, and nothing shares memory with
# NumPy (`jnp.asarray` copies to the device).

# %%
import jax
import jax.numpy as jnp
import numpy as np
import torch

from jaxdl import runtime

# %% [markdown]
# ## Creation and dtypes
# JAX defaults to 32-bit types (int32, float32) where torch's integers are int64: 64-bit
# JAX needs `jax_enable_x64`, and class labels are int32.

# %% tags=["pytorch"]
t = torch.tensor([1, 2, 3])
tf = torch.Tensor([1, 2, 3])             # or torch.FloatTensor
t_lin = torch.linspace(0, 18, 12).reshape(3, 4)
t_ar = torch.arange(0, 20, 2).reshape(5, 2)
t_z = torch.zeros(4, 2, dtype=torch.int32)
print(t.dtype, tf.dtype, t_z.dtype)

# %% tags=["jax"]
j = jnp.array([1, 2, 3])
jf = jnp.array([1, 2, 3], jnp.float32)   # one array type: the dtype is an argument
j_lin = jnp.linspace(0, 18, 12).reshape(3, 4)
j_ar = jnp.arange(0, 20, 2).reshape(5, 2)
j_z = jnp.zeros((4, 2), jnp.int32)
print(j.dtype, jf.dtype, j_z.dtype)

# %%
assert np.array_equal(tf.numpy(), np.asarray(jf)) and np.allclose(t_lin.numpy(), j_lin)
assert np.array_equal(t_ar.numpy(), j_ar) and np.array_equal(t_z.numpy(), j_z)

# %% [markdown]
# ## `from_numpy` shares memory; JAX copies
# `torch.from_numpy(a)` sees later changes to `a`; a JAX array never changes.

# %% tags=["pytorch"]
a = np.array([1.0, 2.0, 3.0])
t = torch.from_numpy(a)        # shares a's memory
a[0] = 99
print(t)

# %% tags=["jax"]
a = np.array([1.0, 2.0, 3.0])
j = jnp.asarray(a)             # a copy on the device
a[0] = 99
print(j)

# %%
assert t[0].item() == 99 and float(j[0]) == 1.0

# %% [markdown]
# ## In-place updates become `.at[...]`
# There is no in-place write: `.at[i].set(v)` returns a new array (under `jit`, XLA
# reuses the buffer when it can).

# %% tags=["pytorch"]
t = torch.zeros(3)
t[1] = 5

# %% tags=["jax"]
j = jnp.zeros(3).at[1].set(5)

# %%
assert np.array_equal(t.numpy(), np.asarray(j))

# %% [markdown]
# ## `view` / `reshape`, `size()`, `.item()`, matmul
# No views in JAX: `reshape` returns a new array. `.item()` exists too, and waits for the
# device, so keep it out of a training loop.

# %% tags=["pytorch"]
m = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
x_t = torch.arange(12.0)
print(x_t.view(-1, 4).size(), x_t.view(3, 4).sum().item())
mm_t = torch.mm(torch.from_numpy(m), torch.from_numpy(m).T)

# %% tags=["jax"]
x_j = jnp.arange(12.0)
print(x_j.reshape(-1, 4).shape, x_j.reshape(3, 4).sum().item())
mm_j = jnp.matmul(m, m.T)

# %%
assert x_t.view(-1, 4).shape == x_j.reshape(-1, 4).shape == (3, 4)
assert np.allclose(mm_t.numpy(), mm_j, atol=1e-5)
assert np.allclose((torch.from_numpy(m) @ torch.from_numpy(m).T).numpy(), jnp.asarray(m) @ jnp.asarray(m).T, atol=1e-5)

# %% [markdown]
# ## One-hot labels
# `F.one_hot(y)` infers the number of classes; `jax.nn.one_hot(y, num_classes)` must be
# told (shapes are static under `jit`), and returns floats where torch returns int64.

# %% tags=["pytorch"]
y = np.array([0, 2, 1, 2])
oh_t = torch.nn.functional.one_hot(torch.from_numpy(y))

# %% tags=["jax"]
oh_j = jax.nn.one_hot(y, 3)

# %%
assert np.array_equal(oh_t.numpy(), oh_j)

# %% [markdown]
# ## Activations are functions in `jax.nn`; `dim` is `axis`

# %% tags=["pytorch"]
sm_t = torch.softmax(torch.from_numpy(m), dim=1)
sg_t = torch.sigmoid(torch.from_numpy(m))

# %% tags=["jax"]
sm_j = jax.nn.softmax(m, axis=1)
sg_j = jax.nn.sigmoid(m)

# %%
assert np.allclose(sm_t.numpy(), sm_j, atol=1e-6) and np.allclose(sg_t.numpy(), sg_j, atol=1e-6)

# %% [markdown]
# ## Random numbers: a global seed vs explicit keys
# `torch.manual_seed(0); torch.rand(2)` draws from hidden global state. In JAX the key is
# an argument: the same key gives the same numbers; split it for new ones. The two
# generators differ, so the same seed gives other numbers: compare distributions.

# %% tags=["pytorch"]
torch.manual_seed(0)
r_t = torch.randn(100_000)
like_t = torch.randint_like(torch.zeros(4, 3), low=0, high=11)

# %% tags=["jax"]
key = jax.random.key(0)
k1, k2 = jax.random.split(key)
r_j = jax.random.normal(k1, (100_000,))
like_j = jax.random.randint(k2, (4, 3), 0, 11)   # no *_like: pass the shape

# %%
assert np.array_equal(jax.random.normal(k1, (3,)), jax.random.normal(k1, (3,)))   # same key, same draw
assert abs(float(r_j.mean())) < 0.01 and abs(float(r_j.std()) - r_t.std().item()) < 0.02
assert like_j.shape == like_t.shape == (4, 3) and int(like_j.max()) <= 10

# %% [markdown]
# ## Devices
# `x.to(device)` / `.cuda()` / `.cpu()` become `jax.device_put(x, device)` and
# `np.asarray(x)`; jitted code runs where its inputs live, on CPU, GPU or TPU alike.

# %% tags=["pytorch"]
device = "cuda" if torch.cuda.is_available() else "cpu"
t = torch.ones(3).to(device)
back_t = t.cpu().numpy()

# %% tags=["jax"]
d = jax.devices()[0]                 # what JAX found: GPU or TPU if there is one, else CPU
j = jax.device_put(np.ones(3), d)
back_j = np.asarray(j)

# %%
assert j.devices() == {d} and np.array_equal(back_j, back_t)
print("runs on", d)
print(runtime.describe())   # what every experiment prints at start
