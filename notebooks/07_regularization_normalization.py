# %% [markdown]
# # 7. Regularisation and normalisation
# Dropout needs randomness: in JAX it comes from an RNG stream in the model state
# (`nnx.Rngs(dropout=...)`), advanced by every training step, and train/eval mode is chosen
# per call (`Learner` keeps a train and an eval graph) instead of `model.train()` flipping a flag.
# Weight decay: `torch.optim.Adam(weight_decay=...)` adds `wd * w` to the gradient (coupled L2);
# `AdamW` decays the weights directly (decoupled). `jaxdl.optim.adam` / `adamw` reproduce each.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx

from jaxdl import interop, optim
from jaxdl.layers import BatchNorm, Dropout, LayerNorm

# %% [markdown]
# ## Dropout: keep with probability 1 - p, scale by 1/(1 - p), identity in eval

# %%
drop = Dropout(0.3, rngs=nnx.Rngs(dropout=0))
x = jnp.ones((1000, 100))
y = drop(x)
kept = float((y > 0).mean())
assert abs(kept - 0.7) < 0.01 and np.allclose(np.asarray(y)[np.asarray(y) > 0], 1 / 0.7)
drop.eval()
assert np.array_equal(drop(x), x)
t = torch.nn.Dropout(0.3)
assert abs((t(torch.ones(1000, 100)) > 0).float().mean().item() - kept) < 0.02

# %% [markdown]
# ## Coupled (Adam) vs decoupled (AdamW) weight decay, 5 steps each against torch

# %%
w0 = np.random.default_rng(0).normal(size=(5,)).astype(np.float32)
grad_fn = jax.grad(lambda w: jnp.sum(jnp.sin(w) * w))
for name, jtx, topt in [("Adam coupled", optim.adam(0.1, weight_decay=0.1), lambda p: torch.optim.Adam(p, lr=0.1, weight_decay=0.1)),
                        ("AdamW decoupled", optim.adamw(0.1, weight_decay=0.1), lambda p: torch.optim.AdamW(p, lr=0.1, weight_decay=0.1))]:
    tw = torch.tensor(w0.copy(), requires_grad=True)
    opt = topt([tw])
    jw = jnp.asarray(w0)
    st = jtx.init(jw)
    for _ in range(5):
        opt.zero_grad(); torch.sum(torch.sin(tw) * tw).backward(); opt.step()
        upd, st = jtx.update(grad_fn(jw), st, jw)
        jw = jw + upd
    np.testing.assert_allclose(np.asarray(jw), tw.detach().numpy(), atol=1e-5)
    print(name, "agrees:", np.asarray(jw)[:3])

# %% [markdown]
# ## BatchNorm: batch statistics in training, running statistics (momentum 0.1, unbiased variance) in eval

# %%
tb = torch.nn.BatchNorm1d(4)
jb = BatchNorm(4, rngs=nnx.Rngs(0))
batches = np.random.default_rng(1).normal(2, 3, size=(5, 16, 4)).astype(np.float32)
for b in batches:
    np.testing.assert_allclose(np.asarray(jb(jnp.asarray(b))), tb(torch.from_numpy(b)).detach().numpy(), atol=1e-5)
sd = interop.to_torch(jb)
np.testing.assert_allclose(sd["running_var"].numpy(), tb.running_var.numpy(), rtol=1e-5)
assert int(sd["num_batches_tracked"]) == int(tb.num_batches_tracked) == 5
jb.eval(); tb.eval()
np.testing.assert_allclose(np.asarray(jb(jnp.asarray(batches[0]))), tb(torch.from_numpy(batches[0])).detach().numpy(), atol=1e-5)

# %% [markdown]
# ## LayerNorm: eps 1e-5 as torch (Flax's default is 1e-6)

# %%
tl, jl = torch.nn.LayerNorm(20), LayerNorm(20, rngs=nnx.Rngs(0))
v = np.random.default_rng(2).normal(size=(3, 20)).astype(np.float32) * 1e-3
np.testing.assert_allclose(np.asarray(jl(jnp.asarray(v))), tl(torch.from_numpy(v)).detach().numpy(), atol=1e-4)
