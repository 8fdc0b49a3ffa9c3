"""Small datasets and files for the data tests, in a module of their own: the loader's
worker processes import it to unpickle the datasets defined here, so its imports stay
light (numpy only)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np

from jaxdl.data import SkipRecord


class PairDataset:
    """A user's map-style dataset (torch's ``Dataset`` habit): (x, y) per index."""

    def __init__(self, x, y, fail_at=None, skip_at=(), kill_at=None):
        self.x, self.y, self.fail_at, self.skip_at, self.kill_at = x, y, fail_at, set(skip_at), kill_at

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        if i == self.fail_at:
            raise ValueError(f"record {i} is broken")
        if i in self.skip_at:
            raise SkipRecord(f"record {i} left out")
        if i == self.kill_at:
            os._exit(3)  # a worker dying outright (a segfaulting decoder, the OOM killer)
        return self.x[i], self.y[i]


class ListDataset:
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def pairs(n=23):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3, 2, 1)).astype(np.float32), (np.arange(n) % 5).astype(np.int32)


def as_batches(loader_epoch):
    return [tuple(np.asarray(a) for a in b) for b in loader_epoch]


def assert_same_batches(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert len(g) == len(w)
        for a, b in zip(g, w):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)


def corrupt_folder(root: Path) -> tuple[Path, Path]:
    bad = root / "Coat" / "00001-corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # a PNG signature, then nothing valid
    text = root / "Sandal" / "readme.jpg"
    text.write_text("this is not a JPEG")
    return bad, text


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


def photos() -> list[Path]:
    """Real photos that ship with scikit-learn and matplotlib (JPEG, RGB)."""
    import matplotlib.cbook
    import sklearn.datasets

    sk = Path(sklearn.datasets.__file__).parent / "images"
    return [sk / "china.jpg", sk / "flower.jpg", Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg",
                                                                                       asfileobj=False))]


def torchvision_modules():
    """``(torchvision.transforms, torchvision.datasets)``, imported beside CPU torch."""
    import torch_reference.vision

    torch_reference.vision.models()  # the import shim first
    import torchvision.datasets
    import torchvision.transforms

    return torchvision.transforms, torchvision.datasets
