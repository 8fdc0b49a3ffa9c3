# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 2. Autograd: `backward()` vs `jax.grad`
# The notes' "Gradient" (000), "Back-Propagation" (004) and the activation functions of 003.
# PyTorch records operations on tensors with `requires_grad=True`, and `backward()` fills
# `.grad` (accumulating, hence `zero_grad`). JAX differentiates **functions**: `jax.grad(f)`
# is a new function that returns the gradient. Nothing accumulates, nothing needs zeroing.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import torch

from jaxdl import plots

# %% [markdown]
# ## The notes' polynomial at x = 2

# %% tags=["pytorch"]
x = torch.tensor(2., requires_grad=True)
y = x**2 + 4*x**3 + 5*x + 1
y.backward()
print(x.grad)

# %% tags=["jax"]
f = lambda x: x**2 + 4*x**3 + 5*x + 1
print(jax.grad(f)(2.))

# %%
assert x.grad.item() == float(jax.grad(f)(2.0)) == 57.0
value, grad = jax.value_and_grad(f)(2.0)   # loss.item() and loss.backward() in one call
assert float(value) == y.item() and float(grad) == 57.0

# %% [markdown]
# ## ReLU and LeakyReLU (003)
# `relu(x).backward()` at x = -1 gives 0: the gradient that vanishes for negative inputs.
# JAX takes the gradient of the function itself.

# %% tags=["pytorch"]
relu_pytorch = torch.nn.ReLU()
x = torch.tensor(-1.0, requires_grad=True)
y = relu_pytorch(x)
y.backward()
leaky = torch.tensor(-1.0, requires_grad=True)
torch.nn.LeakyReLU(negative_slope=0.05)(leaky).backward()
print(x.grad, leaky.grad)

# %% tags=["jax"]
g_relu = jax.grad(jax.nn.relu)(-1.0)
g_leaky = jax.grad(lambda v: jax.nn.leaky_relu(v, negative_slope=0.05))(-1.0)
print(g_relu, g_leaky)

# %%
assert x.grad.item() == float(g_relu) == 0.0 and abs(leaky.grad.item() - float(g_leaky)) < 1e-7

# %% [markdown]
# ### Saturation, drawn
# 003: "Sigmoid function saturation can lead to vanishing gradients", ReLU "overcomes the
# vanishing gradients problem". `jax.vmap(jax.grad(f))` gives the derivative at every
# point in one call; torch gets the same from one `backward()` of a sum.

# %% tags=["pytorch"]
xs_t = torch.linspace(-6, 6, 241, requires_grad=True)
torch.sigmoid(xs_t).sum().backward()
d_sigmoid_t = xs_t.grad.numpy()

# %% tags=["jax"]
xs = jnp.linspace(-6, 6, 241)
d_sigmoid = jax.vmap(jax.grad(jax.nn.sigmoid))(xs)
d_relu = jax.vmap(jax.grad(jax.nn.relu))(xs)
d_leaky = jax.vmap(jax.grad(lambda v: jax.nn.leaky_relu(v, 0.05)))(xs)

# %%
np.testing.assert_allclose(d_sigmoid, d_sigmoid_t, atol=1e-6)
plots.show(plots.series(None, (xs, d_sigmoid, "sigmoid'"), (xs, d_relu, "ReLU'"),
                        (xs, d_leaky, "LeakyReLU(0.05)'", {"ls": "--"}),
                        title="gradients of the activations: sigmoid saturates at both ends",
                        xlabel="x", ylabel="d activation / dx"))

# %% [markdown]
# ## A non-scalar output: `next_h.backward(v)` is `jax.vjp`
# 004's tanh RNN cell. A non-scalar output needs a cotangent (`torch.ones(1, 20)` in the
# notes), which `jax.vjp` takes as its argument. Same random inputs on both sides.

# %% tags=["pytorch"]
rng = np.random.default_rng(0)
x_, h_, Wh_, Wx_ = (rng.normal(size=s).astype(np.float32) for s in [(1, 10), (1, 20), (20, 20), (20, 10)])
x, prev_h, W_h, W_x = (torch.tensor(a, requires_grad=True) for a in (x_, h_, Wh_, Wx_))
i2h = torch.mm(W_x, x.t())
h2h = torch.mm(W_h, prev_h.t())
next_h = i2h + h2h
next_h = next_h.tanh()
next_h.backward(torch.ones(20, 1))

# %% tags=["jax"]
def cell(W_x, W_h, x, prev_h):
    return jnp.tanh(W_x @ x.T + W_h @ prev_h.T)


out, vjp = jax.vjp(cell, Wx_, Wh_, x_, h_)
gW_x, gW_h, gx, gprev_h = vjp(jnp.ones_like(out))

# %%
for t_grad, j_grad in [(W_x.grad, gW_x), (W_h.grad, gW_h), (x.grad, gx), (prev_h.grad, gprev_h)]:
    assert np.allclose(t_grad.numpy(), j_grad, atol=1e-5)
print("all four gradients agree with backward()")

# %% [markdown]
# ## 004's training loop with `w.grad`: `jax.grad` of the loss
# The notes update `w.data` by hand and zero `w.grad` after every step, because
# `backward()` accumulates. `jax.grad(loss)` returns a fresh gradient each call.

# %% tags=["pytorch"]
x_data, y_data = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]
w = torch.tensor([1.0], requires_grad=True)


def loss(x, y):
    y_pred = x * w
    return (y_pred - y) * (y_pred - y)


for epoch in range(10):
    for x_val, y_val in zip(x_data, y_data):
        l_val = loss(x_val, y_val)
        l_val.backward()
        w.data = w.data - 0.01 * w.grad.data
        w.grad.data.zero_()      # Manually zero the gradients after updating weights
print("predict (after training)", 4, 4 * w.item())

# %% tags=["jax"]
def loss_j(w, x, y):
    return (x * w - y) ** 2


wj = 1.0
for epoch in range(10):
    for x_val, y_val in zip(x_data, y_data):
        wj = wj - 0.01 * jax.grad(loss_j)(wj, x_val, y_val)   # nothing to zero
print("predict (after training)", 4, 4 * float(wj))

# %%
assert abs(w.item() - float(wj)) < 1e-5

# %% [markdown]
# ## Gradients with respect to many parameters: pytrees
# `jax.grad` of a function of a dict returns a dict of the same shape: the counterpart of
# reading `p.grad` for every parameter.

# %% tags=["pytorch"]
w, b = torch.tensor(1.0, requires_grad=True), torch.tensor(0.5, requires_grad=True)
((w * torch.tensor([1.0, 2.0]) + b - torch.tensor([2.0, 4.0])) ** 2).mean().backward()

# %% tags=["jax"]
params = {"w": jnp.array(1.0), "b": jnp.array(0.5)}
mse = lambda p, x, y: jnp.mean((p["w"] * x + p["b"] - y) ** 2)
g = jax.grad(mse)(params, jnp.array([1.0, 2.0]), jnp.array([2.0, 4.0]))

# %%
assert np.isclose(float(g["w"]), w.grad.item()) and np.isclose(float(g["b"]), b.grad.item())
