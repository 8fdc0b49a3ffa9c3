"""torch's initialisers, as JAX initialisers ``init(key, shape, dtype=float32)``, every one
drawn the fast way; every jaxdl layer and model initialises through this module.

Equal to torch's in distribution, not in values: the draws come from JAX's generator,
so a seed gives other weights than in torch (``jaxdl.interop.from_torch`` copies torch's
when the values must match).

========================================  ===============================================
torch                                     here
========================================  ===============================================
Linear / Conv / ConvTranspose weight and  :func:`torch_default_init` (fan_in):
bias (``kaiming_uniform_(a=sqrt(5))``),   U(+-1/sqrt(fan_in))
LSTM / GRU / RNN weights and biases       :func:`torch_default_init` (hidden_size)
``nn.init.kaiming_normal_(mode=           :func:`kaiming_normal_fan_out`
'fan_out', nonlinearity='relu')``
``nn.init.kaiming_uniform_(a)``           :func:`kaiming_uniform_init`
``nn.init.xavier_uniform_(gain)``         :func:`xavier_uniform_init`
``nn.init.normal_(0, std)``; Embedding    :func:`normal_init` (Embedding: std 1)
``nn.init.trunc_normal_(std, a, b)``      :func:`trunc_normal_init`
``nn.init.uniform_(a, b)``                :func:`uniform_init`
``nn.init.zeros_`` / ``ones_`` /          :func:`zeros_init`, :func:`ones_init`,
``constant_``                             :func:`constant_init`
========================================  ===============================================

The fast draw: XLA:CPU compiles a random draw once per shape, 0.5-2 s each (a ResNet-50
has ~20 parameter shapes: 20 s to construct it). Parameters are drawn instead in fixed
blocks of :data:`BLOCK` values (block i from ``fold_in(key, i)``), so each kind of draw
compiles once per process; eagerly the blocks are joined and scaled in NumPy (no
per-shape XLA work), under a trace (``nnx.jit``, ``nnx.eval_shape``) with ``jnp``: the
same draws either way (XLA may fuse the scaling into one rounding where NumPy rounds
twice: 1 ulp).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

Initializer = Callable[..., jax.Array]
BLOCK = 1 << 16


@functools.partial(jax.jit, static_argnums=(0, 3, 4))
def _block(kind: str, key: jax.Array, i: jax.Array, lower: float, upper: float) -> jax.Array:
    k = jax.random.fold_in(key, i)
    if kind == "uniform":  # U(0, 1)
        return jax.random.uniform(k, (BLOCK,))
    if kind == "normal":  # N(0, 1)
        return jax.random.normal(k, (BLOCK,))
    return jax.random.truncated_normal(k, lower, upper, (BLOCK,))  # N(0, 1) cut at lower, upper


def draw(kind: str, key: jax.Array, shape: Sequence[int], dtype=jnp.float32, scale: float = 1.0,
         shift: float = 0.0, lower: float = -2.0, upper: float = 2.0) -> jax.Array:
    """``shift + scale * z``, z of ``shape`` from the standard draw ``kind`` ("uniform":
    U(0, 1), "normal": N(0, 1), "truncated_normal": N(0, 1) cut at ``lower``, ``upper``),
    drawn blockwise (see the module docstring)."""
    shape = tuple(int(d) for d in shape)
    n = math.prod(shape)
    blocks = [_block(kind, key, i, lower, upper) for i in range(-(-n // BLOCK))]
    if isinstance(key, jax.core.Tracer):
        z = jnp.concatenate(blocks)[:n] if blocks else jnp.zeros((0,), jnp.float32)
        return (shift + scale * z.reshape(shape)).astype(dtype)
    out = np.empty(len(blocks) * BLOCK, np.float32)
    for i, b in enumerate(blocks):  # one pass, in place
        part = out[i * BLOCK:(i + 1) * BLOCK]
        np.multiply(np.asarray(b), np.float32(scale), out=part)
        part += np.float32(shift)
    return jnp.asarray(out[:n].reshape(shape), dtype)


def uniform_init(low: float = 0.0, high: float = 1.0) -> Initializer:
    """U(low, high) (torch: ``nn.init.uniform_(w, a=low, b=high)``, default U(0, 1))."""
    return lambda key, shape, dtype=jnp.float32: draw("uniform", key, shape, dtype, high - low, low)


def torch_default_init(fan_in: int) -> Initializer:
    """torch's default Linear/Conv init for weights and biases: U(+-1/sqrt(fan_in)).

    ``kaiming_uniform_(a=sqrt(5))`` on the weight has bound gain*sqrt(3/fan_in) with
    gain = sqrt(2/(1+5)), which is exactly 1/sqrt(fan_in), the bias bound too. torch's
    recurrent layers draw every weight and bias from the same with fan_in = hidden_size.
    """
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_init(-bound, bound)


def kaiming_uniform_init(fan_in: int, a: float = 0.0, nonlinearity: str = "leaky_relu") -> Initializer:
    """torch: ``nn.init.kaiming_uniform_(w, a, mode='fan_in', nonlinearity)``:
    U(+-gain*sqrt(3/fan_in)), gain sqrt(2/(1+a^2)) for (leaky) ReLU, 1 for linear."""
    gain = math.sqrt(2.0 / (1 + a * a)) if nonlinearity in ("relu", "leaky_relu") else 1.0
    bound = gain * math.sqrt(3.0 / fan_in) if fan_in > 0 else 0.0
    return uniform_init(-bound, bound)


def kaiming_normal_fan_out(key, shape, dtype=jnp.float32) -> jax.Array:
    """torch: ``nn.init.kaiming_normal_(w, mode='fan_out', nonlinearity='relu')`` for a
    channels-last conv kernel (*spatial, in, out): N(0, 2 / (prod(spatial) * out))."""
    fan_out = math.prod(shape[:-2]) * shape[-1]
    return draw("normal", key, shape, dtype, math.sqrt(2.0 / fan_out))


def xavier_uniform_init(fan_in: int, fan_out: int, gain: float = 1.0) -> Initializer:
    """torch: ``nn.init.xavier_uniform_(w, gain)``: U(+-gain*sqrt(6/(fan_in+fan_out)))."""
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_init(-bound, bound)


def normal_init(std: float = 1.0, mean: float = 0.0) -> Initializer:
    """torch: ``nn.init.normal_(w, mean, std)`` (Embedding's default: N(0, 1))."""
    return lambda key, shape, dtype=jnp.float32: draw("normal", key, shape, dtype, std, mean)


def trunc_normal_init(std: float, a: float = -2.0, b: float = 2.0) -> Initializer:
    """torch: ``nn.init.trunc_normal_(w, mean=0, std=std, a=a, b=b)``: N(0, std) cut at the
    *absolute* bounds a, b (JAX's ``truncated_normal`` cuts at multiples of std)."""
    return lambda key, shape, dtype=jnp.float32: draw("truncated_normal", key, shape, dtype, std,
                                                      lower=a / std, upper=b / std)


def constant_init(value: float) -> Initializer:
    """torch: ``nn.init.constant_(w, value)`` (PReLU's 0.25)."""
    return lambda key, shape, dtype=jnp.float32: jnp.full(shape, value, dtype)


def zeros_init(key, shape, dtype=jnp.float32) -> jax.Array:
    """torch: ``nn.init.zeros_`` / ``constant_(b, 0)`` (norm layers' bias)."""
    return jnp.zeros(shape, dtype)


def ones_init(key, shape, dtype=jnp.float32) -> jax.Array:
    """torch: ``nn.init.ones_`` (norm layers' weight)."""
    return jnp.ones(shape, dtype)
