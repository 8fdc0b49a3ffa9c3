"""Every experiment runs from its command line (smoke: tiny settings, seconds each) and
its result is checked against a closed form, PyTorch, or a known accuracy. Tests marked
``slow`` run the notes' full recipes on real data and check the accuracy claims."""

import json
import math

import numpy as np
import pytest
import torch

from experiments import (autograd, diabetes, fashion_mnist, gradient_descent, hparam_search, iris,
                         lenet5, linear_regression, logistic_regression, lstm_forecast, mnist_binary, mnist_bn_ln,
                         mnist_mlp, overfit_batch, regularization, simple_ann, tabular, tensor_basics,
                         transfer_learning)
from torch_reference import IrisModel as TorchIrisModel

FAST = ["--no-progress"]


def run(module, tmp_path, *args):
    return module.main([*args, "--workdir", str(tmp_path / module.__name__.split(".")[-1]), *FAST])


def test_tensor_basics_match_torch(tmp_path):
    out = run(tensor_basics, tmp_path)
    np.testing.assert_allclose(out["torch.linspace(0, 18, 12).reshape(3, 4)"],
                               torch.linspace(0, 18, 12).reshape(3, 4).numpy(), rtol=1e-6)
    assert out["torch.arange(0, 20, 2).reshape(5, 2)"] == torch.arange(0, 20, 2).reshape(5, 2).tolist()
    assert out["x (unchanged)"] == [1, 2, 3, 4, 5]
    assert json.loads((tmp_path / "tensor_basics" / "metrics.json").read_text())["x.size()"] == [4, 3]


def test_autograd_values_are_the_notes(tmp_path):
    out = run(autograd, tmp_path)
    x = torch.tensor(2.0, requires_grad=True)
    (x ** 2 + 4 * x ** 3 + 5 * x + 1).backward()
    assert out["polynomial_grad_at_2"] == x.grad.item() == 57.0
    assert out["relu_grad_at_-1"] == 0.0 and out["leaky_relu_0.05_grad_at_-1"] == pytest.approx(0.05)
    assert max(v for k, v in out.items() if k.endswith("_max_err")) < 1e-5


def test_gradient_descent_hand_equals_autodiff_and_the_notes_loop(tmp_path):
    out = run(gradient_descent, tmp_path)
    w = 1.0  # the notes' pure-Python loop, float64
    for _ in range(100):
        for x, y in zip([1.0, 2.0, 3.0], [2.0, 4.0, 6.0]):
            w -= 0.01 * 2 * x * (x * w - y)
    assert out["w_hand"] == pytest.approx(w, abs=1e-5) and out["w_autograd"] == pytest.approx(w, abs=1e-5)
    assert out["predict_4_hours"] == pytest.approx(8.0, abs=1e-3)
    assert min(out["grid_mse"]) == pytest.approx(0.0, abs=1e-9)
    assert (tmp_path / "gradient_descent" / "loss_over_w.png").is_file()


def test_linear_regression_recovers_the_line(tmp_path):
    out = run(linear_regression, tmp_path)
    assert out["weight"] == pytest.approx(out["ols_slope"], abs=0.05)
    hours = linear_regression.main(["--dataset", "hours", "--workdir", str(tmp_path / "h"), *FAST])
    assert hours["predict_4"] == pytest.approx(8.0, abs=0.1)
    assert (tmp_path / "h" / "fit.png").is_file()


def test_logistic_regression_predictions_of_the_notes(tmp_path):
    out = run(logistic_regression, tmp_path)
    assert out["p_pass_1h"] < 0.5 < out["p_pass_7h"]


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_simple_ann_vectorised_equals_the_notes_loops(tmp_path, loss):
    out = run(simple_ann, tmp_path, "--loss", loss)
    assert out["grad_max_err"] < 1e-12 and out["weights_max_err"] < 1e-12 and out["accuracy"] > 0.9


def test_iris_reaches_29_of_30_and_reloads(tmp_path):
    out = run(iris, tmp_path)
    assert out["test_accuracy"] >= 29 / 30 and out["reloaded_accuracy"] == out["test_accuracy"]
    TorchIrisModel().load_state_dict(torch.load(tmp_path / "iris" / "iris_model.pt"))  # strict
    # 4*8+8 + 8*9+9 + 9*3+3 = 151 (the notes' calculate_capacity)
    assert "Total Parameters: 151" in (tmp_path / "iris" / "summary.txt").read_text()


def test_diabetes_notes_100_epochs_stay_at_the_majority_class(tmp_path):
    out = run(diabetes, tmp_path, "--epochs", "100")
    assert out["test_accuracy"] == pytest.approx(100 / 154)  # every prediction "no diabetes"


@pytest.mark.slow
def test_diabetes_default_reaches_75_percent(tmp_path):
    assert run(diabetes, tmp_path)["test_accuracy"] >= 0.75


def test_tabular_classifies_better_than_the_majority(tmp_path):
    out = run(tabular, tmp_path, "--epochs", "5")
    assert out["test_accuracy"] > 0.70  # majority class: 0.68


def test_tabular_taxi_csv_regression(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    lat, lon = 40.73 + rng.normal(0, 0.02, (n, 2)), -73.99 + rng.normal(0, 0.02, (n, 2))
    import pandas as pd
    from jaxdl.data.datasets import haversine_km
    dist = haversine_km(lat[:, 0], lon[:, 0], lat[:, 1], lon[:, 1])
    df = pd.DataFrame({"pickup_datetime": pd.date_range("2010-04-11 00:00", periods=n, freq="37min").strftime("%Y-%m-%d %H:%M:%S UTC"),
                       "fare_amount": 2.5 + 2.0 * dist, "fare_class": 0, "pickup_longitude": lon[:, 0],
                       "pickup_latitude": lat[:, 0], "dropoff_longitude": lon[:, 1], "dropoff_latitude": lat[:, 1],
                       "passenger_count": rng.integers(1, 5, n)})
    df.to_csv(tmp_path / "NYCTaxiFares.csv", index=False)
    out = run(tabular, tmp_path, "--csv", str(tmp_path / "NYCTaxiFares.csv"), "--epochs", "2")
    assert math.isfinite(out["test_rmse"])
    from jaxdl.data import load
    ds = load("taxi_fares", path=tmp_path / "NYCTaxiFares.csv")
    assert ds.info["cat_cols"] == ["Hour", "AMorPM", "Weekday"] and ds.info["cardinalities"][1] == 2
    with pytest.raises(ValueError, match="missing columns"):
        df.drop(columns="fare_amount").to_csv(tmp_path / "bad.csv", index=False)
        load("taxi_fares", path=tmp_path / "bad.csv")


@pytest.mark.parametrize("module,args,floor", [
    (mnist_mlp, ["--epochs", "1"], 0.10),
    (mnist_binary, [], 0.90),
    (mnist_bn_ln, ["--epochs", "1"], 0.80),
    (lenet5, ["--epochs", "1"], 0.20),
], ids=lambda v: getattr(v, "__name__", "").split(".")[-1] or None)
def test_mnist_experiments_on_the_5k_digits(tmp_path, module, args, floor):
    out = run(module, tmp_path, "--dataset", "mnist_5k", *args)
    assert out["test_accuracy"] >= floor
    assert (tmp_path / module.__name__.split(".")[-1] / "confusion_matrix.png").is_file()


def test_mnist_mlp_notes_recipe_on_5k(tmp_path):
    assert run(mnist_mlp, tmp_path, "--dataset", "mnist_5k")["test_accuracy"] >= 0.80  # 84.2% measured


def test_fashion_mnist_experiment_table(tmp_path):
    out = run(fashion_mnist, tmp_path, "--dataset", "mnist_5k", "--epochs", "1")
    assert set(out) >= {"mlp", "cnn"} and "| FashionMNISTModel |" in (tmp_path / "fashion_mnist" / "results.md").read_text()


@pytest.mark.slow
def test_fashion_mnist_notes_recipe_accuracy(tmp_path):
    out = run(fashion_mnist, tmp_path)
    # PyTorch on the same arrays and recipe: MLP 81.4-83.5% over 5 seeds; the notes 84.98% / 87.16%
    assert out["mlp"]["test_accuracy"] >= 0.815 and out["cnn"]["test_accuracy"] >= 0.87


def test_lstm_forecast_short(tmp_path):
    out = run(lstm_forecast, tmp_path, "--epochs", "2")
    assert len(out["forecast"]) == 12 and len(out["future"]) == 12 and out["future_months"][0] == "2019-02-01"
    assert (tmp_path / "lstm_forecast" / "forecast.png").is_file()


@pytest.mark.slow
def test_lstm_forecast_beats_naive_forecasts(tmp_path):
    # on the held-out year: the last value repeated has RMSE 3856, the previous year's mean
    # 1655; the LSTM gives 653-1105 over seeds 0-3 (984 with the default seed). "Same month
    # last year" (827) is not beaten reliably, so it is not the bar.
    assert run(lstm_forecast, tmp_path)["test_rmse"] < 1500


def test_transfer_learning_freezes_bit_exactly(tmp_path):
    out = run(transfer_learning, tmp_path, "--epochs", "1", "--finetune-epochs", "2")
    assert out["frozen_unchanged"] and out["head_trained"]
    assert out["frozen"] == ["conv1.bias", "conv1.kernel", "conv2.bias", "conv2.kernel"]


def test_regularization_variants(tmp_path):
    out = run(regularization, tmp_path, "--epochs", "2", "--train-size", "300", "--hidden", "32")
    assert set(out) == {"plain", "dropout", "weight_decay", "dropout+weight_decay"}
    assert (tmp_path / "regularization" / "curves.png").is_file()


def test_overfit_one_batch(tmp_path):
    out = run(overfit_batch, tmp_path)
    assert out["overfitted"] and out["final_accuracy"] == 1.0


def test_hparam_search_vmapped_equals_one_by_one(tmp_path):
    a = run(hparam_search, tmp_path, "--trials", "3", "--epochs", "1")
    b = hparam_search.main(["--trials", "3", "--epochs", "1", "--sequential", "--workdir", str(tmp_path / "s"), *FAST])
    for ta, tb in zip(a["trials"], b["trials"]):
        assert ta["lr"] == tb["lr"] and ta["val_accuracy"] == pytest.approx(tb["val_accuracy"], abs=2e-3)
        assert ta["val_loss"] == pytest.approx(tb["val_loss"], rel=1e-4)
    grid = hparam_search.main(["--search", "grid", "--epochs", "1", "--workdir", str(tmp_path / "g"), *FAST])
    assert [t["lr"] for t in grid["trials"]] == [1e-2, 1e-3, 1e-4, 1e-5]


def test_bad_flags_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        iris.main(["--epochs", "0"])
    assert e.value.code == 2 and "positive integer" in capsys.readouterr().err
