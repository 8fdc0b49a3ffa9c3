# %% [markdown]
# # 9. Anatomy of the training loop, and the metrics
# The five lines of a PyTorch step and where each went in a pure JAX `train_step`:
#
# | PyTorch | JAX |
# |---|---|
# | `optimizer.zero_grad()` | nothing: gradients are returned, not accumulated |
# | `out = model(x)` | `nnx.merge(graphdef, params, state)(x)` inside the loss function |
# | `loss = criterion(out, y)` | the loss function's return value |
# | `loss.backward()` | `jax.value_and_grad(loss_fn)(params)` |
# | `optimizer.step()` | `updates, opt_state = tx.update(grads, opt_state, params)`; `optax.apply_updates` |
#
# `model.train()` / `model.eval()` become two graph definitions; BatchNorm statistics and the
# dropout RNG are part of the returned state. The whole step is compiled once by `jax.jit`.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
from flax import nnx
from sklearn.metrics import confusion_matrix as sk_confusion, precision_recall_fscore_support

from jaxdl import interop, metrics
from jaxdl.models import FashionMNISTModel
import torch_reference as T

# %%
torch.manual_seed(0)
tm = T.FashionMNISTModel()
jm = FashionMNISTModel(rngs=nnx.Rngs(0))
interop.from_torch(jm, tm.state_dict())
graphdef, params = nnx.split(jm, nnx.Param)
params = params.to_pure_dict()
tx = optax.sgd(0.1)
opt_state = tx.init(params)


@jax.jit
def train_step(params, opt_state, x, y):
    def loss_fn(p):
        logits = nnx.merge(graphdef, p)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss


rng = np.random.default_rng(0)
xs = rng.random((10, 32, 28, 28, 1)).astype(np.float32)
ys = rng.integers(0, 10, (10, 32))
opt = torch.optim.SGD(tm.parameters(), lr=0.1)
for x, y in zip(xs, ys):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(tm(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())), torch.from_numpy(y))
    loss.backward()
    opt.step()
    params, opt_state, jloss = train_step(params, opt_state, jnp.asarray(x), jnp.asarray(y))
    assert abs(loss.item() - float(jloss)) < 1e-5
print("10 hand-written steps agree with torch")

# %% [markdown]
# ## The same loop packaged: `Learner`, `fit`, `History`
# `Learner(model, loss, optimizer)` holds the compiled `train_step` / `eval_step` (the train
# and eval graphs: `model.train()` / `model.eval()`); `fit` runs the epochs and returns the
# per-epoch logs as a `History` (the notes' `losses.append(loss.item())`). By default it
# stacks 32 batches and trains them in one compiled `learner.train_steps` call (`lax.scan`):
# the same steps as one `train_step` per batch.

# %%
from jaxdl import losses, optim
from jaxdl.data import ArrayDataset, DataLoader
from jaxdl.train import History, Learner, fit

torch.manual_seed(1)
tm2 = T.FashionMNISTModel()
jm2 = interop.from_torch(FashionMNISTModel(rngs=nnx.Rngs(0)), tm2.state_dict())  # the same initial weights
t_losses = []                                             # the notes' loop
opt = torch.optim.SGD(tm2.parameters(), lr=0.1)
for epoch in range(2):
    batch_losses = []
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tm2(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())), torch.from_numpy(y))
        loss.backward()
        opt.step()
        batch_losses.append(loss.item())
    t_losses.append(float(np.mean(batch_losses)))
learner = Learner(jm2, losses.cross_entropy, optim.sgd(0.1))
loader = DataLoader(ArrayDataset(xs.reshape(-1, 28, 28, 1), ys.reshape(-1)), batch_size=32)  # same batches, in order
state, history = fit(learner, learner.init_state(), loader, epochs=2, steps_per_call=5, progress=False, log=None)
assert isinstance(history, History)
np.testing.assert_allclose(history["train_loss"], t_losses, rtol=1e-5)
one_by_one = learner.init_state()
for batch in loader.epoch(1):
    one_by_one, _ = learner.train_step(one_by_one, batch)
stacked, _ = learner.train_steps(learner.init_state(), next(loader.epoch_chunks(1, 10))[1])  # 10 steps, one call
np.testing.assert_allclose(stacked.params["layer_stack"]["layers"][1]["kernel"],
                           one_by_one.params["layer_stack"]["layers"][1]["kernel"], atol=1e-6)
print("fit's history:", [round(v, 4) for v in history["train_loss"]], "torch:", [round(v, 4) for v in t_losses])

# %% [markdown]
# ## Accuracy, precision, recall, F1, confusion matrix
# Accumulated on device as a confusion matrix over batches; everything else derives from it.
# Checked against scikit-learn (what torchmetrics also matches).

# %%
labels = rng.integers(0, 4, 500)
preds = np.where(rng.random(500) < 0.7, labels, rng.integers(0, 4, 500))
cm = np.asarray(metrics.confusion_matrix(jnp.asarray(labels), jnp.asarray(preds), 4))
assert np.array_equal(cm, sk_confusion(labels, preds))
p, r, f, _ = precision_recall_fscore_support(labels, preds)
np.testing.assert_allclose(metrics.precision(cm), p)
np.testing.assert_allclose(metrics.recall(cm), r)
np.testing.assert_allclose(metrics.f1(cm), f)
assert metrics.accuracy(cm) == (labels == preds).mean()
s = metrics.summary(cm, ["a", "b", "c", "d"])   # what metrics.json holds: torchmetrics' macro averages
assert np.isclose(s["f1_macro"], f.mean()) and np.isclose(s["precision_macro"], p.mean())
print(metrics.classification_report(cm, ["a", "b", "c", "d"]))
