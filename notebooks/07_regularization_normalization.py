# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 7. Regularisation and normalisation
# 002's "Normalization" and "Regularization" (BatchNorm, LayerNorm, Dropout, weight decay)
# and 003's "Calculating validation loss", "Reasons for overfitting" and "Steps to maximize
# performance" (overfit one batch first). Dropout needs randomness: in JAX it comes from an
# RNG stream in the model state (`nnx.Rngs(dropout=...)`), advanced by every training step,
# and train/eval mode is chosen per call (`Learner` keeps a train and an eval graph)
# instead of `model.train()` flipping a flag.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx
from torch import nn

from jaxdl import data, interop, losses, optim, plots
from jaxdl.data import DataLoader
from jaxdl.layers import BatchNorm, Dropout, LayerNorm
from jaxdl.models import MLP
from jaxdl.train import Learner, evaluate, fit

torch.set_num_threads(1)  # models this small run faster on one thread

# %% [markdown]
# ## Dropout: keep with probability 1 - p, scale by 1/(1 - p), identity in eval
# (The notes say inference multiplies by 1 - p; torch, like JAX, scales at training time
# instead, so evaluation is the identity.)

# %% tags=["pytorch"]
drop = torch.nn.Dropout(p=0.3)
out_t = drop(torch.ones(1000, 100))
drop.eval()
eval_t = drop(torch.ones(1000, 100))

# %% tags=["jax"]
jdrop = Dropout(0.3, rngs=nnx.Rngs(dropout=0))
out_j = jdrop(jnp.ones((1000, 100)))
jdrop.eval()
eval_j = jdrop(jnp.ones((1000, 100)))

# %%
kept_t, kept_j = (out_t > 0).float().mean().item(), float((out_j > 0).mean())
assert abs(kept_j - 0.7) < 0.01 and abs(kept_t - kept_j) < 0.02
assert np.allclose(np.asarray(out_j)[np.asarray(out_j) > 0], 1 / 0.7) and np.allclose(out_t[out_t > 0].numpy(), 1 / 0.7)
assert np.array_equal(eval_j, jnp.ones((1000, 100))) and torch.equal(eval_t, torch.ones(1000, 100))

# %% [markdown]
# ## Weight decay: coupled (Adam) vs decoupled (AdamW), 5 steps each against torch
# `torch.optim.Adam(weight_decay=...)` adds `wd * w` to the gradient (L2 through Adam's
# scaling); `AdamW` decays the weights directly. `jaxdl.optim.adam` / `adamw` reproduce
# each (optax's `adamw` is the decoupled one).

# %% tags=["pytorch"]
w0 = np.random.default_rng(0).normal(size=(5,)).astype(np.float32)
torch_w = {}
for name, make in [("Adam", torch.optim.Adam), ("AdamW", torch.optim.AdamW)]:
    w = torch.tensor(w0.copy(), requires_grad=True)
    optimizer = make([w], lr=0.1, weight_decay=0.1)
    for _ in range(5):
        optimizer.zero_grad()
        torch.sum(torch.sin(w) * w).backward()
        optimizer.step()
    torch_w[name] = w.detach().numpy()

# %% tags=["jax"]
grad_fn = jax.grad(lambda w: jnp.sum(jnp.sin(w) * w))
jax_w = {}
for name, tx in [("Adam", optim.adam(0.1, weight_decay=0.1)), ("AdamW", optim.adamw(0.1, weight_decay=0.1))]:
    w, opt_state = jnp.asarray(w0), tx.init(jnp.asarray(w0))
    for _ in range(5):
        updates, opt_state = tx.update(grad_fn(w), opt_state, w)
        w = w + updates
    jax_w[name] = np.asarray(w)

# %%
for name in ("Adam", "AdamW"):
    np.testing.assert_allclose(jax_w[name], torch_w[name], atol=1e-5)
    print(name, "agrees:", jax_w[name][:3])

# %% [markdown]
# ## BatchNorm and LayerNorm
# BatchNorm normalises with the batch statistics in training and keeps running statistics
# (momentum 0.1, unbiased variance) for eval, as torch does; in JAX the running statistics
# are state that the train step returns. LayerNorm uses eps 1e-5 as torch (Flax's own
# default is 1e-6).

# %% tags=["pytorch"]
batches = np.random.default_rng(1).normal(2, 3, size=(5, 16, 4)).astype(np.float32)
bn = torch.nn.BatchNorm1d(4)
train_t = [bn(torch.from_numpy(b)).detach().numpy() for b in batches]
bn.eval()
eval_t = bn(torch.from_numpy(batches[0])).detach().numpy()
v = np.random.default_rng(2).normal(size=(3, 20)).astype(np.float32) * 1e-3
ln_t = torch.nn.LayerNorm(20)(torch.from_numpy(v)).detach().numpy()

# %% tags=["jax"]
jbn = BatchNorm(4, rngs=nnx.Rngs(0))
train_j = [np.asarray(jbn(jnp.asarray(b))) for b in batches]
jbn.eval()
eval_j = np.asarray(jbn(jnp.asarray(batches[0])))
ln_j = np.asarray(LayerNorm(20, rngs=nnx.Rngs(0))(jnp.asarray(v)))

# %%
np.testing.assert_allclose(np.stack(train_j), np.stack(train_t), atol=1e-5)
np.testing.assert_allclose(eval_j, eval_t, atol=1e-5)
sd = interop.to_torch(jbn)
np.testing.assert_allclose(sd["running_var"].numpy(), bn.running_var.numpy(), rtol=1e-5)
assert int(sd["num_batches_tracked"]) == int(bn.num_batches_tracked) == 5
np.testing.assert_allclose(ln_j, ln_t, atol=1e-4)

# %% [markdown]
# ## Step 1 of 003's recipe: overfit one batch
# "Modify the training loop to overfit a single data point ... should reach 1.0 accuracy
# and 0 loss; helps finding bugs in the code". The same MLP and batch of 8 digits in both
# frameworks, from the same weights.

# %%
ds = data.load("mnist_5k").split_validation(1000, seed=0)
features, labels = ds.train[:8]

# %% tags=["pytorch"]
torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
initial = {f"layers.{k}": v.clone() for k, v in model.state_dict().items()}   # for the JAX side
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
x_t, y_t = torch.from_numpy(features.transpose(0, 3, 1, 2).copy()), torch.from_numpy(labels).long()
for i in range(200):
    outputs = model(x_t)
    loss = criterion(outputs, y_t)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
print(f"loss {loss.item():.2e}, accuracy {(model(x_t).argmax(1) == y_t).float().mean().item()}")

# %% tags=["jax"]
jmlp = interop.from_torch(MLP([784, 64, 10], rngs=nnx.Rngs(0)), initial)
learner = Learner(jmlp, losses.cross_entropy, optim.adam(1e-3))
state = learner.init_state()
for i in range(200):
    state, metrics = learner.train_step(state, (jnp.asarray(features), jnp.asarray(labels)))
accuracy = int(metrics["correct"]) / int(metrics["n"])   # a step reports counts: exact over any batches
print(f"loss {float(metrics['loss']):.2e}, accuracy {accuracy}")

# %%
assert loss.item() < 1e-2 and float(metrics["loss"]) < 1e-2 and accuracy == 1.0
assert abs(loss.item() - float(metrics["loss"])) < 1e-4

# %% [markdown]
# ## Validation loss (003), and overfitting
# The notes' validation loop sums `loss.item()` over the batches in `model.eval()` and
# `torch.no_grad()`; `evaluate` is the same on the device, weighting each batch by its size
# (the notes' mean over batches differs when the last batch is smaller).

# %% tags=["pytorch"]
validationloader = torch.utils.data.DataLoader(
    torch.utils.data.TensorDataset(torch.from_numpy(ds.val.arrays[0].transpose(0, 3, 1, 2).copy()),
                                   torch.from_numpy(ds.val.arrays[1]).long()), batch_size=100)
model.eval()
validation_loss = 0.0
with torch.no_grad():
    for data_ in validationloader:
        outputs = model(data_[0])
        validation_loss += criterion(outputs, data_[1]).item()
validation_loss_epoch = validation_loss / len(validationloader)
model.train()
print(validation_loss_epoch)

# %% tags=["jax"]
val_loader = DataLoader(ds.val, batch_size=100)
print(evaluate(learner, state, val_loader)["loss"])

# %%
assert abs(evaluate(learner, state, val_loader)["loss"] - validation_loss_epoch) < 1e-3 * validation_loss_epoch

# %% [markdown]
# "Overfitting occurs when the model stops generalizing and performance on the validation
# dataset degrades: training loss low, validation loss high." A wide MLP on 1,000 digits,
# validated every epoch on 1,000 others, without and with dropout and weight decay; `fit`
# records both losses per epoch.

# %%
small = ds.train[np.sort(np.random.default_rng(0).permutation(len(ds.train))[:1000])]
train_loader = DataLoader(small, batch_size=64, shuffle=True, seed=0)
lines = []
for i, (name, p_drop, wd) in enumerate([("plain", 0.0, 0.0), ("dropout 0.5 + weight decay 1e-3", 0.5, 1e-3)]):
    mlp = MLP([784, 512, 512, 10], dropout=p_drop, rngs=nnx.Rngs(params=0, dropout=1))
    learner = Learner(mlp, losses.cross_entropy, optim.adam(1e-3, weight_decay=wd))
    state, history = fit(learner, learner.init_state(), train_loader, epochs=15, val_loader=val_loader, log=None)
    epochs_ = history["epoch"]
    lines += [(epochs_, history["val_loss"], f"{name}: validation", {"color": f"C{i}"}),
              (epochs_, history["train_loss"], f"{name}: training", {"color": f"C{i}", "ls": "--"})]
    print(f"{name}: last epoch train loss {history['train_loss'][-1]:.3f}, "
          f"validation loss {history['val_loss'][-1]:.3f}")
plots.show(plots.series(None, *lines, title=f"training vs validation loss, 1,000 digits of {ds.name}",
                        xlabel="epoch", ylabel="cross-entropy"))
