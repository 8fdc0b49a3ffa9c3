"""ImageFolder, torchvision's ImageNet preprocessing, and the per-record DataLoader path:
pixels and folder indexing against torchvision on real images (sklearn's and
matplotlib's JPEG photos, Fashion-MNIST written as PNGs), the same batches as the array
path, resuming mid-epoch, and bad files reported in the main process.

Module-level imports stay light: the loader's worker processes import this module to
unpickle the datasets defined here."""

import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from jaxdl.data import (
    ArrayDataset,
    DataLoader,
    ImageFolder,
    SkipRecord,
    write_image_folder,
)
from jaxdl.data import image_transforms as transforms
from jaxdl.data.errors import UnreadableImageError
from jaxdl.data.export import safe_folder_name
from jaxdl.data.image_folder import pil_loader


def _photos():
    import matplotlib.cbook
    import sklearn.datasets

    sk = Path(sklearn.datasets.__file__).parent / "images"
    return [sk / "china.jpg", sk / "flower.jpg", Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg",
                                                                                       asfileobj=False))]


def _torchvision():
    import torch_reference.vision

    torch_reference.vision.models()  # the import shim first
    import torchvision.datasets
    import torchvision.transforms

    return torchvision.transforms, torchvision.datasets


@pytest.fixture(scope="module")
def fashion_folder(tmp_path_factory) -> Path:
    """3 real Fashion-MNIST test images per class, 28x28 grayscale PNGs."""
    return write_image_folder(tmp_path_factory.mktemp("fm"), "fashion_mnist", split="test", per_class=3)


def _as_batches(loader_epoch):
    return [tuple(np.asarray(a) for a in b) for b in loader_epoch]


def _assert_same_batches(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert len(g) == len(w)
        for a, b in zip(g, w):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------- preprocessing


@pytest.mark.parametrize("crop,resize", [(224, 256), (299, 342)])
def test_imagenet_transform_same_pixels_as_torchvision(fashion_folder, crop, resize):
    T, _ = _torchvision()
    ours = transforms.imagenet_transform(crop, resize)
    theirs = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(),
                        T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    files = _photos() + sorted(fashion_folder.glob("*/*.png"))[::6]
    worst = 0.0
    for f in files:
        image = pil_loader(str(f))
        x_HWC = ours(image)
        ref_HWC = theirs(image).numpy().transpose(1, 2, 0)
        assert x_HWC.shape == (crop, crop, 3) and x_HWC.dtype == np.float32
        worst = max(worst, float(np.abs(x_HWC - ref_HWC).max()))
    # same Pillow resampling and the same float32 operations: measured 0.0 (the issue allows 1/255)
    assert worst == 0.0, worst


def test_resize_and_center_crop_geometry_as_torchvision():
    T, _ = _torchvision()
    photo = pil_loader(str(_photos()[0]))  # 640x427
    for size in [(301, 255), (255, 301), (224, 224), (100, 333)]:  # odd margins: Python's round
        image = photo.resize(size)
        for crop in [224, (200, 111), 350]:  # 350: larger than the image -> zero padding
            got = np.asarray(transforms.CenterCrop(crop)(image))
            want = np.asarray(T.CenterCrop(crop)(image))
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(transforms.CenterCrop(crop)(np.asarray(image)), want)  # arrays too
        for spec in [256, (120, 90), 64]:
            np.testing.assert_array_equal(np.asarray(transforms.Resize(spec)(image)), np.asarray(T.Resize(spec)(image)))
        np.testing.assert_array_equal(np.asarray(transforms.Resize(200, max_size=210)(image)),
                                      np.asarray(T.Resize(200, max_size=210)(image)))
    gray = np.asarray(photo.convert("L"))
    np.testing.assert_array_equal(np.asarray(transforms.Resize(100)(gray)), np.asarray(T.Resize(100)(photo.convert("L"))))
    assert transforms.ToTensor()(gray[:5, :7]).shape == (5, 7, 1)


def test_transform_bad_input_says_what_is_expected():
    with pytest.raises(TypeError, match="uint8"):
        transforms.Resize(8)(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(TypeError, match="float32 HWC"):
        transforms.Normalize(transforms.IMAGENET_MEAN, transforms.IMAGENET_STD)(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="zeros"):
        transforms.Normalize([0.5], [0.0])
    with pytest.raises(ValueError, match="interpolation"):
        transforms.Resize(8, interpolation="cubic-ish")


# --------------------------------------------------------------------------- folders


def test_write_image_folder_writes_real_fashion_mnist(tmp_path):
    from PIL import Image

    from jaxdl.data import load

    data = load("fashion_mnist")
    root = write_image_folder(tmp_path / "fm", data, split="test", per_class=2, size=40, rgb=True)
    folders = sorted(p.name for p in root.iterdir())
    assert folders == sorted(safe_folder_name(c) for c in data.classes)
    assert "T-shirt_top" in folders and all(len(list((root / f).glob("*.png"))) == 2 for f in folders)
    first = min((root / "Trouser").glob("*.png"))
    assert Image.open(first).mode == "RGB" and Image.open(first).size == (40, 40)
    # unresized grayscale: the very pixels of the data set
    plain = write_image_folder(tmp_path / "plain", data, split="test", per_class=1)
    x, y = data.test.arrays
    for png in plain.glob("*/*.png"):
        i = int(png.stem)
        assert safe_folder_name(data.classes[y[i]]) == png.parent.name
        np.testing.assert_array_equal(np.asarray(Image.open(png)), np.round(x[i, :, :, 0] * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="no split 'val'"):
        write_image_folder(tmp_path / "v", data, split="val")


def test_image_folder_indexes_as_torchvision(fashion_folder, tmp_path):
    import shutil

    _, D = _torchvision()
    root = tmp_path / "tree"
    shutil.copytree(fashion_folder, root)
    shutil.copy(_photos()[0], root / "Bag" / "PHOTO.JPG")  # upper-case extension counts
    (root / "Bag" / "notes.txt").write_text("not an image")  # other extensions do not
    (root / "Coat" / "nested" / "deeper").mkdir(parents=True)  # sub-folders are walked
    shutil.copy(next((root / "Coat").glob("*.png")), root / "Coat" / "nested" / "deeper" / "a.png")
    (root / "stray.png").write_bytes(b"")  # files at the root are not samples
    ours, theirs = ImageFolder(root), D.ImageFolder(root)
    assert ours.classes == theirs.classes and ours.class_to_idx == theirs.class_to_idx
    assert ours.samples == theirs.samples and ours.targets == theirs.targets and len(ours) == 32
    assert ours.classes[:2] == ["Ankle boot", "Bag"]  # sorted folder names, not the data set's label order
    image, target = ours[5]
    ref_image, ref_target = theirs[5]
    assert target == ref_target and np.array_equal(np.asarray(image), np.asarray(ref_image))
    png_only = ImageFolder(root, is_valid_file=lambda p: p.endswith(".png"))
    assert png_only.samples == D.ImageFolder(root, is_valid_file=lambda p: p.endswith(".png")).samples

    (root / "Empty").mkdir()  # an empty class folder: an error, as torchvision's allow_empty=False
    with pytest.raises(FileNotFoundError, match="no valid file for the classes Empty"):
        ImageFolder(root)
    with_empty = ImageFolder(root, allow_empty=True)
    assert with_empty.class_to_idx == D.ImageFolder(root, allow_empty=True).class_to_idx
    assert "Empty" in with_empty.classes
    with pytest.raises(FileNotFoundError, match="no folder"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="class folder"):
        ImageFolder(root / "Bag")
    with pytest.raises(ValueError, match="not both"):
        ImageFolder(root, extensions=(".png",), is_valid_file=lambda p: True)


# --------------------------------------------------------------------------- the per-record path


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


def _pairs(n=23):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 3, 2, 1)).astype(np.float32), (np.arange(n) % 5).astype(np.int32)


@pytest.mark.parametrize("drop_last", [False, True])
def test_map_style_dataset_gives_the_array_paths_batches(drop_last):
    x, y = _pairs()
    arrays = DataLoader(ArrayDataset(x, y), 5, shuffle=True, seed=3, drop_last=drop_last)
    records = DataLoader(PairDataset(x, y), 5, shuffle=True, seed=3, drop_last=drop_last)
    assert len(records) == len(arrays) == (4 if drop_last else 5)
    for epoch in (0, 1):
        _assert_same_batches(_as_batches(records.epoch(epoch)), _as_batches(arrays.epoch(epoch)))
    chunks = [(s, tuple(np.asarray(a) for a in b)) for s, b in records.epoch_chunks(2, 3)]
    want = [(s, tuple(np.asarray(a) for a in b)) for s, b in arrays.epoch_chunks(2, 3)]
    assert [s for s, _ in chunks] == [s for s, _ in want] == [True] + [False] * (len(records) - 3)
    _assert_same_batches([b for _, b in chunks], [b for _, b in want])
    as_list = DataLoader(list(zip(x, y)), 5, shuffle=True, seed=3, drop_last=drop_last)  # a list of records
    _assert_same_batches(_as_batches(as_list.epoch(0)), _as_batches(arrays.epoch(0)))
    # python scalars and a single array per record, as torch's default_collate takes them
    xb, yb = next(DataLoader(_ListDataset([(float(i), i) for i in range(7)]), 4).epoch(0))
    assert xb.dtype == np.float32 and yb.dtype == np.int32 and yb.tolist() == [0, 1, 2, 3]
    (single,) = next(DataLoader(_ListDataset([np.full(2, i) for i in range(3)]), 3).epoch(0))
    assert single.shape == (3, 2)


@pytest.mark.parametrize("process_index", [0, 1])
def test_map_style_padded_and_per_process_batches_equal_the_array_paths(process_index):
    x, y = _pairs(23)  # 23 examples, global batch 6, 2 processes: the last global batch is padded to 6
    kw = dict(shuffle=True, seed=3, pad_last=True, process_index=process_index, process_count=2)
    arrays, records = DataLoader(ArrayDataset(x, y), 6, **kw), DataLoader(PairDataset(x, y), 6, **kw)
    got, want = _as_batches(records.epoch(1)), _as_batches(arrays.epoch(1))
    _assert_same_batches(got, want)
    assert all(len(b) == 3 and b[-1].dtype == bool for b in got)  # x, y and the padding mask
    assert sum(int(b[-1].sum()) for b in got) == (12 if process_index == 0 else 11)


class _ListDataset:
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_resume_mid_epoch_gives_the_uninterrupted_batches():
    x, y = _pairs()
    full = _as_batches(DataLoader(PairDataset(x, y), 4, shuffle=True, seed=1).epoch(2))
    resumed = _as_batches(DataLoader(PairDataset(x, y), 4, shuffle=True, seed=1).epoch(2, start=4))
    _assert_same_batches(resumed, full[4:])
    array_resumed = _as_batches(DataLoader(ArrayDataset(x, y), 4, shuffle=True, seed=1).epoch(2, start=4))
    _assert_same_batches(array_resumed, full[4:])
    assert list(DataLoader(PairDataset(x, y), 4).epoch(0, start=6)) == []
    with pytest.raises(ValueError, match="start batch 7 outside epoch 0 of 6 batches"):
        next(DataLoader(PairDataset(x, y), 4).epoch(0, start=7))


@pytest.mark.slow
def test_worker_processes_give_the_same_batches_resume_and_persist():
    """grain workers (spawned: a few seconds): same batches as the array path in every
    epoch, the workers kept from one epoch to the next, and a mid-epoch start."""
    from jaxdl.data.records import WorkerStream

    x, y = _pairs(37)
    arrays = DataLoader(ArrayDataset(x, y), 4, shuffle=True, seed=5)
    loader = DataLoader(PairDataset(x, y), 4, shuffle=True, seed=5, num_workers=2)
    want = [_as_batches(arrays.epoch(e)) for e in range(3)]
    _assert_same_batches(_as_batches(loader.epoch(0)), want[0])
    stream = loader._source._stream
    assert isinstance(stream, WorkerStream) and not stream.closed
    _assert_same_batches(_as_batches(loader.epoch(1)), want[1])
    assert loader._source._stream is stream  # the same worker processes
    for i, batch in enumerate(loader.epoch(2)):  # leave epoch 2 after 3 batches
        if i == 2:
            break
    _assert_same_batches(_as_batches(loader.epoch(2, start=3)), want[2][3:])  # picks up where it stopped
    assert loader._source._stream is stream
    _assert_same_batches(_as_batches(loader.epoch(1, start=5)), want[1][5:])  # elsewhere: new workers
    assert loader._source._stream is not stream and stream.closed
    fresh = DataLoader(PairDataset(x, y), 4, shuffle=True, seed=5, num_workers=2)
    _assert_same_batches(_as_batches(fresh.epoch(2, start=7)), want[2][7:])


def _corrupt_folder(root: Path) -> tuple[Path, Path]:
    bad = root / "Coat" / "00001-corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)  # a PNG signature, then nothing valid
    text = root / "Sandal" / "readme.jpg"
    text.write_text("this is not a JPEG")
    return bad, text


@pytest.mark.parametrize("num_workers", [0, 2])
def test_corrupt_file_raises_naming_it_before_its_batch(fashion_folder, tmp_path, num_workers):
    import shutil

    root = tmp_path / "bad"
    shutil.copytree(fashion_folder, root)
    bad, _ = _corrupt_folder(root)
    ds = ImageFolder(root, transform=transforms.Compose([transforms.ToTensor()]))
    position = ds.samples.index((str(bad), ds.class_to_idx["Coat"]))
    loader = DataLoader(ds, 4, num_workers=num_workers)  # unshuffled: the bad file is in batch position // 4
    seen = []
    with pytest.raises(UnreadableImageError) as info:
        for xb, yb in loader.epoch(0):
            seen.append(len(yb))
    message = str(info.value)
    assert str(bad) in message and "class folder 'Coat'" in message and "on_error='skip'" in message
    assert len(seen) == position // 4  # every batch before it, nothing of its own
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert f"dataset[{position}], batch {position // 4} of epoch 0" in notes
    if num_workers:
        assert "worker's traceback" in notes and "UnidentifiedImageError" in notes
    with pytest.raises(UnreadableImageError, match="readme.jpg"):
        ds[ds.samples.index((str(root / "Sandal" / "readme.jpg"), ds.class_to_idx["Sandal"]))]


def test_corrupt_files_skipped_with_a_warning_the_same_way_each_run(fashion_folder, tmp_path):
    import shutil

    root = tmp_path / "bad"
    shutil.copytree(fashion_folder, root)
    bad, text = _corrupt_folder(root)
    ds = ImageFolder(root, transform=transforms.ToTensor(), on_error="skip")
    runs = []
    for workers in (2, 0):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runs.append(_as_batches(DataLoader(ds, 8, shuffle=True, seed=2, num_workers=workers).epoch(4)))
        skipped = sorted(str(w.message) for w in caught if "skipped" in str(w.message))
        assert len(skipped) == 2 and str(bad) in skipped[0] + skipped[1] and str(text) in skipped[0] + skipped[1]
        assert "class folder 'Coat'" in skipped[0] + skipped[1]
    _assert_same_batches(runs[0], runs[1])
    from jaxdl.data.sampling import epoch_order

    order = epoch_order(len(ds), 2, 4, True)  # the bad files' batches come out smaller by one each
    bad_positions = {i for i, (path, _) in enumerate(ds.samples) if path in (str(bad), str(text))}
    want = [len(order[k:k + 8]) - len(bad_positions & set(order[k:k + 8].tolist())) for k in range(0, len(ds), 8)]
    assert [len(b[1]) for b in runs[0]] == want and sum(want) == len(ds) - 2


def test_dataset_errors_and_dead_workers_surface_in_the_main_process():
    x, y = _pairs(60)
    loader = DataLoader(PairDataset(x, y, fail_at=9, kill_at=49), 4, num_workers=2)  # batches 2 and 12
    with pytest.raises(ValueError, match="record 9 is broken") as info:  # the user's own exception type
        for _ in loader.epoch(0):
            pass
    notes = "\n".join(info.value.__notes__)
    assert "dataset[9], batch 2 of epoch 0" in notes and "in __getitem__" in notes  # the worker's traceback
    # the workers carry on past it; one that dies outright (its batches in flight are lost
    # with it) gives an exception here, not a hang
    got = []
    with pytest.raises(RuntimeError, match="terminated|exit") as info:
        for xb, yb in loader.epoch(0, start=3):
            got.append(yb.tolist())
    assert got == [[k % 5 for k in range(4 * b, 4 * b + 4)] for b in range(3, 3 + len(got))] and len(got) < 9
    assert "__main__" in "\n".join(info.value.__notes__)
    # with SkipRecord a user's dataset drops a record, warned
    with pytest.warns(UserWarning, match=r"record 3 left out \(dataset\[3\], batch 0 of epoch 0\)"):
        got = _as_batches(DataLoader(PairDataset(x[:24], y[:24], skip_at=[3]), 4).epoch(0))
    assert [len(b[1]) for b in got] == [3, 4, 4, 4, 4, 4]


def test_per_record_bad_input_is_explained():
    x, y = _pairs(6)
    with pytest.raises(ValueError, match="device_resident"):
        DataLoader(PairDataset(x, y), 2, device_resident=True)
    ragged = _ListDataset([(np.zeros((2, 2)), 0), (np.zeros((3, 2)), 1)])
    with pytest.raises(ValueError, match=r"dataset\[1\] field 0 has shape \(3, 2\).*imagenet_transform"):
        next(DataLoader(ragged, 2).epoch(0))
    with pytest.raises(TypeError, match="returned a dict"):
        next(DataLoader(_ListDataset([{"x": 1}]), 1).epoch(0))
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(PairDataset(x, y), 2, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(PairDataset(x, y), 2, num_workers=2, prefetch_factor=0)
