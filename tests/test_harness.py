"""jaxdl.harness: a run from a RunConfig built directly (no command line); model
selection never looks at the test set, resuming refuses a checkpoint of another run,
an unknown metric name is an error."""

import json

import numpy as np
import pytest
from flax import nnx

from jaxdl import data, harness, losses, optim, train
from jaxdl.checkpoint import Checkpointer, CheckpointMismatchError
from jaxdl.config import RunConfig
from jaxdl.models import ConvolutionalNetwork, IrisModel

EPOCHS = 40  # iris, batch 30, Adam 0.03, init seed 1: validation accuracy peaks at epoch 22 of 40


def _config(workdir, epochs=EPOCHS, **settings):
    return RunConfig(epochs=epochs, batch_size=30, lr=0.03, workdir=str(workdir), progress=False, **settings)


def _run(config, ds, **kw):
    return harness.train_and_evaluate(config, name="iris", data=ds, model=IrisModel(rngs=nnx.Rngs(1)),
                                      loss_fn=losses.cross_entropy, optimizer=optim.adam(config.lr),
                                      log=lambda *_: None, **kw)


def test_a_training_job_from_a_config_object(tmp_path):
    """The README's library use: a RunConfig built in code, one epoch of the MNIST CNN on
    the 5,000 real digits, the result's metrics, history, state and learner."""
    config = RunConfig(epochs=1, batch_size=50, lr=1e-3, seed=101, workdir=str(tmp_path), progress=False)
    ds = data.load("mnist_5k")
    result = harness.train_and_evaluate(config, name="mnist_cnn", data=ds,
                                        model=ConvolutionalNetwork(rngs=nnx.Rngs(config.seed)),
                                        loss_fn=losses.nll_loss, optimizer=optim.adam(config.lr))
    assert result.metrics["test_accuracy"] > 0.7 and result.metrics["selected_epoch"] == 1
    assert json.loads((tmp_path / "metrics.json").read_text()) == json.loads(json.dumps(result.metrics))
    assert result.metrics["config"] == config.to_dict() and result.metrics["config"]["batch_size"] == 50
    assert [r["epoch"] for r in result.history] == [1] and int(result.state.step) == 80  # 4,000 / 50
    x, y = ds.test[:100]
    predicted = np.asarray(result.learner.predict(result.state, x)).argmax(1)
    assert np.mean(predicted == y) > 0.6  # the returned state is the trained model


@pytest.fixture
def evaluated(monkeypatch):
    """The dataset of every evaluation (fit's per-epoch validation and the final test)."""
    seen = []
    real = train.evaluate

    def spy(learner, state, loader):
        seen.append(loader.dataset)
        return real(learner, state, loader)

    monkeypatch.setattr(train, "evaluate", spy)
    monkeypatch.setattr(harness, "evaluate", spy)
    return seen


def _rows(a: np.ndarray) -> set:
    return {r.tobytes() for r in a}


def test_without_validation_the_last_state_is_tested_once_and_nothing_is_selected(tmp_path, evaluated):
    ds = data.load("iris")
    out = _run(_config(tmp_path, epochs=3), ds)
    assert len(evaluated) == 1 and evaluated[0] is ds.test  # no per-epoch look at the test set
    assert out.metrics["selected_on"] == "last" and out.metrics["selected_epoch"] == 3
    history = json.loads((tmp_path / "history.json").read_text())
    assert [k for r in history for k in r if k.startswith("val_")] == []  # no test number labelled val
    with Checkpointer(tmp_path / "checkpoints") as ck:
        assert ck.best_epoch() is None and ck.latest_epoch() == 3  # no "best" chosen on anything
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["selected_on"] == "last" and metrics["test_accuracy"] == out.metrics["test_accuracy"]


def test_with_val_size_the_best_validation_epoch_is_tested(tmp_path, evaluated):
    ds = data.load("iris")
    out = _run(_config(tmp_path, val_size=0.25), ds)
    val = evaluated[0]
    # the validation split: 30 of the 120 training examples, stratified, never a test example
    share = np.bincount(ds.train.arrays[1]) / len(ds.train)
    assert len(val) == 30 and np.all(np.abs(np.bincount(val.arrays[1]) - 30 * share) < 1)
    assert _rows(val.arrays[0]) <= _rows(ds.train.arrays[0]) and not _rows(val.arrays[0]) & _rows(ds.test.arrays[0])
    assert all(d is val for d in evaluated[:-1]) and len(evaluated) == EPOCHS + 1 and evaluated[-1] is ds.test
    accs = [r["val_accuracy"] for r in out.history]
    best = int(np.argmax(accs)) + 1  # the first epoch with the highest validation accuracy
    assert out.metrics["selected_on"] == "val" and out.metrics["selected_epoch"] == best < EPOCHS
    assert out.metrics["val_accuracy"] == accs[best - 1]
    # the tested state is the best checkpoint's, not the last one
    learner = out.learner
    with Checkpointer(tmp_path / "checkpoints") as ck:
        assert ck.best_epoch() == best
        state, _ = ck.restore(learner.init_state(), which="best")
    again = train.evaluate(learner, state, data.DataLoader(ds.test, 1000))
    assert out.metrics["test_accuracy"] == again["accuracy"]
    assert out.metrics["test_loss"] == pytest.approx(again["loss"], rel=1e-6)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert (metrics["selected_on"], metrics["selected_epoch"]) == ("val", best)


def test_select_last_keeps_validation_curves_and_tests_the_last_state(tmp_path, evaluated):
    out = _run(_config(tmp_path, epochs=3, val_size=30), data.load("iris"), select="last")
    assert out.metrics["selected_on"] == "last" and out.metrics["selected_epoch"] == 3 and "val_loss" in out.history[-1]


def test_select_val_without_a_validation_split_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="val_size="):
        _run(_config(tmp_path, epochs=1), data.load("iris"), select="val")


def test_best_checkpoint_is_kept_between_saved_epochs(tmp_path):
    learner = train.Learner(IrisModel(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(0.01))
    with Checkpointer(tmp_path / "ck", monitor="val_loss", mode="min", every=3) as ck:
        for epoch, loss in enumerate([5.0, 3.0, 4.0, 6.0], 1):
            ck.on_epoch_end(epoch, learner.init_state(), {"val_loss": loss})
        ck.wait()
        assert ck.best_epoch() == 2 and ck.latest_epoch() == 3  # best whatever ``every``


def test_resume_with_settings_of_another_run_is_refused_with_a_one_line_diff(tmp_path):
    ds = data.load("iris")
    _run(_config(tmp_path, epochs=2), ds)
    with pytest.raises(CheckpointMismatchError) as e:
        _run(_config(tmp_path, epochs=3, resume=True, seed=3).replace(lr=0.05, batch_size=60), ds)
    msg = str(e.value)
    assert "\n" not in msg and "resume_anyway=True" in msg
    assert "batch_size=30 -> 60" in msg and "lr=0.03 -> 0.05" in msg and "seed=0 -> 3" in msg
    assert "epochs=" not in msg and "resume=" not in msg  # settings a resumed run may change
    with pytest.raises(CheckpointMismatchError, match="val_size=0 -> 0.25"):
        _run(_config(tmp_path, epochs=3, resume=True, val_size=0.25), ds)
    with pytest.raises(CheckpointMismatchError, match="epochs=1 is before the checkpoint's epoch 2"):
        _run(_config(tmp_path, epochs=1, resume=True), ds)
    with pytest.raises(CheckpointMismatchError, match="momentum=\\(not recorded\\) -> 0.9"):
        _run(_config(tmp_path, epochs=3, resume=True, extra={"momentum": 0.9}), ds)  # an experiment's own


def test_resume_allows_settings_that_do_not_change_the_run(tmp_path):
    ds = data.load("iris")
    straight = _run(_config(tmp_path / "a", epochs=3), ds)
    _run(_config(tmp_path / "b", epochs=2), ds)
    resumed = _run(_config(tmp_path / "b", epochs=3, resume=True, steps_per_call=1, data_parallel="off",
                           skip_nonfinite=True, num_workers=1), ds)
    assert resumed.metrics["test_loss"] == pytest.approx(straight.metrics["test_loss"], rel=1e-6)


def test_resume_anyway_continues_with_the_new_settings(tmp_path):
    ds = data.load("iris")
    _run(_config(tmp_path, epochs=2), ds)
    out = _run(_config(tmp_path, epochs=3, resume_anyway=True).replace(lr=0.05), ds)
    assert out.metrics["selected_epoch"] == 3 and [r["epoch"] for r in out.history] == [1, 2, 3]
    with Checkpointer(tmp_path / "checkpoints") as ck:
        assert ck.read_meta()["config"]["lr"] == 0.05  # the checkpoint now holds the settings it continued with


def test_pick_returns_the_named_metrics():
    assert harness.pick({"f1_macro": 0.5, "test_loss": 1.0}, ["f1_macro"]) == {"f1_macro": 0.5}


def test_pick_refuses_an_unknown_metric_name():
    with pytest.raises(KeyError, match=r"macro_f1.*f1_macro"):
        harness.pick({"f1_macro": 0.5, "test_loss": 1.0}, ["test_loss", "macro_f1"])


def test_early_stopping_without_validation_says_what_to_give_it(tmp_path):
    with pytest.raises(KeyError, match="validation split"):
        _run(_config(tmp_path, epochs=2), data.load("iris"), callbacks=(train.EarlyStopping("val_loss"),))


def test_a_new_run_in_a_used_workdir_selects_among_its_own_epochs(tmp_path):
    ds = data.load("iris")
    _run(_config(tmp_path, epochs=5, val_size=0.25), ds)
    second = _run(_config(tmp_path, epochs=2, val_size=0.25).replace(lr=0.001), ds)
    assert second.metrics["selected_epoch"] <= 2  # not the earlier run's best epoch
    with Checkpointer(tmp_path / "checkpoints") as ck:
        assert ck.latest_epoch() == 2 and ck.read_meta()["config"]["lr"] == 0.001
        with pytest.raises(FileNotFoundError):
            ck.read_meta(epoch=5)  # the earlier run's checkpoints are gone
        assert ck.read_meta("best")["config"]["lr"] == 0.001
