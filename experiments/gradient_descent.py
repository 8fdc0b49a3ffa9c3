"""004's w-only linear model y = x * w: hand-derived and jax.grad gradient descent.

004's w-only linear model y = x * w on the hours data: the loss over a grid of w,
gradient descent with the hand-derived gradient, then the same with jax.grad.

    python -m experiments.gradient_descent

Per-sample updates as the notes (w -= 0.01 * grad for each (x, y)), as a ``lax.scan``
over samples inside a jitted epoch: same arithmetic, one compiled call per epoch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl import cli, plots, runtime
from jaxdl.harness import RunResult, finish, run_dir

X_DATA = jnp.array([1.0, 2.0, 3.0])
Y_DATA = jnp.array([2.0, 4.0, 6.0])


def forward(w, x):
    return x * w


def loss(w, x, y):
    """The notes' squared error of one sample."""
    return (forward(w, x) - y) ** 2


def gradient(w, x, y):
    """Hand-derived d loss / d w = 2x(xw - y)."""
    return 2 * x * (x * w - y)


def epoch(grad_fn, w, lr):
    """One pass over the samples, updating after each; returns w and the last loss."""
    def step(w, xy):
        x, y = xy
        w = w - lr * grad_fn(w, x, y)
        return w, loss(w, x, y)
    w, losses = jax.lax.scan(step, w, (X_DATA, Y_DATA))
    return w, losses[-1]


def train(grad_fn, w0, lr, epochs, log=print, name=""):
    run = jax.jit(lambda w: epoch(grad_fn, w, lr))
    w = jnp.asarray(w0, jnp.float32)
    for e in range(epochs):
        w, loss_value = run(w)
        if e < 3 or e == epochs - 1:
            log(f"{name} progress: {e} w= {float(w):.6f} loss= {float(loss_value):.6g}")
    return w


def main(argv=None) -> RunResult:
    p = cli.parser("gradient_descent: hand-derived and jax.grad gradient descent on y = x * w",
                   epochs=100, batch_size=1, lr=0.01)
    p.add_argument("--w0", type=float, default=1.0, help="the notes' random guess")
    config = cli.parse(p, argv)
    runtime.setup(config)
    workdir = run_dir(config)
    ws = np.arange(0.0, 4.1, 0.1)
    mse = [float(jnp.mean(loss(w, X_DATA, Y_DATA))) for w in ws]
    plots.series(workdir / "loss_over_w.png", (ws, mse, "MSE"), title="loss over w", xlabel="w", ylabel="MSE")
    print("loss over w: min", min(mse), "at w =", ws[int(np.argmin(mse))])
    w0 = config.extra["w0"]
    print("predict (before training)", 4, float(forward(w0, 4.0)))
    w_hand = train(gradient, w0, config.lr, config.epochs, name="hand gradient")
    w_auto = train(jax.grad(loss), w0, config.lr, config.epochs, name="jax.grad")
    print("predict (after training)", "4 hours", float(forward(w_hand, 4.0)))
    print(f"hand-derived vs jax.grad after {config.epochs} epochs: w = {float(w_hand):.7f} vs {float(w_auto):.7f}")
    return finish(config, {"w_hand": float(w_hand), "w_autograd": float(w_auto),
                           "predict_4_hours": float(forward(w_hand, 4.0)),
                           "grid_w": ws.tolist(), "grid_mse": mse})


if __name__ == "__main__":
    cli.run(main)
