"""Linear(1, 1) fitted with MSE and SGD (000, 004); recovers slope and intercept.

    python -m experiments.linear_regression                  # 000: y = 2x + 1 + noise, x = 1..50
    python -m experiments.linear_regression --dataset hours  # 004: x = 1, 2, 3 -> y = 2x; predict 4 hours

000's recipe: ``nn.MSELoss()``, ``SGD(lr=1e-3)``, full batch, 50 epochs. 004's:
``MSELoss(size_average=False)`` (sum), SGD 0.01, 500 epochs. With x up to 50 the slope
converges in a few epochs but the intercept barely moves at lr 1e-3 (the loss is
~2500x more sensitive to the slope), as in the course; the closed-form least-squares
line is printed for comparison.
"""

from __future__ import annotations

import functools

import numpy as np
from flax import nnx

from jaxdl import cli, losses, optim, plots, runtime
from jaxdl.data import ArrayDataset, Data
from jaxdl.harness import RunResult, train_and_evaluate
from jaxdl.models import LinearRegression

RECIPES = {  # dataset: (epochs, lr, reduction)
    "line": (50, 1e-3, "mean"),
    "hours": (500, 1e-2, "sum"),
}


def make_data(name: str, seed: int) -> Data:
    if name == "hours":
        x = np.array([[1.0], [2.0], [3.0]], np.float32)
        y = 2 * x
    else:
        x = np.arange(1, 51, dtype=np.float32).reshape(-1, 1)
        y = (2 * x + 1 + np.random.default_rng(seed).standard_normal((50, 1))).astype(np.float32)
    ds = ArrayDataset(x, y)
    return Data(name, ds, ds, source="generated (the notes' data; evaluated on the training points)")


def main(argv=None) -> RunResult:
    pre = cli.parser("linear_regression", epochs=1, batch_size=1, lr=1.0, datasets=list(RECIPES))
    name = pre.parse_known_args(argv)[0].dataset
    epochs, lr, reduction = RECIPES[name]
    p = cli.parser("linear_regression: Linear(1, 1), MSE, SGD", epochs=epochs, batch_size=50, lr=lr,
                   seed=59, datasets=list(RECIPES))
    config = cli.parse(p, argv)
    runtime.setup(config)
    ds = make_data(config.dataset, config.seed)
    result = train_and_evaluate(
        config, name="linear_regression", data=ds, model=LinearRegression(1, 1, rngs=nnx.Rngs(config.seed)),
        loss_fn=functools.partial(losses.mse_loss, reduction=reduction), optimizer=optim.sgd(config.lr),
        task="regression", eval_batch_size=len(ds.train), shuffle=False,
        log_every=max(1, config.epochs // 10), checkpoint_every=config.epochs)
    state, learner = result.state, result.learner
    w = float(np.asarray(state.params["linear"]["kernel"]).ravel()[0])
    b = float(np.asarray(state.params["linear"]["bias"]).ravel()[0])
    x, y = ds.train.arrays
    slope, intercept = np.polyfit(x[:, 0], y[:, 0], 1)
    print(f"learned weight {w:.6f}, bias {b:.6f}; least squares slope {slope:.6f}, intercept {intercept:.6f}")
    pred = np.asarray(learner.predict(state, x))
    plots.series(f"{config.workdir}/fit.png", (x[:, 0], y[:, 0], "data"), (x[:, 0], pred[:, 0], "model"),
                 title=f"y = {w:.3f} x + {b:.3f}", xlabel="x", ylabel="y")
    four = float(np.asarray(learner.predict(state, np.array([[4.0]], np.float32)))[0, 0])
    print("predict (after training)", 4, four)
    result.metrics.update(weight=w, bias=b, ols_slope=float(slope), ols_intercept=float(intercept), predict_4=four)
    return result


if __name__ == "__main__":
    cli.run(main)
