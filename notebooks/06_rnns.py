# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6. RNNs: the LSTM forecaster on monthly alcohol sales
# 000's RNN recipe: hold out the last 12 months, scale with `MinMaxScaler(-1, 1)`, cut the
# rest into (12 months, next month) pairs, train `LSTMnetwork` one sequence at a time with
# `MSELoss` and Adam, take the last output, reset the hidden state for every sequence, and
# forecast the held-out year month by month. Both frameworks train from the same weights on
# the same sequences in the same order.
#
# PyTorch's `nn.LSTM` keeps `weight_ih_l0 (4H, in)`, `weight_hh_l0 (4H, H)` and **two**
# biases, gates in the order input, forget, cell, output. `jaxdl.layers.LSTM` keeps the
# same four arrays (transposed) so a state_dict converts one to one; the loop over time
# steps is a `lax.scan`.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import torch
from flax import nnx
from torch import nn

from jaxdl import interop, losses, optim, plots
from jaxdl.data import ArrayDataset, DataLoader
from jaxdl.data.datasets import alcohol_sales
from jaxdl.data.series import MinMaxScaler, windows
from jaxdl.models import LSTMNetwork
from jaxdl.train import Learner, fit

torch.set_num_threads(1)  # one sequence at a time: faster on one thread
sales = alcohol_sales()    # FRED's monthly US alcohol sales (millions of dollars), shipped with jaxdl
test_size, window_size, epochs = 12, 12, 8
train_set, test_set = sales.to_numpy()[:-test_size], sales.to_numpy()[-test_size:]
scaler = MinMaxScaler((-1.0, 1.0)).fit(train_set.reshape(-1, 1))   # fitted on the training part only
train_norm = scaler.transform(train_set.reshape(-1, 1))[:, 0]
x, y = windows(train_norm, window_size)   # the notes' input_data(seq, ws): (N, 12, 1) and (N, 1)
print(f"{len(sales)} months; {len(x)} training windows; the last {test_size} months held out")

# %% [markdown]
# ## The model
# The notes keep `self.hidden` on the module and reset it before each sequence; the JAX
# model starts every sequence from zeros by construction (no state carried between
# calls), and takes a batch of sequences as well as one.

# %% tags=["pytorch"]
class LSTMnetwork(nn.Module):
    def __init__(self, input_size=1, hidden_size=100, output_size=1):
        super().__init__()
        self.hidden_size = hidden_size
        self.lstm = nn.LSTM(input_size, hidden_size)
        self.linear = nn.Linear(hidden_size, output_size)
        self.hidden = (torch.zeros(1, 1, self.hidden_size), torch.zeros(1, 1, self.hidden_size))

    def forward(self, seq):
        lstm_out, self.hidden = self.lstm(seq.view(len(seq), 1, -1), self.hidden)
        pred = self.linear(lstm_out.view(len(seq), -1))
        return pred[-1]  # we only want the last value


torch.manual_seed(101)
model = LSTMnetwork()
print({k: tuple(v.shape) for k, v in model.state_dict().items()})

# %% tags=["jax"]
jmodel = interop.from_torch(LSTMNetwork(rngs=nnx.Rngs(101)), model.state_dict())
print({"lstm.w_ih": jmodel.lstm.w_ih[...].shape, "lstm.w_hh": jmodel.lstm.w_hh[...].shape,
       "linear.kernel": jmodel.linear.kernel[...].shape})

# %% [markdown]
# ## Training: one sequence per step, in order
# `fit` over a `DataLoader` of batch 1 without shuffling takes the same steps as the notes'
# loop; it trains 32 of them in one compiled call (`lax.scan`), with no Python between
# steps.

# %% tags=["pytorch"]
criterion = nn.MSELoss()
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
torch_losses = []
for i in range(epochs):
    epoch_losses = []
    for seq, y_train in zip(torch.from_numpy(x), torch.from_numpy(y)):
        optimizer.zero_grad()
        model.hidden = (torch.zeros(1, 1, model.hidden_size), torch.zeros(1, 1, model.hidden_size))
        y_pred = model(seq)
        loss = criterion(y_pred, y_train)
        loss.backward()
        optimizer.step()
        epoch_losses.append(loss.item())
    torch_losses.append(np.mean(epoch_losses))
    print(f'Epoch: {i+1:2} Loss: {torch_losses[-1]:10.8f}')

# %% tags=["jax"]
learner = Learner(jmodel, losses.mse_loss, optim.adam(0.001), task="regression")
state, history = fit(learner, learner.init_state(), DataLoader(ArrayDataset(x, y), batch_size=1),
                     epochs=epochs, progress=False)

# %%
np.testing.assert_allclose(history["train_loss"], torch_losses, rtol=2e-3)   # float32 drift over 2,400 steps

# %% [markdown]
# ## Forecasting the held-out year
# Predict a month, append it to the window, repeat 12 times, then undo the scaling. The
# notes' Python loop becomes one compiled `lax.scan` over the 12 months.

# %% tags=["pytorch"]
future = 12
preds = train_norm[-window_size:].tolist()
model.eval()
for i in range(future):
    seq = torch.FloatTensor(preds[-window_size:])
    with torch.no_grad():
        model.hidden = (torch.zeros(1, 1, model.hidden_size), torch.zeros(1, 1, model.hidden_size))
        preds.append(model(seq).item())
true_predictions = scaler.inverse_transform(np.array(preds[window_size:]).reshape(-1, 1))[:, 0]

# %% tags=["jax"]
@jax.jit
def forecast(state, window):
    def step(window, _):
        nxt = learner.predict(state, window[None, :, None])[0, 0]
        return jnp.concatenate([window[1:], nxt[None]]), nxt
    return jax.lax.scan(step, window, None, length=future)[1]


jax_predictions = scaler.inverse_transform(
    np.asarray(forecast(state, jnp.asarray(train_norm[-window_size:], jnp.float32)))[:, None])[:, 0]

# %%
np.testing.assert_allclose(jax_predictions, true_predictions, rtol=1e-2)
rmse = float(np.sqrt(np.mean((jax_predictions - test_set) ** 2)))
naive = float(np.sqrt(np.mean((train_set[-12:] - test_set) ** 2)))   # "the same month last year"
print(f"RMSE of the held-out year: jaxdl {rmse:.0f}, torch "
      f"{np.sqrt(np.mean((true_predictions - test_set) ** 2)):.0f}; the same month last year: {naive:.0f}")
months = pd.to_datetime(sales.index)
plots.show(plots.series(None, (months[-60:], sales.to_numpy()[-60:], "sales"),
                        (months[-test_size:], true_predictions, "PyTorch forecast"),
                        (months[-test_size:], jax_predictions, f"jaxdl forecast (RMSE {rmse:.0f})", {"ls": "--"}),
                        title=f"alcohol sales: the held-out year after {epochs} epochs", xlabel="month",
                        ylabel="millions of dollars"))

# %% [markdown]
# `python -m experiments.lstm_forecast` runs the notes' 100 epochs, chooses the epoch on
# the 12 months before the held-out year, and writes `forecast.png` (the experiments
# page has its measured RMSE).
#
# ## A batch of windows at once
# The notes feed one sequence at a time; the JAX model takes a batch, and gives the same
# predictions as one by one.

# %%
batch_out = np.asarray(learner.predict(state, jnp.asarray(x[:8])))
one_by_one = np.stack([np.asarray(learner.predict(state, jnp.asarray(x[i:i + 1])))[0] for i in range(8)])
np.testing.assert_allclose(batch_out, one_by_one, atol=1e-6)
