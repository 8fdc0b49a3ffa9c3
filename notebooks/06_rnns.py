# %% [markdown]
# # 6. RNNs: the LSTM forecaster
# PyTorch's `nn.LSTM` keeps `weight_ih_l0 (4H, in)`, `weight_hh_l0 (4H, H)` and **two** biases,
# gates in the order input, forget, cell, output. `jaxdl.layers.LSTM` keeps the same four
# arrays (transposed) so a state_dict converts one to one; Flax's own `OptimizedLSTMCell`
# has one bias per gate and another layout. The loop over time steps is a `lax.scan`.

# %%
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx

from jaxdl import interop, losses, optim
from jaxdl.data.transforms import MinMaxScaler, windows
from jaxdl.data.datasets import alcohol_sales
from jaxdl.models import LSTMNetwork
from jaxdl.train import Learner
import torch_reference as T

# %%
torch.manual_seed(101)
tm = T.LSTMNetwork()
jm = LSTMNetwork(rngs=nnx.Rngs(0))
interop.from_torch(jm, tm.state_dict())
print({k: tuple(v.shape) for k, v in tm.state_dict().items()})
print("jaxdl:", {k: v.shape for k, v in {"w_ih": jm.lstm.w_ih[...], "w_hh": jm.lstm.w_hh[...]}.items()})

# %% [markdown]
# ## Scaled windows of the alcohol-sales series, and 30 steps of training on both sides
# The notes reset `model.hidden` to zeros before each sequence; `LSTMNetwork` starts every
# sequence from zeros by construction (no state carried between calls).

# %%
series = alcohol_sales().to_numpy()[:-12]
scaled = MinMaxScaler((-1.0, 1.0)).fit(series.reshape(-1, 1)).transform(series.reshape(-1, 1))[:, 0]
x, y = windows(scaled, 12)
opt = torch.optim.Adam(tm.parameters(), lr=1e-3)
learner = Learner(jm, losses.mse_loss, optim.adam(1e-3), task="regression")
state = learner.init_state()
for i in range(30):
    loss = torch.nn.functional.mse_loss(tm(torch.from_numpy(x[i])), torch.from_numpy(y[i]))
    opt.zero_grad(); loss.backward(); opt.step()
    state, m = learner.train_step(state, (jnp.asarray(x[i:i + 1]), jnp.asarray(y[i:i + 1])))
    assert abs(loss.item() - float(m["loss"])) < 1e-5, i
print("30 steps agree; last loss", loss.item())

# %% [markdown]
# ## A batch of windows at once (the notes feed one sequence at a time)

# %%
batch_out = np.asarray(learner.predict(state, jnp.asarray(x[:8])))
one_by_one = np.stack([np.asarray(learner.predict(state, jnp.asarray(x[i:i + 1])))[0] for i in range(8)])
np.testing.assert_allclose(batch_out, one_by_one, atol=1e-6)
