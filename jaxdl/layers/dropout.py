"""Dropout (torch: ``nn.Dropout``) and stochastic depth (torch: ``torchvision.ops.StochasticDepth``).

Masks come from the module's RNG stream (``nnx.Rngs(dropout=...)``), carried in the train
state, so they cannot equal torch's; kept values are scaled by 1/(1-p) as torch. After
``model.eval()`` (``deterministic=True``) both are the identity.
"""

from __future__ import annotations

import jax
from flax import nnx

from jaxdl.layers.torch_layer import ANY, Rule, torch_layer


@torch_layer("Dropout", layout=ANY)
class Dropout(nnx.Dropout):
    """torch: ``nn.Dropout(p)``: zeroes with probability p and scales kept values by 1/(1-p)
    in training; identity after ``model.eval()``. Masks come from the module's RNG stream
    (``nnx.Rngs(dropout=...)``), carried in the train state, so they cannot equal torch's."""

    def __init__(self, p: float = 0.5, *, rngs: nnx.Rngs):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability has to be in [0, 1), got {p}")
        super().__init__(rate=p, rngs=rngs)

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"p": m.p}  # inplace: jaxdl's arrays are values, nothing to modify in place

    def torch_state(self) -> list[Rule]:
        return []


@torch_layer("StochasticDepth", layout=ANY, module="torchvision.ops")
class StochasticDepth(nnx.Dropout):
    """torch: ``torchvision.ops.StochasticDepth(p, mode)`` (drop path): in training, zero a
    whole residual branch with probability p and scale the kept ones by 1/(1-p): one draw
    per example (``mode="row"``) or one for the batch (``mode="batch"``); the identity after
    ``model.eval()``, as torchvision. Draws from the dropout RNG stream."""

    def __init__(self, p: float, mode: str, *, rngs: nnx.Rngs):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
        if mode not in ("batch", "row"):
            raise ValueError(f"mode has to be either 'batch' or 'row', but got {mode}")
        super().__init__(rate=p, rngs=rngs)
        self.p, self.mode = p, mode

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"p": m.p, "mode": m.mode}

    def torch_state(self) -> list[Rule]:
        return []

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.deterministic or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        shape = (x.shape[0],) + (1,) * (x.ndim - 1) if self.mode == "row" else (1,) * x.ndim
        noise = jax.random.bernoulli(self.rngs(), keep, shape).astype(x.dtype)
        return x * (noise / keep if keep > 0 else noise)
