"""The data layer: real readers, embedded sets, loader order and coverage, splits,
scalers, windows, augmentation, TFDS (mocked), and clear errors on bad files."""

import gzip
import os

import jax
import numpy as np
import pytest

from jaxdl.data import ArrayDataset, DataLoader, load
from jaxdl.data import augment as aug
from jaxdl.data import sources
from jaxdl.data.errors import CorruptDataError, DataNotFoundError
from jaxdl.data.series import MinMaxScaler, StandardScaler, split_last, windows

DEBIAN = "/usr/share/datasets/fashion-mnist"


@pytest.mark.skipif(not os.path.isdir(DEBIAN), reason="needs: apt-get install dataset-fashion-mnist")
def test_debian_fashion_mnist_real_files():
    ds = load("fashion_mnist")
    x, y = ds.train.arrays
    assert x.shape == (60000, 28, 28, 1) and len(ds.test) == 10000 and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0 and np.bincount(y).tolist() == [6000] * 10
    assert ds.classes[0] == "T-shirt/top" and "fashion_mnist" in ds.source


def test_embedded_sets():
    d = load("mnist_5k")
    assert (len(d.train), len(d.test)) == (4000, 1000) and np.bincount(d.test.arrays[1]).tolist() == [100] * 10
    i = load("iris")
    assert (len(i.train), len(i.test)) == (120, 30)
    p = load("pima")
    x, y = p.train.arrays
    assert x.shape[1] == 8 and y.shape[1] == 1 and x.min() == pytest.approx(-1) and x.max() == pytest.approx(1)
    assert abs(p.test.arrays[1].mean() - p.train.arrays[1].mean()) < 0.02  # stratified
    a = load("affairs")
    assert len(a.train) + len(a.test) == 6366 and len(a.info["cat_cols"]) >= 2 and len(a.info["cont_cols"]) >= 3
    from jaxdl.data.datasets import alcohol_sales
    s = alcohol_sales()
    assert len(s) == 325 and str(s.index[0]).startswith("1992-01")


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(ValueError, match="known:.*fashion_mnist"):
        load("imagenet")


def test_array_dataset_indexing():
    ds = ArrayDataset(np.arange(10), np.arange(10) * 2)
    assert len(ds) == 10 and ds[-1] == (9, 18) and ds[2:4][1].tolist() == [4, 6]
    with pytest.raises(IndexError):
        ds[10]
    with pytest.raises(ValueError, match="differ in length"):
        ArrayDataset(np.arange(3), np.arange(4))


@pytest.mark.parametrize("device_resident", [False, True])
def test_loader_covers_every_example_once_and_is_deterministic(device_resident):
    ds = ArrayDataset(np.arange(103, dtype=np.int32), np.arange(103, dtype=np.int32) % 7)
    a = DataLoader(ds, 10, shuffle=True, seed=3, device_resident=device_resident)
    b = DataLoader(ds, 10, shuffle=True, seed=3)
    e1 = np.concatenate([np.asarray(x) for x, _ in a.epoch(1)])
    assert sorted(e1.tolist()) == list(range(103)) and len(a) == 11
    assert e1.tolist() == np.concatenate([np.asarray(x) for x, _ in b.epoch(1)]).tolist()  # same order both modes
    e2 = np.concatenate([np.asarray(x) for x, _ in a.epoch(2)])
    assert e1.tolist() != e2.tolist()
    assert e1[:5].tolist() == np.random.default_rng([3, 1]).permutation(103)[:5].tolist()  # any machine
    dl = DataLoader(ds, 10, drop_last=True)
    assert len(dl) == 10 and all(x.shape[0] == 10 for x, _ in dl.epoch(0))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(ds, 0)


@pytest.mark.parametrize("device_resident", [False, True])
def test_padded_loader_gives_every_example_once_in_any_process_count(device_resident):
    ds = ArrayDataset(np.arange(103, dtype=np.int32), np.arange(103, dtype=np.int32) % 7)
    for count in (1, 2, 5):
        seen, masks = [], []
        for index in range(count):
            dl = DataLoader(ds, 10, shuffle=True, seed=3, pad_last=True, process_index=index, process_count=count,
                            device_resident=device_resident)
            batches = list(dl.epoch(1))
            assert len(dl) == len(batches) == 11 and all(len(b) == 3 for b in batches)  # x, y, mask
            assert [len(x) for x, _, _ in batches] == [10 // count] * 10 + [-(-3 // count)]  # last: 3 padded up
            seen += [np.asarray(x)[np.asarray(m)] for x, _, m in batches]
            masks.append(np.concatenate([np.asarray(m) for *_, m in batches]))
        assert sorted(np.concatenate(seen).tolist()) == list(range(103))  # each example once, none twice
        assert sum((~m).sum() for m in masks) == -(-3 // count) * count - 3  # the padding, masked out
    training = DataLoader(ds, 10, process_index=1, process_count=2)  # training keeps dropping the partial batch
    assert len(training) == 10 and all(len(b) == 2 and len(b[0]) == 5 for b in training.epoch(1))
    with pytest.raises(ValueError, match="exclude"):
        DataLoader(ds, 10, drop_last=True, pad_last=True)


def test_scalers_are_sklearns_keep_float32_and_fit_on_train_only():
    from sklearn import preprocessing
    from sklearn.exceptions import NotFittedError

    assert MinMaxScaler is preprocessing.MinMaxScaler and StandardScaler is preprocessing.StandardScaler
    x = np.random.default_rng(0).normal(5, 3, (50, 3)).astype(np.float32)
    for scaler in (MinMaxScaler((-1.0, 1.0)), StandardScaler()):
        z = scaler.fit_transform(x)
        assert z.dtype == np.float32
        np.testing.assert_allclose(scaler.inverse_transform(z), x, rtol=1e-5, atol=1e-5)
    mm = MinMaxScaler((-1.0, 1.0)).fit(x[:25])
    assert mm.transform(x[:25]).min() == pytest.approx(-1) and mm.transform(x[:25]).max() == pytest.approx(1)
    with pytest.raises(NotFittedError, match="fit"):
        MinMaxScaler().transform(x)
    p = load("pima")  # scaled by sklearn's scaler, fitted on the training split only
    xtr = p.train.arrays[0]
    assert isinstance(p.info["scaler"], preprocessing.MinMaxScaler) and xtr.dtype == np.float32
    np.testing.assert_allclose(xtr.min(0), -1, atol=1e-6)
    np.testing.assert_allclose(xtr.max(0), 1, atol=1e-6)


def test_time_series_split_and_windows():
    s = np.arange(30, dtype=np.float32)
    train, test = split_last(s, 12)
    assert len(train) == 18 and test[0] == 18
    x, y = windows(train, 12)
    notes = [(train[i:i + 12], train[i + 12]) for i in range(len(train) - 12)]  # the notes' input_data(seq, ws)
    np.testing.assert_array_equal(x[..., 0], [w for w, _ in notes])
    np.testing.assert_array_equal(y[:, 0], [label for _, label in notes])
    assert x.shape == (6, 12, 1) and y.shape == (6, 1)
    assert np.shares_memory(x, train) and not x.flags.writeable  # sliding_window_view: no copy of the windows
    with pytest.raises(ValueError):
        split_last(s, 30)
    with pytest.raises(ValueError, match="window"):
        windows(train, 18)


def test_augmentations_are_deterministic_and_correct():
    x = jax.random.uniform(jax.random.key(0), (6, 8, 8, 3))
    k = jax.random.key(1)
    flipped = jax.jit(aug.horizontal_flip(1.0))(k, x)
    np.testing.assert_array_equal(flipped, x[:, :, ::-1])
    np.testing.assert_array_equal(aug.random_crop(0)(k, x), x)
    crop = jax.jit(aug.random_crop(2))
    c = crop(k, x)
    assert c.shape == x.shape and np.array_equal(c, crop(k, x)) and not np.array_equal(c, x)
    t = jax.jit(aug.trivial_augment())(k, x)
    assert t.shape == x.shape and float(t.min()) >= 0 and float(t.max()) <= 1
    loader = DataLoader(ArrayDataset(np.asarray(x), np.arange(6)), 3, augment=aug.horizontal_flip(1.0))
    first = next(iter(loader.epoch(0)))[0]
    np.testing.assert_array_equal(first, np.asarray(x)[:3, :, ::-1])


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


def test_missing_mnist_without_fallback_lists_places(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    with pytest.raises(DataNotFoundError) as e:
        load("mnist", fallback=False)
    msg = str(e.value)
    assert str(tmp_path / ".cache" / "jaxdl") in msg and "tfds" in msg and "download=True" in msg


def test_a_named_data_dir_without_mnist_is_an_error_naming_the_files_and_places(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    monkeypatch.delenv("JAXDL_DATA", raising=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataNotFoundError) as e:
        load("mnist", empty)  # not the 5,000-digit subset: the user named this folder
    msg = str(e.value)
    assert all(f"{stem}[.gz]" in msg for stem in sources.IDX_FILES)
    assert str(empty) in msg and str(empty / "MNIST" / "raw") in msg
    assert len(load("mnist").train) == 4000  # naming no folder: the subset, as before


def test_torchvision_layout_is_found(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for stem, arr in zip(sources.IDX_FILES, [np.zeros((3, 28, 28), np.uint8), np.arange(3, dtype=np.uint8),
                                             np.zeros((2, 28, 28), np.uint8), np.arange(2, dtype=np.uint8)]):
        header = bytes([0, 0, 8, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        (raw / stem).write_bytes(header + arr.tobytes())
    ds = load("mnist", tmp_path, fallback=False)
    assert len(ds.train) == 3 and ds.test.arrays[1].tolist() == [0, 1]


def test_validation_split_by_fraction_and_count_stratified():
    d = load("mnist_5k")
    v = d.split_validation(0.1, seed=1)
    assert (len(v.train), len(v.val), len(v.test)) == (3600, 400, 1000)
    assert np.bincount(v.val.arrays[1]).tolist() == [40] * 10  # stratified
    assert len(d.split_validation(250).val) == 250
    a, b = d.split_validation(0.1, seed=1), d.split_validation(0.1, seed=1)
    np.testing.assert_array_equal(a.val.arrays[1], b.val.arrays[1])
    both = np.concatenate([v.train.arrays[0].reshape(3600, -1)[:, 300], v.val.arrays[0].reshape(400, -1)[:, 300]])
    assert np.isclose(both.sum(), d.train.arrays[0].reshape(4000, -1)[:, 300].sum())  # a partition
    with pytest.raises(ValueError, match="non-empty"):
        d.split_validation(4000)
