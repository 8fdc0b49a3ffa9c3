"""CIFAR python batches from fixture files: layout, labels, errors; the cifar10
experiment end to end on them."""

import json
import pickle

import numpy as np
import pytest

from jaxdl.data import load
from jaxdl.data.errors import CorruptDataError, DataNotFoundError


def write_cifar10(root, n_train=8, n_test=6, seed=0):
    """torchvision's layout: root/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}."""
    rng = np.random.default_rng(seed)
    d = root / "cifar-10-batches-py"
    d.mkdir(parents=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        n = n_test if name == "test_batch" else n_train
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, n).tolist()}
        (d / name).write_bytes(pickle.dumps(batch))
        batches[name] = batch
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (d / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    return batches


def test_cifar10_reads_torchvision_layout_as_nhwc(tmp_path):
    batches = write_cifar10(tmp_path)
    ds = load("cifar10", tmp_path)
    assert len(ds.train) == 40 and len(ds.test) == 6 and ds.classes[3] == "cat"
    x, y = ds.test.arrays
    raw = batches["test_batch"][b"data"][1]
    # row-major CHW in the file: red plane first; pixel (row 2, col 5) of green
    assert x.shape == (6, 32, 32, 3) and x.dtype == np.float32
    assert x[1, 2, 5, 1] == pytest.approx(raw[1024 + 2 * 32 + 5] / 255)
    np.testing.assert_array_equal(y, batches["test_batch"][b"labels"])


def test_missing_cifar_names_every_place_and_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXDL_DATA", str(tmp_path / "env"))
    with pytest.raises(DataNotFoundError) as e:
        load("cifar10", tmp_path)
    msg = str(e.value)
    assert str(tmp_path / "cifar-10-batches-py") in msg and str(tmp_path / "env") in msg
    assert "download=True" in msg


def test_corrupt_batch_is_named(tmp_path):
    write_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"\x80\x04truncated")
    with pytest.raises(CorruptDataError, match="data_batch_3"):
        load("cifar10", tmp_path)


def test_cifar10_experiment_runs_on_fixture(tmp_path):
    from experiments import cifar10

    write_cifar10(tmp_path / "data", n_train=20, n_test=10)
    out = cifar10.main(["--data-dir", str(tmp_path / "data"), "--workdir", str(tmp_path / "run"),
                        "--epochs", "1", "--no-progress"])
    assert (tmp_path / "run" / "test_images.png").is_file()
    # the reported accuracy is the trained model's on the 10 test images, normalised to [-1, 1] as in training
    x, y = load("cifar10", tmp_path / "data").test.arrays
    pred = np.asarray(out.learner.predict(out.state, (x - 0.5) / 0.5)).argmax(1)
    assert out.metrics["test_accuracy"] == np.mean(pred == y) and out.metrics["selected_on"] == "last"
    cm = np.array(json.loads((tmp_path / "run" / "metrics.json").read_text())["confusion_matrix"])
    assert cm.sum() == 10 and np.trace(cm) == np.sum(pred == y)
    assert cm.sum(axis=1).tolist() == np.bincount(y, minlength=10).tolist()  # rows: the true labels
    assert cm.sum(axis=0).tolist() == np.bincount(pred, minlength=10).tolist()  # columns: the predictions


def test_cifar10_experiment_without_data_exits_with_the_recipe(tmp_path, monkeypatch, capsys):
    from experiments import cifar10
    from jaxdl import cli

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    with pytest.raises(SystemExit) as e:
        cli.run(cifar10.main, ["--workdir", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert e.value.code == 1 and "--download" in err and "cifar-10-batches-py" in err
    assert "--data-dir DIR" in err and "data_dir=" not in err  # settings named by their flags
