# %% [markdown]
# # 4. ANNs: the iris classifier and the Pima wide & deep model
# `TensorDataset` / `DataLoader` become `jaxdl.data.ArrayDataset` / `DataLoader` (arrays in
# memory, one vectorised gather per batch, shuffling from an explicit seed and epoch);
# `torch.save(model.state_dict())` becomes an orbax checkpoint, and `.pt` files still load.

# %%
import tempfile

import jax.numpy as jnp
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from flax import nnx

from jaxdl import data, interop, losses, optim
from jaxdl.checkpoint import Checkpointer
from jaxdl.data import DataLoader
from jaxdl.layers import count_params
from jaxdl.models import IrisModel, WideDeep
from jaxdl.train import Learner


class TorchIris(nn.Module):  # the notes' Model (with the ReLU on the output, as written)
    def __init__(self, in_features=4, h1=8, h2=9, out_features=3):
        super().__init__()
        self.fc1, self.fc2, self.out = nn.Linear(in_features, h1), nn.Linear(h1, h2), nn.Linear(h2, out_features)

    def forward(self, x):
        return F.relu(self.out(F.relu(self.fc2(F.relu(self.fc1(x))))))


# %% [markdown]
# ## Iris: 150 full-batch epochs of Adam(0.01), both frameworks from the same weights

# %%
ds = data.load("iris")
xtr, ytr = ds.train.arrays
xte, yte = ds.test.arrays
torch.manual_seed(32)
tm = TorchIris()
jm = IrisModel(output_relu=True, rngs=nnx.Rngs(0))
interop.from_torch(jm, tm.state_dict())
opt = torch.optim.Adam(tm.parameters(), lr=0.01)
learner = Learner(jm, losses.cross_entropy, optim.adam(0.01), num_classes=3)
state = learner.init_state()
for i in range(150):
    loss = F.cross_entropy(tm(torch.from_numpy(xtr)), torch.from_numpy(ytr).long())
    opt.zero_grad(); loss.backward(); opt.step()
    state, m = learner.train_step(state, (jnp.asarray(xtr), jnp.asarray(ytr)))
print("final loss torch", loss.item(), "jax", float(m["loss"]))
assert abs(loss.item() - float(m["loss"])) < 1e-4
# the notes' calculate_capacity(model): sum(p.numel() for p in model.parameters())
assert count_params(jm) == sum(p.numel() for p in tm.parameters()) == 151
t_pred = tm(torch.from_numpy(xte)).argmax(1).numpy()
j_pred = np.asarray(learner.predict(state, jnp.asarray(xte))).argmax(1)
assert np.array_equal(t_pred, j_pred)
print(f"test accuracy: {(j_pred == yte).mean():.3f}")

# %% [markdown]
# ## Save and load: orbax checkpoint, and the `.pt` state_dict both ways

# %%
with tempfile.TemporaryDirectory() as d:
    with Checkpointer(f"{d}/ckpt") as ck:
        ck.save(150, state)
        ck.wait()
        restored, meta = ck.restore(learner.init_state())
    assert np.array_equal(restored.params["fc1"]["kernel"], state.params["fc1"]["kernel"])
    torch.save(interop.to_torch(learner.model(state)), f"{d}/iris_model.pt")
    new_model = TorchIris()
    new_model.load_state_dict(torch.load(f"{d}/iris_model.pt"))  # strict: every key matches
    assert np.array_equal(new_model(torch.from_numpy(xte)).argmax(1).numpy(), j_pred)

# %% [markdown]
# ## TensorDataset + DataLoader vs ArrayDataset + DataLoader

# %%
tl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(xtr), torch.from_numpy(ytr)),
                                 batch_size=50, shuffle=True)
jl = DataLoader(ds.train, batch_size=50, shuffle=True, seed=0)
assert len(tl) == len(jl) == 3
seen = np.concatenate([np.asarray(y) for _, y in jl.epoch(1)])
assert sorted(seen.tolist()) == sorted(ytr.tolist())   # every example once per epoch

# %% [markdown]
# ## Pima wide & deep: BCE on sigmoid outputs, SGD(0.1), full batch

# %%
pima = data.load("pima")
px, py = pima.train.arrays
torch.manual_seed(0)
tw = nn.Sequential(nn.Linear(8, 6), nn.Sigmoid(), nn.Linear(6, 4), nn.Sigmoid(), nn.Linear(4, 1), nn.Sigmoid())
jw = WideDeep(rngs=nnx.Rngs(0))
sd = tw.state_dict()
interop.from_torch(jw, {"l1.weight": sd["0.weight"], "l1.bias": sd["0.bias"], "l2.weight": sd["2.weight"],
                        "l2.bias": sd["2.bias"], "l3.weight": sd["4.weight"], "l3.bias": sd["4.bias"]})
opt = torch.optim.SGD(tw.parameters(), lr=0.1)
learner = Learner(jw, losses.bce_loss, optim.sgd(0.1), task="binary_probs")
state = learner.init_state()
for i in range(300):
    loss = F.binary_cross_entropy(tw(torch.from_numpy(px)), torch.from_numpy(py))
    opt.zero_grad(); loss.backward(); opt.step()
    state, m = learner.train_step(state, (jnp.asarray(px), jnp.asarray(py)))
assert abs(loss.item() - float(m["loss"])) < 1e-5
print("Pima loss after 300 epochs:", loss.item(), float(m["loss"]))
