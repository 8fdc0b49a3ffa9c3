"""jaxdl.checkpoint: every step verified by its manifest, resume falls back past damaged
steps (named, moved aside, never deleted), a new run replaces an earlier run's
checkpoints only once it has its own, mid-epoch positions, a full disk in one line."""

import errno
import hashlib
import json
import re
import shutil
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import nnx

from jaxdl import losses, optim
from jaxdl.checkpoint import (
    MANIFEST,
    CheckpointDamagedError,
    Checkpointer,
    CheckpointMismatchError,
    CheckpointSpaceError,
    json_ready,
)
from jaxdl.models import IrisModel
from jaxdl.train import Learner


@pytest.fixture(scope="module")
def learner():
    return Learner(IrisModel(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(0.01))


def _state(learner, k):
    """A distinct state per epoch ``k``: parameters shifted by k."""
    s = learner.init_state()
    return s.replace(params=jax.tree.map(lambda a: a + k, s.params), step=s.step + k)


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(directory.rglob("*")):
        h.update(str(p.relative_to(directory)).encode() + (p.read_bytes() if p.is_file() else b"/"))
    return h.hexdigest()


def _three_epochs(learner, directory, **kw):
    with Checkpointer(directory, monitor=None, log=None, **kw) as ck:
        for e in (1, 2, 3):
            ck.save(e, _state(learner, e), {"train_loss": 1.0 / e}, [{"epoch": i} for i in range(1, e + 1)])
    return directory


def _biggest_array_file(step_dir: Path) -> Path:
    return max((p for p in (step_dir / "state").rglob("*") if p.is_file() and p.parent.name == "d"),
               key=lambda p: p.stat().st_size)


def _flip64(step_dir):
    f = _biggest_array_file(step_dir)
    b = bytearray(f.read_bytes())
    b[len(b) // 2:len(b) // 2 + 64] = bytes(x ^ 0xFF for x in b[len(b) // 2:len(b) // 2 + 64])
    f.write_bytes(bytes(b))


def _empty(step_dir):
    shutil.rmtree(step_dir)
    step_dir.mkdir()


def _garble_meta(step_dir):
    (step_dir / "meta" / "metadata").write_text("{not json")


DAMAGE = {  # what a disk, a copy or a person does to a step, and the reason resume must give
    "64 flipped bytes in an array file": (_flip64, r"does not match the SHA-256 its manifest recorded"),
    "an array file missing": (lambda d: _biggest_array_file(d).unlink(), r"file state/\S+ is missing"),
    "a truncated array file": (lambda d: _biggest_array_file(d).write_bytes(b"\0" * 10), r"has 10 bytes where"),
    "an empty step folder": (_empty, r"its folder is empty"),
    "garbled metadata JSON": (_garble_meta, r"file meta/metadata has 9 bytes where its manifest recorded"),
    "garbled metadata JSON, no manifest": (lambda d: (_garble_meta(d), (d / MANIFEST).unlink()),
                                           r"its metadata cannot be read \(JSONDecodeError: "),
    "the meta item deleted": (lambda d: shutil.rmtree(d / "meta"), r"file meta/\S+ is missing"),
    "a garbled manifest": (lambda d: (d / MANIFEST).write_text("{"), r"manifest jaxdl_manifest.json is unreadable"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_resume_names_the_damaged_step_and_falls_back_to_the_newest_intact_one(tmp_path, learner, damage):
    directory = _three_epochs(learner, tmp_path / "ck")
    assert all((directory / "last" / str(e) / MANIFEST).is_file() for e in (1, 2, 3))
    harm, reason = DAMAGE[damage]
    harm(directory / "last" / "3")
    said = []
    with Checkpointer(directory, monitor=None, log=said.append) as ck:
        found = ck.resume(learner.init_state())
        assert found.epoch == 2 and found.path == directory / "last" / "2" and "newest intact" in found.note
        want = _state(learner, 2)
        assert all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(found.state), jax.tree.leaves(want)))
        assert [r["epoch"] for r in found.meta["history"]] == [1, 2]
        assert len(said) == 1 and "\n" not in said[0]
        assert f"checkpoint {directory / 'last' / '3'} is damaged: " in said[0] and "moved to" in said[0]
        assert re.search(reason, said[0]), said[0]
        # the resumed run saves epoch 3 again; orbax's max_to_keep never sees the damaged step
        for e in (3, 4, 5):
            ck.save(e, _state(learner, e), {}, [])
    assert sorted(int(p.name) for p in (directory / "last").iterdir()) == [3, 4, 5]
    assert (directory / "damaged" / "last-3").is_dir()  # kept for inspection, never deleted


def test_no_intact_step_is_one_line_and_changes_nothing(tmp_path, learner):
    directory = _three_epochs(learner, tmp_path / "ck", max_to_keep=2)
    _flip64(directory / "last" / "3")
    _empty(directory / "last" / "2")
    before = _digest(directory)
    with Checkpointer(directory, monitor=None, log=None) as ck, pytest.raises(CheckpointDamagedError) as e:
        ck.resume(learner.init_state())
    msg = str(e.value)
    assert "\n" not in msg and "no intact checkpoint" in msg
    assert "last/3: file" in msg and "last/2: its folder is empty" in msg
    assert "nothing was changed" in msg and _digest(directory) == before


def test_a_step_without_manifest_is_loaded_as_unverified(tmp_path, learner):
    directory = _three_epochs(learner, tmp_path / "ck")
    (directory / "last" / "3" / MANIFEST).unlink()  # killed between orbax's rename and the manifest
    with Checkpointer(directory, monitor=None, log=None) as ck:
        found = ck.resume(learner.init_state())
    assert found.epoch == 3 and "unverified" in found.note


def test_restore_of_a_damaged_step_raises_instead_of_loading_it(tmp_path, learner):
    directory = _three_epochs(learner, tmp_path / "ck")
    _flip64(directory / "last" / "3")
    with Checkpointer(directory, monitor=None, log=None) as ck, pytest.raises(CheckpointDamagedError, match="SHA-256"):
        ck.restore(learner.init_state())


def test_a_checkpoint_of_another_model_is_not_called_damaged(tmp_path, learner):
    directory = _three_epochs(learner, tmp_path / "ck")
    other = Learner(IrisModel(h1=16, rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(0.01))
    with Checkpointer(directory, monitor=None, log=None) as ck, pytest.raises(CheckpointMismatchError, match="fc1"):
        ck.resume(other.init_state())


def test_a_new_run_replaces_the_earlier_checkpoints_only_once_it_has_its_first(tmp_path, learner):
    directory = _three_epochs(learner, tmp_path / "ck")
    before = _digest(directory)
    ck = Checkpointer(directory, monitor=None, log=None)
    assert ck.start_fresh() and ck.replacing
    assert _digest(directory) == before and ck.latest_epoch() is None  # the earlier run's stand, untouched
    ck.save(1, _state(learner, 10), {}, [])
    ck.wait()
    assert not ck.replacing and sorted(p.name for p in (directory / "last").iterdir()) == ["1"]
    assert not directory.with_name("ck.new").exists() and not directory.with_name("ck.old").exists()
    state, meta = ck.restore(learner.init_state())
    assert meta["epoch"] == 1 and float(state.step) == 10
    ck.close()


@pytest.mark.parametrize("interrupted", ["before the first save", "between the renames", "before deleting"])
def test_a_kill_during_the_replacement_leaves_one_complete_set(tmp_path, learner, interrupted):
    directory = _three_epochs(learner, tmp_path / "ck")
    new, old = directory.with_name("ck.new"), directory.with_name("ck.old")
    _three_epochs(learner, new)  # stands for the new run's folder
    if interrupted == "between the renames":
        directory.rename(old)
    elif interrupted == "before deleting":
        directory.rename(old)
        new.rename(directory)
    newest = {"before the first save": 3, "between the renames": 3, "before deleting": 3}[interrupted]
    with Checkpointer(directory, monitor=None, log=None) as ck:
        assert ck.latest_epoch() == newest
    assert not new.exists() and not old.exists()


def test_positions_inside_an_epoch_resume_with_their_batch_metrics(tmp_path, learner):
    directory = tmp_path / "ck"
    metrics = [{"loss": np.array([0.5, np.nan], np.float32), "n": np.array([4, 4], np.int32),
                "step": np.array([0, 1], np.int32)},
               {"loss": np.float32(1 / 3), "n": np.int32(4), "step": np.int32(2)}]
    with Checkpointer(directory, monitor=None, log=None, every_steps=2) as ck:
        ck.on_train_steps(1, 1, 10, _state(learner, 1), metrics[:1])  # not due yet
        ck.on_train_steps(1, 3, 10, _state(learner, 3), metrics)
        ck.on_epoch_end(1, _state(learner, 10), {"epoch": 1})
        ck.on_train_steps(2, 3, 10, _state(learner, 13), metrics)
    assert sorted(p.name for p in (directory / "partial").iterdir()) == ["13"]  # 3, overtaken by epoch 1, dropped
    with Checkpointer(directory, monitor=None, log=None) as ck:
        found = ck.resume(learner.init_state(), batches_per_epoch=10)
    assert (found.epoch, found.batch) == (1, 3) and float(found.state.step) == 13
    [restored] = found.batch_metrics
    np.testing.assert_array_equal(restored["loss"], np.array([0.5, np.nan, 1 / 3], np.float32))
    assert restored["loss"].dtype == np.float32 and restored["step"].tolist() == [0, 1, 2]
    assert found.meta["history"] == [{"epoch": 1}]


def test_a_full_disk_is_one_error_that_says_what_a_checkpoint_needs(tmp_path, learner, monkeypatch):
    """The write fails with ENOSPC as orbax's would (its message, errno 28); the real
    full disk (a small tmpfs) is in tests/e2e/test_faults.py."""
    directory = _three_epochs(learner, tmp_path / "ck")
    ck = Checkpointer(directory, monitor=None, log=None)
    real = ocp.CheckpointManager.save

    def full(self, step, *a, **kw):
        raise ValueError(f"RESOURCE_EXHAUSTED: Error writing in OCDBT database at local file {self.directory}: "
                         "Failed to write 67244 bytes to file 14: No space left on device [os_error_code='28']")

    monkeypatch.setattr(ocp.CheckpointManager, "save", full)
    with pytest.raises(CheckpointSpaceError) as e:
        ck.save(4, _state(learner, 4), {}, [])
    monkeypatch.setattr(ocp.CheckpointManager, "save", real)
    msg = str(e.value)
    assert e.value.errno == errno.ENOSPC and "\n" not in msg
    assert "one checkpoint takes about" in msg and "the train state holds" in msg and "MB" in msg
    assert f"{directory / 'last' / '3'} (epoch 3), is intact" in msg
    ck.close()
    with Checkpointer(directory, monitor=None, log=None) as ck:
        assert ck.resume(learner.init_state()).epoch == 3


def test_json_has_no_bare_nan():
    out = json.dumps(json_ready({"a": float("nan"), "b": [np.float32("inf"), 1.5], "c": np.array([1, 2])}),
                     allow_nan=False)
    assert json.loads(out) == {"a": None, "b": [None, 1.5], "c": [1, 2]}


# ============================================================ what is refused, and where

def test_best_checkpoint_is_kept_between_saved_epochs(tmp_path):
    learner = Learner(IrisModel(rngs=nnx.Rngs(0)), losses.cross_entropy, optim.adam(0.01))
    with Checkpointer(tmp_path / "ck", monitor="val_loss", mode="min", every=3) as ck:
        for epoch, loss in enumerate([5.0, 3.0, 4.0, 6.0], 1):
            ck.on_epoch_end(epoch, learner.init_state(), {"val_loss": loss})
        ck.wait()
        assert ck.best_epoch() == 2 and ck.latest_epoch() == 3  # best whatever ``every``


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
