"""Dense layers (torch: ``torch.nn.modules.linear``): Linear, Identity."""

from __future__ import annotations

import jax
from flax import nnx

from jaxdl.init import Initializer, torch_default_init


class Linear(nnx.Linear):
    """torch: ``nn.Linear(in_features, out_features)``.

    ``kernel`` has shape (in, out) = torch's ``weight.T``. Initialised like torch unless
    ``kernel_init``/``bias_init`` are given (e.g. :func:`uniform_init` for ``nn.init.uniform_``).
    """

    def __init__(self, in_features: int, out_features: int, *, use_bias: bool = True,
                 kernel_init: Initializer | None = None, bias_init: Initializer | None = None,
                 rngs: nnx.Rngs):
        init = torch_default_init(in_features)
        super().__init__(in_features, out_features, use_bias=use_bias,
                         kernel_init=kernel_init or init, bias_init=bias_init or init, rngs=rngs)




class Identity(nnx.Module):
    """torch: ``nn.Identity()``: returns its input. Put in place of a model's head
    (``model.fc = Identity()``) to get the features the head would have seen."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return x
