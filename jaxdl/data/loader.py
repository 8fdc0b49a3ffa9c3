"""torch's ``DataLoader``: batches of any dataset, with an explicit seed.

:class:`DataLoader` chooses the path: arrays (:class:`~jaxdl.data.ArrayDataset`, or a
tuple of arrays) are batched by fancy-indexing (:mod:`jaxdl.data.arrays`); any other
map-style dataset (``__len__`` / ``__getitem__``, torch's ``Dataset``;
:class:`jaxdl.data.ImageFolder`) record by record, optionally in worker processes
(:mod:`jaxdl.data.records`). Both take their batches from one
:class:`~jaxdl.data.sampling.BatchPlan`, so they give the same batches in the same order,
and a resumed run sees exactly the batches an uninterrupted one would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

import jax
import numpy as np

from jaxdl.data.arrays import ArrayBatches, ArrayDataset, DeviceBatch, fits_on_device
from jaxdl.data.records import RecordBatches, is_map_style
from jaxdl.data.sampling import BatchPlan


class DataLoader:
    """torch: ``DataLoader(dataset, batch_size, shuffle, drop_last)``, with an explicit seed.

    ``loader.epoch(e)`` yields the batches of epoch ``e`` as tuples of device arrays;
    iterating the loader itself walks epochs 1, 2, ... like re-iterating a torch
    DataLoader. The shuffle order of epoch ``e`` is
    ``numpy.random.default_rng([seed, e]).permutation(n)`` on every machine. The last
    batch is smaller unless ``drop_last`` (it compiles the step once more).

    ``fit`` takes the batches as :class:`~jaxdl.data.arrays.DeviceBatch` es
    (:meth:`feed`): arrays as stored (uint8 images stay uint8) and converted, augmented
    and, for a dataset kept on the device, gathered inside the compiled step. Data kept
    on the host is gathered and copied one call (up to ``steps_per_call`` batches) at
    a time, the next call's while the device computes (``fit``: one stack ahead, so the
    device holds at most two calls' batches), and the next epoch's shuffle and first
    call while the last call of an epoch computes (kept by the loader until then).

    Args:
        dataset: an :class:`ArrayDataset` or a tuple of equal-length arrays (batched as
            arrays), or any map-style dataset (``len(ds)``, ``ds[i] -> (x, y, ...)``;
            torch's ``Dataset``, :class:`jaxdl.data.ImageFolder`), read record by record.
        batch_size: examples per batch (torch's name), over all processes.
        shuffle: a new order every epoch, seeded by ``(seed, epoch)``.
        seed: the shuffle's and the augmentation's seed (torch: a ``generator``).
        drop_last: leave out the last partial batch (torch's name).
        device_resident: keep the whole dataset (as stored) on the accelerator, copied
            once, and gather each batch there (no host work or host-to-device copy per
            batch, the epoch's shuffle applied on the device; on a CPU, whose memory is
            the host's, the rows are gathered by NumPy beside the running step:
            :func:`~jaxdl.data.arrays.gathers_in_step`). None (default): when the
            dataset is arrays, JAX has one local device, and the stored arrays take at
            most a quarter of its free memory (``arrays.RESIDENT_FRACTION``; the CPU
            counts the machine's memory); ``False`` turns it off, ``True`` insists
            (arrays only). The batches are the same in both modes.
        augment: a ``(key, x) -> x`` function from :mod:`jaxdl.data.augment`, applied under
            jit to the first array of each batch with a key from (seed, epoch, batch);
            give it to the training loader only (torchvision: the train ``transform``).
        process_index: this process's index in multi-host data parallelism.
        process_count: the number of processes. Every process walks the same global order
            and yields only its contiguous slice of each global batch; ``batch_size``
            must divide by ``process_count`` and the last partial batch is dropped
            (torch: ``DistributedSampler``), unless ``pad_last``.
        pad_last: for evaluation loaders: every example is seen exactly once, in any
            number of processes. The last global batch is padded, with copies of the
            epoch's first examples, to a size that divides by ``process_count``, and every
            batch ends with one more array, a boolean mask (N,) that is False on the
            padding; ``evaluate`` gives the masked rows weight 0 in every metric (torch's
            ``DistributedSampler`` pads with repeated examples and counts them twice).
        num_workers: worker processes reading a map-style dataset (0: in this process);
            arrays ignore it (torch's name).
        prefetch_factor: batches each worker keeps ready (torch's name).
    """

    def __init__(self, dataset: ArrayDataset | Sequence[np.ndarray], batch_size: int = 1,
                 shuffle: bool = False, *, seed: int = 0, drop_last: bool = False,
                 device_resident: bool | None = None, augment=None, process_index: int = 0,
                 process_count: int = 1, pad_last: bool = False, num_workers: int = 0,
                 prefetch_factor: int = 2):
        per_record = not isinstance(dataset, ArrayDataset) and is_map_style(dataset)
        if per_record and device_resident:
            raise ValueError("device_resident needs the data as arrays (ArrayDataset); a map-style dataset "
                             "is read record by record")
        if not isinstance(dataset, ArrayDataset) and not per_record:
            dataset = ArrayDataset(*dataset)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
        if drop_last and batch_size > len(dataset):
            raise ValueError(f"drop_last with batch_size {batch_size} > {len(dataset)} examples "
                             "would give no batch at all")
        if drop_last and pad_last:
            raise ValueError("drop_last and pad_last exclude each other: pad_last keeps every example")
        if process_count > 1:
            if batch_size % process_count:
                raise ValueError(f"batch_size {batch_size} must divide by the {process_count} processes")
            drop_last = not pad_last
        if device_resident is None:
            device_resident = not per_record and fits_on_device(dataset.nbytes)
        self.process_index, self.process_count = process_index, process_count
        self.dataset, self.batch_size, self.shuffle = dataset, int(batch_size), shuffle
        self.seed, self.drop_last, self.device_resident = seed, drop_last, bool(device_resident)
        self.pad_last = pad_last
        self._epoch = 0
        self._augment = augment
        self._key = jax.random.key(seed) if augment is not None else None
        plan = BatchPlan(len(dataset), self.batch_size, seed, shuffle, drop_last, pad_last, process_index,
                         process_count)
        self._source = (RecordBatches(dataset, plan, num_workers, prefetch_factor) if per_record
                        else ArrayBatches(dataset, plan, self.device_resident))

    def __len__(self) -> int:
        return len(self._source.plan)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[jax.Array, ...]]:
        """The batches of epoch ``epoch``, one tuple of device arrays each; ``start=k``
        resumes mid-epoch: exactly the batches from the ``k``-th on."""
        for _stacked, batch in self.epoch_chunks(epoch, 1, start):
            yield batch

    def epoch_chunks(self, epoch: int, steps: int, start: int = 0) -> Iterator[tuple[bool, tuple[jax.Array, ...]]]:
        """Epoch ``epoch`` as ``(stacked, batch)`` pairs of device arrays: runs of at
        most ``steps`` full batches stacked on a new leading axis (``stacked=True``, for
        ``Learner.train_steps``; arrays: ``steps`` at a time, the rest of the full
        batches in one shorter run), the other batches one at a time. Same batches, same
        order, same augmentation as :meth:`epoch`, from batch ``start`` on."""
        for batch in self.feed(epoch, steps, start):
            yield bool(batch.steps), batch.realize()

    def feed(self, epoch: int, steps: int, start: int = 0) -> Iterator[DeviceBatch]:
        """:meth:`epoch_chunks` as :class:`~jaxdl.data.arrays.DeviceBatch` es, what
        ``fit`` hands to ``Learner.train_steps`` / ``train_step``: the gathering (on the
        device), the conversion of stored uint8 and the augmentation happen inside the
        step. Each batch is prepared when the previous one has been taken."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not 0 <= start <= len(self):
            raise ValueError(f"start batch {start} outside epoch {epoch} of {len(self)} batches")
        first = start
        if self._augment is not None:  # the augmentation's (epoch, position) of each call: slices of these
            epochs, position = np.full(steps, epoch, np.int32), np.arange(len(self), dtype=np.int32)
        for batch in self._source.batches(epoch, steps, start):
            k = batch.steps
            if self._augment is not None:
                batch = dataclasses.replace(batch, augment=self._augment, key=self._key,
                                            epoch=epochs[:k] if k else epochs[0],
                                            position=position[first:first + k] if k else position[first])
            first += max(k, 1)
            yield batch

    def epochs_stacked(self, epochs: Sequence[int]) -> DeviceBatch | None:
        """When every epoch is one batch: the batches of ``epochs`` stacked as
        ``len(epochs)`` steps of one call (``fit`` trains full-batch data so); None
        for a map-style dataset."""
        if not isinstance(self._source, ArrayBatches):
            return None
        batch = self._source.epochs_stacked(epochs)
        if self._augment is not None:
            batch = dataclasses.replace(batch, augment=self._augment, key=self._key,
                                        epoch=np.asarray(epochs, np.int32), position=np.zeros(len(epochs), np.int32))
        return batch

    def __iter__(self) -> Iterator[tuple[jax.Array, ...]]:
        self._epoch += 1
        return self.epoch(self._epoch)
