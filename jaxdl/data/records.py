"""The per-record path of :class:`jaxdl.data.DataLoader` (torch: ``DataLoader`` over a
map-style ``Dataset``, ``num_workers``, ``default_collate``).

Any object with ``__len__`` and ``__getitem__(i) -> (x, y, ...)`` (arrays, scalars or
PIL images) is batched record by record: ``num_workers=0`` in the calling process,
``num_workers>0`` in that many worker processes through Google's grain
(``MapDataset.map(...).mp_prefetch``), each worker building whole batches in turn, so the
batches come back in order. Which records make each batch is decided by
:class:`jaxdl.data.sampling.BatchPlan`, as for the array path, so an ``ArrayDataset``
and a map-style dataset holding the same rows give the same batches; ``start=k`` begins an epoch at batch ``k``
with exactly the batches an uninterrupted run yields from there.

An exception in ``__getitem__`` (or in the transform it calls) reaches the calling
process as itself, with a note naming the record, batch and epoch (and the worker's
traceback), before any part of that batch is handed out. A dataset may instead raise
:class:`jaxdl.data.SkipRecord` for a record it cannot produce: the loader warns
and leaves that record out of its batch, the same records in every run. Where torch
differs: ``default_collate`` makes CHW tensors and int64 labels; here the fields are
stacked as NumPy arrays and moved to the device as they are (int64 becomes int32, as
everywhere in JAX without x64).
"""

from __future__ import annotations

import dataclasses
import pickle
import traceback
import warnings
import weakref
from collections.abc import Iterator

import jax
import numpy as np

from jaxdl.data import workers
from jaxdl.data.arrays import DeviceBatch
from jaxdl.data.errors import SkipRecord
from jaxdl.data.sampling import BatchPlan


def is_map_style(dataset) -> bool:
    """torch's map-style ``Dataset``: ``len(ds)`` and ``ds[i]``. A tuple or list of arrays
    ``(x, y)`` is not one (DataLoader batches those as arrays); a list of records
    ``[(x0, y0), (x1, y1), ...]`` is."""
    if isinstance(dataset, (tuple, list)):
        return len(dataset) > 0 and isinstance(dataset[0], (tuple, list))
    return hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")


_SHARED_MIN_BYTES = 4096  # a record field at least this big is batched straight into shared memory


@dataclasses.dataclass
class RecordFailure:
    """One record that could not be produced: the exception (picklable), the worker's
    traceback text, and whether the dataset asked to skip it (``SkipRecord``)."""

    index: int
    error: BaseException
    traceback: str
    skipped: bool


def _fields(record, index: int) -> tuple:
    if isinstance(record, (tuple, list)):
        return tuple(record)
    if isinstance(record, dict):
        raise TypeError(f"dataset[{index}] returned a dict; return a tuple such as (x, y) "
                        "(DataLoader batches tuples of arrays, scalars or PIL images)")
    return (record,)


def collate(records: list[tuple], indices: list[int], alloc=np.empty) -> tuple[np.ndarray, ...]:
    """torch: ``default_collate``: stack field ``j`` of every record into one array
    (allocated by ``alloc(shape, dtype)``: shared memory in a worker process)."""
    n = {len(r) for r in records}
    if len(n) != 1:
        raise ValueError(f"records {indices} have different numbers of fields ({sorted(n)}); "
                         "every __getitem__ must return the same tuple layout")
    out = []
    for j in range(len(records[0])):
        column = [np.asarray(r[j]) for r in records]
        shape = column[0].shape
        for i, a in zip(indices, column):
            if a.shape != shape:
                raise ValueError(f"dataset[{i}] field {j} has shape {a.shape} but dataset[{indices[0]}]'s has "
                                 f"{shape}: every record of a batch needs the same shape (for images, a "
                                 "transform ending in a fixed-size crop, such as imagenet_transform())")
        dtype = np.result_type(*column)
        batch = alloc((len(column), *shape), dtype) if column[0].nbytes >= _SHARED_MIN_BYTES else None
        out.append(np.stack(column, out=batch))
    return tuple(out)


class LoadBatch:
    """Builds the batch at stream position ``p`` (epoch ``p // len(plan)``, batch
    ``p % len(plan)``), in a worker process or in the caller: the stacked fields (``None``
    if no record was produced) and the failures. Stops at the first failure that is not a
    skip: that batch is never handed out."""

    def __init__(self, dataset, plan: BatchPlan, in_worker: bool):
        self.dataset, self.plan, self.in_worker = dataset, plan, in_worker

    def __call__(self, position: int) -> tuple[tuple[np.ndarray, ...] | None, list[RecordFailure]]:
        records, kept, failures = [], [], []
        indices, valid = self.plan.indices(*divmod(int(position), len(self.plan)))
        for j, i in enumerate(map(int, indices)):
            try:
                fields = _fields(self.dataset[i], i)
                records.append(fields if valid is None else (*fields, bool(valid[j])))
                kept.append(i)
            except Exception as err:  # noqa: BLE001 -- every error is reported in the calling process
                failures.append(self._failure(i, err, isinstance(err, SkipRecord)))
                if not failures[-1].skipped:
                    return None, failures
        if not records:
            return None, failures
        try:
            if self.in_worker:  # written once, read by the calling process without a copy in between
                from grain.multiprocessing import SharedMemoryArray

                return collate(records, kept, SharedMemoryArray), failures
            return collate(records, kept), failures
        except Exception as err:  # noqa: BLE001 -- as above
            return None, [*failures, self._failure(kept[0], err, False)]

    def _failure(self, index: int, err: BaseException, skipped: bool) -> RecordFailure:
        text = traceback.format_exc() if self.in_worker else ""
        if self.in_worker:
            try:  # the exception itself travels to the calling process when it can
                pickle.loads(pickle.dumps(err))
            except Exception:  # noqa: BLE001 -- any failure to pickle: send its text instead
                err = RuntimeError(f"{type(err).__qualname__}: {err}")
        return RecordFailure(index, err, text, skipped)


def _default_unparsed_grain_flags() -> None:
    """grain 0.2.18 with jax reads its absl flag ``grain_enable_multiprocess_worker_profiling``
    even when the program never parsed absl flags, and ``mp_prefetch`` then fails with
    ``UnparsedFlagAccessError`` (google/grain#1355). The upstream fix reads the default
    in that case; this does the same: it marks that one flag as given, at its default
    value, only while absl flags are unparsed."""
    from absl import flags

    name = "grain_enable_multiprocess_worker_profiling"
    if not flags.FLAGS.is_parsed() and name in flags.FLAGS and not flags.FLAGS[name].present:
        flags.FLAGS[name].present = 1


def _close_and_drop(box: list) -> None:
    if box:
        box.pop().close()


_ENDLESS = 2**62  # stream positions: a worker pipeline runs on across epochs until closed


class WorkerStream:
    """grain worker processes producing the batches at positions ``position, position+1,
    ...`` in order (``MapDataset.range(...).map(load).mp_prefetch(...)``: worker ``i``
    builds every ``num_workers``-th batch, read back round-robin)."""

    def __init__(self, load: LoadBatch, position: int, num_workers: int, prefetch_factor: int):
        import grain

        _default_unparsed_grain_flags()
        pipeline = (grain.MapDataset.range(position, _ENDLESS).map(load)
                    .to_iter_dataset(grain.ReadOptions(num_threads=0, prefetch_buffer_size=0))
                    .mp_prefetch(grain.multiprocessing.MultiprocessingOptions(
                        num_workers=num_workers, per_worker_buffer_size=prefetch_factor),
                        worker_init_fn=workers.exit_with_parent()))  # no orphans after a kill -9
        self.position, self.busy = position, False
        self._box = [iter(pipeline)]  # the only reference to grain's iterator, dropped on close
        # stop the workers when this stream is dropped, and at interpreter exit while the
        # modules grain needs to shut down are still there
        self._stop = weakref.finalize(self, _close_and_drop, self._box)

    def __next__(self):
        try:
            out = next(self._box[0])
        except Exception as err:  # LoadBatch catches the dataset's errors: this is a worker failing
            self.close()
            if hasattr(err, "add_note"):
                err.add_note("A DataLoader worker process failed (see its output above). Workers are started "
                             "with 'spawn' and import the main module: a script that builds the DataLoader "
                             "outside `if __name__ == '__main__':` must add that guard.")
            raise
        self.position += 1
        return out

    @property
    def closed(self) -> bool:
        return not self._box

    def close(self) -> None:
        self._stop()


def put_unpinned(a: np.ndarray) -> jax.Array:
    """``jax.device_put`` of a batch that a worker left in shared memory. An accelerator
    copies it into device memory; a CPU device would take aligned host memory as it is
    (zero-copy) and so keep the segment and its file descriptor open for as long as the
    array lives: there it gets a copy instead."""
    out = jax.device_put(a)
    if (a.nbytes >= _SHARED_MIN_BYTES and any(d.platform == "cpu" for d in out.devices())
            and out.unsafe_buffer_pointer() == a.ctypes.data):
        out = jax.device_put(np.array(a))
    return out


class RecordBatches:
    """The batches of a map-style dataset, epoch by epoch, in ``plan``'s order (the
    array path's: partial last batch, ``drop_last``, per-process slicing, padding).
    With ``num_workers > 0`` the worker processes persist between epochs (torch:
    ``persistent_workers=True``): starting them costs seconds, and the next epoch's
    first batches are built while this one ends. They stop when the loader is
    garbage-collected, at exit, or on :meth:`close`."""

    def __init__(self, dataset, plan: BatchPlan, num_workers: int = 0, prefetch_factor: int = 2):
        if int(num_workers) < 0:
            raise ValueError(f"num_workers must be >= 0, got {num_workers}")
        if int(prefetch_factor) < 1:
            raise ValueError(f"prefetch_factor (batches buffered per worker) must be >= 1, got {prefetch_factor}")
        self.dataset, self.plan = dataset, plan
        self.num_workers, self.prefetch_factor = int(num_workers), int(prefetch_factor)
        self.full_batch = plan.batch_size // plan.process_count
        self._stream: WorkerStream | None = None

    def close(self) -> None:
        """Stop the worker processes (a later epoch starts new ones)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def _loaded(self, epoch: int, start: int) -> Iterator[tuple]:
        nb = len(self.plan)
        if self.num_workers == 0:
            load = LoadBatch(self.dataset, self.plan, in_worker=False)
            for k in range(start, nb):
                yield load(epoch * nb + k)
            return
        first = epoch * nb + start
        stream = self._stream
        private = stream is not None and stream.busy  # another epoch of this loader is being read
        at = stream is not None and (stream.position == first or (
            not self.plan.shuffle and stream.position % nb == start))  # unshuffled: every epoch alike
        if private or not at:
            if not private:
                self.close()
            stream = WorkerStream(LoadBatch(self.dataset, self.plan, in_worker=True), first,
                                  min(self.num_workers, nb), self.prefetch_factor)
            if not private:
                self._stream = stream
        stream.busy = True
        try:
            for _ in range(start, nb):
                yield next(stream)
        except GeneratorExit:  # the epoch was left early: the stream stays at the next batch
            raise
        except BaseException:  # a worker died or the caller was interrupted: start afresh next time
            stream.close()
            raise
        finally:
            stream.busy = False
            if private or stream.closed:
                stream.close()
                if stream is self._stream:
                    self._stream = None

    def batches(self, epoch: int, steps: int, start: int = 0) -> Iterator[DeviceBatch]:
        """The batches of epoch ``epoch`` from batch ``start``, split into calls as the
        array path splits them (``plan.call_spans``), each copied to the device when it
        is complete (a stack: when its last batch has been read). A stack with a batch
        shortened by skipped records goes as single batches."""
        put = put_unpinned if self.num_workers else jax.device_put
        singles = lambda run: (DeviceBatch(tuple(put(a) for a in arrays)) for arrays in run)  # noqa: E731
        loaded = self._loaded(epoch, start)
        try:
            for at, k in self.plan.call_spans(steps, start):
                run: list[tuple[np.ndarray, ...]] = []
                for i in range(at, at + k):
                    arrays, failures = next(loaded)
                    if any(not f.skipped for f in failures):  # every batch before a failing one is handed out
                        yield from singles(run)
                        run = []
                    self._report(failures, epoch, i)
                    if arrays is not None:
                        run.append(arrays)
                if k > 1 and len(run) == k and all(len(r[0]) == self.full_batch for r in run):
                    yield DeviceBatch(tuple(jax.device_put(np.stack(column)) for column in zip(*run)), steps=k)
                else:
                    yield from singles(run)
        finally:
            loaded.close()

    def _report(self, failures: list[RecordFailure], epoch: int, batch: int) -> None:
        for f in failures:
            where = f"dataset[{f.index}], batch {batch} of epoch {epoch}"
            if f.skipped:
                warnings.warn(f"{f.error} ({where})", stacklevel=4)
                continue
            err = f.error
            note = f"raised while loading {where}"
            if f.traceback:
                note += " in a DataLoader worker process; the worker's traceback:\n" + f.traceback.rstrip()
            if hasattr(err, "add_note"):
                err.add_note(note)
            raise err
