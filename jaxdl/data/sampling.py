"""Which examples make each batch of an epoch (torch: the ``Sampler`` and
``DistributedSampler`` behind a ``DataLoader``), shared by the array and per-record paths.

The shuffle order of epoch ``e`` is ``numpy.random.default_rng([seed, e]).permutation(n)``:
the same on every machine, in every mode and on both paths, so a resumed run sees exactly
the batches an uninterrupted one would.
"""

from __future__ import annotations

import numpy as np


def epoch_order(n: int, seed: int, epoch: int, shuffle: bool) -> np.ndarray:
    """The example order of one epoch: a permutation seeded by (seed, epoch), or 0..n-1."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed, epoch]).permutation(n)


def num_batches(n: int, batch_size: int, drop_last: bool) -> int:
    """Batches in an epoch of ``n`` examples (torch's ``len(DataLoader)``)."""
    return n // batch_size if drop_last else -(-n // batch_size)


def _full_and_last(n: int, batch_size: int, drop_last: bool, pad_last: bool, process_count: int) -> tuple[int, int]:
    """(full global batches, size of the last partial one or 0) of an epoch of ``n``."""
    full, rest = divmod(n, batch_size)
    last = 0 if drop_last or not rest else (-(-rest // process_count) * process_count if pad_last else rest)
    return full, last


def epoch_layout(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool, drop_last: bool,
                 pad_last: bool = False, process_index: int = 0, process_count: int = 1
                 ) -> tuple[np.ndarray, list[int], np.ndarray | None]:
    """One process's view of epoch ``epoch``: its example indices in batch order, the
    size of each of its batches, and (with ``pad_last``) which positions hold real
    examples (the rest is padding)."""
    order = epoch_order(n, seed, epoch, shuffle)
    b, pc, pi = batch_size, process_count, process_index
    full, last = _full_and_last(n, b, drop_last, pad_last, pc)
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


class BatchPlan:
    """Which examples make each batch of a loader, epoch by epoch (:func:`epoch_layout`
    for one set of loader options): this process's part of every global batch, the
    partial last batch or ``drop_last``, and with ``pad_last`` the padding copies and
    their validity mask."""

    def __init__(self, n: int, batch_size: int, seed: int, shuffle: bool, drop_last: bool,
                 pad_last: bool = False, process_index: int = 0, process_count: int = 1):
        self.n, self.batch_size, self.seed, self.shuffle, self.drop_last = n, batch_size, seed, shuffle, drop_last
        self.pad_last, self.process_index, self.process_count = pad_last, process_index, process_count
        self._layout = (None, None)  # (epoch, (order, batch starts, valid)): the last epoch's

    def __len__(self) -> int:
        return num_batches(self.n, self.batch_size, self.drop_last)

    def call_spans(self, steps: int, start: int = 0) -> list[tuple[int, int]]:
        """How the batches of an epoch (every epoch splits alike) from ``start`` go to
        the compiled step, as (first batch, batches) per call: the full batches in
        stacks of ``steps`` (for ``Learner.train_steps``), the rest of them in one
        shorter stack, a partial last batch alone; resuming mid-epoch (``start > 0``),
        one batch per call."""
        full, last = _full_and_last(self.n, self.batch_size, self.drop_last, self.pad_last, self.process_count)
        full += last == self.batch_size  # a last batch padded to the full size is full
        steps = 1 if start else max(int(steps), 1)
        spans, at = [], start
        while at < len(self):
            k = min(steps, full - at) if at < full else 1
            spans.append((at, k))
            at += k
        return spans

    def layout(self, epoch: int) -> tuple[np.ndarray, list[int], np.ndarray | None]:
        """:func:`epoch_layout` of epoch ``epoch`` with this plan's options."""
        return epoch_layout(self.n, self.batch_size, self.seed, epoch, self.shuffle, self.drop_last,
                            self.pad_last, self.process_index, self.process_count)

    def indices(self, epoch: int, batch: int) -> tuple[np.ndarray, np.ndarray | None]:
        """Example indices of batch ``batch`` of epoch ``epoch``, and (``pad_last``) which
        of them are real examples."""
        if self._layout[0] != epoch:
            order, sizes, valid = self.layout(epoch)
            self._layout = (epoch, (order, np.cumsum([0, *sizes]), valid))
        order, starts, valid = self._layout[1]
        lo, hi = starts[batch], starts[batch + 1]
        return order[lo:hi], None if valid is None else valid[lo:hi]
