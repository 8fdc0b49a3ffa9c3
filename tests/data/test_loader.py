"""jaxdl.data.loader: every example once per epoch, in a seeded order; padded, masked and
per-process batches; stacked chunks equal to the single batches; a map-style dataset
batched as the array path batches the same rows; resuming mid-epoch."""

import numpy as np
import pytest

from jaxdl.data import ArrayDataset, DataLoader, augment
from tests.data.datasets import ListDataset, PairDataset, as_batches, assert_same_batches, pairs


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


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, n).astype(np.int32)


def test_epoch_chunks_are_the_epoch_batches():
    x, y = _images(103)
    loader = DataLoader((x, y), 10, shuffle=True, augment=augment.horizontal_flip())
    single = list(loader.epoch(2))
    unstacked = []
    for stacked, batch in loader.epoch_chunks(2, 4):
        unstacked += [tuple(a[i] for a in batch) for i in range(len(batch[0]))] if stacked else [batch]
    assert [(s, len(b[0])) for s, b in loader.epoch_chunks(2, 4)] == [(True, 4), (True, 4), (True, 2), (False, 3)]
    for a, b in zip(single, unstacked, strict=True):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(np.asarray(u), np.asarray(v))
    with pytest.raises(ValueError, match="steps must be >= 1"):
        next(loader.epoch_chunks(1, 0))


@pytest.mark.parametrize("drop_last", [False, True])
def test_map_style_dataset_gives_the_array_paths_batches(drop_last):
    x, y = pairs()
    arrays = DataLoader(ArrayDataset(x, y), 5, shuffle=True, seed=3, drop_last=drop_last)
    records = DataLoader(PairDataset(x, y), 5, shuffle=True, seed=3, drop_last=drop_last)
    assert len(records) == len(arrays) == (4 if drop_last else 5)
    for epoch in (0, 1):
        assert_same_batches(as_batches(records.epoch(epoch)), as_batches(arrays.epoch(epoch)))
    chunks = [(s, tuple(np.asarray(a) for a in b)) for s, b in records.epoch_chunks(2, 3)]
    want = [(s, tuple(np.asarray(a) for a in b)) for s, b in arrays.epoch_chunks(2, 3)]
    assert [s for s, _ in chunks] == [s for s, _ in want] == [True] + [False] * (len(records) - 3)
    assert_same_batches([b for _, b in chunks], [b for _, b in want])
    as_list = DataLoader(list(zip(x, y)), 5, shuffle=True, seed=3, drop_last=drop_last)  # a list of records
    assert_same_batches(as_batches(as_list.epoch(0)), as_batches(arrays.epoch(0)))
    # python scalars and a single array per record, as torch's default_collate takes them
    xb, yb = next(DataLoader(ListDataset([(float(i), i) for i in range(7)]), 4).epoch(0))
    assert xb.dtype == np.float32 and yb.dtype == np.int32 and yb.tolist() == [0, 1, 2, 3]
    (single,) = next(DataLoader(ListDataset([np.full(2, i) for i in range(3)]), 3).epoch(0))
    assert single.shape == (3, 2)


@pytest.mark.parametrize("process_index", [0, 1])
def test_map_style_padded_and_per_process_batches_equal_the_array_paths(process_index):
    x, y = pairs(23)  # 23 examples, global batch 6, 2 processes: the last global batch is padded to 6
    kw = dict(shuffle=True, seed=3, pad_last=True, process_index=process_index, process_count=2)
    arrays, records = DataLoader(ArrayDataset(x, y), 6, **kw), DataLoader(PairDataset(x, y), 6, **kw)
    got, want = as_batches(records.epoch(1)), as_batches(arrays.epoch(1))
    assert_same_batches(got, want)
    assert all(len(b) == 3 and b[-1].dtype == bool for b in got)  # x, y and the padding mask
    assert sum(int(b[-1].sum()) for b in got) == (12 if process_index == 0 else 11)


def test_resume_mid_epoch_gives_the_uninterrupted_batches():
    x, y = pairs()
    full = as_batches(DataLoader(PairDataset(x, y), 4, shuffle=True, seed=1).epoch(2))
    resumed = as_batches(DataLoader(PairDataset(x, y), 4, shuffle=True, seed=1).epoch(2, start=4))
    assert_same_batches(resumed, full[4:])
    array_resumed = as_batches(DataLoader(ArrayDataset(x, y), 4, shuffle=True, seed=1).epoch(2, start=4))
    assert_same_batches(array_resumed, full[4:])
    assert list(DataLoader(PairDataset(x, y), 4).epoch(0, start=6)) == []
    with pytest.raises(ValueError, match="start batch 7 outside epoch 0 of 6 batches"):
        next(DataLoader(PairDataset(x, y), 4).epoch(0, start=7))
