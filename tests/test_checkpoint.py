"""jaxdl.checkpoint: the best epoch is kept whatever ``every``; a checkpoint of another
model or optimizer, a corrupted or a missing one, is refused with the reason and where,
and nothing on disk is damaged."""

import hashlib
from pathlib import Path

import pytest
from flax import nnx

from jaxdl import losses, optim
from jaxdl.checkpoint import Checkpointer, CheckpointMismatchError
from jaxdl.models import IrisModel
from jaxdl.train import Learner


def test_best_checkpoint_is_kept_between_saved_epochs(tmp_path):
    learner = Learner(IrisModel(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(0.01))
    with Checkpointer(tmp_path / "ck", monitor="val_loss", mode="min", every=3) as ck:
        for epoch, loss in enumerate([5.0, 3.0, 4.0, 6.0], 1):
            ck.on_epoch_end(epoch, learner.init_state(), {"val_loss": loss})
        ck.wait()
        assert ck.best_epoch() == 2 and ck.latest_epoch() == 3  # best whatever ``every``


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
    with Checkpointer(iris_checkpoint) as ck, \
            pytest.raises(CheckpointMismatchError, match="could not read|does not fit"):
        ck.restore(learner.init_state())


def test_missing_checkpoint_says_where(tmp_path):
    learner = Learner(IrisModel(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(0.01))
    with Checkpointer(tmp_path / "none") as ck, pytest.raises(FileNotFoundError, match="no last checkpoint"):
        ck.restore(learner.init_state())
