# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 3. Linear models: the loss over w, gradient descent, linear and logistic regression
# 004's "Linear Model", "Gradient Descent", "Linear Regression in Torch Way" and "Logistic
# Regression with Torch", and 000's `y = 2x + 1 + e` regression with its plot. The PyTorch
# loop `zero_grad / forward / loss / backward / step` becomes one pure function
# `train_step(state, batch) -> (state, metrics)` compiled with `jax.jit` (here through
# `jaxdl.train.Learner`). Same starting weights (copied with `jaxdl.interop`), same losses.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx

from jaxdl import interop, losses, optim, plots
from jaxdl.models import LinearRegression, LogisticRegression
from jaxdl.train import Learner

torch.set_num_threads(1)  # models this small run faster on one thread
x_data, y_data = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]

# %% [markdown]
# ## The loss for each w (004), and its plot
# The notes loop over `w` and over the samples; JAX evaluates the mean squared error for
# every `w` at once with `jax.vmap`.

# %% tags=["pytorch"]
def forward(x):
    return x * w


def loss(x, y):
    y_pred = forward(x)
    return (y_pred - y) * (y_pred - y)


w_list, mse_list = [], []
for w in np.arange(0.0, 4.1, 0.1):
    l_sum = 0
    for x_val, y_val in zip(x_data, y_data):
        l_sum += loss(x_val, y_val)
    w_list.append(w)
    mse_list.append(l_sum / 3)

# %% tags=["jax"]
ws = jnp.arange(0.0, 4.1, 0.1)
mse = jax.vmap(lambda w: jnp.mean((jnp.asarray(x_data) * w - jnp.asarray(y_data)) ** 2))(ws)
plots.show(plots.series(None, (ws, mse, "MSE"), title="loss over w (minimum at w = 2)", xlabel="w", ylabel="loss"))

# %%
np.testing.assert_allclose(mse, mse_list, rtol=1e-5)   # the notes' l_sum += 1 is read as l_sum += l

# %% [markdown]
# ## Gradient descent by hand (004): `w -= 0.01 * 2x(xw - y)`
# The hand-derived gradient and `jax.grad` of the loss give the same steps.

# %% tags=["pytorch"]
w = 1.0


def gradient(x, y):  # d_loss/d_w
    return 2 * x * (x * w - y)


for epoch in range(100):
    for x_val, y_val in zip(x_data, y_data):
        grad = gradient(x_val, y_val)
        w = w - 0.01 * grad
print("predict (after training)", "4 hours", forward(4))

# %% tags=["jax"]
grad_j = jax.jit(jax.grad(lambda w, x, y: (x * w - y) ** 2))
wj = 1.0
for epoch in range(100):
    for x_val, y_val in zip(x_data, y_data):
        wj = wj - 0.01 * grad_j(wj, x_val, y_val)
print("predict (after training)", "4 hours", 4 * float(wj))

# %%
assert abs(w - float(wj)) < 1e-5 and abs(4 * w - 8.0) < 1e-3

# %% [markdown]
# ## Linear regression (000): y = 2x + 1 + e, `nn.MSELoss`, `SGD(lr=1e-3)`
# torch's `Model(1, 1)` is `jaxdl.models.LinearRegression`; its weights are copied into
# the JAX model so both start from the same line. `optimizer.step()` mutates the model;
# `learner.train_step` returns a new state instead.

# %% tags=["pytorch"]
x = torch.arange(1, 51, 1).reshape(-1, 1).type(torch.float)
e = torch.from_numpy(np.random.default_rng(0).standard_normal((50, 1)).astype(np.float32))
y = 2. * x + 1. + e
torch.manual_seed(59)
model = torch.nn.Linear(1, 1)   # the notes' Model(1, 1): one nn.Linear
initial = {f"linear.{k}": v.clone() for k, v in model.state_dict().items()}   # for the JAX side
criterion = torch.nn.MSELoss()
optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
t_losses = []
for epoch in range(50):
    y_pred = model.forward(x)
    loss_t = criterion(y_pred, y)
    t_losses.append(loss_t.item())
    optimizer.zero_grad()
    loss_t.backward()
    optimizer.step()

# %% tags=["jax"]
jmodel = interop.from_torch(LinearRegression(1, 1, rngs=nnx.Rngs(0)), initial)
learner = Learner(jmodel, losses.mse_loss, optim.sgd(1e-3), task="regression")
state = learner.init_state()
j_losses = []
for epoch in range(50):
    state, metrics = learner.train_step(state, (jnp.asarray(x.numpy()), jnp.asarray(y.numpy())))
    j_losses.append(float(metrics["loss"]))

# %%
np.testing.assert_allclose(j_losses, t_losses, rtol=1e-5)
print(f"weight {model.weight.item():.5f} vs {float(state.params['linear']['kernel'][0, 0]):.5f}; "
      f"bias {model.bias.item():.5f} vs {float(state.params['linear']['bias'][0]):.5f}")

# %% [markdown]
# The notes' figure: the data and the fitted line (`plt.plot(x, y)`, `plt.plot(x, y_pred, 'r')`),
# and the loss per epoch of both runs, on top of each other.

# %%
xs_np = x.numpy()[:, 0]
fit_j = np.asarray(learner.predict(state, jnp.asarray(x.numpy())))[:, 0]
plots.show(plots.series(None, (xs_np, y.numpy()[:, 0], "data"), (xs_np, fit_j, "model (jaxdl)", {"color": "r"}),
                        title="y = 2x + 1 + e after 50 epochs", xlabel="x", ylabel="y"))
plots.show(plots.series(None, (range(1, 51), t_losses, "PyTorch"), (range(1, 51), j_losses, "jaxdl", {"ls": "--"}),
                        title="MSE per epoch", xlabel="epoch", ylabel="loss"))

# %% [markdown]
# ## Logistic regression (004): sigmoid, `BCELoss`, `SGD(lr=0.01)`, hours studied -> pass
# `F.sigmoid(self.linear(x))` with `BCELoss` is `jaxdl.models.LogisticRegression` with
# `losses.bce_loss`; `task="binary_probs"` tells the learner its outputs are probabilities.

# %% tags=["pytorch"]
x_h = torch.Tensor([[1.0], [2.0], [3.0], [4.0]])
y_h = torch.Tensor([[0.], [0.], [1.], [1.]])
torch.manual_seed(0)
logistic = torch.nn.Linear(1, 1)    # the notes' Model: sigmoid(linear(x))
initial = {f"linear.{k}": v.clone() for k, v in logistic.state_dict().items()}
criterion = torch.nn.BCELoss()
optimizer = torch.optim.SGD(logistic.parameters(), lr=0.01)
for epoch in range(1000):
    y_pred = torch.sigmoid(logistic(x_h))
    loss_t = criterion(y_pred, y_h)
    optimizer.zero_grad()
    loss_t.backward()
    optimizer.step()
print("predict 1 hour ", 1.0, torch.sigmoid(logistic(torch.Tensor([[1.0]]))).item() > 0.5)
print("predict 7 hours", 7.0, torch.sigmoid(logistic(torch.Tensor([[7.0]]))).item() > 0.5)

# %% tags=["jax"]
jlog = interop.from_torch(LogisticRegression(1, rngs=nnx.Rngs(0)), initial)
learner = Learner(jlog, losses.bce_loss, optim.sgd(0.01), task="binary_probs")
state = learner.init_state()
for epoch in range(1000):
    state, metrics = learner.train_step(state, (jnp.asarray(x_h.numpy()), jnp.asarray(y_h.numpy())))
p = learner.predict(state, jnp.array([[1.0], [7.0]]))[:, 0]
print("predict 1 hour ", 1.0, bool(p[0] > 0.5))
print("predict 7 hours", 7.0, bool(p[1] > 0.5))

# %%
assert abs(float(metrics["loss"]) - loss_t.item()) < 1e-4
p7_t = torch.sigmoid(logistic(torch.tensor([[7.0]]))).item()
assert abs(p7_t - float(p[1])) < 1e-4 and (p7_t > 0.5) == bool(p[1] > 0.5)
hours = np.linspace(0, 8, 81)
plots.show(plots.series(None,
                        (hours, np.asarray(learner.predict(state, jnp.asarray(hours[:, None], jnp.float32)))[:, 0],
                         "p(pass)"),
                        (x_h.numpy()[:, 0], y_h.numpy()[:, 0], "data", {"ls": "none", "marker": "o"}),
                        title="logistic regression: probability of passing", xlabel="hours studied", ylabel="p"))

# %% [markdown]
# ## `nn.init.uniform_` and `nn.L1Loss` (003)
# torch re-initialises a built layer in place; in JAX the initialiser is chosen when the
# layer is built (`kernel_init=uniform_init()`). Same distribution U(0, 1), other draws
# (another generator). `losses.l1_loss` is `nn.L1Loss()`: the mean absolute error.

# %% tags=["pytorch"]
layer = torch.nn.Linear(1000, 20)
torch.nn.init.uniform_(layer.weight)                      # U(0, 1), in place
print(layer.weight.min(), layer.weight.max())

# %% tags=["jax"]
from jaxdl.layers import Linear, uniform_init

jlayer = Linear(1000, 20, kernel_init=uniform_init(), rngs=nnx.Rngs(0))
print(jlayer.kernel[...].min(), jlayer.kernel[...].max())

# %%
kt, kj = layer.weight.detach().numpy(), np.asarray(jlayer.kernel[...])
assert kj.min() >= 0 and kj.max() < 1 and abs(kj.mean() - kt.mean()) < 0.01 and abs(kj.std() - kt.std()) < 0.01
pred, target = np.random.default_rng(1).normal(size=(2, 16, 1)).astype(np.float32)
l1_t = torch.nn.L1Loss()(torch.from_numpy(pred), torch.from_numpy(target)).item()
assert abs(float(losses.l1_loss(jnp.asarray(pred), jnp.asarray(target))) - l1_t) < 1e-6
