"""Dense layers (torch: ``torch.nn.modules.linear``): Linear, Identity."""

from __future__ import annotations

import jax
from flax import nnx

from jaxdl.init import Initializer, torch_default_init
from jaxdl.layers.torch_layer import ANY, SAME, TORCH, TRANSPOSED, Rule, torch_layer


@torch_layer("Linear", layout=TORCH)
class Linear(nnx.Linear):
    """torch: ``nn.Linear(in_features, out_features)``.

    ``kernel`` has shape (in, out) = torch's ``weight.T``. Initialised like torch unless
    ``kernel_init``/``bias_init`` are given (e.g. :func:`uniform_init` for ``nn.init.uniform_``).

    Args:
        in_features: size of the last input axis.
        out_features: size of the last output axis.
        use_bias: torch's ``bias``.
        kernel_init, bias_init: initialisers instead of torch's U(+-1/sqrt(in_features)).
        rngs: ``nnx.Rngs`` for the initialisation.
    """

    def __init__(self, in_features: int, out_features: int, *, use_bias: bool = True,
                 kernel_init: Initializer | None = None, bias_init: Initializer | None = None,
                 rngs: nnx.Rngs):
        init = torch_default_init(in_features)
        super().__init__(in_features, out_features, use_bias=use_bias,
                         kernel_init=kernel_init or init, bias_init=bias_init or init, rngs=rngs)

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"in_features": m.in_features, "out_features": m.out_features, "use_bias": m.bias is not None}

    def torch_state(self) -> list[Rule]:
        """weight (out, in) <-> kernel (in, out); bias."""
        return [Rule("weight", "kernel", *TRANSPOSED)] + (
            [Rule("bias", "bias", *SAME)] if self.bias is not None else [])


@torch_layer("Identity", layout=ANY)
class Identity(nnx.Module):
    """torch: ``nn.Identity()``: returns its input. Put in place of a model's head
    (``model.fc = Identity()``) to get the features the head would have seen."""

    def __init__(self, *args, **kwargs):
        pass  # torch's Identity takes and ignores any arguments

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {}

    def torch_state(self) -> list[Rule]:
        return []

    def __call__(self, x: jax.Array) -> jax.Array:
        return x
