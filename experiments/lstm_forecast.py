"""000's LSTM forecaster of the monthly alcohol-sales series, tested on the held-out year.

000's LSTM forecaster on the monthly alcohol-sales series: LSTM(1, 100) + Linear(100, 1)
on the last output, windows of 12 months, MinMaxScaler(-1, 1) fitted on the training
part, the last 12 months held out, MSE, Adam 1e-3, one sequence per step in order.

    python -m experiments.lstm_forecast
    python -m experiments.lstm_forecast --epochs 20

The series is split in time: the last ``--test-size`` months (12) are the held-out test
year; the ``--val-size`` months before them (12; a count of months here) are the
validation span; everything before is the training part, on which alone the scaler is
fitted. Training windows end in the training part; each epoch is validated on the
one-step-ahead predictions of the validation months (each from the 12 real months before
it), and the epoch with the lowest validation loss is kept (the ``best`` checkpoint,
``selected_on: "val"``). The test year is looked at once, at the end: the course's
recursive forecast (predict a month, append it to the window, repeat 12 times, seeded
with the 12 real months before the test year) gives ``test_rmse`` in millions of
dollars (plot), and ``test_loss`` is the one-step-ahead MSE of the test months in scaled
units. Then the 12 months after the data are forecast (seeded with the last 12 real
months; ``--retrain`` first retrains on the whole series, scaler included, for the
number of epochs chosen on validation, as the course retrains before its future forecast).
The hidden state starts at zero for every sequence (the course resets ``model.hidden``).
Measured: see docs/experiments.md ("same month last year" and the previous
year's mean are the baselines to beat).
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
from flax import nnx

from jaxdl import cli, data, losses, optim, plots, runtime
from jaxdl.data import ArrayDataset, Data, DataLoader
from jaxdl.data.series import MinMaxScaler, split_last, windows
from jaxdl.harness import RunResult, train_and_evaluate, write_json
from jaxdl.models import LSTMNetwork
from jaxdl.train import Learner, fit


def forecast(model_fn, seed_window: np.ndarray, steps: int) -> np.ndarray:
    """Recursive multi-step forecast in scaled units: one compiled scan over ``steps``."""
    def step(window, _):
        nxt = model_fn(window[None, :, None])[0, 0]
        return jnp.concatenate([window[1:], nxt[None]]), nxt
    return np.asarray(jax.lax.scan(step, jnp.asarray(seed_window, jnp.float32), None, length=steps)[1])


def main(argv=None) -> RunResult:
    p = cli.parser("lstm_forecast: the notes' LSTM forecaster on monthly alcohol sales", epochs=100,
                   batch_size=1, lr=1e-3, seed=101, val_size=12)
    p.add_argument("--window", type=cli.positive_int, default=12)
    p.add_argument("--test-size", type=cli.positive_int, default=12)
    p.add_argument("--retrain", action="store_true", help="retrain on the whole series before the future forecast")
    config = cli.parse(p, argv)
    runtime.setup(config)
    window, test_size = config.extra["window"], config.extra["test_size"]
    if not isinstance(config.val_size, int) or config.val_size < 1:
        p.error(f"--val-size is a count of months before the held-out year here, got {config.val_size}")
    series = data.datasets.alcohol_sales()
    values = series.to_numpy()
    fit_part, test_part = split_last(values, test_size)
    train_part, val_part = split_last(fit_part, config.val_size)
    if len(train_part) <= window:
        p.error(f"{len(train_part)} training months leave no window of {window}")
    scaler = MinMaxScaler((-1.0, 1.0)).fit(train_part.reshape(-1, 1))  # the training part only
    scaled = scaler.transform(values.reshape(-1, 1))[:, 0]
    n_train, n_fit = len(train_part), len(fit_part)
    # windows whose targets are the months of each part, inputs the real months before them
    x, y = windows(scaled[:n_train], window)
    x_val, y_val = windows(scaled[n_train - window:n_fit], window)
    x_test, y_test = windows(scaled[n_fit - window:], window)
    ds = Data("alcohol_sales", ArrayDataset(x, y), ArrayDataset(x_test, y_test), val=ArrayDataset(x_val, y_val),
              source=f"FRED S4248SM144NCEN, {len(series)} months: {n_train} to train ({len(x)} windows), "
                     f"{len(val_part)} to validate, the last {len(test_part)} held out")

    result = train_and_evaluate(config, name="lstm_forecast", data=ds, model=LSTMNetwork(rngs=nnx.Rngs(config.seed)),
                                loss_fn=losses.mse_loss, optimizer=optim.adam(config.lr), task="regression",
                                shuffle=False, log_every=max(1, config.epochs // 10),
                                checkpoint_every=max(1, config.epochs // 5))
    learner, state, metrics = result.learner, result.state, result.metrics
    scaled_pred = forecast(lambda w: learner.predict(state, w), scaled[n_fit - window:n_fit], test_size)
    pred = scaler.inverse_transform(scaled_pred[:, None])[:, 0]
    rmse = float(np.sqrt(np.mean((pred - test_part) ** 2)))
    print(f"held-out {test_size} months, recursive forecast of the model of epoch {metrics['selected_epoch']} "
          f"(chosen on the validation months): RMSE {rmse:.1f} (sales in millions of dollars; mean of the year "
          f"{test_part.mean():.0f})")
    months = pd.to_datetime(series.index)
    future_scaler, future_state = scaler, state
    if config.extra["retrain"]:  # no data is left to test or validate on: a fixed number of epochs, the last state
        future_scaler = MinMaxScaler((-1.0, 1.0)).fit(values.reshape(-1, 1))
        fx, fy = windows(future_scaler.transform(values.reshape(-1, 1))[:, 0], window)
        again = Learner(LSTMNetwork(rngs=nnx.Rngs(config.seed)), losses.mse_loss, optim.adam(config.lr),
                        task="regression", precision=config.precision)
        print(f"retraining on all {len(values)} months for {metrics['selected_epoch']} epochs")
        future_state, _ = fit(again, again.init_state(), DataLoader(ArrayDataset(fx, fy), config.batch_size),
                              epochs=metrics["selected_epoch"], progress=config.progress,
                              log_every=max(1, metrics["selected_epoch"] // 10))
    last = future_scaler.transform(series.to_numpy()[-window:].reshape(-1, 1))[:, 0]
    future = future_scaler.inverse_transform(
        forecast(lambda w: learner.predict(future_state, w), last, 12)[:, None])[:, 0]
    future_months = pd.date_range(months[-1] + pd.offsets.MonthBegin(1), periods=12, freq="MS")
    plots.series(f"{config.workdir}/forecast.png", (months, series.to_numpy(), "sales"),
                 (months[-test_size:], pred, f"forecast of the held-out year (RMSE {rmse:.0f})"),
                 (future_months, future, "forecast after the data"), title="alcohol sales: LSTM forecast",
                 xlabel="month", ylabel="millions of dollars")
    print(f"wrote {config.workdir}/forecast.png")
    metrics.update(test_rmse=rmse, forecast=pred.tolist(), actual=test_part.tolist(), future=future.tolist(),
                   future_months=[str(m.date()) for m in future_months])
    if jax.process_index() == 0:
        keys = ("selected_on", "selected_epoch", "val_loss", "test_rmse", "forecast", "actual", "future",
                "future_months")
        write_json(Path(config.workdir, "forecast.json"), {k: metrics[k] for k in keys})
        path = Path(config.workdir, "metrics.json")  # the test figure next to selected_on
        write_json(path, {**json.loads(path.read_text()), "test_rmse": rmse})
    return result


if __name__ == "__main__":
    cli.run(main)
