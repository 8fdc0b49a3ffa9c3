# %% [markdown]
# # 8. Transfer learning: `requires_grad = False` vs an optimizer mask
# JAX parameters have no `requires_grad` flag: every leaf of the parameter pytree gets a
# gradient. Freezing is decided by the optimizer: `jaxdl.optim.freeze(tx, patterns)` labels
# the leaves whose dotted path matches and gives them `optax.set_to_zero()` (no update, no
# weight decay). Below: the notes' `nn.Sequential(nn.Linear(64,128), nn.Linear(128,256))`
# with layer 0 frozen, trained 10 steps in both frameworks.

# %%
import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch
from flax import nnx

from jaxdl import interop, optim
from jaxdl.layers import Linear

# %%
torch.manual_seed(0)
tm = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.Linear(128, 256))
for name, param in tm.named_parameters():
    if name in ("0.weight", "0.bias"):
        param.requires_grad = False
jm = nnx.Sequential(Linear(64, 128, rngs=nnx.Rngs(0)), Linear(128, 256, rngs=nnx.Rngs(1)))
interop.from_torch(jm, tm.state_dict())
graphdef, params = nnx.split(jm, nnx.Param)
params = params.to_pure_dict()
tx = optim.freeze(optim.sgd(0.01, momentum=0.9, weight_decay=1e-3), [r"layers\.0\."])
opt_state = tx.init(params)
opt = torch.optim.SGD([p for p in tm.parameters() if p.requires_grad], lr=0.01, momentum=0.9, weight_decay=1e-3)
x = np.random.default_rng(0).normal(size=(8, 64)).astype(np.float32)


@jax.jit
def step(params, opt_state, x):
    loss, g = jax.value_and_grad(lambda p: jnp.mean(nnx.merge(graphdef, p)(x) ** 2))(params)
    upd, opt_state = tx.update(g, opt_state, params)
    return optax.apply_updates(params, upd), opt_state, loss


frozen_before = np.asarray(params["layers"][0]["kernel"]).copy()
for _ in range(10):
    loss = (tm(torch.from_numpy(x)) ** 2).mean()
    opt.zero_grad(); loss.backward(); opt.step()
    params, opt_state, jloss = step(params, opt_state, jnp.asarray(x))
    assert abs(loss.item() - float(jloss)) < 1e-5
assert np.array_equal(np.asarray(params["layers"][0]["kernel"]), frozen_before)      # bit-identical
np.testing.assert_allclose(np.asarray(params["layers"][1]["kernel"]), tm[1].weight.detach().numpy().T, atol=1e-5)
print("layer 0 frozen bit-exactly; layer 1 trained the same as torch")

# %% [markdown]
# A pattern that matches nothing is an error listing the real paths (a typo would otherwise
# silently train everything):

# %%
try:
    optim.freeze(optim.sgd(0.1), ["features"]).init(params)
    raise AssertionError("a pattern matching nothing must be refused")
except ValueError as e:
    assert "layers.0.kernel" in str(e)
    print(str(e)[:120], "...")
