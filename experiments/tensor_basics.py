"""The notes' tensor basics (000, 002) in jax.numpy, printing what PyTorch prints.

    python -m experiments.tensor_basics

PyTorch -> JAX differences a user meets first: arrays are immutable (``x.at[i].set(v)``
instead of ``x[i] = v``), so ``torch.from_numpy``'s shared memory has no counterpart:
``jnp.asarray`` copies to the device; randomness takes an explicit key instead of a
global seed; ``view``/``reshape`` are both ``reshape``; ``size()`` is ``.shape``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import cli, runtime
from jaxdl.harness import RunResult, finish


def main(argv=None) -> RunResult:
    p = cli.parser("tensor_basics: the notes' tensor operations in jax.numpy", epochs=1, batch_size=1, lr=1.0)
    config = cli.parse(p, argv)
    runtime.setup(config)
    out: dict = {}

    def show(name, value):
        value = np.asarray(value)
        print(f"{name}:  dtype={value.dtype} shape={value.shape}\n{value}")
        out[name] = value.tolist()

    arr = np.array([1, 2, 3, 4, 5])
    x = jnp.asarray(arr)            # torch.from_numpy / as_tensor (a copy in JAX)
    arr[0] = 99                     # a numpy change does not reach the JAX array
    show("jnp.asarray(arr) after arr[0] = 99", x)
    show("torch.tensor(ints) keeps int: jnp.array", jnp.array([1, 2, 3]))
    show("torch.Tensor(ints) -> float: jnp.array(..., float32)", jnp.array([1, 2, 3], jnp.float32))
    show("torch.zeros(4, 2)", jnp.zeros((4, 2)))
    show("torch.zeros(4, 2, dtype=torch.int32)", jnp.zeros((4, 2), jnp.int32))
    show("torch.ones(2, 2)", jnp.ones((2, 2)))
    show("torch.arange(0, 20, 2).reshape(5, 2)", jnp.arange(0, 20, 2).reshape(5, 2))
    show("torch.linspace(0, 18, 12).reshape(3, 4)", jnp.linspace(0, 18, 12).reshape(3, 4))
    k1, k2, k3 = jax.random.split(jax.random.key(config.seed), 3)
    r = jax.random.uniform(k1, (4, 3))          # torch.rand(4, 3)
    show("torch.rand(4, 3): jax.random.uniform(key, (4, 3))", r)
    show("torch.randn(4, 3): jax.random.normal(key, (4, 3))", jax.random.normal(k2, (4, 3)))
    show("my_tensor.type(torch.int32): .astype(jnp.int32)", (r * 10).astype(jnp.int32))
    show("torch.randint_like(x, 0, 11): jax.random.randint(key, x.shape, 0, 11)",
         jax.random.randint(k3, r.shape, 0, 11))
    z = jnp.zeros((4, 3))
    show("x.view(12)", z.reshape(12).shape)
    show("x.view(-1, 4)", z.reshape(-1, 4).shape)
    show("x.size()", z.shape)
    y = x.at[0].set(7)              # x[0] = 7 in torch (in place); JAX returns a new array
    show("x.at[0].set(7)", y)
    show("x (unchanged)", x)
    show("x.numpy(): np.asarray(x)", np.asarray(x, np.float64) / 2)
    return finish(config, out)


if __name__ == "__main__":
    cli.run(main)
