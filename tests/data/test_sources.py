"""jaxdl.data.sources: the canonical files read (Debian's Fashion-MNIST, torchvision's
layouts, CIFAR python batches, a TFDS data dir without network), and clear errors on
missing or corrupt files."""

import gzip
import os

import numpy as np
import pytest

from jaxdl.data import load, sources
from jaxdl.data.errors import CorruptDataError, DataNotFoundError
from tests.data.datasets import write_cifar10

DEBIAN = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isdir(DEBIAN), reason="needs: apt-get install dataset-fashion-mnist")
def test_debian_fashion_mnist_real_files():
    ds = load("fashion_mnist")
    x, y = ds.train.arrays
    assert x.shape == (60000, 28, 28, 1) and len(ds.test) == 10000 and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and np.bincount(y).tolist() == [6000] * 10
    assert ds.classes[0] == "T-shirt/top" and "fashion_mnist" in ds.source


def test_tfds_prepared_dir_is_read_without_network(tmp_path, monkeypatch):
    import tensorflow_datasets as tfds

    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    (tmp_path / "tfds" / "mnist").mkdir(parents=True)  # "prepared"; mock_data supplies the records
    with tfds.testing.mock_data(num_examples=7, policy=tfds.testing.MockPolicy.USE_CODE):
        ds = load("mnist", fallback=False)
    assert len(ds.train) == 7 and ds.train.arrays[0].shape[1:] == (28, 28, 1) and "TFDS" in ds.source


def test_corrupt_idx_files_are_named(tmp_path):
    good = bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + bytes(5)
    (tmp_path / "ok").write_bytes(good)
    assert sources.read_idx(tmp_path / "ok").tolist() == [0] * 5
    (tmp_path / "magic").write_bytes(b"\x01\x02" + good[2:])
    with pytest.raises(CorruptDataError, match="magic"):
        sources.read_idx(tmp_path / "magic")
    (tmp_path / "short").write_bytes(good[:-2])
    with pytest.raises(CorruptDataError, match="truncated"):
        sources.read_idx(tmp_path / "short")
    (tmp_path / "bad.gz").write_bytes(gzip.compress(good)[:10])
    with pytest.raises(CorruptDataError, match="bad.gz"):
        sources.read_idx(tmp_path / "bad.gz")


def test_torchvision_layout_is_found(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem, arr in zip(sources.IDX_FILES, [np.zeros((3, 28, 28), np.uint8), np.arange(3, dtype=np.uint8),
                                             np.zeros((2, 28, 28), np.uint8), np.arange(2, dtype=np.uint8)]):
        header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        (raw / stem).write_bytes(header + arr.tobytes())
    ds = load("mnist", tmp_path, fallback=False)
    assert len(ds.train) == 3 and ds.test.arrays[1].tolist() == [0, 1]


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
