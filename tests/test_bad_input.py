"""Bad input, one test each: the error names what is wrong and what to do, and nothing
on disk is damaged."""

import hashlib
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxdl import interop, losses, optim
from jaxdl.checkpoint import Checkpointer, CheckpointDamagedError, CheckpointMismatchError
from jaxdl.models import ConvolutionalNetwork, IrisModel, LeNet5
from jaxdl.train import Learner

def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(directory.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(directory)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def iris_checkpoint(tmp_path):
    learner = Learner(IrisModel(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(0.01))
    with Checkpointer(tmp_path / "ck") as ck:
        ck.save(1, learner.init_state(), {"val_accuracy": 0.5})
    return tmp_path / "ck"


def test_checkpoint_of_another_model_lists_mismatches_and_keeps_files(iris_checkpoint):
    before = _digest(iris_checkpoint)
    other = Learner(IrisModel(h1=16, rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(0.01))
    with Checkpointer(iris_checkpoint) as ck, pytest.raises(CheckpointMismatchError, match=r"fc1.*\(4, 8\).*\(4, 16\)"):
        ck.restore(other.init_state())
    assert _digest(iris_checkpoint) == before


def test_checkpoint_with_another_optimizer_is_refused(iris_checkpoint):
    sgd = Learner(IrisModel(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.sgd(0.01, momentum=0.9))
    with Checkpointer(iris_checkpoint) as ck, pytest.raises(CheckpointMismatchError, match="another experiment"):
        ck.restore(sgd.init_state())


def test_corrupted_checkpoint_is_named(iris_checkpoint):
    learner = Learner(IrisModel(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(0.01))
    files = [p for p in (iris_checkpoint / "last").rglob("*") if p.is_file() and p.stat().st_size > 100
             and "state" in str(p) and "metadata" not in p.name]
    for p in files:
        p.write_bytes(b"\0" * 10)
    with Checkpointer(iris_checkpoint) as ck, pytest.raises(CheckpointDamagedError, match=r"last/1 is damaged: file "):
        ck.restore(learner.init_state())


def test_missing_checkpoint_says_where(tmp_path):
    learner = Learner(IrisModel(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(0.01))
    with Checkpointer(tmp_path / "none") as ck, pytest.raises(FileNotFoundError, match="no last checkpoint"):
        ck.restore(learner.init_state())


def test_state_dict_with_missing_extra_and_misshaped_keys(tmp_path):
    import torch

    jm = IrisModel(rngs=nnx.Rngs(0))
    sd = interop.to_torch(jm)
    before = np.asarray(jm.fc1.kernel[...]).copy()
    sd.pop("out.bias")
    sd["extra.weight"] = torch.zeros(1)
    sd["fc2.weight"] = torch.zeros(3, 3)
    with pytest.raises(interop.StateDictMismatchError) as e:
        interop.from_torch(jm, sd)
    msg = str(e.value)
    assert "out.bias" in msg and "extra.weight" in msg and "fc2.weight" in msg
    np.testing.assert_array_equal(np.asarray(jm.fc1.kernel[...]), before)  # all-or-nothing


@pytest.mark.parametrize("x,err,match", [
    (jnp.zeros((2, 28, 28, 1)), ValueError, r"\(N, 32, 32, 1\).*Pad"),
    (jnp.zeros((2, 1, 32, 32)), ValueError, r"\(N, 32, 32, 1\)"),
    (jnp.zeros((2, 32, 32, 1), jnp.int32), TypeError, "float"),
])
def test_wrong_input_shape_or_dtype_to_a_model(x, err, match):
    with pytest.raises(err, match=match):
        LeNet5(rngs=nnx.Rngs(0))(x)


def test_wrong_input_to_a_train_step_fails_while_tracing():
    learner = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(0)), losses.nll_loss, optim.adam(1e-3))
    with pytest.raises(ValueError, match=r"\(N, 28, 28, 1\)"):
        learner.train_step(learner.init_state(), (jnp.zeros((4, 1, 28, 28)), jnp.zeros(4, jnp.int32)))


def test_labels_of_the_wrong_kind_to_a_loss():
    with pytest.raises((ValueError, TypeError)):
        losses.cross_entropy(jnp.zeros((4, 10)), jnp.zeros((4, 10)))


def test_unknown_freeze_pattern_lists_parameter_paths():
    tx = optim.freeze(optim.sgd(0.1), ["features"])
    with pytest.raises(ValueError, match="fc1.kernel"):
        tx.init({"fc1": {"kernel": jnp.zeros((2, 2))}})
