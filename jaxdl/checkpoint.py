"""Checkpoints with orbax: the last N epochs, the best epoch, resume and restore.

torch: ``torch.save({'model': model.state_dict(), 'optimizer': opt.state_dict(),
'epoch': epoch}, path)`` each epoch and ``load_state_dict`` to resume. Here the whole
:class:`~jaxdl.train.TrainState` (parameters, BatchNorm statistics, dropout RNG,
optimizer state, step) is written with the epoch's logs and the history as JSON.

Layout: ``<directory>/last/<epoch>`` (the newest ``max_to_keep``) and
``<directory>/best/<epoch>`` (one). orbax writes into a temporary directory and renames
it when complete, so a run killed in the middle of a save leaves the previous
checkpoint intact and the partial one is never loaded. Saves are asynchronous:
:meth:`Checkpointer.close` (or the ``with`` block) waits for them.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import jax
import orbax.checkpoint as ocp

from jaxdl import tree
from jaxdl.train import TrainState


class CheckpointMismatchError(ValueError):
    """The checkpoint holds a different model or optimizer than the one it is restored into."""


def _keys_to_data(pytree):
    return jax.tree.map(lambda x: jax.random.key_data(x) if tree.is_prng_key(x) else x, pytree)


class Checkpointer:
    """Save every epoch (keep the newest ``max_to_keep``) and the best epoch by ``monitor``.

    Use as a ``fit`` callback (saving every ``every`` epochs: full-batch runs of
    thousands of epochs need not write each one; an epoch that improves ``monitor`` is
    saved as the best whatever ``every``); ``latest_epoch()`` / ``restore()`` resume, and
    ``restore(template, which='best')`` loads the best weights for evaluation.
    ``monitor=None`` keeps no best checkpoint. ``monitor`` must be a validation number:
    choosing the best epoch on the test set would make the test figure a selected one.
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 3,
                 monitor: str | None = "val_accuracy", mode: str = "max", meta: dict | None = None,
                 every: int = 1):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.directory = Path(directory).absolute()
        self.monitor, self.mode, self.meta, self.every = monitor, mode, dict(meta or {}), every
        self.directory.mkdir(parents=True, exist_ok=True)
        if not os.access(self.directory, os.W_OK):
            raise PermissionError(f"checkpoint directory {self.directory} is not writable; "
                                  "choose another --workdir.")
        # two managers: distinct barrier names, or multi-process saves of one step collide
        opts = lambda n, key: ocp.CheckpointManagerOptions(
            max_to_keep=n, create=True, cleanup_tmp_directories=True,
            multiprocessing_options=ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=key))
        handlers = lambda: {"state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()}
        self._last = ocp.CheckpointManager(self.directory / "last", options=opts(max_to_keep, "last"),
                                           item_handlers=handlers())
        self._best = ocp.CheckpointManager(self.directory / "best", options=opts(1, "best"), item_handlers=handlers())
        self.best_value = self._stored_best()

    # -------------------------------------------------------------- saving
    def _stored_best(self) -> float | None:
        step = self._best.latest_step()
        if step is None or self.monitor is None:
            return None
        return self._restore_meta(self._best, step).get("logs", {}).get(self.monitor)

    def _improved(self, value: float | None) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best_value is None:
            return True
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def save(self, epoch: int, state: TrainState, logs: dict | None = None, history: list | None = None,
             *, last: bool = True):
        """Save ``epoch`` as the newest (unless ``last=False``) and, when its ``monitor``
        value improved, as the best."""
        logs = {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float, str, bool))}
        meta = {"epoch": epoch, "logs": logs, "history": history or [], **self.meta}
        args = ocp.args.Composite(state=ocp.args.StandardSave(_keys_to_data(state)),
                                  meta=ocp.args.JsonSave(meta))
        if last:
            self._last.save(epoch, args=args)
        value = logs.get(self.monitor) if self.monitor else None
        if self._improved(value):
            self.best_value = value
            stale = self._best.latest_step()
            if stale is not None and stale >= epoch:  # a resumed run that took another path
                self._best.delete(stale)  # (orbax ignores saves of older steps)
            self._best.save(epoch, args=args)

    def on_epoch_end(self, epoch: int, state: TrainState, logs: dict) -> bool:
        self._history = getattr(self, "_history", []) + [logs]
        if epoch % self.every == 0:
            self.save(epoch, state, logs, self._history)
        elif self.monitor and self._improved(logs.get(self.monitor)):  # best is kept whatever ``every``
            self.save(epoch, state, logs, self._history, last=False)
        return False

    # -------------------------------------------------------------- restoring
    def latest_epoch(self) -> int | None:
        """The newest complete checkpoint's epoch, or None."""
        return self._last.latest_step()

    def best_epoch(self) -> int | None:
        return self._best.latest_step()

    def _restore_meta(self, manager, step) -> dict:
        return manager.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]

    def read_meta(self, which: str = "last", epoch: int | None = None) -> dict:
        """A checkpoint's JSON side alone (``epoch``, ``logs``, ``history`` and the ``meta``
        given at construction, e.g. the run's ``args``), without reading its arrays."""
        manager, epoch = self._find(which, epoch)
        return dict(self._restore_meta(manager, epoch))

    def _find(self, which: str, epoch: int | None):
        manager = {"last": self._last, "best": self._best}[which]
        epoch = manager.latest_step() if epoch is None else epoch
        if epoch is None or epoch not in manager.all_steps():
            raise FileNotFoundError(f"no {which} checkpoint{'' if epoch is None else f' for epoch {epoch}'} "
                                    f"in {manager.directory}")
        return manager, epoch

    def restore(self, template: TrainState, *, which: str = "last", epoch: int | None = None
                ) -> tuple[TrainState, dict]:
        """Load a checkpoint into the structure of ``template`` (e.g. ``learner.init_state()``).

        Returns ``(state, meta)`` where ``meta`` has ``epoch``, ``logs`` and ``history``.
        Raises :class:`CheckpointMismatchError` listing missing, unexpected and
        mis-shaped entries when the checkpoint belongs to another model or optimizer,
        and FileNotFoundError when there is none.
        """
        manager, epoch = self._find(which, epoch)
        target = _keys_to_data(template)
        try:
            saved = manager.item_metadata(epoch)["state"]
        except Exception as e:  # unreadable metadata: a corrupted checkpoint
            raise CheckpointMismatchError(f"could not read checkpoint {manager.directory / str(epoch)}: "
                                          f"{type(e).__name__}: {e}. Delete it to resume from an older one.") from e
        if saved is not None:
            problems = tree.describe_mismatch(tree.shapes(saved), tree.shapes(target))
            if problems:
                raise CheckpointMismatchError(
                    f"checkpoint {manager.directory / str(epoch)} does not fit this model/optimizer: "
                    f"{problems}. Was it written by another experiment or with other flags?")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            out = manager.restore(epoch, args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract), meta=ocp.args.JsonRestore()))
        except Exception as e:  # corrupted files: say which checkpoint, keep the cause
            raise CheckpointMismatchError(f"could not read checkpoint {manager.directory / str(epoch)}: {e}") from e
        if which == "last":  # a resumed run goes on appending to the saved history
            self._history = list(out["meta"].get("history", []))
        state = jax.tree.map(
            lambda t, r: jax.random.wrap_key_data(r, impl=jax.random.key_impl(t)) if tree.is_prng_key(t) else r,
            template, out["state"])
        return state, dict(out["meta"])

    def clear(self) -> None:
        """Delete every checkpoint here, last and best (a new run in a used directory:
        orbax would otherwise skip the new run's epochs that are not newer than the old
        run's, and the old best would stand)."""
        for manager in (self._last, self._best):
            for step in manager.all_steps():
                manager.delete(step)
        self.best_value, self._history = None, []

    def wait(self) -> None:
        self._last.wait_until_finished()
        self._best.wait_until_finished()

    def close(self) -> None:
        self._last.close()
        self._best.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
