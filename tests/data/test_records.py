"""jaxdl.data.records: worker processes give the same batches, resume and persist; a bad
file or record reaches the main process as itself, naming the record, before its batch;
records a dataset asks to skip are left out the same way in every run."""

import warnings

import numpy as np
import pytest

from jaxdl.data import ArrayDataset, DataLoader, ImageFolder
from jaxdl.data import image_transforms as transforms
from jaxdl.data.errors import UnreadableImageError
from tests.data.datasets import ListDataset, PairDataset, as_batches, assert_same_batches, corrupt_folder, pairs


@pytest.mark.slow
def test_worker_processes_give_the_same_batches_resume_and_persist():
    """grain workers (spawned: a few seconds): same batches as the array path in every
    epoch, the workers kept from one epoch to the next, and a mid-epoch start."""
    from jaxdl.data.records import WorkerStream

    x, y = pairs(37)
    arrays = DataLoader(ArrayDataset(x, y), 4, shuffle=True, seed=5)
    loader = DataLoader(PairDataset(x, y), 4, shuffle=True, seed=5, num_workers=2)
    want = [as_batches(arrays.epoch(e)) for e in range(3)]
    assert_same_batches(as_batches(loader.epoch(0)), want[0])
    stream = loader._source._stream
    assert isinstance(stream, WorkerStream) and not stream.closed
    assert_same_batches(as_batches(loader.epoch(1)), want[1])
    assert loader._source._stream is stream  # the same worker processes
    for i, _ in enumerate(loader.epoch(2)):  # leave epoch 2 after 3 batches
        if i == 2:
            break
    assert_same_batches(as_batches(loader.epoch(2, start=3)), want[2][3:])  # picks up where it stopped
    assert loader._source._stream is stream
    assert_same_batches(as_batches(loader.epoch(1, start=5)), want[1][5:])  # elsewhere: new workers
    assert loader._source._stream is not stream and stream.closed
    fresh = DataLoader(PairDataset(x, y), 4, shuffle=True, seed=5, num_workers=2)
    assert_same_batches(as_batches(fresh.epoch(2, start=7)), want[2][7:])


@pytest.mark.parametrize("num_workers", [0, 2])
def test_corrupt_file_raises_naming_it_before_its_batch(fashion_folder, tmp_path, num_workers):
    import shutil

    root = tmp_path / "bad"
    shutil.copytree(fashion_folder, root)
    bad, _ = corrupt_folder(root)
    ds = ImageFolder(root, transform=transforms.Compose([transforms.ToTensor()]))
    position = ds.samples.index((str(bad), ds.class_to_idx["Coat"]))
    loader = DataLoader(ds, 4, num_workers=num_workers)  # unshuffled: the bad file is in batch position // 4
    seen = []
    with pytest.raises(UnreadableImageError) as info:
        for _, yb in loader.epoch(0):
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
    bad, text = corrupt_folder(root)
    ds = ImageFolder(root, transform=transforms.ToTensor(), on_error="skip")
    runs = []
    for workers in (2, 0):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            runs.append(as_batches(DataLoader(ds, 8, shuffle=True, seed=2, num_workers=workers).epoch(4)))
        skipped = sorted(str(w.message) for w in caught if "skipped" in str(w.message))
        assert len(skipped) == 2 and str(bad) in skipped[0] + skipped[1] and str(text) in skipped[0] + skipped[1]
        assert "class folder 'Coat'" in skipped[0] + skipped[1]
    assert_same_batches(runs[0], runs[1])
    from jaxdl.data.sampling import epoch_order

    order = epoch_order(len(ds), 2, 4, True)  # the bad files' batches come out smaller by one each
    bad_positions = {i for i, (path, _) in enumerate(ds.samples) if path in (str(bad), str(text))}
    want = [len(order[k:k + 8]) - len(bad_positions & set(order[k:k + 8].tolist())) for k in range(0, len(ds), 8)]
    assert [len(b[1]) for b in runs[0]] == want and sum(want) == len(ds) - 2


def test_dataset_errors_and_dead_workers_surface_in_the_main_process():
    x, y = pairs(60)
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
        for _, yb in loader.epoch(0, start=3):
            got.append(yb.tolist())
    assert got == [[k % 5 for k in range(4 * b, 4 * b + 4)] for b in range(3, 3 + len(got))] and len(got) < 9
    assert "__main__" in "\n".join(info.value.__notes__)
    # with SkipRecord a user's dataset drops a record, warned
    with pytest.warns(UserWarning, match=r"record 3 left out \(dataset\[3\], batch 0 of epoch 0\)"):
        got = as_batches(DataLoader(PairDataset(x[:24], y[:24], skip_at=[3]), 4).epoch(0))
    assert [len(b[1]) for b in got] == [3, 4, 4, 4, 4, 4]


def test_per_record_bad_input_is_explained():
    x, y = pairs(6)
    with pytest.raises(ValueError, match="device_resident"):
        DataLoader(PairDataset(x, y), 2, device_resident=True)
    ragged = ListDataset([(np.zeros((2, 2)), 0), (np.zeros((3, 2)), 1)])
    with pytest.raises(ValueError, match=r"dataset\[1\] field 0 has shape \(3, 2\).*imagenet_transform"):
        next(DataLoader(ragged, 2).epoch(0))
    with pytest.raises(TypeError, match="returned a dict"):
        next(DataLoader(ListDataset([{"x": 1}]), 1).epoch(0))
    with pytest.raises(ValueError, match="num_workers"):
        DataLoader(PairDataset(x, y), 2, num_workers=-1)
    with pytest.raises(ValueError, match="prefetch_factor"):
        DataLoader(PairDataset(x, y), 2, num_workers=2, prefetch_factor=0)
