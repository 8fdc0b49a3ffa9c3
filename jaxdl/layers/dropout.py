"""Dropout (torch: ``nn.Dropout``)."""

from __future__ import annotations

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
