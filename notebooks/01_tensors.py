# %% [markdown]
# # 1. Tensors: PyTorch and JAX side by side
# Every cell runs the PyTorch line of the notes and its JAX counterpart, then asserts they agree.
# The differences to remember: JAX arrays are **immutable**, randomness takes an explicit **key**,
# and there is no shared memory with NumPy (`jnp.asarray` copies to the device).

# %%
import jax
import jax.numpy as jnp
import numpy as np
import torch

from jaxdl import devices

# %% [markdown]
# ## Creation and dtypes

# %%
t = torch.tensor([1, 2, 3]);            j = jnp.array([1, 2, 3])
print(t.dtype, j.dtype)                 # int64 vs int32: JAX defaults to 32-bit
tf = torch.Tensor([1, 2, 3]);           jf = jnp.array([1, 2, 3], jnp.float32)
assert np.array_equal(tf.numpy(), np.asarray(jf))
assert np.allclose(torch.linspace(0, 18, 12).reshape(3, 4).numpy(), jnp.linspace(0, 18, 12).reshape(3, 4))
assert np.array_equal(torch.arange(0, 20, 2).reshape(5, 2).numpy(), jnp.arange(0, 20, 2).reshape(5, 2))
assert np.array_equal(torch.zeros(4, 2, dtype=torch.int32).numpy(), jnp.zeros((4, 2), jnp.int32))

# %% [markdown]
# ## `from_numpy` shares memory; JAX copies
# `torch.from_numpy(a)` sees later changes to `a`; a JAX array never changes.

# %%
a = np.array([1.0, 2.0, 3.0])
t, j = torch.from_numpy(a), jnp.asarray(a)
a[0] = 99
assert t[0].item() == 99 and float(j[0]) == 1.0

# %% [markdown]
# ## In-place updates become `.at[...]`

# %%
t = torch.zeros(3); t[1] = 5
j = jnp.zeros(3).at[1].set(5)
assert np.array_equal(t.numpy(), np.asarray(j))

# %% [markdown]
# ## `view` / `reshape`, `size()`, `.item()`, matmul

# %%
x_t, x_j = torch.arange(12.0), jnp.arange(12.0)
assert x_t.view(-1, 4).shape == x_j.reshape(-1, 4).shape == (3, 4)
assert x_t.view(3, 4).sum().item() == float(x_j.reshape(3, 4).sum())
m = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
assert np.allclose((torch.from_numpy(m) @ torch.from_numpy(m).T).numpy(), jnp.asarray(m) @ jnp.asarray(m).T, atol=1e-5)
assert np.allclose(torch.mm(torch.from_numpy(m), torch.from_numpy(m).T).numpy(), jnp.matmul(m, m.T), atol=1e-5)
assert x_t.sum().item() == x_j.sum().item()   # .item() on a JAX array too: it waits for the device

# %% [markdown]
# ## One-hot labels
# `F.one_hot(y)` infers the number of classes; `jax.nn.one_hot(y, num_classes)` must be told
# (shapes are static under `jit`), and returns floats where torch returns int64.

# %%
y = np.array([0, 2, 1, 2])
assert np.array_equal(torch.nn.functional.one_hot(torch.from_numpy(y)).numpy(), jax.nn.one_hot(y, 3))

# %% [markdown]
# ## Activations are functions in `jax.nn`; `dim` is `axis`

# %%
assert np.allclose(torch.softmax(torch.from_numpy(m), dim=1).numpy(), jax.nn.softmax(m, axis=1), atol=1e-6)
assert np.allclose(torch.sigmoid(torch.from_numpy(m)).numpy(), jax.nn.sigmoid(m), atol=1e-6)

# %% [markdown]
# ## Random numbers: a global seed vs explicit keys
# `torch.manual_seed(0); torch.rand(2)` draws from hidden global state. In JAX the key is an
# argument: same key, same numbers; split it for new numbers. The two generators differ, so
# compare distributions, not values.

# %%
key = jax.random.key(0)
k1, k2 = jax.random.split(key)
assert np.array_equal(jax.random.uniform(k1, (3,)), jax.random.uniform(k1, (3,)))
draws = jax.random.normal(k2, (100_000,))
assert abs(float(draws.mean())) < 0.01 and abs(float(draws.std()) - torch.randn(100_000).std().item()) < 0.02
like = jax.random.randint(k2, (4, 3), 0, 11)   # torch.randint_like(x, 0, 11)
assert like.shape == (4, 3) and int(like.max()) <= 10

# %% [markdown]
# ## Devices
# `x.cuda()` / `x.cpu()` become `jax.device_put(x, device)` and `np.asarray(x)`; jitted code runs
# where its inputs live, on CPU, GPU or TPU alike.

# %%
d = jax.devices()[0]
y = jax.device_put(np.ones(3), d)
t = torch.ones(3).to("cpu")                      # x.to(device)
assert y.devices() == {d} and np.array_equal(np.asarray(y), t.numpy())
print("runs on", d)
print(devices.describe())   # torch.cuda.is_available(): what JAX found, as every experiment prints it
