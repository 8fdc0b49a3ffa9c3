"""In-memory datasets and a vectorised batcher (torch: ``TensorDataset`` and ``DataLoader``).

Data that fits in memory stays in arrays: a batch is one fancy-index of each array,
25 to 100 times faster here than a per-record loader. Any other map-style dataset
(``__len__`` / ``__getitem__``, torch's ``Dataset``; :class:`jaxdl.data.ImageFolder`)
goes through the per-record path of :mod:`jaxdl.data.records`. The shuffle order of
epoch ``e`` is ``numpy.random.default_rng([seed, e]).permutation(n)``: the same on every
machine, in every mode and on both paths, so a resumed run sees exactly the batches an
uninterrupted one would.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data import records


class ArrayDataset:
    """torch: ``TensorDataset(*tensors)``: equal-length arrays indexed together.

    ``ds[i]`` returns a tuple with one row of each array (negative indices and slices
    work); ``len(ds)`` is the number of examples.
    """

    def __init__(self, *arrays):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        n = {len(a) for a in self.arrays}
        if len(n) != 1:
            raise ValueError(f"ArrayDataset arrays differ in length: {[len(a) for a in self.arrays]}")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)) and not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} examples")
        return tuple(a[index] for a in self.arrays)

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape}:{a.dtype}" for a in self.arrays)
        return f"ArrayDataset({len(self)} examples; {shapes})"


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """The example order of one epoch: a permutation seeded by (seed, epoch), or 0..n-1."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed, epoch]).permutation(n)


def epoch_layout(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool, drop_last: bool,
                 pad_last: bool = False, process_index: int = 0, process_count: int = 1
                 ) -> tuple[np.ndarray, list[int], np.ndarray | None]:
    """One process's view of epoch ``epoch``, shared by the array and per-record paths:
    its example indices in batch order, the size of each of its batches, and (with
    ``pad_last``) which positions hold real examples (the rest is padding)."""
    order = epoch_order(n, seed, epoch, shuffle)
    b, pc, pi = batch_size, process_count, process_index
    full, rest = divmod(n, b)
    last = 0 if drop_last or not rest else (-(-rest // pc) * pc if pad_last else rest)
    valid = None
    if pad_last:
        order = np.concatenate([order, order[np.arange(full * b + last - n) % n]])
        valid = np.arange(len(order)) < n
    if pc == 1:
        return order, [b] * full + ([last] if last else []), valid
    per, last_per = b // pc, last // pc  # this process's contiguous slice of each global batch
    take = np.concatenate([(np.arange(full)[:, None] * b + pi * per + np.arange(per)).ravel(),
                           full * b + pi * last_per + np.arange(last_per)]).astype(np.int64)
    return order[take], [per] * full + ([last_per] if last else []), None if valid is None else valid[take]


@jax.jit
def _take(arrays, idx):
    return tuple(jnp.take(a, idx, axis=0) for a in arrays)


class DataLoader:
    """torch: ``DataLoader(dataset, batch_size, shuffle, drop_last)``, with an explicit seed.

    ``loader.epoch(e)`` yields the batches of epoch ``e`` as tuples of device arrays;
    iterating the loader itself walks epochs 1, 2, ... like re-iterating a torch
    DataLoader. The last batch is smaller unless ``drop_last`` (it compiles the step
    once more). ``device_resident=True`` copies the whole dataset to the accelerator
    once and gathers each batch there (no host-to-device copy per batch).
    ``augment``: a ``(key, x) -> x`` function from :mod:`jaxdl.data.augment`, applied
    under jit to the first array of each batch with a key from (seed, epoch, batch);
    give it to the training loader only (torchvision: the train ``transform``).
    ``process_index``/``process_count`` (multi-host data parallelism): every process
    walks the same global order and yields only its contiguous slice of each global
    batch; ``batch_size`` must divide by ``process_count`` and the last partial batch
    is dropped (torch: ``DistributedSampler``), unless ``pad_last``.
    ``pad_last=True`` (evaluation loaders): every example is seen exactly once, in any
    number of processes. The last global batch is padded, with copies of the epoch's
    first examples, to a size that divides by ``process_count``, and every batch ends
    with one more array, a boolean mask (N,) that is False on the padding; ``evaluate``
    gives the masked rows weight 0 in every metric (torch's ``DistributedSampler``
    pads with repeated examples and counts them twice).
    Any other map-style ``dataset`` (``len(ds)``, ``ds[i] -> (x, y, ...)``; torch's
    ``Dataset``, :class:`jaxdl.data.ImageFolder`) is read record by record
    (:mod:`jaxdl.data.records`) in ``num_workers`` worker processes (0: in this process),
    each keeping ``prefetch_factor`` batches ready (torch's names); same order, batches
    and options as for arrays (``device_resident`` excepted).
    """

    def __init__(self, dataset: ArrayDataset | Sequence[np.ndarray], batch_size: int = 1,
                 shuffle: bool = False, *, seed: int = 0, drop_last: bool = False,
                 device_resident: bool = False, augment=None, process_index: int = 0,
                 process_count: int = 1, pad_last: bool = False, num_workers: int = 0,
                 prefetch_factor: int = 2):
        per_record = not isinstance(dataset, ArrayDataset) and records.is_map_style(dataset)
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
        self.process_index, self.process_count = process_index, process_count
        self.dataset, self.batch_size, self.shuffle = dataset, int(batch_size), shuffle
        self.seed, self.drop_last, self.device_resident = seed, drop_last, device_resident
        self.pad_last = pad_last
        self._device_arrays = tuple(jax.device_put(a) for a in dataset.arrays) if device_resident else None
        self._epoch = 0
        self._augment = jax.jit(augment) if augment is not None else None
        self._augment_stacked = jax.jit(jax.vmap(augment)) if augment is not None else None
        self._records = records.RecordBatches(dataset, self.batch_size, shuffle, seed, drop_last, pad_last,
                                              num_workers, prefetch_factor, process_index,
                                              process_count) if per_record else None

    def __len__(self) -> int:
        return records.num_batches(len(self.dataset), self.batch_size, self.drop_last)

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[jax.Array, ...]]:
        """The batches of epoch ``epoch``, one tuple of device arrays each; ``start=k``
        resumes mid-epoch: exactly the batches from the ``k``-th on."""
        for stacked, batch in self.epoch_chunks(epoch, 1, start):
            yield batch

    def epoch_chunks(self, epoch: int, steps: int, start: int = 0) -> Iterator[tuple[bool, tuple[jax.Array, ...]]]:
        """Epoch ``epoch`` as ``(stacked, batch)`` pairs for ``Learner.train_steps``: runs of
        ``steps`` full batches stacked on a new leading axis (``stacked=True``), then the
        rest of the epoch one batch at a time. Same batches, same order, same
        augmentation as :meth:`epoch`, from batch ``start`` on."""
        if steps < 1:
            raise ValueError(f"steps must be >= 1, got {steps}")
        if not 0 <= start <= len(self):
            raise ValueError(f"start batch {start} outside epoch {epoch} of {len(self)} batches")
        key = jax.random.fold_in(jax.random.key(self.seed), epoch) if self._augment else None
        first = start
        if self._records is not None:
            source = self._records.batches(epoch, steps, start)
        else:  # arrays: resuming at `start`, nothing is stacked
            source = self._batches(epoch, 1 if start else steps, start)
        for stacked, batch in source:
            k = batch[0].shape[0] if stacked else 1
            if key is not None:
                x, *rest = batch
                if stacked:
                    keys = jax.vmap(jax.random.fold_in, (None, 0))(key, jnp.arange(first, first + k))
                    x = self._augment_stacked(keys, x)
                else:
                    x = self._augment(jax.random.fold_in(key, first), x)
                batch = (x, *rest)
            first += k
            yield stacked, batch

    def _layout(self, epoch: int) -> tuple[np.ndarray, list[int], np.ndarray | None]:
        return epoch_layout(len(self.dataset), self.batch_size, self.seed, epoch, self.shuffle, self.drop_last,
                            self.pad_last, self.process_index, self.process_count)

    def _batches(self, epoch: int, steps: int, start: int = 0) -> Iterator[tuple[bool, tuple[jax.Array, ...]]]:
        order, sizes, valid = self._layout(epoch)
        b = self.batch_size // self.process_count
        n_full = sum(1 for z in sizes if z == b)  # every batch but a partial last one
        n_stacked = n_full // steps * steps if steps > 1 else 0  # batches that go in stacks
        starts = np.cumsum([0, *sizes])
        spans = [(True, i * b, (i + steps) * b) for i in range(0, n_stacked, steps)]
        spans += [(False, int(starts[i]), int(starts[i + 1])) for i in range(n_stacked, len(sizes))]
        spans = spans[start:]  # resuming mid-epoch (then steps == 1: one span per batch)

        def shape(a, stacked):
            return a.reshape(steps, b, *a.shape[1:]) if stacked else a

        if self.device_resident:
            order_d = jax.device_put(order.astype(np.int32))
            valid_d = jax.device_put(valid) if valid is not None else None
            for stacked, lo, hi in spans:
                batch = _take(self._device_arrays, shape(order_d[lo:hi], stacked))
                yield stacked, batch if valid_d is None else (*batch, shape(valid_d[lo:hi], stacked))
            return
        reorder = self.shuffle or self.process_count > 1 or (valid is not None and not valid.all())
        arrays = tuple(a[order] for a in self.dataset.arrays) if reorder else self.dataset.arrays
        arrays += () if valid is None else (valid,)
        for stacked, lo, hi in spans:
            yield stacked, tuple(jax.device_put(shape(a[lo:hi], stacked)) for a in arrays)

    def __iter__(self) -> Iterator[tuple[jax.Array, ...]]:
        self._epoch += 1
        return self.epoch(self._epoch)
