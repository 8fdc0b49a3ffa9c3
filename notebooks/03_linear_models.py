# %% [markdown]
# # 3. Linear models: gradient descent by hand, linear and logistic regression
# The PyTorch loop `zero_grad / forward / loss / backward / step` becomes one pure function
# `train_step(state, batch) -> (state, metrics)` compiled with `jax.jit` (here through
# `jaxdl.train.Learner`). Same starting weights (copied with `jaxdl.interop`), same losses.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx

from jaxdl import interop, losses, optim
from jaxdl.models import LinearRegression, LogisticRegression
from jaxdl.train import Learner

# %% [markdown]
# ## Gradient descent by hand (004): w -= 0.01 * 2x(xw - y)

# %%
xs, ys = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]
w = 1.0
for _ in range(10):
    for x, y in zip(xs, ys):
        w -= 0.01 * 2 * x * (x * w - y)
grad = jax.grad(lambda w, x, y: (x * w - y) ** 2)
wj = 1.0
for _ in range(10):
    for x, y in zip(xs, ys):
        wj -= 0.01 * grad(wj, x, y)
assert abs(w - float(wj)) < 1e-5
print("w after 10 epochs:", w, float(wj), "-> predict 4 hours:", 4 * w)

# %% [markdown]
# ## Linear regression (000): y = 2x + 1 + noise, MSE, SGD(lr=1e-3)

# %%
x = np.arange(1, 51, dtype=np.float32).reshape(-1, 1)
y = (2 * x + 1 + np.random.default_rng(0).standard_normal((50, 1))).astype(np.float32)
torch.manual_seed(59)
tm = torch.nn.Linear(1, 1)
jm = LinearRegression(1, 1, rngs=nnx.Rngs(0))
interop.from_torch(jm, {f"linear.{k}": v for k, v in tm.state_dict().items()})
opt = torch.optim.SGD(tm.parameters(), lr=1e-3)
learner = Learner(jm, losses.mse_loss, optim.sgd(1e-3), task="regression")
state = learner.init_state()
t_losses, j_losses = [], []
for epoch in range(50):
    loss = torch.nn.functional.mse_loss(tm(torch.from_numpy(x)), torch.from_numpy(y))
    opt.zero_grad(); loss.backward(); opt.step()
    t_losses.append(loss.item())
    state, m = learner.train_step(state, (jnp.asarray(x), jnp.asarray(y)))
    j_losses.append(float(m["loss"]))
np.testing.assert_allclose(j_losses, t_losses, rtol=1e-5)
print(f"weight {tm.weight.item():.5f} vs {float(state.params['linear']['kernel'][0, 0]):.5f}; final loss {t_losses[-1]:.4f}")

# %% [markdown]
# ## Logistic regression (004): sigmoid, BCE, SGD(lr=0.01), hours studied -> pass

# %%
xh = np.array([[1.0], [2.0], [3.0], [4.0]], np.float32)
yh = np.array([[0.0], [0.0], [1.0], [1.0]], np.float32)
tl = torch.nn.Linear(1, 1)
jl = LogisticRegression(1, rngs=nnx.Rngs(0))
interop.from_torch(jl, {f"linear.{k}": v for k, v in tl.state_dict().items()})
opt = torch.optim.SGD(tl.parameters(), lr=0.01)
learner = Learner(jl, losses.bce_loss, optim.sgd(0.01), task="binary_probs")
state = learner.init_state()
for epoch in range(1000):
    loss = torch.nn.functional.binary_cross_entropy(torch.sigmoid(tl(torch.from_numpy(xh))), torch.from_numpy(yh))
    opt.zero_grad(); loss.backward(); opt.step()
    state, m = learner.train_step(state, (jnp.asarray(xh), jnp.asarray(yh)))
assert abs(float(m["loss"]) - loss.item()) < 1e-4
p7_t = torch.sigmoid(tl(torch.tensor([[7.0]]))).item()
p7_j = float(learner.predict(state, jnp.array([[7.0]]))[0, 0])
assert abs(p7_t - p7_j) < 1e-4
print("predict 7 hours:", p7_t > 0.5, p7_j > 0.5)

# %% [markdown]
# ## `nn.init.uniform_` and `nn.L1Loss`
# torch re-initialises a built layer in place; in JAX the initialiser is chosen when the layer
# is built (`kernel_init=uniform_init()`). Same distribution U(0, 1), other draws (another
# generator). `jaxdl.losses.l1_loss` is `nn.L1Loss()`: the mean absolute error.

# %%
from jaxdl.layers import Linear, uniform_init

tu = torch.nn.Linear(1000, 20)
torch.nn.init.uniform_(tu.weight)                      # U(0, 1), in place
ju = Linear(1000, 20, kernel_init=uniform_init(), rngs=nnx.Rngs(0))
kt, kj = tu.weight.detach().numpy(), np.asarray(ju.kernel[...])
assert kj.min() >= 0 and kj.max() < 1 and abs(kj.mean() - kt.mean()) < 0.01 and abs(kj.std() - kt.std()) < 0.01
pred, target = np.random.default_rng(1).normal(size=(2, 16, 1)).astype(np.float32)
l1_t = torch.nn.L1Loss()(torch.from_numpy(pred), torch.from_numpy(target)).item()
assert abs(float(losses.l1_loss(jnp.asarray(pred), jnp.asarray(target))) - l1_t) < 1e-6
