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
print(metrics.classification_report(cm, ["a", "b", "c", "d"]))
