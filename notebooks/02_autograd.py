# %% [markdown]
# # 2. Autograd: `backward()` vs `jax.grad`
# PyTorch records operations on tensors with `requires_grad=True` and `backward()` fills
# `.grad` (accumulating, hence `zero_grad`). JAX differentiates **functions**: `jax.grad(f)` is
# a new function returning the gradient. Nothing accumulates, nothing needs zeroing.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import torch

# %% [markdown]
# ## The notes' polynomial at x = 2

# %%
x = torch.tensor(2.0, requires_grad=True)
y = x ** 2 + 4 * x ** 3 + 5 * x + 1
y.backward()
f = lambda x: x ** 2 + 4 * x ** 3 + 5 * x + 1
assert x.grad.item() == float(jax.grad(f)(2.0)) == 57.0

# %% [markdown]
# ## Value and gradient at once (`loss.item()` and `loss.backward()` in one call)

# %%
value, grad = jax.value_and_grad(f)(2.0)
assert float(value) == y.item() and float(grad) == 57.0

# %% [markdown]
# ## ReLU's gradient at -1 (003) and LeakyReLU(0.05)

# %%
xr = torch.tensor(-1.0, requires_grad=True)
torch.nn.ReLU()(xr).backward()
assert xr.grad.item() == float(jax.grad(jax.nn.relu)(-1.0)) == 0.0
xl = torch.tensor(-1.0, requires_grad=True)
torch.nn.LeakyReLU(0.05)(xl).backward()
assert abs(xl.grad.item() - float(jax.grad(lambda v: jax.nn.leaky_relu(v, 0.05))(-1.0))) < 1e-7

# %% [markdown]
# ## Non-scalar outputs: `next_h.backward(v)` is `jax.vjp`
# The notes' tanh RNN cell, same random inputs on both sides.

# %%
rng = np.random.default_rng(0)
x_, h_, Wh_, Wx_ = (rng.normal(size=s).astype(np.float32) for s in [(1, 10), (1, 20), (20, 20), (20, 10)])
tx, th, tWh, tWx = (torch.tensor(a, requires_grad=True) for a in (x_, h_, Wh_, Wx_))
next_h = torch.tanh(tWx @ tx.T + tWh @ th.T)
next_h.backward(torch.ones_like(next_h))
cell = lambda Wx, Wh, x, h: jnp.tanh(Wx @ x.T + Wh @ h.T)
out, vjp = jax.vjp(cell, Wx_, Wh_, x_, h_)
gWx, gWh, gx, gh = vjp(jnp.ones_like(out))
for t_grad, j_grad in [(tWx.grad, gWx), (tWh.grad, gWh), (tx.grad, gx), (th.grad, gh)]:
    assert np.allclose(t_grad.numpy(), j_grad, atol=1e-5)
print("all four vjp gradients agree with backward()")

# %% [markdown]
# ## Gradients with respect to many parameters: pytrees
# `jax.grad` of a function of a dict returns a dict of the same shape, the counterpart of
# reading `p.grad` for every parameter.

# %%
params = {"w": jnp.array(1.0), "b": jnp.array(0.5)}
loss = lambda p, x, y: jnp.mean((p["w"] * x + p["b"] - y) ** 2)
g = jax.grad(loss)(params, jnp.array([1.0, 2.0]), jnp.array([2.0, 4.0]))
w, b = torch.tensor(1.0, requires_grad=True), torch.tensor(0.5, requires_grad=True)
((w * torch.tensor([1.0, 2.0]) + b - torch.tensor([2.0, 4.0])) ** 2).mean().backward()
assert np.isclose(float(g["w"]), w.grad.item()) and np.isclose(float(g["b"]), b.grad.item())
