"""torch's default initialisers, as JAX initialisers ``init(key, shape, dtype)``.

Equal to torch's in distribution, not in values: the draws come from JAX's generator,
so a seed gives other weights than in torch (``jaxdl.interop.from_torch`` copies
torch's when the values must match).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

Initializer = Callable[..., jax.Array]


def uniform_init(low: float = 0.0, high: float = 1.0) -> Initializer:
    """U(low, high) (torch: ``nn.init.uniform_(w, a=low, b=high)``, default U(0, 1))."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, low, high)

    return init


def torch_default_init(fan_in: int) -> Initializer:
    """torch's default Linear/Conv init for weights and biases: U(+-1/sqrt(fan_in)).

    ``kaiming_uniform_(a=sqrt(5))`` on the weight has bound gain*sqrt(3/fan_in) with
    gain = sqrt(2/(1+5)), which is exactly 1/sqrt(fan_in), the bias bound too.
    """
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_init(-bound, bound)
