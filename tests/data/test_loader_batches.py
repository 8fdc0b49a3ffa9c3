"""The loader's batches are the same bit for bit whatever path makes them: arrays gathered
on the host or on the device, images stored as uint8 and converted on the device, the
per-record path, stacked for ``train_steps`` or one by one, resumed mid-epoch, sliced
for several processes, padded. Each case is checked against the batches that commit
4a30710 (before the device feed) made, as SHA-256 digests, and against NumPy."""

import hashlib
import itertools

import jax
import numpy as np
import pytest

from jaxdl.data import ArrayDataset, DataLoader, arrays
from jaxdl.data import augment as A
from jaxdl.data.arrays import ByteToFloat
from jaxdl.data.sampling import epoch_layout

N, H, W, C = 53, 4, 3, 2


def _data():
    rng = np.random.default_rng(7)
    x8 = rng.integers(0, 256, (N, H, W, C), dtype=np.uint8)
    return x8, x8.astype(np.float32) / 255.0, (np.arange(N) % 5).astype(np.int32)  # as datasets.images_to_float


class Records:
    """A map-style dataset with the same rows: the per-record path."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


# (name, DataLoader keywords, epochs, steps, start)
CASES = [
    ("plain", {"batch_size": 8}, (0, 1), 1, 0),
    ("shuffled", {"batch_size": 8, "shuffle": True, "seed": 3}, (0, 1, 2), 1, 0),
    ("stacked", {"batch_size": 8, "shuffle": True, "seed": 3}, (1, 2), 3, 0),
    ("resumed", {"batch_size": 8, "shuffle": True, "seed": 3}, (2,), 3, 4),
    ("drop_last", {"batch_size": 8, "shuffle": True, "seed": 1, "drop_last": True}, (1, 2), 2, 0),
    ("padded", {"batch_size": 8, "shuffle": True, "seed": 3, "pad_last": True}, (1,), 2, 0),
    ("process0of2", {"batch_size": 8, "shuffle": True, "seed": 3, "process_index": 0, "process_count": 2},
     (1, 2), 2, 0),
    ("process1of2", {"batch_size": 8, "shuffle": True, "seed": 3, "process_index": 1, "process_count": 2}, (1,), 2, 1),
    ("padded1of2", {"batch_size": 8, "shuffle": True, "seed": 3, "pad_last": True,
                    "process_index": 1, "process_count": 2},
     (1,), 2, 0),
    ("augmented", {"batch_size": 8, "shuffle": True, "seed": 3, "augment": A.horizontal_flip()}, (1,), 3, 0),
    ("augmented_resumed", {"batch_size": 8, "shuffle": True, "seed": 3, "augment": A.random_crop(1)}, (2,), 2, 3),
]

# sha256 of every (stacked flag, array dtype, shape, bytes) of the cases above, as the loader of
# commit 4a30710 gave them from ArrayDataset(float32 images, labels)
GOLDEN = {
    "plain": "d7fb2d5dd27734c3267f027478059e86da645f5f93d5eada4d5453d1fa8e6b15",
    "shuffled": "320a4b8627018178428e6353d7e4cf63f68caef9ba169d7bcc68343243b1dab1",
    "stacked": "0152caa153a17440d9fb0caf89f82a39cad531e754d2ce9963a68d01497cdf52",
    "resumed": "b078a7afa40714e4cf63ea7be3b28c4dec02f7973e39f0b87ed5d5c04f6dbe3d",
    "drop_last": "cf8797bb6003f106933fdcb59e8e2a4072043e77c4d233983ea144158ef4ab67",
    "padded": "0799da0e26697af3c89c11189c42061d4d90d82b3f49e405f03044ccb0dec838",
    "process0of2": "594ccdf7c166d18203e493db34e2ccd131f141c22fb273add9ec26fb8d462acb",
    "process1of2": "66b1000d184db6283fd8adc512e4e42a2b8554027cfb8600fd801d21aea544c4",
    "padded1of2": "251575a7f0205f37a838ddd15cd15d21740568094e4c65422f1755f62bd7a078",
    "augmented": "c6fabfadfa54a4096f333e8ef133caa41c2863fd9bddea1e593357d6dfc0d174",
    "augmented_resumed": "279827b6b9ada4239c09df8a9f0fd72c11ee356ef318d67a982aa21de6e7c5a2",
}


def _digest(chunks) -> str:
    h = hashlib.sha256()
    for stacked, batch in chunks:
        h.update(b"S" if stacked else b"1")
        for a in batch:
            a = np.asarray(a)
            h.update(f"{a.dtype}{a.shape}".encode())
            h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _chunks(loader, epochs, steps, start):
    return [c for e in epochs for c in loader.epoch_chunks(e, steps, start)]


def _unstacked(chunks):
    """Every batch on its own: stacks split into their batches."""
    out = []
    for stacked, batch in chunks:
        out += [(False, tuple(np.asarray(a)[i] for a in batch)) for i in range(len(batch[0]))] if stacked \
            else [(False, batch)]
    return out


@jax.jit
def _through_scan(batch):
    """A stacked DeviceBatch materialized step by step inside lax.scan, as train_steps does."""
    parts, one = batch.per_step()
    return jax.lax.scan(lambda c, p: (c, one(p).materialize()), 0, parts)[1]


_materialize = jax.jit(lambda b: b.materialize())


def _fed(loader, epochs, steps, start):
    """The batches as fit's compiled steps see them (DataLoader.feed, materialized in jit)."""
    return [(True, _through_scan(b)) if b.steps else (False, _materialize(b))
            for e in epochs for b in loader.feed(e, steps, start)]


def _numpy_batches(x, y, kw, epoch, start):
    """The batches of one epoch from sampling.epoch_layout and NumPy fancy-indexing."""
    process_count = kw.get("process_count", 1)
    drop_last = kw.get("drop_last", False) or (process_count > 1 and not kw.get("pad_last", False))
    order, sizes, valid = epoch_layout(N, kw["batch_size"], kw.get("seed", 0), epoch, kw.get("shuffle", False),
                                       drop_last, kw.get("pad_last", False), kw.get("process_index", 0),
                                       process_count)
    bounds = np.cumsum([0, *sizes])
    out = []
    for lo, hi in itertools.pairwise(bounds):
        out.append((x[order[lo:hi]], y[order[lo:hi]], *(() if valid is None else (valid[lo:hi],))))
    return out[start:]


def test_golden_digests_cover_every_case():
    assert sorted(GOLDEN) == sorted(c[0] for c in CASES)


@pytest.mark.parametrize("name,kw,epochs,steps,start", [
    pytest.param(*c, marks=pytest.mark.slow) if "augment" in c[1] else c for c in CASES], ids=[c[0] for c in CASES])
def test_batches_equal_the_old_loaders(name, kw, epochs, steps, start, monkeypatch):
    x8, xf, y = _data()
    to_tensor = ByteToFloat.to_tensor()
    sources = {"float arrays": lambda **k: DataLoader(ArrayDataset(xf, y), **k),
               "uint8 arrays, ToTensor on the device": lambda **k: DataLoader(
                   ArrayDataset(x8, y, decode=(to_tensor, None)), **k)}
    for label, loader in sources.items():
        assert loader(**kw).device_resident  # by default, data this small stays on the device
        for resident, in_step in ((False, False), (True, False), (True, True)):  # in_step: as on a GPU or TPU
            monkeypatch.setattr(arrays, "GATHER_IN_STEP_ON_CPU", in_step)
            made = loader(**kw, device_resident=resident)
            for how, batches in (("epoch_chunks", _chunks), ("feed", _fed)):
                got = batches(made, epochs, steps, start)
                assert _digest(got) == GOLDEN[name], f"{label}, device_resident={resident}, in step {in_step}, {how}"
    # the per-record path: the same batches
    records = DataLoader(Records(xf, y), **kw)
    assert not records.device_resident
    want = _digest(_unstacked(_chunks(sources["float arrays"](**kw), epochs, steps, start)))
    for how, batches in (("epoch_chunks", _chunks), ("feed", _fed)):
        assert _digest(_unstacked(batches(records, epochs, steps, start))) == want, f"records, {how}"
    if "augment" not in kw:
        want = [b for e in epochs for b in _numpy_batches(xf, y, kw, e, start)]
        got = [b for e in epochs for b in DataLoader(ArrayDataset(xf, y), **kw).epoch(e, start)]
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert len(g) == len(w)
            for a, b in zip(g, w):
                np.testing.assert_array_equal(np.asarray(a), b)
                assert np.asarray(a).dtype == b.dtype


# (DataLoader keywords, the calls' (steps, examples per step) in epoch 1) for 53 examples in
# batches of 4 (2 per process), 5 per call: the full batches in stacks of 5 and the rest of
# them in one stack of 3 (before: 3 single calls), a partial last batch alone
TAIL = {
    "shuffled": ({"shuffle": True, "seed": 3}, [(5, 4), (5, 4), (3, 4), (1, 1)]),
    "drop_last": ({"shuffle": True, "seed": 3, "drop_last": True}, [(5, 4), (5, 4), (3, 4)]),
    "process1of2": ({"shuffle": True, "seed": 3, "process_index": 1, "process_count": 2},
                    [(5, 2), (5, 2), (3, 2)]),
    "padded0of2": ({"shuffle": True, "seed": 3, "pad_last": True, "process_index": 0, "process_count": 2},
                   [(5, 2), (5, 2), (3, 2), (1, 1)]),
    "augmented": ({"shuffle": True, "seed": 3, "augment": A.horizontal_flip()}, [(5, 4), (5, 4), (3, 4), (1, 1)]),
}


@pytest.mark.parametrize("name", list(TAIL))
def test_the_rest_of_the_full_batches_is_one_shorter_stack_of_the_same_rows(name, device_resident):
    """Every step sees the rows (and the augmentation) it saw when the rest of the full
    batches went one per call: those of sampling.epoch_layout, and those of the loader's
    batches one at a time; resuming mid-epoch gives the rest of them, one per call."""
    kw, calls = TAIL[name]
    x8, _, _ = _data()
    ids = np.arange(N, dtype=np.int32)  # each row's number as its label: what a step sees
    loader = DataLoader(ArrayDataset(x8, ids, decode=(ByteToFloat.to_tensor(), None)), batch_size=4,
                        device_resident=device_resident, **kw)
    fed = list(loader.feed(1, 5))
    assert [b.shape for b in fed] == calls and [b.steps for b in fed] == [k if k > 1 else 0 for k, _ in calls]
    steps = [s for stacked, b in _fed(loader, (1,), 5, 0)
             for s in ([tuple(np.asarray(a)[i] for a in b) for i in range(len(b[0]))] if stacked else [b])]
    one_by_one = list(loader.epoch(1))
    want = _numpy_batches(x8, ids, {**kw, "batch_size": 4}, 1, 0)
    assert len(steps) == len(one_by_one) == len(want) == sum(k for k, _ in calls)
    for step, single, (_, rows, *mask) in zip(steps, one_by_one, want):
        np.testing.assert_array_equal(np.asarray(step[1]), rows)  # the epoch's rows, in its order
        for a, b in zip(step, single, strict=True):  # the same images, augmented by the same key
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        for a, b in zip(step[2:], mask):  # pad_last's mask
            np.testing.assert_array_equal(np.asarray(a), b)
    resumed = list(loader.feed(1, 5, start=7))
    assert all(b.shape[0] == 1 and not b.steps for b in resumed) and len(resumed) == len(steps) - 7
    for b, single in zip(resumed, one_by_one[7:]):
        for a, c in zip(_materialize(b), single, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(c))


def test_a_dataset_kept_on_the_device_is_gathered_in_the_step_except_on_a_cpu(monkeypatch):
    """On a GPU or TPU the batch is the rows' indices into the dataset on the device;
    on a CPU (one program at a time) the rows gathered by NumPy, no device copy made."""
    x8, _, y = _data()
    assert jax.default_backend() == "cpu"
    for in_step in (False, True):
        monkeypatch.setattr(arrays, "GATHER_IN_STEP_ON_CPU", in_step)
        loader = DataLoader(ArrayDataset(x8, y), 8, shuffle=True, device_resident=True)
        batch = next(iter(loader.feed(1, 3)))
        assert (batch.index is not None) == in_step and batch.shape == (3, 8)
        assert (loader._source._device_arrays is not None) == in_step


@pytest.mark.parametrize("name", list(TAIL))
def test_the_per_record_path_splits_an_epoch_into_the_same_calls(name):
    """Map-style datasets (ImageFolder) go to the step in the same calls as arrays:
    the rest of the full batches as one shorter stack; resuming, one batch per call."""
    kw, calls = TAIL[name]
    x8, _, _ = _data()
    ids = np.arange(N, dtype=np.int32)
    records = DataLoader(Records(x8, ids), batch_size=4, **kw)
    assert [(b.shape, b.steps) for b in records.feed(1, 5)] == [(c, c[0] if c[0] > 1 else 0) for c in calls]
    arrays_fed = DataLoader(ArrayDataset(x8, ids), batch_size=4, device_resident=False, **kw)
    for got, want in zip(records.feed(1, 5), arrays_fed.feed(1, 5), strict=True):
        for a, b in zip(_materialize(got), _materialize(want), strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert [b.shape for b in records.feed(1, 5, start=7)] == [(1, c[1]) for c in calls for _ in range(c[0])][7:]


if __name__ == "__main__":  # the digests of the loader on PYTHONPATH (how GOLDEN was made, at 4a30710)
    x8, xf, y = _data()
    for name, kw, epochs, steps, start in CASES:
        print(f'    "{name}": "{_digest(_chunks(DataLoader(ArrayDataset(xf, y), **kw), epochs, steps, start))}",')



@pytest.mark.parametrize("in_step", [False, True])
def test_the_next_epoch_prepared_during_the_last_call_is_the_same(in_step, monkeypatch):
    """The end of an epoch prepares the next epoch's shuffle and first call (ArrayBatches.batches):
    used only for exactly that epoch, steps and start; any other order of asking gives the batches
    a new loader gives, and an epoch left part way prepares nothing."""
    monkeypatch.setattr(arrays, "GATHER_IN_STEP_ON_CPU", in_step)
    x8, _, y = _data()
    make = lambda: DataLoader(ArrayDataset(x8, y, decode=(ByteToFloat.to_tensor(), None)), 8, shuffle=True, seed=3,
                              device_resident=True)
    fresh = lambda e, steps, start=0: _digest(_fed(make(), (e,), steps, start))
    loader, layouts = make(), []
    plan_layout = loader._source.plan.layout
    monkeypatch.setattr(loader._source.plan, "layout", lambda e: layouts.append(e) or plan_layout(e))
    asked = [(1, 3, 0), (2, 3, 0), (3, 2, 0), (5, 2, 0), (6, 2, 4), (7, 3, 0), (7, 3, 0)]
    for e, steps, start in asked:
        assert _digest(_fed(loader, (e,), steps, start)) == fresh(e, steps, start), (e, steps, start)
    # each epoch's layout once, ahead of it when asked in sequence, plus the ones prepared and not asked for
    assert layouts == [1, 2, 3, 3, 4, 5, 6, 6, 7, 7, 8, 7, 8]
    it = loader.feed(8, 3)
    next(it)  # epoch 8 left after its first call: nothing prepared for epoch 9
    assert loader._source._ahead is None
    assert _digest(_fed(loader, (9,), 3, 0)) == fresh(9, 3)
