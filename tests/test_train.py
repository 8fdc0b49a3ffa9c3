"""jaxdl.train: ``train_steps`` (k steps in one lax.scan call) and fit's use of it train
exactly like one train_step call per batch; a NaN/Inf step is reported, or skipped leaving
the state unchanged; frozen parameters get no gradient computation; evaluation masks the
padding of an evaluation loader; wrong inputs fail while tracing; full-batch epochs fused
into one compiled call train exactly as one epoch per call; the feed's batches (gathered,
converted and augmented inside the step) train as the batches a user iterates; uint8
storage trains as float32 storage."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxdl import data, losses, optim, train
from jaxdl.data import ArrayDataset, DataLoader, augment, load
from jaxdl.data import augment as A
from jaxdl.data.arrays import ByteToFloat
from jaxdl.layers import Conv2d, Linear, flatten
from jaxdl.models import MLP, BinaryANN, ConvolutionalNetwork, IrisModel, MNISTClassifier
from jaxdl.train import Learner, _reduce_metrics, evaluate, fit


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, n).astype(np.int32)


def _leaves_close(a, b, rtol=1e-5, atol=1e-6):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.mark.parametrize("model", [MNISTClassifier, ConvolutionalNetwork])
def test_train_steps_equals_step_calls(model):
    learner = Learner(model(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(1e-3, weight_decay=1e-4))
    x, y = _images(6 * 16)
    xs, ys = x.reshape(6, 16, 28, 28, 1), y.reshape(6, 16)
    one = learner.init_state()
    per_step = []
    for i in range(6):
        one, m = learner.train_step(one, (xs[i], ys[i]))
        per_step.append(float(m["loss"]))
    fused, ms = learner.train_steps(learner.init_state(), (xs, ys))
    np.testing.assert_allclose(np.asarray(ms["loss"]), per_step, rtol=1e-5)
    assert np.asarray(ms["step"]).tolist() == list(range(6))
    _leaves_close(fused.params, one.params)
    _leaves_close(fused.model_state, one.model_state)  # BatchNorm running statistics
    assert int(fused.step) == int(one.step) == 6


def test_fit_chunked_equals_unchunked(device_resident):
    """11 batches a epoch (the last one partial), stacks of 4: two train_steps calls and
    three single steps per epoch, with dropout and augmentation keyed per batch."""
    x, y = _images(10 * 16 + 5, seed=1)
    y = (y % 2).astype(np.float32)[:, None]
    runs = {}
    for spc in (1, 4):
        learner = Learner(BinaryANN(rngs=nnx.Rngs(0)), losses.bce_with_logits_loss, optim.sgd(0.05, momentum=0.9),
                          task="binary")
        loader = DataLoader((x, y), 16, shuffle=True, seed=3, device_resident=device_resident,
                            augment=augment.random_crop(padding=2))
        runs[spc] = fit(learner, learner.init_state(), loader, epochs=2, steps_per_call=spc, log=None)
    (s1, h1), (s4, h4) = runs[1], runs[4]
    _leaves_close(s4.params, s1.params)
    np.testing.assert_allclose(h4["train_loss"], h1["train_loss"], rtol=1e-5)
    assert h4["train_accuracy"] == h1["train_accuracy"]
    assert int(s4.step) == int(s1.step) == 22


def test_fit_rejects_steps_per_call_below_one():
    x, y = _images(20)
    learner = Learner(MNISTClassifier(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.sgd(0.1))
    state = learner.init_state()
    with pytest.raises(ValueError, match="steps_per_call must be >= 1"):
        fit(learner, state, DataLoader((x, y), 4), epochs=1, steps_per_call=0, log=None)
    assert int(state.step) == 0  # nothing trained, the state is intact


def test_skip_nonfinite_leaves_the_state_unchanged_and_default_reports_it():
    import jax.numpy as jnp

    x = jnp.zeros((4, 28, 28, 1)).at[0, 0, 0, 0].set(jnp.nan)
    y = jnp.zeros(4, jnp.int32)
    guarded = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(0)), losses.nll_loss, optim.adam(1e-3), skip_nonfinite=True)
    s0 = guarded.init_state()
    before = [np.asarray(a).copy() for a in jax.tree.leaves(s0.params)]
    s1, m = guarded.train_step(s0, (x, y))
    assert int(m["nonfinite"]) == 1 and int(s1.step) == 0
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, jax.tree.leaves(s1.params)))
    plain = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(0)), losses.nll_loss, optim.adam(1e-3))
    _, m = plain.train_step(plain.init_state(), (x, y))
    assert int(m["nonfinite"]) == 1  # reported, so fit stops before saving


def test_frozen_parameters_get_no_gradient_computation():
    """Freezing the conv leaves only the forward convolution in the compiled step: the
    kernel's and the input's gradient convolutions are dropped (the step checks the
    updates, not the raw gradients, for NaN), as torch skips ``requires_grad=False``."""
    def step_hlo(freeze):
        model = nnx.Sequential(Conv2d(3, 32, 3, rngs=nnx.Rngs(0)), jax.nn.relu, flatten,
                               Linear(32 * 6 * 6, 2, rngs=nnx.Rngs(1)))
        tx = optim.freeze(optim.sgd(0.1), [r"layers\.0\."]) if freeze else optim.sgd(0.1)
        learner = Learner(model, losses.cross_entropy, tx)
        batch = (np.zeros((2, 8, 8, 3), np.float32), np.array([0, 1]))
        return learner.train_step.lower(learner.init_state(), batch).as_text()

    frozen, full = step_hlo(True), step_hlo(False)
    assert frozen.count("stablehlo.convolution") + frozen.count("stablehlo.dot_general") < \
        full.count("stablehlo.convolution") + full.count("stablehlo.dot_general")




def test_wrong_input_to_a_train_step_fails_while_tracing():
    learner = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(0)), losses.nll_loss, optim.adam(1e-3))
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
        learner.train_step(learner.init_state(), (jnp.zeros((4, 1, 28, 28)), jnp.zeros(4, jnp.int32)))


def test_masked_evaluation_ignores_padding_and_equals_unpadded():
    from flax import nnx

    from jaxdl import losses, optim
    from jaxdl.data import DataLoader
    from jaxdl.layers import Linear
    from jaxdl.train import Learner

    test = ArrayDataset(*data.load("mnist_5k").test[:999])
    learner = Learner(MLP([784, 64, 10], dropout=0.5, rngs=nnx.Rngs(params=0, dropout=1)), losses.cross_entropy,
                      optim.adam(1e-3), num_classes=10)
    state = learner.init_state()
    plain, padded = (evaluate(learner, state, DataLoader(test, 100, pad_last=pad)) for pad in (False, True))
    np.testing.assert_array_equal(padded["confusion"], plain["confusion"])
    assert padded["accuracy"] == plain["accuracy"] and np.sum(padded["confusion"]) == 999
    assert padded["loss"] == pytest.approx(plain["loss"], rel=1e-6)  # measured: 1e-8 apart
    # rows whose mask is False count nowhere, even NaN ones
    x, y = test.arrays
    junk_x = np.concatenate([x[:7], np.full((3, *x.shape[1:]), np.nan, np.float32)])
    junk_y, mask = np.concatenate([y[:7], y[:3]]), np.arange(10) < 7
    got, want = learner.eval_step(state, (junk_x, junk_y), mask), learner.eval_step(state, (x[:7], y[:7]))
    assert (int(got["n"]), int(got["correct"])) == (7, int(want["correct"]))
    np.testing.assert_array_equal(got["confusion"], want["confusion"])
    assert float(got["loss"]) == pytest.approx(float(want["loss"]), rel=1e-6)
    # a regression loss (mean over (N, 1) outputs) masks the same way
    reg = Learner(Linear(784, 1, rngs=nnx.Rngs(0)), losses.mse_loss, optim.sgd(0.1), task="regression")
    t = y[:10, None].astype(np.float32)
    got = reg.eval_step(reg.init_state(), (x[:10].reshape(10, -1), np.where(mask[:, None], t, np.nan)), mask)
    want = reg.eval_step(reg.init_state(), (x[:7].reshape(7, -1), t[:7]))
    assert float(got["loss"]) == pytest.approx(float(want["loss"]), rel=1e-6) and int(got["n"]) == 7
    with pytest.raises(ValueError, match="pad_last=True"):  # a multi-process loader that would drop examples
        evaluate(learner, state, DataLoader(test, 100, process_index=0, process_count=2))



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


def test_uint8_images_train_as_their_float32(device_resident):
    """The same images stored as uint8 (converted in the step) and as float32: the same
    training, bit for bit, with augmentation, stacks and a partial last batch."""
    rng = np.random.default_rng(0)
    x8, y = rng.integers(0, 256, (11 * 8 + 3, 6, 6, 3), dtype=np.uint8), rng.integers(0, 10, 91).astype(np.int32)
    runs = []
    for ds in (ArrayDataset(x8.astype(np.float32) / 255.0, y),
               ArrayDataset(x8, y, decode=(ByteToFloat.to_tensor(), None))):
        learner = Learner(SoftmaxRegression(6 * 6 * 3, rngs=nnx.Rngs(0)), losses.cross_entropy,
                          optim.sgd(0.05, momentum=0.9))
        loader = DataLoader(ds, 8, shuffle=True, seed=1, device_resident=device_resident, augment=A.random_crop(2))
        runs.append(fit(learner, learner.init_state(), loader, epochs=2, steps_per_call=4, log=None))
    (sf, hf), (s8, h8) = runs
    assert h8["train_loss"] == hf["train_loss"]
    _same(s8.params, sf.params)


class TrainedBatches:
    """What fit tells a mid-epoch hook (jaxdl.checkpoint.Checkpointer.on_train_steps) after each call."""

    def __init__(self):
        self.seen = []

    def on_train_steps(self, epoch, batch, batches_per_epoch, state, batch_metrics):
        self.seen.append((epoch, batch, batches_per_epoch))

    def on_epoch_end(self, epoch, state, logs):
        return False


@pytest.mark.parametrize("drop_last", [False, True])
def test_an_epochs_last_full_batches_train_in_one_shorter_call_as_one_per_call(device_resident, drop_last):
    """13 full batches an epoch (and a partial one unless drop_last), 5 per call: the
    last 3 full batches train in one call of 3 steps, and the state, the losses and the
    accuracy are, bit for bit (XLA:CPU), those of how fit trained them before: two calls
    of 5 steps, then one train_step per batch, augmented by the same keys. The mid-epoch
    hook hears after each call how many batches have trained."""
    rng = np.random.default_rng(0)
    x8, y = rng.integers(0, 256, (53, 6, 6, 3), dtype=np.uint8), rng.integers(0, 10, 53).astype(np.int32)
    ds = ArrayDataset(x8, y, decode=(ByteToFloat.to_tensor(), None))
    learner = Learner(SoftmaxRegression(6 * 6 * 3, rngs=nnx.Rngs(0)), losses.cross_entropy,
                      optim.sgd(0.05, momentum=0.9))

    def loader():
        return DataLoader(ds, 4, shuffle=True, seed=1, drop_last=drop_last, device_resident=device_resident,
                          augment=A.random_crop(2))

    hook = TrainedBatches()
    state, history = fit(learner, learner.init_state(), loader(), epochs=2, steps_per_call=5, callbacks=[hook],
                         log=None)
    before, logs, ref = learner.init_state(), [], loader()
    for epoch in (1, 2):
        stacks = [b for b in ref.feed(epoch, 5) if b.steps == 5]  # batches 0-9, in two calls
        assert len(stacks) == 2
        rows = []
        for b in stacks:
            before, m = learner.train_steps(before, b)
            rows.append(jax.device_get(m))
        for b in list(ref.feed(epoch, 1))[10:]:  # then each batch in a call of its own
            before, m = learner.train_step(before, b)
            rows.append(jax.device_get(m))
        logs.append(_reduce_metrics(rows, "train_"))
    _same(state, before)
    assert history["train_loss"] == [r["train_loss"] for r in logs]
    assert history["train_accuracy"] == [r["train_accuracy"] for r in logs]
    n = 13 if drop_last else 14
    assert hook.seen == [(e, b, n) for e in (1, 2) for b in (5, 10, 13, 14)[:3 if drop_last else 4]]


class _FakeMetric:
    """A metric array on a device of ``platform``: records whether its copy to the host was started."""

    def __init__(self, platform):
        self.platform, self.copying, self.is_fully_addressable = platform, False, True

    def devices(self):
        return {type("Device", (), {"platform": self.platform})()}

    def copy_to_host_async(self):
        self.copying = True


@pytest.mark.parametrize("platform,copies", [("gpu", True), ("tpu", True), ("cpu", False)])
def test_a_call_s_metrics_start_copying_to_the_host_off_a_cpu(platform, copies):
    """fit starts copying each call's metrics right after dispatching it (read after the next call
    is dispatched): on an H200, 14,000 -> 29,000 steps/s for logistic regression at batch 128
    (benchmarks/results/nvidia-h200-loader-bound.md); a CPU's arrays are host memory already."""
    metrics = {"loss": _FakeMetric(platform), "n": _FakeMetric(platform)}
    train._start_metrics_copy(metrics)
    assert [m.copying for m in metrics.values()] == [copies, copies]
    train._start_metrics_copy({})  # nothing to copy
