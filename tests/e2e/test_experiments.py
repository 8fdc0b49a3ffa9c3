"""Every experiment runs from its command line (smoke: tiny settings, seconds each) and
its result is checked against a closed form, PyTorch, or a known accuracy. Tests marked
``slow`` run the notes' full recipes on real data and check the accuracy claims."""

import json
import math

import numpy as np
import pytest
import torch

from experiments import (
    autograd,
    diabetes,
    fashion_mnist,
    gradient_descent,
    hparam_search,
    iris,
    lenet5,
    linear_regression,
    logistic_regression,
    lstm_forecast,
    mnist_binary,
    mnist_bn_ln,
    mnist_mlp,
    overfit_batch,
    regularization,
    simple_ann,
    tabular,
    tensor_basics,
    transfer_digits,
)
from jaxdl.data import load
from tests.data.datasets import write_cifar10
from torch_reference import IrisModel as TorchIrisModel

FAST = ["--no-progress"]


def run(module, tmp_path, *args):
    return module.main([*args, "--workdir", str(tmp_path / module.__name__.split(".")[-1]), *FAST])


def test_tensor_basics_match_torch(tmp_path):
    out = run(tensor_basics, tmp_path)
    np.testing.assert_allclose(out.metrics["torch.linspace(0, 18, 12).reshape(3, 4)"],
                               torch.linspace(0, 18, 12).reshape(3, 4).numpy(), rtol=1e-6)
    assert out.metrics["torch.arange(0, 20, 2).reshape(5, 2)"] == torch.arange(0, 20, 2).reshape(5, 2).tolist()
    assert out.metrics["x (unchanged)"] == [1, 2, 3, 4, 5]
    assert json.loads((tmp_path / "tensor_basics" / "metrics.json").read_text())["x.size()"] == [4, 3]


def test_autograd_values_are_the_notes(tmp_path):
    out = run(autograd, tmp_path)
    x = torch.tensor(2.0, requires_grad=True)
    (x ** 2 + 4 * x ** 3 + 5 * x + 1).backward()
    assert out.metrics["polynomial_grad_at_2"] == x.grad.item() == 57.0
    assert out.metrics["relu_grad_at_-1"] == 0.0 and out.metrics["leaky_relu_0.05_grad_at_-1"] == pytest.approx(0.05)
    assert max(v for k, v in out.metrics.items() if k.endswith("_max_err")) < 1e-5


def test_gradient_descent_hand_equals_autodiff_and_the_notes_loop(tmp_path):
    out = run(gradient_descent, tmp_path)
    w = 1.0  # the notes' pure-Python loop, float64
    for _ in range(100):
        for x, y in zip([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]):
            w -= 0.01 * 2 * x * (x * w - y)
    assert out.metrics["w_hand"] == pytest.approx(w, abs=1e-5)
    assert out.metrics["w_autograd"] == pytest.approx(w, abs=1e-5)
    assert out.metrics["predict_4_hours"] == pytest.approx(8.0, abs=1e-3)
    assert min(out.metrics["grid_mse"]) == pytest.approx(0.0, abs=1e-9)
    assert (tmp_path / "gradient_descent" / "loss_over_w.png").is_file()


def test_linear_regression_recovers_the_line(tmp_path):
    out = run(linear_regression, tmp_path)
    assert out.metrics["weight"] == pytest.approx(out.metrics["ols_slope"], abs=0.05)
    hours = linear_regression.main(["--dataset", "hours", "--workdir", str(tmp_path / "h"), *FAST])
    assert hours.metrics["predict_4"] == pytest.approx(8.0, abs=0.1)
    assert (tmp_path / "h" / "fit.png").is_file()


def test_logistic_regression_predictions_of_the_notes(tmp_path):
    out = run(logistic_regression, tmp_path)
    assert out.metrics["p_pass_1h"] < 0.5 < out.metrics["p_pass_7h"]


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_simple_ann_vectorised_equals_the_notes_loops(tmp_path, loss):
    out = run(simple_ann, tmp_path, "--loss", loss)
    m = out.metrics
    assert m["grad_max_err"] < 1e-12 and m["weights_max_err"] < 1e-12 and m["accuracy"] > 0.9


def test_iris_reaches_29_of_30_and_reloads(tmp_path):
    out = run(iris, tmp_path)
    assert out.metrics["test_accuracy"] >= 29 / 30 and out.metrics["reloaded_accuracy"] == out.metrics["test_accuracy"]
    TorchIrisModel().load_state_dict(torch.load(tmp_path / "iris" / "iris_model.pt"))  # strict
    # 4*8+8 + 8*9+9 + 9*3+3 = 151 (the notes' calculate_capacity)
    assert "Total Parameters: 151" in (tmp_path / "iris" / "summary.txt").read_text()


def test_diabetes_notes_100_epochs_stay_at_the_majority_class(tmp_path):
    out = run(diabetes, tmp_path, "--epochs", "100")
    assert out.metrics["test_accuracy"] == pytest.approx(100 / 154)  # every prediction "no diabetes"


@pytest.mark.slow
def test_diabetes_default_reaches_the_seed_spread(tmp_path):
    out = run(diabetes, tmp_path)
    # 5,000 epochs, init seeds 0-3: 75.3% (the default, 0), 77.3%, 72.7%, 74.7%
    assert out.metrics["test_accuracy"] >= 0.70 and out.metrics["selected_on"] == "last"


def test_tabular_classifies_better_than_the_majority(tmp_path):
    out = run(tabular, tmp_path, "--epochs", "5")
    assert out.metrics["test_accuracy"] > 0.70  # majority class: 0.68


def test_tabular_taxi_csv_regression(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    lat, lon = 40.73 + rng.normal(0, 0.02, (n, 2)), -73.99 + rng.normal(0, 0.02, (n, 2))
    import pandas as pd

    from jaxdl.data.datasets import haversine_km
    dist = haversine_km(lat[:, 0], lon[:, 0], lat[:, 1], lon[:, 1])
    pickup = pd.date_range("2010-04-11 00:00", periods=n, freq="37min").strftime("%Y-%m-%d %H:%M:%S UTC")
    df = pd.DataFrame({"pickup_datetime": pickup,
                       "fare_amount": 2.5 + 2.0 * dist, "fare_class": 0, "pickup_longitude": lon[:, 0],
                       "pickup_latitude": lat[:, 0], "dropoff_longitude": lon[:, 1], "dropoff_latitude": lat[:, 1],
                       "passenger_count": rng.integers(1, 5, n)})
    df.to_csv(tmp_path / "NYCTaxiFares.csv", index=False)
    out = run(tabular, tmp_path, "--csv", str(tmp_path / "NYCTaxiFares.csv"), "--epochs", "30", "--lr", "0.01")
    # the fare is an exact line of the distance (std 3.8: predicting the mean scores 3.8); measured
    # test RMSE 0.44 with the default seed, 0.46-0.83 with seeds 0-2
    m = out.metrics
    assert m["test_rmse"] < 1.2 and m["test_rmse"] == pytest.approx(math.sqrt(m["test_loss"]))
    from jaxdl.data import load
    ds = load("taxi_fares", path=tmp_path / "NYCTaxiFares.csv")
    assert ds.info["cat_cols"] == ["Hour", "AMorPM", "Weekday"] and ds.info["cardinalities"][1] == 2
    with pytest.raises(ValueError, match="missing columns"):
        df.drop(columns="fare_amount").to_csv(tmp_path / "bad.csv", index=False)
        load("taxi_fares", path=tmp_path / "bad.csv")


# Floors a few points under the accuracies measured with init seeds 0-3 at these settings
# (mnist_binary: seeds 1 (its default), 0, 2, 3). mnist_mlp and lenet5 run their default
# epochs: after 1 epoch they are still near chance (mnist_mlp 12-31%, lenet5 26-47%).
@pytest.mark.parametrize("module,args,floor", [
    (mnist_mlp, [], 0.81),  # the notes' 9 epochs: 84.2%, 83.7%, 85.3%, 86.5%
    (mnist_binary, [], 0.88),  # 1 epoch, batch 1: 94.9%, 93.2%, 90.3%, 94.0%
    (mnist_bn_ln, ["--epochs", "1"], 0.84),  # 87.1%, 86.6%, 85.9%, 86.0%
    (lenet5, [], 0.83),  # 3 epochs: 90.8%, 87.9%, 88.8%, 85.6%
], ids=lambda v: getattr(v, "__name__", "").split(".")[-1] or None)
def test_mnist_experiments_on_the_5k_digits(tmp_path, module, args, floor):
    out = run(module, tmp_path, "--dataset", "mnist_5k", *args)
    assert out.metrics["test_accuracy"] >= floor and out.metrics["selected_on"] == "last"
    assert (tmp_path / module.__name__.split(".")[-1] / "confusion_matrix.png").is_file()


def test_mnist_mlp_prints_the_notes_test_line_once(tmp_path, capsys):
    out = run(mnist_mlp, tmp_path, "--dataset", "mnist_5k", "--epochs", "2")
    text = capsys.readouterr().out
    assert text.count("Test set:") == 1  # the test set is evaluated once, after training
    assert f"Accuracy: {round(out.metrics['test_accuracy'] * 1000)}/1000" in text


def test_fashion_mnist_experiment_table(tmp_path):
    out = run(fashion_mnist, tmp_path, "--dataset", "mnist_5k", "--epochs", "1")
    assert set(out.metrics) >= {"mlp", "cnn"}
    assert "| FashionMNISTModel |" in (tmp_path / "fashion_mnist" / "results.md").read_text()
    for key in ("mlp", "cnn"):  # macro F1 reaches the summary, equal to the run's own metrics.json
        run_metrics = json.loads((tmp_path / "fashion_mnist" / key / "metrics.json").read_text())
        assert out.metrics[key]["f1_macro"] == run_metrics["f1_macro"] and 0 < out.metrics[key]["f1_macro"] <= 1
        assert out.metrics[key]["selected_on"] == "last"


@pytest.mark.slow
def test_fashion_mnist_notes_recipe_accuracy(tmp_path):
    out = run(fashion_mnist, tmp_path)
    # PyTorch on the same arrays and recipe: MLP 81.4-83.5% over 5 seeds; the notes 84.98% / 87.16%.
    # jaxdl with jaxdl.init, seeds 0, 1, 2, 42 (default): MLP 82.22, 81.76, 82.18, 82.95%;
    # TinyVGG 88.08, 87.08, 88.07, 86.74%: floors just under those
    assert out.metrics["mlp"]["test_accuracy"] >= 0.815 and out.metrics["cnn"]["test_accuracy"] >= 0.865


def test_lstm_forecast_selects_on_the_year_before_the_test_year(tmp_path):
    from sklearn.preprocessing import MinMaxScaler

    from jaxdl.data.datasets import alcohol_sales

    out = run(lstm_forecast, tmp_path, "--epochs", "3")
    m = out.metrics
    assert len(m["forecast"]) == 12 and len(m["future"]) == 12 and m["future_months"][0] == "2019-02-01"
    assert (tmp_path / "lstm_forecast" / "forecast.png").is_file()
    # recomputed here: the scaler fitted on the months before the last two years only
    v = alcohol_sales().to_numpy().astype(np.float64)
    n = len(v)
    s = MinMaxScaler((-1, 1)).fit(v[:-24, None]).transform(v[:, None])[:, 0].astype(np.float32)
    predict = lambda x: np.asarray(out.learner.predict(out.state, x))

    def one_step_mse(months):  # each month predicted from the 12 real months before it
        x = np.stack([s[t - 12:t] for t in months])[..., None]
        return float(np.mean((predict(x)[:, 0] - s[months]) ** 2))

    best = min(out.history, key=lambda r: r["val_loss"])  # the first lowest validation loss
    assert out.metrics["selected_on"] == "val" and out.metrics["selected_epoch"] == best["epoch"]
    assert one_step_mse(range(n - 24, n - 12)) == pytest.approx(best["val_loss"], rel=1e-4)  # the year before
    assert one_step_mse(range(n - 12, n)) == pytest.approx(out.metrics["test_loss"], rel=1e-4)  # the held-out year
    window, scaled = s[n - 24:n - 12], []
    for _ in range(12):  # the course's recursive forecast of the held-out year
        scaled.append(predict(window[None, :, None])[0, 0])
        window = np.append(window[1:], scaled[-1]).astype(np.float32)
    pred = MinMaxScaler((-1, 1)).fit(v[:-24, None]).inverse_transform(np.array(scaled)[:, None])[:, 0]
    assert out.metrics["test_rmse"] == pytest.approx(np.sqrt(np.mean((pred - v[-12:]) ** 2)), rel=1e-4)
    metrics = json.loads((tmp_path / "lstm_forecast" / "metrics.json").read_text())
    assert (metrics["selected_on"], metrics["test_rmse"]) == ("val", out.metrics["test_rmse"])


@pytest.mark.slow
def test_lstm_forecast_beats_naive_forecasts(tmp_path):
    # on the held-out year: the last value repeated has RMSE 3856, the previous year's mean
    # 1655; the LSTM, its epoch chosen on the year before, gave 878-1278 over seeds 0-3 with
    # the earlier init stream (678 with the default seed and the one init of jaxdl.init).
    # "Same month last year" (827) is not always beaten across seeds, so it is not the bar.
    assert run(lstm_forecast, tmp_path).metrics["test_rmse"] < 1500


def test_transfer_digits_freezes_bit_exactly(tmp_path):
    out = run(transfer_digits, tmp_path, "--epochs", "1", "--finetune-epochs", "2")
    assert out.metrics["frozen_unchanged"] and out.metrics["head_trained"]
    assert out.metrics["frozen"] == ["conv1.bias", "conv1.kernel", "conv2.bias", "conv2.kernel"]


@pytest.mark.slow
def test_transfer_digits_readme_result(tmp_path):
    out = run(transfer_digits, tmp_path)
    # the README: 100 examples of digits 5-9, fine-tuned head 78.8% vs the same network from scratch 68.4%
    assert out.metrics["finetune_accuracy"] == pytest.approx(0.788, abs=0.015)
    assert out.metrics["scratch_accuracy"] == pytest.approx(0.684, abs=0.015)
    assert out.metrics["finetune_accuracy"] - out.metrics["scratch_accuracy"] >= 0.05


def test_regularization_variants(tmp_path):
    out = run(regularization, tmp_path, "--epochs", "2", "--train-size", "300", "--hidden", "32", "--val-size", "200")
    assert set(out.metrics) == {"plain", "dropout", "weight_decay", "dropout+weight_decay"}
    assert (tmp_path / "regularization" / "curves.png").is_file()
    for v in out.metrics.values():  # validation is a split of the training set, the test set is separate
        assert v["val_loss"] != v["test_loss"] and v["selected_on"] == "last"
        assert v["gap"] == pytest.approx(v["val_loss"] - v["train_loss"])
    history = json.loads((tmp_path / "regularization" / "plain" / "history.json").read_text())
    assert history[-1]["val_loss"] == out.metrics["plain"]["val_loss"]


@pytest.mark.slow
def test_regularization_readme_gap(tmp_path):
    out = run(regularization, tmp_path)
    # the README: validation-minus-training loss gap 0.50 (plain) -> 0.35 (dropout + weight decay)
    assert out.metrics["plain"]["gap"] == pytest.approx(0.50, abs=0.03)
    assert out.metrics["dropout+weight_decay"]["gap"] == pytest.approx(0.35, abs=0.03)
    assert out.metrics["plain"]["gap"] - out.metrics["dropout+weight_decay"]["gap"] >= 0.08


def test_overfit_one_batch_and_plot_its_curves(tmp_path):
    out = run(overfit_batch, tmp_path)
    assert out.metrics["overfitted"] and out.metrics["final_accuracy"] == 1.0
    assert (tmp_path / "overfit_batch" / "curves.png").stat().st_size > 0  # as every training run writes
    history = json.loads((tmp_path / "overfit_batch" / "history.json").read_text())
    assert len(history) == 200 and history == out.history


def test_hparam_search_ranks_on_validation_and_vmapped_equals_one_by_one(tmp_path, monkeypatch):
    from jaxdl.data import load

    seen, real = [], hparam_search.search
    monkeypatch.setattr(hparam_search, "search", lambda *a, **kw: seen.append(a[3].dataset) or real(*a, **kw))
    a = run(hparam_search, tmp_path, "--trials", "3", "--epochs", "1")
    # ranked on 800 of the training digits (20%), never on the test set; the test set measures the choice
    ds, rows = load("mnist_5k"), lambda x: {r.tobytes() for r in x}
    val = rows(seen[0].arrays[0])
    assert len(val) == 800 and val <= rows(ds.train.arrays[0]) and not val & rows(ds.test.arrays[0])
    assert a.metrics["selected_on"] == "val" and 0 < a.metrics["test_accuracy"] <= 1
    assert a.metrics["best"]["val_accuracy"] == max(t["val_accuracy"] for t in a.metrics["trials"])
    b = hparam_search.main(["--trials", "3", "--epochs", "1", "--sequential", "--workdir", str(tmp_path / "s"), *FAST])
    for ta, tb in zip(a.metrics["trials"], b.metrics["trials"]):
        assert ta["lr"] == tb["lr"] and ta["val_accuracy"] == pytest.approx(tb["val_accuracy"], abs=2e-3)
        assert ta["val_loss"] == pytest.approx(tb["val_loss"], rel=1e-4)
    grid = hparam_search.main(["--search", "grid", "--epochs", "1", "--workdir", str(tmp_path / "g"), *FAST])
    assert [t["lr"] for t in grid.metrics["trials"]] == [1e-2, 1e-3, 1e-4, 1e-5]


def test_bad_flags_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        iris.main(["--epochs", "0"])
    assert e.value.code == 2 and "positive integer" in capsys.readouterr().err


def test_the_experiment_list_gives_each_summary_as_one_full_line():
    """``python -m experiments``: one line per experiment, its docstring's whole first
    paragraph (a sentence on one line, followed by a blank line), never cut mid-sentence."""
    import subprocess
    import sys
    from pathlib import Path

    import experiments
    from experiments.__main__ import summaries

    out = subprocess.run([sys.executable, "-m", "experiments"], capture_output=True, text=True, timeout=300,
                         cwd=Path(experiments.__file__).parent.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    found = summaries()
    assert len(found) >= 20
    assert out.stdout.splitlines() == [f"python -m experiments.{m:22s} {s}" for m, s in found.items()]
    for name, summary in found.items():
        doc = __import__(f"experiments.{name}", fromlist=["_"]).__doc__.strip().split("\n")
        assert summary.endswith(".") and (len(doc) == 1 or doc[1] == ""), f"{name}: {summary!r} is not a whole sentence"


def test_cifar10_experiment_runs_on_fixture(tmp_path):
    from experiments import cifar10

    write_cifar10(tmp_path / "data", n_train=20, n_test=10)
    out = cifar10.main(["--data-dir", str(tmp_path / "data"), "--workdir", str(tmp_path / "run"),
                        "--epochs", "1", "--no-progress"])
    assert (tmp_path / "run" / "test_images.png").is_file()
    # the reported accuracy is the trained model's on the 10 test images, normalised to [-1, 1] as in training
    x, y = load("cifar10", tmp_path / "data").test.arrays
    pred = np.asarray(out.learner.predict(out.state, (x - 0.5) / 0.5)).argmax(1)
    assert out.metrics["test_accuracy"] == np.mean(pred == y) and out.metrics["selected_on"] == "last"
    cm = np.array(json.loads((tmp_path / "run" / "metrics.json").read_text())["confusion_matrix"])
    assert cm.sum() == 10 and np.trace(cm) == np.sum(pred == y)
    assert cm.sum(axis=1).tolist() == np.bincount(y, minlength=10).tolist()  # rows: the true labels
    assert cm.sum(axis=0).tolist() == np.bincount(pred, minlength=10).tolist()  # columns: the predictions


def test_cifar10_experiment_without_data_exits_with_the_recipe(tmp_path, monkeypatch, capsys):
    from experiments import cifar10
    from jaxdl import cli

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    with pytest.raises(SystemExit) as e:
        cli.run(cifar10.main, ["--workdir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "--download" in err and "cifar-10-batches-py" in err
    assert "--data-dir DIR" in err and "data_dir=" not in err  # settings named by their flags
