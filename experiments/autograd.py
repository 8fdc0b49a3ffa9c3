"""The notes' gradients with jax.grad / jax.vjp (000, 002, 003, 004).

    python -m experiments.autograd

torch's ``y.backward(); x.grad`` becomes ``jax.grad(f)(x)``: gradients are values a
function returns, not fields that accumulate (so there is no ``zero_grad``). A
non-scalar ``next_h.backward(v)`` is ``jax.vjp(f, *inputs)[1](v)``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import cli, runtime
from jaxdl.harness import RunResult, finish
from jaxdl.layers import leaky_relu


def polynomial(x):
    """000: y = x**2 + 4*x**3 + 5*x + 1; dy/dx = 2x + 12x^2 + 5 (57 at x = 2)."""
    return x ** 2 + 4 * x ** 3 + 5 * x + 1


def rnn_cell(W_x, W_h, x, prev_h):
    """004: next_h = tanh(W_x x^T + W_h prev_h^T)."""
    return jnp.tanh(W_x @ x.T + W_h @ prev_h.T)


def main(argv=None) -> RunResult:
    p = cli.parser("autograd: the notes' gradients with jax.grad and jax.vjp", epochs=1, batch_size=1, lr=1.0)
    config = cli.parse(p, argv)
    runtime.setup(config)
    out = {}
    g = jax.grad(polynomial)(2.0)
    print(f"x = 2, y = x**2 + 4x**3 + 5x + 1:  y = {polynomial(2.0)}, x.grad = {g}  (2x + 12x^2 + 5 = 57)")
    out["polynomial_grad_at_2"] = float(g)
    relu_g = jax.grad(jax.nn.relu)(-1.0)
    leaky_g = jax.grad(lambda x: leaky_relu(x, 0.05))(-1.0)
    print(f"nn.ReLU at x = -1: gradient {relu_g};  nn.LeakyReLU(0.05) at -1: gradient {leaky_g}")
    out["relu_grad_at_-1"], out["leaky_relu_0.05_grad_at_-1"] = float(relu_g), float(leaky_g)

    k = jax.random.split(jax.random.key(config.seed), 4)
    x, prev_h = jax.random.normal(k[0], (1, 10)), jax.random.normal(k[1], (1, 20))
    W_h, W_x = jax.random.normal(k[2], (20, 20)), jax.random.normal(k[3], (20, 10))
    next_h, vjp = jax.vjp(rnn_cell, W_x, W_h, x, prev_h)
    # the notes write backward(torch.ones(1, 20)); next_h is (20, 1), so the ones take its shape
    gW_x, gW_h, gx, gh = vjp(jnp.ones_like(next_h))
    delta = 1 - next_h ** 2  # d tanh, (20, 1)
    by_hand = {"W_x": delta @ x, "W_h": delta @ prev_h, "x": (W_x.T @ delta).T, "prev_h": (W_h.T @ delta).T}
    for name, got in zip(["W_x", "W_h", "x", "prev_h"], [gW_x, gW_h, gx, gh]):
        err = float(jnp.max(jnp.abs(got - by_hand[name])))
        print(f"tanh RNN cell: d next_h / d {name} {tuple(got.shape)}, max |jax.vjp - chain rule| = {err:.2e}")
        out[f"rnn_cell_grad_{name}_max_err"] = err
    out["rnn_cell_grad_W_x_sum"] = float(np.asarray(gW_x).sum())
    return finish(config, out)


if __name__ == "__main__":
    cli.run(main)
