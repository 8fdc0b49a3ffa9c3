"""fit: full-batch epochs fused into one compiled call train exactly as one epoch per
call; the feed's batches (gathered, converted and augmented inside the step) train as
the batches a user iterates; uint8 storage trains as float32 storage."""

import jax
import numpy as np
import pytest
from flax import nnx

from jaxdl import losses, optim
from jaxdl.data import ArrayDataset, DataLoader, load
from jaxdl.data import augment as A
from jaxdl.data.arrays import ByteToFloat
from jaxdl.layers import Linear
from jaxdl.models import IrisModel
from jaxdl.train import Learner, fit


def _same(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


class Recorder:
    """Each epoch's number, the state's step count and its first parameter, as fit hands them over."""

    def __init__(self, stop_at=None):
        self.seen, self.stop_at = [], stop_at

    def on_epoch_end(self, epoch, state, logs):
        self.seen.append((epoch, int(state.step), np.asarray(jax.tree.leaves(state.params)[0]).copy()))
        return epoch == self.stop_at


def _iris_fit(steps_per_call, epochs=45, start_epoch=0, state=None, **kw):
    ds = load("iris")
    learner = Learner(IrisModel(output_relu=False, rngs=nnx.Rngs(32)), losses.cross_entropy, optim.adam(0.01),
                      num_classes=3)
    state = learner.init_state() if state is None else state
    return learner, fit(learner, state, DataLoader(ds.train, 120, shuffle=True, seed=5), epochs=epochs,
                        start_epoch=start_epoch, log=None, steps_per_call=steps_per_call, **kw)


def test_full_batch_epochs_fused_equal_one_epoch_per_call_bit_for_bit():
    """45 shuffled full-batch iris epochs: 32 per call (a call of 32 and one of 13) against
    one per call: the same losses, accuracies and parameters, bit for bit (XLA:CPU)."""
    _, (one, h1) = _iris_fit(1)
    _, (fused, h32) = _iris_fit(32)
    assert len(h32.rows) == 45 and [r["epoch"] for r in h32.rows] == list(range(1, 46))
    assert h32["train_loss"] == h1["train_loss"] and h32["train_accuracy"] == h1["train_accuracy"]
    assert h1["train_loss"][-1] < 0.5 * h1["train_loss"][0]  # it learns
    _same(fused.params, one.params)
    _same(fused.opt_state, one.opt_state)


def test_fused_epochs_give_callbacks_and_validation_each_epochs_state():
    ds = load("iris")
    runs = {}
    for spc in (1, 8):
        rec = Recorder(stop_at=19)  # a stop inside the third call of 8: that epoch's state comes back
        _, (state, hist) = _iris_fit(spc, epochs=40, callbacks=[rec], val_loader=DataLoader(ds.test, 30))
        runs[spc] = state, hist, rec.seen
    (s1, h1, seen1), (s8, h8, seen8) = runs[1], runs[8]
    assert [e for e, *_ in seen8] == list(range(1, 20)) and int(s8.step) == 19
    assert h8["val_loss"] == h1["val_loss"] and h8["val_accuracy"] == h1["val_accuracy"] and len(h8.rows) == 19
    for (e1, step1, p1), (e8, step8, p8) in zip(seen1, seen8, strict=True):
        assert (e1, step1) == (e8, step8) == (e1, e1)
        np.testing.assert_array_equal(p1, p8)
    _same(s8.params, s1.params)


def test_fused_epochs_resume_as_uninterrupted():
    _learner, (whole, h_whole) = _iris_fit(32, epochs=40)
    _, (half, h_half) = _iris_fit(32, epochs=17)
    _, (rest, h_rest) = _iris_fit(32, epochs=40, start_epoch=17, state=half)
    assert h_half["train_loss"] + h_rest["train_loss"] == h_whole["train_loss"]
    _same(rest.params, whole.params)


class SoftmaxRegression(nnx.Module):
    def __init__(self, features, *, rngs):
        self.linear = Linear(features, 10, rngs=rngs)

    def __call__(self, x):
        return self.linear(x.reshape(len(x), -1))


@pytest.mark.parametrize("device_resident", [False, True])
def test_uint8_images_train_as_their_float32(device_resident):
    """The same images stored as uint8 (converted in the step) and as float32: the same
    training, bit for bit, with augmentation, stacks and a partial last batch."""
    rng = np.random.default_rng(0)
    x8, y = rng.integers(0, 256, (11 * 8 + 3, 6, 6, 3), dtype=np.uint8), rng.integers(0, 10, 91).astype(np.int32)
    runs = []
    for ds in (ArrayDataset(x8.astype(np.float32) / 255.0, y), ArrayDataset(x8, y, decode=(ByteToFloat.to_tensor(), None))):
        learner = Learner(SoftmaxRegression(6 * 6 * 3, rngs=nnx.Rngs(0)), losses.cross_entropy,
                          optim.sgd(0.05, momentum=0.9))
        loader = DataLoader(ds, 8, shuffle=True, seed=1, device_resident=device_resident, augment=A.random_crop(2))
        runs.append(fit(learner, learner.init_state(), loader, epochs=2, steps_per_call=4, log=None))
    (sf, hf), (s8, h8) = runs
    assert h8["train_loss"] == hf["train_loss"]
    _same(s8.params, sf.params)
