"""Learner.train_steps (k steps in one lax.scan call) and fit's use of it train exactly
like one train_step call per batch: same batches, same dropout keys, same BatchNorm
statistics, same metrics."""

import jax
import numpy as np
import pytest
from flax import nnx

from jaxdl import losses, optim
from jaxdl.data import DataLoader
from jaxdl.data import augment as A
from jaxdl.models import BinaryANN, ConvolutionalNetwork, MNISTClassifier
from jaxdl.train import Learner, fit


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


@pytest.mark.parametrize("device_resident", [False, True])
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
                            augment=A.random_crop(padding=2))
        runs[spc] = fit(learner, learner.init_state(), loader, epochs=2, steps_per_call=spc, log=None)
    (s1, h1), (s4, h4) = runs[1], runs[4]
    _leaves_close(s4.params, s1.params)
    np.testing.assert_allclose(h4["train_loss"], h1["train_loss"], rtol=1e-5)
    assert h4["train_accuracy"] == h1["train_accuracy"]
    assert int(s4.step) == int(s1.step) == 22


def test_epoch_chunks_are_the_epoch_batches():
    x, y = _images(103)
    loader = DataLoader((x, y), 10, shuffle=True, augment=A.horizontal_flip())
    single = list(loader.epoch(2))
    unstacked = []
    for stacked, batch in loader.epoch_chunks(2, 4):
        unstacked += [tuple(a[i] for a in batch) for i in range(len(batch[0]))] if stacked else [batch]
    assert [stacked for stacked, _ in loader.epoch_chunks(2, 4)] == [True, True, False, False, False]
    for a, b in zip(single, unstacked, strict=True):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    with pytest.raises(ValueError, match="steps must be >= 1"):
        next(loader.epoch_chunks(1, 0))


def test_fit_rejects_steps_per_call_below_one():
    x, y = _images(20)
    learner = Learner(MNISTClassifier(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.sgd(0.1))
    state = learner.init_state()
    with pytest.raises(ValueError, match="steps_per_call must be >= 1"):
        fit(learner, state, DataLoader((x, y), 4), epochs=1, steps_per_call=0, log=None)
    assert int(state.step) == 0  # nothing trained, the state is intact
