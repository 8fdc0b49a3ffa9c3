"""002's from-scratch sigmoid neuron, looped as the notes and vectorised with jax.grad.

002's from-scratch sigmoid neuron ``simple_ANN(x, w, t, iter, lr)``: per-sample
gradient descent with the hand-derived MSE and cross-entropy gradients, in the notes'
pure-Python loops and vectorised in JAX, each gradient checked against jax.grad.

    python -m experiments.simple_ann
    python -m experiments.simple_ann --loss cross_entropy

The data: 2-D points of two Gaussian blobs plus a constant bias feature (the notes
leave ``x`` to the reader). The JAX version is a ``lax.scan`` over samples (updates are
sequential, as in the notes) inside a jitted epoch.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import cli, runtime
from jaxdl.harness import RunResult, finish

EPS = 0.000001  # the notes' log(y + 0.000001)


def simple_ann_python(x, w, t, iters, lr, loss="mse"):
    """The notes' loops verbatim (plus the cross-entropy variant they describe)."""
    w = list(w)
    for _ in range(iters):
        e, y = [], []
        for n in range(len(x)):
            v = 0
            for d in range(len(x[0])):
                v += x[n][d] * w[d]
            y.append(1 / (1 + math.e ** (-v)))
            if loss == "mse":
                e.append((y[n] - t[n]) ** 2)
            else:
                e.append(-t[n] * math.log(y[n] + EPS) - (1 - t[n]) * math.log(1 - y[n] + EPS))
            for p in range(len(w)):
                if loss == "mse":
                    d = 2 * x[n][p] * (y[n] - t[n]) * (1 - y[n]) * y[n]
                else:
                    d = x[n][p] * (y[n] - t[n])
                w[p] -= lr * d
    return y, w, e


def sample_loss(w, x, t, loss="mse"):
    """The loss of one sample, for jax.grad (cross-entropy without the notes' epsilon)."""
    y = jax.nn.sigmoid(x @ w)
    if loss == "mse":
        return (y - t) ** 2
    return -t * jnp.log(y) - (1 - t) * jnp.log(1 - y)


def hand_gradient(w, x, t, loss="mse"):
    y = jax.nn.sigmoid(x @ w)
    return 2 * x * (y - t) * (1 - y) * y if loss == "mse" else x * (y - t)


def simple_ann_jax(x, w, t, iters, lr, loss="mse"):
    """The same per-sample descent: a scan over samples, a jitted epoch, iters epochs."""
    def step(w, xt):
        xn, tn = xt
        return w - lr * hand_gradient(w, xn, tn, loss), None

    @jax.jit
    def epoch(w):
        return jax.lax.scan(step, w, (x, t))[0]

    for _ in range(iters):
        w = epoch(w)
    return jax.nn.sigmoid(x @ w), w


def make_data(n: int, seed: int):
    rng = np.random.default_rng(seed)
    t = (np.arange(n) % 2).astype(np.float64)
    pts = rng.standard_normal((n, 2)) + np.where(t[:, None] > 0, 1.5, -1.5)
    return np.concatenate([pts, np.ones((n, 1))], axis=1), t


def main(argv=None) -> RunResult:
    p = cli.parser("simple_ann: the notes' from-scratch sigmoid neuron, looped and vectorised",
                   epochs=20, batch_size=1, lr=0.1)
    p.add_argument("--loss", choices=["mse", "cross_entropy"], default="mse")
    p.add_argument("--samples", type=cli.positive_int, default=100)
    config = cli.parse(p, argv)
    runtime.setup(config)
    loss = config.extra["loss"]
    x, t = make_data(config.extra["samples"], config.seed)
    w0 = np.zeros(3)
    with jax.enable_x64(True):
        xj, tj = jnp.asarray(x), jnp.asarray(t)
        auto = jax.vmap(jax.grad(sample_loss), in_axes=(None, 0, 0, None))(jnp.asarray([0.3, -0.2, 0.1]), xj, tj, loss)
        hand = jax.vmap(hand_gradient, in_axes=(None, 0, 0, None))(jnp.asarray([0.3, -0.2, 0.1]), xj, tj, loss)
        grad_err = float(jnp.max(jnp.abs(auto - hand)))
        y_jax, w_jax = simple_ann_jax(xj, jnp.asarray(w0), tj, config.epochs, config.lr, loss)
        y_jax, w_jax = np.asarray(y_jax), np.asarray(w_jax)
    y_py, w_py, e = simple_ann_python(x.tolist(), w0.tolist(), t.tolist(), config.epochs, config.lr, loss)
    weight_err = float(np.max(np.abs(np.array(w_py) - w_jax)))
    acc = float(np.mean((y_jax >= 0.5) == (t > 0.5)))
    print(f"{loss}: hand-derived gradient vs jax.grad, max difference {grad_err:.2e}")
    print(f"after {config.epochs} epochs: weights python {np.round(w_py, 6)} jax {np.round(w_jax, 6)} "
          f"(max difference {weight_err:.2e})")
    print(f"mean loss of the last epoch {np.mean(e):.4f}, training accuracy {100 * acc:.1f}%")
    return finish(config, {"loss": loss, "grad_max_err": grad_err, "weights_python": w_py,
                           "weights_jax": w_jax.tolist(), "weights_max_err": weight_err, "accuracy": acc})


if __name__ == "__main__":
    cli.run(main)
