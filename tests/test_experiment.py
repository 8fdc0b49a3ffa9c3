"""jaxdl.experiment: model selection never looks at the test set, --resume refuses a
checkpoint of another run, an unknown metric name is an error."""

import argparse
import json

import numpy as np
import pytest
from flax import nnx

import jaxdl.experiment as E
from jaxdl import cli, data, losses, optim, train
from jaxdl.checkpoint import Checkpointer, CheckpointMismatchError
from jaxdl.models import IrisModel

EPOCHS = 40  # iris, batch 30, Adam 0.03, init seed 1: validation accuracy peaks at epoch 22 of 40


def _args(workdir, *flags, epochs=EPOCHS):
    return cli.parser("t", epochs=epochs, batch_size=30, lr=0.03).parse_args(
        ["--workdir", str(workdir), "--no-progress", *flags])


def _run(args, ds, **kw):
    return E.train_and_evaluate(args, name="iris", data=ds, model=IrisModel(rngs=nnx.Rngs(1)),
                                loss_fn=losses.cross_entropy, optimizer=optim.adam(args.lr), log=lambda *_: None, **kw)


@pytest.fixture
def evaluated(monkeypatch):
    """The dataset of every evaluation (fit's per-epoch validation and the final test)."""
    seen = []
    real = train.evaluate

    def spy(learner, state, loader):
        seen.append(loader.dataset)
        return real(learner, state, loader)

    monkeypatch.setattr(train, "evaluate", spy)
    monkeypatch.setattr(E, "evaluate", spy)
    return seen


def _rows(a: np.ndarray) -> set:
    return {r.tobytes() for r in a}


def test_without_validation_the_last_state_is_tested_once_and_nothing_is_selected(tmp_path, evaluated):
    ds = data.load("iris")
    out = _run(_args(tmp_path, epochs=3), ds)
    assert len(evaluated) == 1 and evaluated[0] is ds.test  # no per-epoch look at the test set
    assert out["selected_on"] == "last" and out["selected_epoch"] == 3
    history = json.loads((tmp_path / "history.json").read_text())
    assert [k for r in history for k in r if k.startswith("val_")] == []  # no test number labelled val
    with Checkpointer(tmp_path / "checkpoints") as ck:
        assert ck.best_epoch() is None and ck.latest_epoch() == 3  # no "best" chosen on anything
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["selected_on"] == "last" and metrics["test_accuracy"] == out["test_accuracy"]


def test_with_val_size_the_best_validation_epoch_is_tested(tmp_path, evaluated):
    ds = data.load("iris")
    out = _run(_args(tmp_path, "--val-size", "0.25"), ds)
    val = evaluated[0]
    # the validation split: 30 of the 120 training examples, stratified, never a test example
    share = np.bincount(ds.train.arrays[1]) / len(ds.train)
    assert len(val) == 30 and np.all(np.abs(np.bincount(val.arrays[1]) - 30 * share) < 1)
    assert _rows(val.arrays[0]) <= _rows(ds.train.arrays[0]) and not _rows(val.arrays[0]) & _rows(ds.test.arrays[0])
    assert all(d is val for d in evaluated[:-1]) and len(evaluated) == EPOCHS + 1 and evaluated[-1] is ds.test
    accs = [r["val_accuracy"] for r in out["history"]]
    best = int(np.argmax(accs)) + 1  # the first epoch with the highest validation accuracy
    assert out["selected_on"] == "val" and out["selected_epoch"] == best < EPOCHS
    assert out["val_accuracy"] == accs[best - 1]
    # the tested state is the best checkpoint's, not the last one
    learner = out["learner"]
    with Checkpointer(tmp_path / "checkpoints") as ck:
        assert ck.best_epoch() == best
        state, _ = ck.restore(learner.init_state(), which="best")
    again = train.evaluate(learner, state, data.DataLoader(ds.test, 1000))
    assert out["test_accuracy"] == again["accuracy"] and out["test_loss"] == pytest.approx(again["loss"], rel=1e-6)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (metrics["selected_on"], metrics["selected_epoch"]) == ("val", best)


def test_select_last_keeps_validation_curves_and_tests_the_last_state(tmp_path, evaluated):
    out = _run(_args(tmp_path, "--val-size", "30", epochs=3), data.load("iris"), select="last")
    assert out["selected_on"] == "last" and out["selected_epoch"] == 3 and "val_loss" in out["history"][-1]


def test_select_val_without_a_validation_split_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="--val-size"):
        _run(_args(tmp_path, epochs=1), data.load("iris"), select="val")


@pytest.mark.parametrize("text,value", [("0", 0), ("0.1", 0.1), ("500", 500)])
def test_val_size_flag(text, value):
    assert cli.validation_size(text) == value and type(cli.validation_size(text)) is type(value)


@pytest.mark.parametrize("text", ["-1", "1.5", "a tenth"])
def test_bad_val_size_is_refused(text):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.validation_size(text)


def test_best_checkpoint_is_kept_between_saved_epochs(tmp_path):
    learner = train.Learner(IrisModel(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(0.01))
    with Checkpointer(tmp_path / "ck", monitor="val_loss", mode="min", every=3) as ck:
        for epoch, loss in enumerate([5.0, 3.0, 4.0, 6.0], 1):
            ck.on_epoch_end(epoch, learner.init_state(), {"val_loss": loss})
        ck.wait()
        assert ck.best_epoch() == 2 and ck.latest_epoch() == 3  # best whatever ``every``


def test_resume_with_flags_of_another_run_is_refused_with_a_one_line_diff(tmp_path):
    ds = data.load("iris")
    _run(_args(tmp_path, epochs=2), ds)
    with pytest.raises(CheckpointMismatchError) as e:
        _run(_args(tmp_path, "--resume", "--lr", "0.05", "--batch-size", "60", "--seed", "3", epochs=3), ds)
    msg = str(e.value)
    assert "\n" not in msg and "--resume-anyway" in msg
    assert "--batch-size 30 -> 60" in msg and "--lr 0.03 -> 0.05" in msg and "--seed 0 -> 3" in msg
    assert "--epochs" not in msg and "--resume " not in msg
    with pytest.raises(CheckpointMismatchError, match="--val-size 0 -> 0.25"):
        _run(_args(tmp_path, "--resume", "--val-size", "0.25", epochs=3), ds)
    with pytest.raises(CheckpointMismatchError, match="--epochs 1 is before the checkpoint's epoch 2"):
        _run(_args(tmp_path, "--resume", epochs=1), ds)


def test_resume_allows_flags_that_do_not_change_the_run(tmp_path):
    ds = data.load("iris")
    straight = _run(_args(tmp_path / "a", epochs=3), ds)
    _run(_args(tmp_path / "b", epochs=2), ds)
    resumed = _run(_args(tmp_path / "b", "--resume", "--steps-per-call", "1", "--data-parallel", "off",
                         "--skip-nonfinite", epochs=3), ds)
    assert resumed["test_loss"] == pytest.approx(straight["test_loss"], rel=1e-6)


def test_resume_anyway_continues_with_the_new_flags(tmp_path):
    ds = data.load("iris")
    _run(_args(tmp_path, epochs=2), ds)
    out = _run(_args(tmp_path, "--resume-anyway", "--lr", "0.05", epochs=3), ds)
    assert out["selected_epoch"] == 3 and [r["epoch"] for r in out["history"]] == [1, 2, 3]
    with Checkpointer(tmp_path / "checkpoints") as ck:
        assert ck.read_meta()["args"]["lr"] == 0.05  # the checkpoint now holds the flags it continued with


def test_refused_resume_exits_1_with_the_diff(tmp_path, capsys):
    from experiments import iris

    iris.main(["--epochs", "2", "--workdir", str(tmp_path), "--no-progress"])
    with pytest.raises(SystemExit) as e:
        cli.run(iris.main, ["--epochs", "3", "--resume", "--lr", "0.02", "--workdir", str(tmp_path), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 1 and err.count("\n") == 0 and "--lr 0.01 -> 0.02" in err


def test_pick_returns_the_named_metrics():
    assert E.pick({"f1_macro": 0.5, "test_loss": 1.0}, ["f1_macro"]) == {"f1_macro": 0.5}


def test_pick_refuses_an_unknown_metric_name():
    with pytest.raises(KeyError, match=r"macro_f1.*f1_macro"):
        E.pick({"f1_macro": 0.5, "test_loss": 1.0}, ["test_loss", "macro_f1"])


def test_early_stopping_without_validation_says_what_to_give_it(tmp_path):
    with pytest.raises(KeyError, match="validation split"):
        _run(_args(tmp_path, epochs=2), data.load("iris"), callbacks=(train.EarlyStopping("val_loss"),))


def test_a_new_run_in_a_used_workdir_selects_among_its_own_epochs(tmp_path):
    ds = data.load("iris")
    _run(_args(tmp_path, "--val-size", "0.25", epochs=5), ds)
    second = _run(_args(tmp_path, "--val-size", "0.25", "--lr", "0.001", epochs=2), ds)
    assert second["selected_epoch"] <= 2  # not the earlier run's best epoch
    with Checkpointer(tmp_path / "checkpoints") as ck:
        assert ck.latest_epoch() == 2 and ck.read_meta()["args"]["lr"] == 0.001
        with pytest.raises(FileNotFoundError):
            ck.read_meta(epoch=5)  # the earlier run's checkpoints are gone
        assert ck.read_meta("best")["args"]["lr"] == 0.001
