"""Data that fits in memory, batched as arrays (torch: ``TensorDataset``, and the
``DataLoader`` over it), and the form in which every batch reaches a compiled step.

An :class:`ArrayDataset` keeps its arrays as they are stored: uint8 images stay uint8 (a
quarter of float32's bytes in memory and in every host-to-device copy), with a
:class:`ByteToFloat` that says how they become the float32 values a model sees (torch's
``ToTensor()``, optionally followed by ``Normalize``). A batch leaves the loader as a
:class:`DeviceBatch`: the stored arrays (the whole dataset kept on the device plus the
rows' indices, or the batch's rows copied from the host) and what turns them into the
model's inputs (the conversion, the augmentation), which runs inside the compiled step.
A batch is one fancy-index of each array: 25 to 100 times faster here than a per-record
loader.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxdl.data.sampling import BatchPlan

RESIDENT_FRACTION = 0.25  # a dataset "fits on the device" when it needs at most this share of the free memory
# tests set this to run, on a CPU, the in-step gather that GPUs and TPUs use (gathers_in_step)
GATHER_IN_STEP_ON_CPU = False


class ByteToFloat:
    """uint8 values turned into float32 through a table of the 256 values per channel
    (torch: ``ToTensor()``, ``x / 255``, optionally followed by ``Normalize(mean, std)``).

    The table is computed on the host by the same NumPy arithmetic that converts whole
    arrays (``x.astype(np.float32) / 255.0``, then the per-channel functions given to
    :meth:`then`), so looking values up on the device gives those float32 values bit
    for bit on every platform. (XLA turns a division by 255 into a multiplication by
    1/255, which differs from the division in the last bit for some values.)

    Args:
        table_VxC: float32 (256, C): the value of byte ``v`` in channel ``c`` (C = 1: every channel).
        name: what the table computes, for ``repr`` (``"ToTensor()"``).
    """

    def __init__(self, table_VxC: np.ndarray, name: str = "ToTensor()"):
        table = np.asarray(table_VxC)
        if table.dtype != np.float32 or table.ndim != 2 or table.shape[0] != 256:
            raise ValueError(f"ByteToFloat needs a float32 (256, channels) table, got {table.dtype} {table.shape}")
        self.table, self.name = table, name
        # channel c of byte v at v + 256 * c: one gather for every channel
        self._flat = np.ascontiguousarray(table.T).reshape(-1)
        self._hash = hash(table.tobytes())

    @classmethod
    def to_tensor(cls) -> ByteToFloat:
        """torch's ``ToTensor()`` scaling: byte ``v`` becomes ``float32(v) / 255``."""
        return cls((np.arange(256, dtype=np.uint8).astype(np.float32) / 255.0)[:, None], "ToTensor()")

    @property
    def channels(self) -> int:
        return self.table.shape[1]

    def then(self, fn: Callable[[np.ndarray], np.ndarray], channels: int | None = None) -> ByteToFloat:
        """This conversion followed by ``fn``, an elementwise per-channel function of NHWC
        float32 arrays (torch: ``Normalize``), folded into the table: ``fn`` is applied
        once, on the host, to the table as 256 one-pixel images of ``channels``
        channels (default: the table's)."""
        table = self.table
        if channels is not None and channels != self.channels:
            if self.channels != 1:
                raise ValueError(f"{self!r} has {self.channels} channels, not {channels}")
            table = np.repeat(table, channels, axis=1)
        out = np.asarray(fn(table[:, None, None, :]))
        if out.shape != (256, 1, 1, table.shape[1]) or out.dtype != np.float32:
            raise ValueError(f"{fn!r} is not an elementwise float32 function of each channel: it made "
                             f"{out.dtype} {out.shape} of {table.shape[1]}-channel pixels")
        return ByteToFloat(out.reshape(256, -1), f"{self.name}, {fn!r}")

    def _check(self, x) -> None:
        if x.dtype != np.uint8:
            raise TypeError(f"{self!r} converts uint8 arrays, got {x.dtype}")
        if self.channels > 1 and (x.ndim == 0 or x.shape[-1] != self.channels):
            raise ValueError(f"{self!r} has {self.channels} channels; the array's last axis is {x.shape}")

    def __call__(self, x: jax.Array) -> jax.Array:
        """The float32 values of ``x`` (uint8, channels last): a lookup, traceable under jit."""
        self._check(x)
        index = x.astype(jnp.int32)
        if self.channels > 1:
            index = index + jnp.arange(0, 256 * self.channels, 256, dtype=jnp.int32)
        return jnp.asarray(self._flat).at[index].get(mode="promise_in_bounds")

    def host(self, x: np.ndarray) -> np.ndarray:
        """The same values as :meth:`__call__`, computed with NumPy."""
        x = np.asarray(x)
        self._check(x)
        return self.table[x, np.arange(self.channels) if self.channels > 1 else 0]

    def __eq__(self, other) -> bool:  # equal tables convert alike: one compiled step serves both
        return isinstance(other, ByteToFloat) and np.array_equal(self.table, other.table)

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"ByteToFloat({self.name})"


class ArrayDataset:
    """torch: ``TensorDataset(*tensors)``: equal-length arrays indexed together.

    ``ds[i]`` returns a tuple with one row of each array as a model sees it (negative
    indices and slices work); ``len(ds)`` is the number of examples.

    Args:
        *arrays: arrays (anything ``numpy.asarray`` takes) with the same first dimension,
            e.g. ``ArrayDataset(x_NHWC, y_N)``; kept as given (``stored``).
        decode: per array, None (used as stored) or a :class:`ByteToFloat` that turns
            stored uint8 values into the float32 a model sees, e.g.
            ``ArrayDataset(x_uint8, y, decode=(ByteToFloat.to_tensor(), None))``:
            torchvision's ``ToTensor()`` images at a quarter of the memory. Loaders
            convert each batch on the device, inside the compiled step.
    """

    def __init__(self, *arrays, decode: Sequence[ByteToFloat | None] | None = None):
        if not arrays:
            raise ValueError("ArrayDataset needs at least one array")
        self.stored = tuple(np.asarray(a) for a in arrays)
        n = {len(a) for a in self.stored}
        if len(n) != 1:
            raise ValueError(f"ArrayDataset arrays differ in length: {[len(a) for a in self.stored]}")
        self.decode = tuple(decode) if decode is not None else (None,) * len(self.stored)
        if len(self.decode) != len(self.stored):
            raise ValueError(f"ArrayDataset: {len(self.decode)} decoders for {len(self.stored)} arrays; "
                             "give one per array (None: used as stored)")
        for i, (a, d) in enumerate(zip(self.stored, self.decode)):
            if d is not None:
                try:
                    d._check(a[:0])
                except (TypeError, ValueError) as e:
                    raise type(e)(f"ArrayDataset array {i} ({a.dtype} {a.shape}): {e}") from None

    @property
    def arrays(self) -> tuple[np.ndarray, ...]:
        """The examples as a model sees them: each stored array through its decoder
        (float32 images; computed anew at each access, four times the stored bytes for
        uint8 images)."""
        return tuple(a if d is None else d.host(a) for a, d in zip(self.stored, self.decode))

    @property
    def nbytes(self) -> int:
        """Bytes of the stored arrays (what a device copy of the dataset takes)."""
        return sum(a.nbytes for a in self.stored)

    def take(self, index) -> ArrayDataset:
        """The examples at ``index`` (an index array, a boolean mask, a slice) as a new
        dataset, stored and decoded as this one."""
        return ArrayDataset(*(a[index] for a in self.stored), decode=self.decode)

    def __len__(self) -> int:
        return len(self.stored[0])

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)) and not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for a dataset of {len(self)} examples")
        return tuple(a[index] if d is None else d.host(a[index]) for a, d in zip(self.stored, self.decode))

    def __repr__(self) -> str:
        shapes = ", ".join(f"{a.shape}:{a.dtype}" + (f" {d!r}" if d is not None else "")
                           for a, d in zip(self.stored, self.decode))
        return f"ArrayDataset({len(self)} examples; {shapes})"


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class DeviceBatch:
    """A batch, or ``steps`` batches stacked for ``Learner.train_steps``, as the loader
    hands it to a compiled step: the arrays as stored, which rows make it, and what turns
    them into the model's inputs. :meth:`materialize` (traceable; the steps call it)
    gathers the rows, converts them (``decode``) and augments the first array, so all
    of it runs inside the step's compiled program.

    Fields: ``source``, the stored arrays: the whole dataset when ``index`` is given
    (kept on the device, each row as unsigned words, ``rows`` saying each array's dtype
    and row shape), else the batch itself (``steps`` > 0: stacked on a leading axis);
    ``index``, the batch's rows of ``source`` ((B,), or (steps, B)); ``extra``,
    arrays appended after the fields (the ``pad_last`` mask); ``key``, ``epoch`` and
    ``position``: the augmentation's key is ``fold_in(fold_in(key, epoch), position)``
    (``position``: the batch's number in its epoch; one per step when stacked).
    """

    source: tuple
    index: Any = None
    extra: tuple = ()
    key: Any = None
    epoch: Any = None
    position: Any = None
    decode: tuple = dataclasses.field(default=(), metadata={"static": True})
    rows: tuple = dataclasses.field(default=(), metadata={"static": True})  # per source: (dtype, row shape) or None
    augment: Callable | None = dataclasses.field(default=None, metadata={"static": True})
    steps: int = dataclasses.field(default=0, metadata={"static": True})  # 0: one batch; k > 0: k stacked

    @property
    def shape(self) -> tuple[int, int]:
        """(steps it trains, examples per step)."""
        rows = self.index.shape[-1] if self.index is not None else self.source[0].shape[1 if self.steps else 0]
        return max(self.steps, 1), int(rows)

    def per_step(self) -> tuple[Any, Callable[[Any], DeviceBatch]]:
        """``(parts, one)`` for ``lax.scan`` over the steps of a stacked batch: ``parts``
        has the leading ``steps`` axis and ``one(parts[i])`` is batch ``i``. A stack of a
        dataset kept on the device gathers all its steps' rows here, in one gather before
        the scan (the call holds its batches as stored, beside the dataset), so the steps
        run the same program as on batches copied from the host (docs/speed.md: a gather
        inside every step was the slower program on XLA:CPU)."""
        if not self.steps:
            raise ValueError("per_step: this DeviceBatch is one batch, not a stack")
        source = self.source
        if self.index is not None:  # kept on the device: the whole stack's rows in one gather, before the steps
            rows = self.rows or (None,) * len(source)
            source = tuple(_gather_rows(a, self.index, r) for a, r in zip(self.source, rows))
        parts = (source, self.extra, self.epoch, self.position)

        def one(part) -> DeviceBatch:
            rows, extra, epoch, position = part
            return dataclasses.replace(self, source=rows, index=None, rows=(), extra=extra, epoch=epoch,
                                       position=position, steps=0)
        return parts, one

    def materialize(self) -> tuple[jax.Array, ...]:
        """The batch as the model sees it (traceable): rows gathered, decoded, the first
        array augmented, ``extra`` appended; a stack keeps its leading axis."""
        if self.steps:
            parts, one = self.per_step()
            return jax.vmap(lambda p: one(p).materialize())(parts)
        fields = self.source if self.index is None else tuple(
            _gather_rows(a, self.index, r) for a, r in zip(self.source, self.rows or (None,) * len(self.source)))
        fields = tuple(f if d is None else d(f) for f, d in zip(fields, self.decode or (None,) * len(fields)))
        if self.augment is not None:
            key = jax.random.fold_in(jax.random.fold_in(self.key, self.epoch), self.position)
            fields = (self.augment(key, fields[0]), *fields[1:])
        return (*fields, *self.extra)

    def realize(self) -> tuple[jax.Array, ...]:
        """:meth:`materialize` as one compiled call (a copy to the device when the source
        already is the batch): device arrays, for code that takes plain batches."""
        if self.index is None and not any(self.decode) and self.augment is None:
            return jax.device_put((*self.source, *self.extra))
        return _materialize(self)


_materialize = jax.jit(DeviceBatch.materialize)


def _as_words(a: np.ndarray) -> tuple[np.ndarray, tuple | None]:
    """``a`` with each row as unsigned words of up to 4 bytes (JAX keeps no 64-bit
    integers unless x64 is on), and (dtype, row shape) to get it back, for gathering
    rows on the device: XLA:CPU gathers rows of 4-byte words 4-5x faster than rows of a
    4-D uint8 array, and the conversion after it stays a separate vectorised loop
    (gathered bytes feeding a table lookup fuse into one slow loop). Arrays it cannot
    view so (bool, 8-byte items, empty rows) come back as they are."""
    row_bytes = a.itemsize * int(np.prod(a.shape[1:], dtype=np.int64))
    if a.dtype.kind not in "uif" or a.itemsize not in (1, 2, 4) or row_bytes == 0:
        return a, None
    word = max(w for w in (4, 2, 1) if row_bytes % w == 0)
    words = np.ascontiguousarray(a).reshape(len(a), -1).view(np.dtype(f"u{word}"))
    return words, (a.dtype.str, a.shape[1:])


def _gather_rows(source: jax.Array, index: jax.Array, rows: tuple | None) -> jax.Array:
    """Rows ``index`` of ``source`` (traceable), turned back from words (:func:`_as_words`)."""
    got = source.at[index].get(mode="promise_in_bounds")
    if rows is None:
        return got
    dtype, row_shape = rows
    return jax.lax.bitcast_convert_type(got, np.dtype(dtype)).reshape(*index.shape, *row_shape)


def device_memory_free(device: jax.Device | None = None) -> int:
    """Bytes free on ``device`` (default: the first local device) for new arrays: its
    allocator's limit minus what is in use; on a CPU, whose arrays live in host memory,
    the machine's physical memory."""
    device = device or jax.local_devices()[0]
    stats = device.memory_stats() if hasattr(device, "memory_stats") else None
    if stats and "bytes_limit" in stats:
        return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return 0


def fits_on_device(nbytes: int) -> bool:
    """Whether ``nbytes`` of data should stay on the device by default: one local
    device (several take their batches sharded, from the host) and at most
    ``RESIDENT_FRACTION`` (a quarter) of its free memory, which leaves the rest for the
    model, its optimizer state and the activations."""
    return jax.local_device_count() == 1 and nbytes <= RESIDENT_FRACTION * device_memory_free()


def gathers_in_step() -> bool:
    """Whether a dataset kept on the device has its batches' rows gathered inside the
    compiled step: on a GPU or TPU, where the rows then never cross to the host. On a
    CPU, whose device memory is the host's, NumPy gathers them on the Python thread from
    the stored arrays while the previous call computes: XLA:CPU runs one program at a
    time, so a gather inside the call would add to every call (about 0.75 ms per call
    of 32 batches of 64 Fashion-MNIST images; docs/speed.md). The batches are the same."""
    return jax.default_backend() != "cpu" or GATHER_IN_STEP_ON_CPU


def _rows(a: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``a[index]`` into new 64-byte-aligned memory, which a CPU device then uses as it
    is, without a copy (``np.take``: 3x faster than fancy-indexing a 4-D array here)."""
    shape = (len(index), *a.shape[1:])
    raw = np.empty(int(np.prod(shape)) * a.itemsize + 64, np.uint8)
    at = -raw.ctypes.data % 64
    out = raw[at:at + raw.size - 64].view(a.dtype).reshape(shape)
    return np.take(a, index, axis=0, out=out, mode="clip")  # in range; mode "raise" copies through a buffer


class ArrayBatches:
    """The batches of an :class:`ArrayDataset`, epoch by epoch, in ``plan``'s order, as
    :class:`DeviceBatch` es. With ``device_resident`` on a GPU or TPU
    (:func:`gathers_in_step`) the stored arrays are copied to the device once (at the
    first epoch) and each batch is only its rows' indices, gathered inside the step;
    otherwise each call's rows (a stack of ``steps`` batches at most) are gathered on
    the host and copied (on a CPU: used where they are), one call at a time (``fit``
    prepares the next while the device computes the current one)."""

    def __init__(self, dataset: ArrayDataset, plan: BatchPlan, device_resident: bool = False):
        self.dataset, self.plan = dataset, plan
        self._in_step = device_resident and gathers_in_step()  # else gathered on the host, as host batches
        self._device_arrays: tuple[tuple[jax.Array, ...], tuple] | None = None  # (arrays as words, rows)
        # ((epoch, steps, start), its layout, its first call's batch): prepared while the last call of the
        # epoch before computes (batches)
        self._ahead: tuple | None = None

    def _resident(self) -> tuple[tuple[jax.Array, ...], tuple]:
        if self._device_arrays is None:
            words = [_as_words(a) for a in self.dataset.stored]
            self._device_arrays = tuple(jax.device_put(w) for w, _ in words), tuple(r for _, r in words)
        return self._device_arrays

    def _layout(self, epoch: int) -> tuple[np.ndarray, list[int], np.ndarray | None]:
        """The plan's layout of epoch ``epoch``; the order as the int32 indices a step
        takes when the data is kept on the device."""
        order, sizes, valid = self.plan.layout(epoch)
        return (order.astype(np.int32) if self._in_step else order), sizes, valid

    def _batch(self, order, valid, lo: int, hi: int, steps: int, reorder: bool) -> DeviceBatch:
        """Rows ``order[lo:hi]`` as one batch (``steps`` 0) or ``steps`` stacked, as host
        arrays (the index, or the rows): the step's call copies them, 10x cheaper here than
        a ``jax.device_put`` before it (aligned rows: without a copy on a CPU)."""
        shape = (lambda a: a.reshape(steps, -1, *a.shape[1:])) if steps else (lambda a: a)
        extra = () if valid is None else (shape(valid[lo:hi]),)
        if self._in_step:
            arrays, rows = self._resident()
            return DeviceBatch(arrays, shape(order[lo:hi]), extra, decode=self.dataset.decode, rows=rows,
                               steps=steps)
        fields = tuple(shape(_rows(a, order[lo:hi]) if reorder else a[lo:hi]) for a in self.dataset.stored)
        return DeviceBatch(fields, None, extra, decode=self.dataset.decode, steps=steps)

    def batches(self, epoch: int, steps: int, start: int = 0) -> Iterator[DeviceBatch]:
        """The batches of epoch ``epoch`` from batch ``start``, one :class:`DeviceBatch`
        per call of the step as ``plan.call_spans`` splits them (stacks of ``steps``
        full batches, the rest of them in one shorter stack, a partial last batch alone;
        resuming, one per call).

        Asked for the end of the epoch (the last call handed out, and computing), this
        prepares the next epoch's layout and first call, so that epoch starts without
        the device waiting on its shuffle and first gather: between epochs the loader
        keeps that one call's batches (the rows of ``steps`` batches, or their indices
        when the data is gathered in the step)."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] == (epoch, steps, start):
            layout, first = ahead[1], ahead[2]
        else:
            layout, first = self._epoch_layout(epoch), None
        spans = self.plan.call_spans(steps, start)
        for i, span in enumerate(spans):
            yield first if i == 0 and first is not None else self._call(layout, span)
        nxt = self._epoch_layout(epoch + 1)
        spans = self.plan.call_spans(steps)
        self._ahead = ((epoch + 1, steps, 0), nxt, self._call(nxt, spans[0]) if spans else None)

    def _epoch_layout(self, epoch: int) -> tuple:
        """(order, batch bounds, valid, whether the rows are reordered) of epoch ``epoch``."""
        order, sizes, valid = self._layout(epoch)
        reorder = self.plan.shuffle or self.plan.process_count > 1 or (valid is not None and not valid.all())
        return order, np.cumsum([0, *sizes]), valid, reorder

    def _call(self, layout: tuple, span: tuple[int, int]) -> DeviceBatch:
        """The batches of one call: ``span`` = (first batch, batches) of ``layout``'s epoch."""
        order, bounds, valid, reorder = layout
        at, k = span
        return self._batch(order, valid, bounds[at], bounds[at + k], k if k > 1 else 0, reorder)

    def epochs_stacked(self, epochs: Sequence[int]) -> DeviceBatch:
        """The one batch of each epoch in ``epochs`` (every epoch is one batch), stacked
        as ``len(epochs)`` steps: several full-batch epochs in one compiled call."""
        layouts = [self._layout(e) for e in epochs]
        if any(len(sizes) != 1 for _, sizes, _ in layouts):
            raise ValueError("epochs_stacked: an epoch of this loader has more than one batch")
        order = np.concatenate([o for o, _, _ in layouts])
        valid = None if layouts[0][2] is None else np.concatenate([v for _, _, v in layouts])
        return self._batch(order, valid, 0, len(order), len(epochs), reorder=True)
