"""The faults users hit (issue 24), one test each: what a run does when it is killed,
when two runs share a workdir, when a checkpoint is damaged or the disk fills up, and
when its input is bad. Each outcome is either handled (a bit-identical resume, a
fallback that says so) or one line naming the thing and what to do, with nothing on
disk lost. The kill points are marked slow; docs/guarantees.md states the guarantees
these tests hold."""

import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from flax import nnx
from PIL import Image

from jaxdl import cli, data, harness, losses, optim
from jaxdl.checkpoint import (
    MANIFEST,
    Checkpointer,
    CheckpointSpaceError,
)
from jaxdl.config import RunConfig
from jaxdl.data import ImageFolder, write_image_folder
from jaxdl.data.datasets import alcohol_sales, taxi_fares
from jaxdl.data.errors import CorruptDataError
from jaxdl.data.image_transforms import ToTensor
from jaxdl.models import ConvolutionalNetwork, IrisModel
from jaxdl.train import Learner, NonFiniteLossError
from jaxdl.workdir import WorkdirBusyError

ROOT = Path(__file__).resolve().parents[2]
EPOCHS = 3


def _env(**extra):
    return {**os.environ, "PYTHONUNBUFFERED": "1", "JAX_PLATFORMS": "cpu", "PYTHONPATH": str(ROOT), **extra}


def _digest(directory: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(directory.rglob("*")):
        h.update(str(p.relative_to(directory)).encode() + (p.read_bytes() if p.is_file() else b"/"))
    return h.hexdigest()


def _one_line_error(capsys, main, argv) -> str:
    """Run an experiment's main as its command line does; return its one error line."""
    with pytest.raises(SystemExit) as e:
        cli.run(main, argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 1 and "Traceback" not in "\n".join(err), err
    assert err[-1].startswith("error: ")
    return err[-1]


# ============================================================ iris runs (library, in-process)
def _iris_config(workdir, **kw):
    return RunConfig(**{"epochs": 3, "batch_size": 30, "lr": 0.01, "workdir": str(workdir), "progress": False,
                        **kw})


def _iris_run(config, ds=None, log=None):
    ds = ds or data.load("iris")
    return harness.train_and_evaluate(config, name="iris", data=ds, model=IrisModel(rngs=nnx.Rngs(1)),
                                      loss_fn=losses.cross_entropy, optimizer=optim.adam(config.lr),
                                      log=log or (lambda *_: None))


def _array_file(step: Path) -> Path:
    return max((p for p in (step / "state").rglob("*") if p.is_file() and p.parent.name == "d"),
               key=lambda p: p.stat().st_size)


def test_a_second_run_on_a_held_workdir_is_refused_before_it_touches_anything(tmp_path):
    hold = "import sys, time; from jaxdl.workdir import WorkdirLock; WorkdirLock(sys.argv[1]).acquire(); " \
           "print('held', flush=True); time.sleep(600)"
    holder = subprocess.Popen([sys.executable, "-c", hold, str(tmp_path)], cwd=ROOT, env=_env(),
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(WorkdirBusyError, match=rf"in use by another run: pid {holder.pid} on host"):
            _iris_run(_iris_config(tmp_path))
        assert not (tmp_path / "checkpoints").exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    said = []
    _iris_run(_iris_config(tmp_path, epochs=1), log=said.append)  # the killed holder's lock is taken over
    assert any(f"taking over the lock of pid {holder.pid}" in line for line in said)


def test_a_damaged_newest_checkpoint_is_named_and_the_run_resumes_from_the_one_before(tmp_path):
    _iris_run(_iris_config(tmp_path))
    f = _array_file(tmp_path / "checkpoints" / "last" / "3")
    b = bytearray(f.read_bytes())
    b[len(b) // 2:len(b) // 2 + 64] = bytes(x ^ 0xFF for x in b[len(b) // 2:len(b) // 2 + 64])  # 64 flipped bytes
    f.write_bytes(bytes(b))
    said = []
    out = _iris_run(_iris_config(tmp_path, epochs=4, resume=True), log=said.append)
    text = "\n".join(said)
    assert re.search(r"checkpoint \S+/last/3 is damaged: file state/\S+ does not match the SHA-256 .*moved to "
                     r"\S+/damaged/last-3 for inspection\n", text), text
    assert re.search(r"resumed from epoch 2 \(\S+/last/2; the newest intact checkpoint\)", text), text
    assert (tmp_path / "checkpoints" / "damaged" / "last-3").is_dir()  # kept for inspection
    assert [r["epoch"] for r in out.history] == [1, 2, 3, 4]


def test_no_intact_checkpoint_is_one_line_from_the_command_and_changes_nothing(tmp_path, capsys):
    from experiments import iris

    argv = ["--epochs", "3", "--batch-size", "30", "--workdir", str(tmp_path), "--no-progress"]
    cli.run(iris.main, argv)  # its one checkpoint: epoch 3 (iris saves the last epoch only)
    (tmp_path / "checkpoints" / "last" / "3" / MANIFEST).write_text("{")
    before = _digest(tmp_path)
    line = _one_line_error(capsys, iris.main, [*argv, "--epochs", "5", "--resume"])
    assert "no intact checkpoint to resume from" in line and "last/3: its manifest" in line
    assert "nothing was changed" in line and "without --resume" in line
    assert _digest(tmp_path) == before


def test_nan_in_training_names_the_checked_data_and_keeps_the_earlier_runs_checkpoints(tmp_path):
    _iris_run(_iris_config(tmp_path))
    before = _digest(tmp_path / "checkpoints")
    with pytest.raises(NonFiniteLossError) as e:  # a new run in the same folder diverges in its first epoch
        _iris_run(_iris_config(tmp_path, lr=1e30))
    msg = str(e.value)
    assert "NaN/Inf at step" in msg and "the train and test data were checked before training" in msg
    assert "Last good checkpoint: none yet (an earlier run's checkpoints" in msg
    assert _digest(tmp_path / "checkpoints") == before  # replaced only once the new run has its first checkpoint
    with pytest.raises(NonFiniteLossError, match=r"epoch 1 skipped 3 of its 4 steps .* less than half"):
        _iris_run(_iris_config(tmp_path, lr=1e30, skip_nonfinite=True))
    assert _digest(tmp_path / "checkpoints") == before


def test_bad_labels_stop_a_run_before_it_touches_a_used_workdir(tmp_path):
    _iris_run(_iris_config(tmp_path, epochs=1))
    before = _digest(tmp_path)
    ds = data.load("iris")
    x, y = ds.train.arrays
    for bad, shown in ((200, "200"), (-1, "-1")):
        y2 = y.copy()
        y2[7] = bad
        poisoned = data.Data("iris", data.ArrayDataset(x, y2), ds.test, ds.classes)
        with pytest.raises(CorruptDataError, match=rf"train split: label {shown} at row 7 .* outside 0..2"):
            _iris_run(_iris_config(tmp_path), poisoned)
    x2 = x.copy()
    x2[3, 1] = np.nan
    with pytest.raises(CorruptDataError, match=r"inputs hold 1 NaN/inf value\(s\), row 3"):
        _iris_run(_iris_config(tmp_path), data.Data("iris", data.ArrayDataset(x2, y), ds.test, ds.classes))
    assert _digest(tmp_path) == before


def test_history_json_never_holds_a_bare_nan(tmp_path):
    harness.write_json(tmp_path / "history.json", [{"epoch": 1, "val_loss": float("nan"), "x": np.float32("inf")}])
    text = (tmp_path / "history.json").read_text()
    assert "NaN" not in text and "Infinity" not in text and json.loads(text) == [{"epoch": 1, "val_loss": None,
                                                                                  "x": None}]


# ============================================================ a full disk (a small tmpfs)
@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=60m", "tmpfs", str(mnt)], capture_output=True,
                      check=False).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root); tests/test_checkpoint.py fails orbax's write with "
                    "ENOSPC instead")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


class _FillDiskAfter:
    """After epoch ``epoch``'s checkpoint has its manifest, fill the disk but ``left`` bytes."""

    def __init__(self, workdir: Path, epoch: int, left: int):
        self.workdir, self.epoch, self.left = workdir, epoch, left

    def on_epoch_end(self, epoch, state, logs):
        if epoch == self.epoch:
            while not (self.workdir / "checkpoints" / "last" / str(epoch) / MANIFEST).exists():
                time.sleep(0.05)
            free = shutil.disk_usage(self.workdir).free
            with open(self.workdir.parent / "filler", "wb") as f:
                f.truncate(0)
                f.write(b"\0" * max(free - self.left, 0))


def test_a_full_disk_is_one_line_saying_what_a_checkpoint_needs_and_loses_nothing(small_disk):
    workdir = small_disk / "run"
    ds = data.load("mnist_5k")
    x, y = ds.train.arrays
    small = data.Data("digits", data.ArrayDataset(x[:200], y[:200]), ds.test, ds.classes)
    config = RunConfig(epochs=3, batch_size=50, workdir=str(workdir), progress=False)
    with pytest.raises(CheckpointSpaceError) as e:
        harness.train_and_evaluate(config, name="cnn", data=small, model=ConvolutionalNetwork(rngs=nnx.Rngs(0)),
                                   loss_fn=losses.nll_loss, optimizer=optim.adam(1e-3), log=lambda *_: None,
                                   callbacks=[_FillDiskAfter(workdir, 1, 100_000)])
    msg = str(e.value)
    assert "\n" not in msg and "no space left" in msg and re.search(r"one checkpoint takes about 0\.\d MB", msg)
    assert f"the last good checkpoint, {workdir / 'checkpoints' / 'last' / '1'} (epoch 1), is intact" in msg
    assert not list((workdir / "checkpoints" / "last").glob("*orbax-checkpoint-tmp*"))  # the partial write is gone
    (small_disk / "filler").unlink()
    learner = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(0)), losses.nll_loss, optim.adam(1e-3))
    with Checkpointer(workdir / "checkpoints", log=None) as ck:
        found = ck.resume(learner.init_state())
    assert found.epoch == 1 and found.note == ""  # verified, and the run resumes from it


# ============================================================ bad input: one line each, or handled
def _idx(path: Path, a: np.ndarray, code: int = 0x08) -> None:
    head = bytes([0, 0, code, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
    path.write_bytes(head + a.astype(a.dtype.newbyteorder(">")).tobytes())


def _idx_set(d: Path, **over) -> Path:
    rng = np.random.default_rng(0)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 255, (40, 28, 28), dtype=np.uint8),
              "train-labels-idx1-ubyte": rng.integers(0, 10, 40).astype(np.uint8),
              "t10k-images-idx3-ubyte": rng.integers(0, 255, (20, 28, 28), dtype=np.uint8),
              "t10k-labels-idx1-ubyte": rng.integers(0, 10, 20).astype(np.uint8)}
    arrays.update(over)
    d.mkdir()
    for name, a in arrays.items():
        _idx(d / name, a, 0x09 if a.dtype == np.int8 else 0x08)
    return d


def _labels_with(value, dtype=np.uint8):
    y = np.random.default_rng(1).integers(0, 10, 40).astype(dtype)
    y[7] = value
    return y


IDX_FAULTS = {
    "a label of 200 for 10 classes": ({"train-labels-idx1-ubyte": _labels_with(200)},
                                      r"train-labels-idx1-ubyte: label 200 at index 7 .*outside 0..9"),
    "a label of -1 in int8": ({"train-labels-idx1-ubyte": _labels_with(-1, np.int8)},
                              r"train-labels-idx1-ubyte: label -1 at index 7"),
    "zero images": ({"train-images-idx3-ubyte": np.zeros((0, 28, 28), np.uint8),
                     "train-labels-idx1-ubyte": np.zeros(0, np.uint8)}, r"train-images-idx3-ubyte: holds 0 images"),
    "images of another shape": ({"train-images-idx3-ubyte": np.zeros((40, 10, 10), np.uint8)},
                                r"images of header shape \(40, 10, 10\)"),
    "fewer labels than images": ({"train-labels-idx1-ubyte": np.zeros(30, np.uint8)},
                                 r"train-labels-idx1-ubyte: labels of header shape \(30,\) for the 40 images"),
}


@pytest.mark.parametrize("fault", list(IDX_FAULTS))
def test_idx_files_that_would_train_wrong_are_refused_naming_the_file(tmp_path, fault):
    over, match = IDX_FAULTS[fault]
    d = _idx_set(tmp_path / "mnist", **over)
    with pytest.raises(CorruptDataError, match=match) as e:
        data.load("mnist", d)
    assert "\n" not in str(e.value)


def test_an_idx_header_bigger_than_its_file_is_one_line_from_the_command(tmp_path, capsys):
    from experiments import mnist_cnn

    d = _idx_set(tmp_path / "mnist")
    f = d / "train-images-idx3-ubyte"
    b = bytearray(f.read_bytes())
    b[4:8] = struct.pack(">I", 500)
    f.write_bytes(bytes(b))
    line = _one_line_error(capsys, mnist_cnn.main, ["--dataset", "mnist", "--data-dir", str(d), "--workdir",
                                                   str(tmp_path / "run"), "--no-progress"])
    assert "train-images-idx3-ubyte: 31376 bytes where the header (500, 28, 28) needs" in line
    gz = tmp_path / "gz"
    gz.mkdir()
    for p in d.iterdir():
        (gz / (p.name + ".gz")).write_bytes(gzip.compress(p.read_bytes())[:-20])  # a truncated download
    with pytest.raises(CorruptDataError, match=r"\.gz: cannot be read"):
        data.load("mnist", gz)


def _taxi(path: Path, change=None) -> Path:
    rng = np.random.default_rng(0)
    n = 60
    df = pd.DataFrame({
        "pickup_datetime": pd.date_range("2010-04-11", periods=n, freq="37min").strftime("%Y-%m-%d %H:%M:%S UTC"),
        "fare_amount": rng.uniform(3, 40, n).round(2), "fare_class": rng.integers(0, 2, n),
        "pickup_longitude": rng.uniform(-74.0, -73.9, n), "pickup_latitude": rng.uniform(40.7, 40.8, n),
        "dropoff_longitude": rng.uniform(-74.0, -73.9, n), "dropoff_latitude": rng.uniform(40.7, 40.8, n),
        "passenger_count": rng.integers(1, 5, n)})
    if change:
        df = change(df)
    df.to_csv(path, index=False)
    return path


def _set(column, row, value):
    def change(df):
        df[column] = df[column].astype(object)
        df.loc[row, column] = value
        return df
    return change


CSV_FAULTS = {
    "a missing column": (lambda df: df.drop(columns=["passenger_count"]), r"missing columns \['passenger_count'\]"),
    "only a header": (lambda df: df.iloc[:0], r"holds a header but no rows"),
    "text in a numeric column": (_set("passenger_count", 5, "two"),
                                 (r"column 'passenger_count' has text where numbers belong on 1 line\(s\) \(7; "
                                  r"first value 'two'\)")),
    "NaN in the target": (_set("fare_amount", 5, None), r"column 'fare_amount' has missing or infinite values .*\(7;"),
    "inf in a feature": (_set("pickup_latitude", 9, "inf"), r"column 'pickup_latitude' has missing or infinite"),
    "an unparseable date": (_set("pickup_datetime", 3, "yesterday at noon"),
                            r"column 'pickup_datetime' has a missing or unparseable date .*'yesterday at noon'"),
    "a missing date": (_set("pickup_datetime", 3, None), r"column 'pickup_datetime' has a missing or unparseable"),
}


@pytest.mark.parametrize("fault", list(CSV_FAULTS))
def test_csv_mistakes_are_one_line_naming_the_file_column_and_line(tmp_path, fault):
    change, match = CSV_FAULTS[fault]
    path = _taxi(tmp_path / "NYCTaxiFares.csv", change)
    with pytest.raises(CorruptDataError, match=match) as e:
        taxi_fares(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)


def test_an_empty_csv_and_a_bad_csv_from_the_command(tmp_path, capsys):
    from experiments import tabular

    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(CorruptDataError, match="not a readable CSV file"):
        taxi_fares(tmp_path / "empty.csv")
    path = _taxi(tmp_path / "t.csv", _set("fare_amount", 2, "n/a?"))
    line = _one_line_error(capsys, tabular.main, ["--csv", str(path), "--workdir", str(tmp_path / "run")])
    assert "column 'fare_amount' has text where numbers belong" in line
    assert not (tmp_path / "run").exists()  # stopped before the workdir was made


@pytest.mark.parametrize("date,value,match", [("not-a-date", "5", (r"'DATE' has a missing or unparseable date on 1 "
                                                                   r"line\(s\) \(3; first value 'not-a-date'\)")),
                                              ("", "5", r"missing or unparseable date"),
                                              ("1992-02-01", "nan", r"'S4248SM144NCEN' has missing or infinite")])
def test_a_time_series_with_bad_dates_or_values_names_the_line(tmp_path, date, value, match):
    lines = ["DATE,S4248SM144NCEN", "1992-01-01,3459", f"{date},{value}", "1992-03-01,4202"]
    (tmp_path / "s.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(CorruptDataError, match=match):
        alcohol_sales(tmp_path / "s.csv")


def test_sixteen_bit_png_is_scaled_by_its_own_range(tmp_path):
    """torchvision's loader clips a 16-bit PNG at 255 (white): 30000/65535 would read 1.0."""
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.fromarray(np.array([[0, 30000], [65535, 257]], np.uint16)).save(tmp_path / c / "x.png")
    x, _ = ImageFolder(tmp_path, transform=ToTensor())[0]
    np.testing.assert_allclose(x[..., 0], [[0, 30000 / 65535], [1, 1 / 255]], atol=0.5 / 255)
    raw = Image.open(tmp_path / "a" / "x.png")
    assert raw.mode == "I;16"
    np.testing.assert_allclose(ToTensor()(raw)[..., 0], [[0, 30000 / 65535], [1, 257 / 65535]], rtol=1e-6)


def test_a_symlink_loop_in_a_class_folder_names_the_link(tmp_path):
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / c / "x.png")
    (tmp_path / "a" / "loop").symlink_to("..")
    with pytest.raises(OSError, match=r"a/loop is a symbolic link to \.\., which leads back to \S+/a, a folder it is"):
        ImageFolder(tmp_path)
    (tmp_path / "a" / "loop").unlink()
    (tmp_path / "a" / "shared").symlink_to(tmp_path / "b")  # a link elsewhere is no loop: followed as torchvision
    assert len(ImageFolder(tmp_path)) == 3


def test_nan_in_a_tabular_feature_names_the_column(tmp_path):
    ds = taxi_fares(_taxi(tmp_path / "t.csv"))
    cats, conts, y = ds.train.arrays
    conts = conts.copy()
    conts[4, 2] = np.inf
    bad = data.Data("taxi", data.ArrayDataset(cats, conts, y), ds.test, info=ds.info)
    with pytest.raises(CorruptDataError, match=rf"continuous columns hold 1 NaN/inf value\(s\) in column\(s\) "
                                               rf"'{ds.info['cont_cols'][2]}', row 4"):
        data.datasets.check_values(bad, "regression")


# ============================================================ kill -9 (slow)
def _cmd(workdir, *extra):
    return [sys.executable, "-m", "experiments.mnist_cnn", "--dataset", "mnist_5k", "--epochs", str(EPOCHS),
            "--batch-size", "20", "--workdir", str(workdir), "--no-progress", *extra]


def _final(workdir, model, epoch):
    learner = Learner(model, losses.nll_loss, optim.adam(1e-3))
    with Checkpointer(workdir / "checkpoints", log=None) as ckpt:
        state, meta = ckpt.restore(learner.init_state())
    assert meta["epoch"] == epoch
    history = [{k: v for k, v in r.items() if k not in ("epoch_time_s", "examples_per_s")}
               for r in json.loads((workdir / "history.json").read_text())]
    return jax.tree.leaves(state), json.loads((workdir / "metrics.json").read_text()), history


def _same(run, reference):
    (leaves, metrics, history), (ref_leaves, ref_metrics, ref_history) = run, reference
    assert all(np.array_equal(a, b) for a, b in zip(leaves, ref_leaves))
    assert (metrics["test_loss"], metrics.get("test_accuracy")) == (ref_metrics["test_loss"],
                                                                    ref_metrics.get("test_accuracy"))
    assert history == ref_history


def _run_and_kill(workdir, after_line, delay):
    """Start a run, SIGKILL it ``delay`` s after it prints a line starting with ``after_line``."""
    p = subprocess.Popen(_cmd(workdir), cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
    for line in p.stdout:
        if line.startswith(after_line):
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            break
    p.wait(timeout=120)
    return p.returncode


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    w = tmp_path_factory.mktemp("reference")
    subprocess.run(_cmd(w), cwd=ROOT, env=_env(), check=True, capture_output=True, timeout=600)
    return _final(w, ConvolutionalNetwork(rngs=nnx.Rngs(0)), EPOCHS)


# kill points: just as epoch 1's checkpoint is being written, in the middle of epoch 2,
# as epoch 2's checkpoint is being written
@pytest.mark.slow
@pytest.mark.parametrize("after_line,delay", [("epoch 1/", 0.0), ("epoch 1/", 0.5), ("epoch 2/", 0.05)])
def test_sigkill_then_resume_is_bit_identical(tmp_path, reference, after_line, delay):
    rc = _run_and_kill(tmp_path, after_line, delay)
    assert rc == -signal.SIGKILL
    out = subprocess.run(_cmd(tmp_path, "--resume"), cwd=ROOT, env=_env(), capture_output=True, text=True,
                         timeout=600, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "resumed from epoch" in out.stdout or "starting from scratch" in out.stdout
    _same(_final(tmp_path, ConvolutionalNetwork(rngs=nnx.Rngs(0)), EPOCHS), reference)


IMAGE_RUN = ["--num-workers", "2", "--checkpoint-steps", "4", "--steps-per-call", "2", "--epochs", "2",
             "--batch-size", "4", "--no-progress"]


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    write_image_folder(root / "train", "mnist_5k", per_class=4)  # 40 images: 10 batches of 4
    write_image_folder(root / "test", "mnist_5k", split="test", per_class=2)
    return root


def _image_run(folder, workdir, *extra, **env):
    return subprocess.run([sys.executable, "-m", "tests.e2e.imagefolder_run", "--data-dir", str(folder),
                           "--workdir", str(workdir), *IMAGE_RUN, *extra], cwd=ROOT, env=_env(**env),
                          capture_output=True, text=True, timeout=600, check=False)


@pytest.fixture(scope="module")
def image_reference(image_folder, tmp_path_factory):
    w = tmp_path_factory.mktemp("image_reference")
    out = _image_run(image_folder, w)
    assert out.returncode == 0, out.stderr[-3000:]
    return _final(w, ConvolutionalNetwork(rngs=nnx.Rngs(3)), 2)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"  # a zombie has ended
    except (FileNotFoundError, IndexError):
        return False


# kill points inside an ImageFolder epoch of 10 batches (positions saved every 4): as the
# position at batch 4 of epoch 1 is being written; at batch 6 of epoch 2, its batch-4
# position written and verified (the resume must start there)
@pytest.mark.slow
@pytest.mark.parametrize("kill_at,resumed", [("1:4", None), ("2:6:sealed", "resumed from batch 4 of epoch 2")])
def test_sigkill_inside_an_imagefolder_epoch_leaves_nothing_running_and_resumes_bit_identical(
        tmp_path, image_folder, image_reference, kill_at, resumed):
    shm_before = set(os.listdir("/dev/shm"))
    killed = _image_run(image_folder, tmp_path, KILL_AT=kill_at, PIDS_FILE=str(tmp_path / "pids.json"))
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    at_kill = json.loads((tmp_path / "pids.json").read_text())
    assert len(at_kill["children"]) >= 2  # two loader workers (and the resource tracker)
    shm_ours = set(at_kill["shm"]) - shm_before
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (any(map(_alive, at_kill["children"]))
                                           or shm_ours & set(os.listdir("/dev/shm"))):
        time.sleep(0.2)
    assert not [p for p in at_kill["children"] if _alive(p)], "loader workers outlived the killed run"
    assert not shm_ours & set(os.listdir("/dev/shm")), "shared-memory segments outlived the killed run"
    out = _image_run(image_folder, tmp_path, "--resume")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "taking over the lock of pid" in out.stdout
    if resumed:
        assert resumed in out.stdout, out.stdout
    _same(_final(tmp_path, ConvolutionalNetwork(rngs=nnx.Rngs(3)), 2), image_reference)


# ============================================================ kept from before
@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_workdir_fails_before_training(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    out = subprocess.run(_cmd(ro / "run"), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode != 0 and "not writable" in out.stderr and "epoch 1/" not in out.stdout


def test_workdir_that_is_a_file_fails_before_training(tmp_path, capsys):
    from experiments import mnist_cnn

    f = tmp_path / "file"
    f.write_text("x")
    line = _one_line_error(capsys, mnist_cnn.main, ["--dataset", "mnist_5k", "--workdir", str(f / "run"),
                                                   "--no-progress"])
    assert "not writable" in line
