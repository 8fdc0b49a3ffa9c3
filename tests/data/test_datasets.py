"""jaxdl.data.datasets: the embedded sets load as the notes split them, unknown names and
missing data are explained, a named folder without MNIST is an error (no quiet subset),
and validation splits are stratified."""

import numpy as np
import pytest

from jaxdl.data import load, sources
from jaxdl.data.errors import DataNotFoundError


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
