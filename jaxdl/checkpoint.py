"""Checkpoints with orbax: the last N epochs, the best epoch, mid-epoch positions, resume
that falls back past damaged steps, and restore.

torch: ``torch.save({'model': model.state_dict(), 'optimizer': opt.state_dict(),
'epoch': epoch}, path)`` each epoch and ``load_state_dict`` to resume. Here the whole
:class:`~jaxdl.train.TrainState` (parameters, BatchNorm statistics, dropout RNG,
optimizer state, step) is written with the epoch's logs and the history as JSON.

Layout: ``<directory>/last/<epoch>`` (the newest ``max_to_keep``),
``<directory>/best/<epoch>`` (one) and, with a step or time interval,
``<directory>/partial/<batches trained>`` (the newest mid-epoch position: epoch, batch
and the epoch's batch metrics so far, so that a resumed run continues inside the epoch
with ``DataLoader.epoch(e, start=k)`` and ends bit-identical to an uninterrupted one).
orbax writes into a temporary directory and renames it when complete, so a run killed in
the middle of a save leaves the previous checkpoint intact and the partial one is never
loaded. Saves are asynchronous: :meth:`Checkpointer.close` (or the ``with`` block) waits
for them.

Verification: as soon as orbax has finished a step (renamed its folder into place), a
background thread writes a manifest into it (``jaxdl_manifest.json``: the size and
SHA-256 of every file of the step), and every restore checks it first. A step whose
files differ from their manifest (garbled bytes, a missing or
truncated file), an empty step folder, or metadata orbax cannot read is *damaged*:
:meth:`Checkpointer.resume` says which step and why in one line, moves it to
``<directory>/damaged/`` (kept for inspection, never deleted: left among orbax's steps,
it would block the resumed run's save of that epoch and count against ``max_to_keep``)
and resumes from the newest intact earlier step. With none intact it raises
:class:`CheckpointDamagedError` and changes nothing on disk. A step without a manifest
(written before manifests existed, or by a run killed between orbax's rename and the
manifest write: the time it takes to hash the step, milliseconds for the notes' models)
is *unverified*: it is loaded when orbax can read it, and the resume line says so.

A full disk raises :class:`CheckpointSpaceError` (an ``OSError``) saying how much space a
checkpoint takes; orbax's partial write is removed and the earlier steps stay intact.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import hashlib
import json
import logging
import math
import os
import queue
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxdl import tree
from jaxdl.train import TrainState

MANIFEST = "jaxdl_manifest.json"
DAMAGED_DIR = "damaged"  # where damaged steps are moved, inside the checkpoint directory
_KINDS = ("last", "best", "partial")


class CheckpointMismatchError(ValueError):
    """The checkpoint holds a different model or optimizer than the one it is restored into."""


class CheckpointDamagedError(ValueError):
    """A checkpoint's files are damaged (garbled, missing, unreadable), or no intact
    checkpoint is left to resume from; ``path`` and ``reason`` say which and why."""

    def __init__(self, message: str, path: Path | None = None, reason: str = ""):
        super().__init__(message)
        self.path, self.reason = path, reason


class CheckpointSpaceError(OSError):
    """The disk filled up while writing a checkpoint; the message says how much one needs
    (``errno`` is ``ENOSPC``; the message is the whole text, without ``[Errno 28]``)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.errno = errno.ENOSPC


def json_ready(obj: Any) -> Any:
    """``obj`` (logs, histories; NumPy values included) as plain JSON values, a
    non-finite float as ``null``: JSON has no NaN (Python writes a bare ``NaN``, which
    other JSON readers refuse)."""
    if isinstance(obj, dict):
        return {str(k): json_ready(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_ready(v) for v in obj]
    if isinstance(obj, (np.ndarray, np.generic, jax.Array)):
        return json_ready(np.asarray(obj).tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _keys_to_data(pytree):
    return jax.tree.map(lambda x: jax.random.key_data(x) if tree.is_prng_key(x) else x, pytree)


def state_bytes(state) -> int:
    """The bytes of the arrays a checkpoint of ``state`` holds (global shapes)."""
    return sum(int(np.prod(x.shape)) * x.dtype.itemsize for x in jax.tree.leaves(_keys_to_data(state)))


def _megabytes(n: float) -> str:
    return f"{n / 2**20:.1f} MB" if n < 2**30 else f"{n / 2**30:.2f} GB"


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200] if text else ''}"


# ------------------------------------------------------------------ manifests
def _sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_manifest(step_dir: Path) -> int:
    """Write ``step_dir/jaxdl_manifest.json``: the size and SHA-256 of every file orbax
    wrote there (atomically: a temporary file renamed). Returns the step's bytes."""
    files = {}
    for p in sorted(step_dir.rglob("*")):
        if p.is_file() and not p.name.startswith(MANIFEST):
            files[p.relative_to(step_dir).as_posix()] = {"bytes": p.stat().st_size, "sha256": _sha256(p)}
    tmp = step_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps({"format": 1, "files": files}, indent=0))
    os.replace(tmp, step_dir / MANIFEST)
    return sum(f["bytes"] for f in files.values())


def check_files(step_dir: Path) -> tuple[bool | None, str]:
    """``(True, "")`` when every file of the step matches its manifest, ``(None, why)``
    when it has no manifest (unverified), ``(False, why)`` when it is damaged."""
    if not step_dir.is_dir():
        return False, "its folder is missing"
    if not any(step_dir.iterdir()):
        return False, "its folder is empty"
    manifest = step_dir / MANIFEST
    if not manifest.is_file():
        return None, "no manifest"
    try:
        files = json.loads(manifest.read_text())["files"]
        entries = [(name, int(f["bytes"]), str(f["sha256"])) for name, f in files.items()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        return False, f"its manifest {MANIFEST} is unreadable ({_first_line(e)})"
    for name, size, digest in entries:
        p = step_dir / name
        if not p.is_file():
            return False, f"file {name} is missing"
        if p.stat().st_size != size:
            return False, f"file {name} has {p.stat().st_size} bytes where its manifest recorded {size}"
        if _sha256(p) != digest:
            return False, f"file {name} does not match the SHA-256 its manifest recorded (its bytes were changed)"
    return True, ""


def _is_disk_full(e: BaseException) -> bool:
    seen = set()
    stack = [e]
    while stack:
        c = stack.pop()
        if c is None or id(c) in seen:
            continue
        seen.add(id(c))
        if getattr(c, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
            return True
        text = str(c)
        if "No space left on device" in text or "os_error_code='28'" in text or "Disk quota exceeded" in text:
            return True
        stack += [c.__cause__, c.__context__, *getattr(c, "exceptions", ())]
    return False


class _DropDiskFull(logging.Filter):
    """orbax logs a full disk from its background threads with whole tracebacks, and
    the asyncio loops of its failed writes, closed early, then refuse tensorstore's
    late callbacks ("Event loop is closed", printed as unraisable exceptions); the
    Checkpointer raises the full disk as one line instead (CheckpointSpaceError). The
    log filter is on while a Checkpointer is open; the unraisable-exception filter from
    the first full disk to the end of the process (the callbacks come late)."""

    users = 0
    previous_hook = None

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not ((exc is not None and _is_disk_full(exc)) or "No space left on device" in record.getMessage())

    @classmethod
    def after_disk_full(cls) -> None:
        if cls.previous_hook is None:
            cls.previous_hook = sys.unraisablehook

            def hook(u):
                if not (isinstance(u.exc_value, RuntimeError) and str(u.exc_value) == "Event loop is closed"):
                    cls.previous_hook(u)

            sys.unraisablehook = hook


_DISK_FULL_FILTER = _DropDiskFull()


class _Sealer:
    """Writes the manifest of each step from a background thread once orbax has renamed
    the step's folder into place (its last write), so that a run killed later finds its
    newest step verified. :meth:`drain` waits for every queued step and re-raises the
    first error (a full disk) in the caller's thread."""

    def __init__(self):
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self.step_bytes = 0
        self.sealed = threading.Event()  # at least one step has its manifest
        self._thread: threading.Thread | None = None

    def put(self, manager: ocp.CheckpointManager, path: Path) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True, name="jaxdl-checkpoint-manifest")
            self._thread.start()
        self._queue.put((manager, path))

    def _run(self) -> None:
        while True:
            manager, path = self._queue.get()
            try:
                while not path.is_dir():
                    if not manager.is_saving_in_progress() and not path.is_dir():
                        break  # the save failed: nothing to seal
                    time.sleep(0.02)
                else:
                    self.step_bytes = write_manifest(path)
                    self.sealed.set()
            except FileNotFoundError:  # a newer save's retention already deleted this step
                pass
            except BaseException as e:  # noqa: BLE001 -- raised in the caller's thread by drain()
                self._error = self._error or e
            finally:
                self._queue.task_done()

    def drain(self) -> None:
        self._queue.join()
        if self._error is not None:
            error, self._error = self._error, None
            raise error


@dataclasses.dataclass
class Resumed:
    """Where :meth:`Checkpointer.resume` continues: the restored state and its
    checkpoint's meta; ``epoch`` complete epochs, then ``batch`` batches of the next one
    (0 after an epoch checkpoint) whose metrics are ``batch_metrics``; ``path`` the step
    folder; ``note`` what the log should say about it (fallbacks, verification)."""

    state: TrainState
    meta: dict
    epoch: int
    batch: int
    batch_metrics: list[dict]
    path: Path
    note: str = ""


def _metrics_to_json(batch_metrics: list[dict]) -> dict:
    """The batch metrics of an epoch so far (``fit``'s per-call dicts, each value one
    step's or a stacked run's) as ``{name: {"dtype", "values"}}``, one value per step."""
    columns: dict[str, list] = {}
    dtypes: dict[str, str] = {}
    for m in jax.device_get(batch_metrics):
        for k, v in m.items():
            a = np.asarray(v)
            dtypes[k] = a.dtype.name
            columns.setdefault(k, []).extend(repr(float(x)) if a.dtype.kind == "f" else int(x)
                                             for x in a.reshape(-1))
    return {k: {"dtype": dtypes[k], "values": v} for k, v in columns.items()}


def _metrics_from_json(saved: dict) -> list[dict]:
    if not saved:
        return []
    return [{k: np.asarray([float(x) for x in c["values"]] if np.dtype(c["dtype"]).kind == "f" else c["values"],
                           c["dtype"]) for k, c in saved.items()}]


class Checkpointer:
    """Save every epoch (keep the newest ``max_to_keep``) and the best epoch by ``monitor``;
    with ``every_steps`` / ``every_minutes`` also the position inside an epoch.

    Use as a ``fit`` callback (saving every ``every`` epochs: full-batch runs of
    thousands of epochs need not write each one; an epoch that improves ``monitor`` is
    saved as the best whatever ``every``); :meth:`resume` continues a run (falling back
    past damaged steps), ``restore(template, which='best')`` loads the best weights for
    evaluation. ``monitor=None`` keeps no best checkpoint. ``monitor`` must be a
    validation number: choosing the best epoch on the test set would make the test
    figure a selected one. ``every_steps=N``: inside an epoch, save the position (epoch,
    batch, the epoch's metrics so far) once N batches have trained since the last save;
    ``every_minutes=T``: once T minutes have passed. Both are checked where ``fit``
    hands batches to the device (after each call: at most ``steps_per_call`` batches),
    and only the newest mid-epoch position is kept. ``log``: where notes about damaged steps go.
    """

    def __init__(self, directory: str | os.PathLike, *, max_to_keep: int = 3,
                 monitor: str | None = "val_accuracy", mode: str = "max", meta: dict | None = None,
                 every: int = 1, every_steps: int = 0, every_minutes: float = 0.0,
                 log: Callable[[str], None] | None = print):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        if every_steps < 0 or every_minutes < 0:
            raise ValueError(f"every_steps and every_minutes must be >= 0, got {every_steps}, {every_minutes}")
        self.directory = Path(directory).absolute()
        self.monitor, self.mode, self.meta, self.every = monitor, mode, dict(meta or {}), every
        self.every_steps, self.every_minutes, self.log = int(every_steps), float(every_minutes), log
        self.max_to_keep = max_to_keep
        self._primary = jax.process_index() == 0
        self._recover()
        self.directory.mkdir(parents=True, exist_ok=True)
        if not os.access(self.directory, os.W_OK):
            raise PermissionError(f"checkpoint directory {self.directory} is not writable; "
                                  "pass another workdir=DIR")
        self._open(self.directory)
        self._sealer = _Sealer()
        self._replacing = False  # a new run writing beside an earlier run's checkpoints (start_fresh)
        self._damaged_best: int | None = None
        self._history: list[dict] = []
        self._batches_per_epoch: int | None = None
        self._saved_at: int | None = None  # batches trained (since the run's start) at the last save
        self._saved_time = time.monotonic()
        self._state_bytes = 0
        self.best_value = self._stored_best()
        _DropDiskFull.users += 1
        logging.getLogger("absl").addFilter(_DISK_FULL_FILTER)

    # -------------------------------------------------------------- orbax managers
    def _open(self, root: Path) -> None:
        # one manager per kind: distinct barrier names, or multi-process saves of one step collide
        def manager(kind: str, keep: int) -> ocp.CheckpointManager:
            options = ocp.CheckpointManagerOptions(
                max_to_keep=keep, create=True, cleanup_tmp_directories=True,
                multiprocessing_options=ocp.options.MultiprocessingOptions(barrier_sync_key_prefix=kind))
            return ocp.CheckpointManager(root / kind, options=options, item_handlers={
                "state": ocp.StandardCheckpointHandler(), "meta": ocp.JsonCheckpointHandler()})

        self._root = root
        self._managers = {"last": manager("last", self.max_to_keep), "best": manager("best", 1),
                          "partial": manager("partial", 1)}

    @property
    def _last(self) -> ocp.CheckpointManager:
        return self._managers["last"]

    @property
    def _best(self) -> ocp.CheckpointManager:
        return self._managers["best"]

    def _step_dir(self, kind: str, step: int) -> Path:
        return Path(self._managers[kind].directory) / str(step)

    def _sync(self, name: str) -> None:
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"jaxdl_checkpoint_{name}")

    def _siblings(self) -> tuple[Path, Path]:
        return self.directory.with_name(self.directory.name + ".new"), \
            self.directory.with_name(self.directory.name + ".old")

    def _recover(self) -> None:
        """Finish or undo a replacement of an earlier run's checkpoints that a kill
        interrupted (see :meth:`start_fresh`)."""
        new, old = self._siblings()
        if self._primary:
            if not self.directory.exists() and new.exists():  # killed between the two renames
                os.rename(new, self.directory)
            elif not self.directory.exists() and old.exists():
                os.rename(old, self.directory)
            if old.exists():  # the replaced run's checkpoints, whose deletion a kill interrupted
                shutil.rmtree(old)
            if new.exists():  # a new run killed before its first checkpoint: the earlier run's stand
                shutil.rmtree(new)
        self._sync("recover")

    @contextmanager
    def _writing(self, what: str) -> Iterator[None]:
        """A full disk while writing ``what``: one :class:`CheckpointSpaceError`, orbax's
        partial files removed, the earlier steps intact."""
        try:
            yield
        except Exception as e:
            if not _is_disk_full(e):
                raise
            _DropDiskFull.after_disk_full()
            for m in self._managers.values():
                for tmp in Path(m.directory).glob("*.orbax-checkpoint-tmp*"):
                    shutil.rmtree(tmp, ignore_errors=True)
            try:
                free = shutil.disk_usage(self._root).free
            except OSError:
                free = 0
            need = self._sealer.step_bytes or self._state_bytes
            good = self.newest_intact()
            raise CheckpointSpaceError(
                f"no space left on the device of {self._root} while writing {what}: one checkpoint "
                f"takes about {_megabytes(need)} here (the train state holds {_megabytes(self._state_bytes)} of "
                f"arrays) and {_megabytes(free)} are free; the last good checkpoint, {good or 'none'}, is intact. "
                "Free some space (or pass another workdir=DIR) and resume=True continues from it") from None

    # -------------------------------------------------------------- saving
    def _stored_best(self) -> float | None:
        step = self._best.latest_step()
        if step is None or self.monitor is None:
            return None
        try:
            return self._restore_meta("best", step).get("logs", {}).get(self.monitor)
        except Exception:  # noqa: BLE001 -- damaged: the next best replaces it (after moving it aside)
            self._damaged_best = step
            return None

    def _improved(self, value: float | None) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if self.best_value is None:
            return True
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def _args(self, state: TrainState, meta: dict):
        self._state_bytes = state_bytes(state)
        return ocp.args.Composite(state=ocp.args.StandardSave(_keys_to_data(state)),
                                  meta=ocp.args.JsonSave(json_ready({**meta, **self.meta})))

    def _save(self, kind: str, step: int, args) -> None:
        with self._writing(f"checkpoint {kind}/{step}"):
            if self._managers[kind].save(step, args=args) and self._primary:
                self._sealer.put(self._managers[kind], self._step_dir(kind, step))

    def save(self, epoch: int, state: TrainState, logs: dict | None = None, history: list | None = None,
             *, last: bool = True):
        """Save ``epoch`` as the newest (unless ``last=False``) and, when its ``monitor``
        value improved, as the best."""
        self._seal()
        logs = {k: v for k, v in (logs or {}).items() if isinstance(v, (int, float, str, bool))}
        args = self._args(state, {"epoch": epoch, "logs": logs, "history": history or []})
        if last:
            self._save("last", epoch, args)
            self._saved_at = epoch * self._batches_per_epoch if self._batches_per_epoch else None
            self._saved_time = time.monotonic()
        value = logs.get(self.monitor) if self.monitor else None
        if self._improved(value):
            self.best_value = value
            if self._damaged_best is not None:
                self._quarantine("best", self._damaged_best)
                self._damaged_best = None
            stale = self._best.latest_step()
            if stale is not None and stale >= epoch:  # a resumed run that took another path
                self._best.delete(stale)  # (orbax ignores saves of older steps)
            self._save("best", epoch, args)

    def save_position(self, epoch: int, batch: int, batches_per_epoch: int, state: TrainState,
                      batch_metrics: list[dict]) -> None:
        """Save the position inside epoch ``epoch``: ``batch`` of its ``batches_per_epoch``
        batches have trained (their metrics ``batch_metrics``)."""
        self._seal()
        self._batches_per_epoch = batches_per_epoch
        step = (epoch - 1) * batches_per_epoch + batch
        args = self._args(state, {"epoch": epoch - 1, "batch": batch, "batches_per_epoch": batches_per_epoch,
                                  "batch_metrics": _metrics_to_json(batch_metrics), "logs": {},
                                  "history": self._history})
        self._save("partial", step, args)
        self._saved_at, self._saved_time = step, time.monotonic()

    def on_epoch_end(self, epoch: int, state: TrainState, logs: dict) -> bool:
        self._replace_when_sealed()
        self._history = self._history + [logs]
        if epoch % self.every == 0:
            self.save(epoch, state, logs, self._history)
        elif self.monitor and self._improved(logs.get(self.monitor)):  # best is kept whatever ``every``
            self.save(epoch, state, logs, self._history, last=False)
        return False

    def on_train_steps(self, epoch: int, batch: int, batches_per_epoch: int, state: TrainState,
                       batch_metrics: list[dict]) -> None:
        """``fit``'s hook after each compiled call: ``batch`` batches of epoch ``epoch``
        have trained. Saves the position when ``every_steps`` batches or
        ``every_minutes`` have passed since the last save (the epoch's end is saved by
        :meth:`on_epoch_end`)."""
        self._replace_when_sealed()
        if not (self.every_steps or self.every_minutes) or batch >= batches_per_epoch:
            return
        self._batches_per_epoch = batches_per_epoch
        trained = (epoch - 1) * batches_per_epoch + batch
        if self._saved_at is None:
            self._saved_at = (epoch - 1) * batches_per_epoch
        due = (self.every_steps and trained - self._saved_at >= self.every_steps) or (
            self.every_minutes and time.monotonic() - self._saved_time >= 60 * self.every_minutes)
        if due:
            self.save_position(epoch, batch, batches_per_epoch, state, batch_metrics)

    def _replace_when_sealed(self) -> None:
        """A new run: replace the earlier run's checkpoints as soon as this run's first
        one has its manifest (checked between training calls, without waiting; several
        processes instead replace at their next save, where they all wait)."""
        if self._replacing and jax.process_count() == 1 and self._sealer.sealed.is_set():
            self._seal()

    def _seal(self) -> None:
        """Wait for orbax's saves and their manifests, then (a new run) replace the
        earlier run's checkpoints and drop mid-epoch positions that an epoch checkpoint
        has overtaken."""
        with self._writing("a checkpoint"):
            for m in self._managers.values():
                m.wait_until_finished()
            self._sealer.drain()
        if self._replacing and self.has_checkpoints():  # the same answer in every process, after the wait
            self._replace_earlier_run()
        last, nb = self._last.latest_step(), self._batches_per_epoch
        if last is not None and nb:
            for step in self._managers["partial"].all_steps():
                if step <= last * nb:
                    self._managers["partial"].delete(step)

    # -------------------------------------------------------------- a new run in a used directory
    @property
    def replacing(self) -> bool:
        """Whether this new run's checkpoints still wait to replace an earlier run's."""
        return self._replacing

    def has_checkpoints(self) -> bool:
        return any(m.all_steps() for m in self._managers.values())

    def start_fresh(self) -> bool:
        """Begin a new run here. The checkpoints of an earlier run stay, and stay the
        ones a resume finds, until this run's first checkpoint is complete; then they are
        replaced (``<directory>`` renamed away, this run's renamed in, the old deleted;
        a kill at any point leaves one complete set, which the next Checkpointer here
        settles on). Returns whether there were earlier checkpoints."""
        if not self.has_checkpoints():
            return False
        self.wait()
        self._close_managers()
        new, _ = self._siblings()
        if self._primary and new.exists():
            shutil.rmtree(new)
        self._sync("fresh")
        self._open(new)
        self._replacing, self._damaged_best, self.best_value, self._history = True, None, None, []
        return True

    def _replace_earlier_run(self) -> None:
        self._close_managers()
        new, old = self._siblings()
        if self._primary:
            if (self.directory / DAMAGED_DIR).exists():  # damaged steps are kept, never deleted
                os.rename(self.directory / DAMAGED_DIR, new / DAMAGED_DIR)
            os.rename(self.directory, old)
            os.rename(new, self.directory)
            shutil.rmtree(old)
        self._sync("replace")
        self._open(self.directory)
        self._replacing = False

    # -------------------------------------------------------------- restoring
    def latest_epoch(self) -> int | None:
        """The newest complete epoch checkpoint's epoch, or None."""
        return self._last.latest_step()

    def best_epoch(self) -> int | None:
        return self._best.latest_step()

    def _restore_meta(self, kind: str, step: int) -> dict:
        out = self._managers[kind].restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"]
        if not isinstance(out, dict) or "epoch" not in out:
            raise ValueError(f"meta {str(out)[:80]!r} has no epoch")
        return out

    def read_meta(self, which: str = "last", epoch: int | None = None) -> dict:
        """A checkpoint's JSON side alone (``epoch``, ``logs``, ``history`` and the ``meta``
        given at construction, e.g. the run's ``config``), without reading its arrays."""
        kind, epoch = self._find(which, epoch)
        try:
            return dict(self._restore_meta(kind, epoch))
        except Exception as e:  # noqa: BLE001 -- unreadable: the checkpoint is damaged
            path = self._step_dir(kind, epoch)
            reason = f"its metadata cannot be read ({_first_line(e)})"
            raise CheckpointDamagedError(f"checkpoint {path} is damaged: {reason}", path, reason) from None

    def _find(self, which: str, epoch: int | None) -> tuple[str, int]:
        manager = self._managers[which]
        epoch = manager.latest_step() if epoch is None else epoch
        if epoch is None or epoch not in manager.all_steps():
            raise FileNotFoundError(f"no {which} checkpoint{'' if epoch is None else f' for epoch {epoch}'} "
                                    f"in {manager.directory}")
        return which, epoch

    def _restore_step(self, kind: str, step: int, template: TrainState,
                      check: Callable[[dict], None] | None = None) -> tuple[TrainState, dict, bool]:
        """The state and meta of one step, its files verified first; raises
        CheckpointDamagedError (why) or CheckpointMismatchError (another model)."""
        manager, path = self._managers[kind], self._step_dir(kind, step)

        def damaged(reason: str) -> CheckpointDamagedError:
            return CheckpointDamagedError(f"checkpoint {path} is damaged: {reason}", path, reason)

        verified, reason = check_files(path)
        if verified is False:
            raise damaged(reason)
        try:
            meta = self._restore_meta(kind, step)
        except Exception as e:  # noqa: BLE001 -- orbax raises KeyError, JSONDecodeError, ValueError, ...
            raise damaged(f"its metadata cannot be read ({_first_line(e)})") from None
        if check is not None:
            check(meta)
        target = _keys_to_data(template)
        try:
            saved = manager.item_metadata(step)["state"]
        except Exception as e:  # noqa: BLE001
            raise damaged(f"its array metadata cannot be read ({_first_line(e)})") from None
        if saved is not None:
            problems = tree.describe_mismatch(tree.shapes(saved), tree.shapes(target))
            if problems:
                raise CheckpointMismatchError(
                    f"checkpoint {path} does not fit this model/optimizer: {problems}. Was it written by another "
                    "experiment or with other flags?")
        abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
        try:
            out = manager.restore(step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract)))
        except Exception as e:  # noqa: BLE001 -- corrupted array files
            raise damaged(f"orbax cannot read its arrays ({_first_line(e)})") from None
        state = jax.tree.map(
            lambda t, r: jax.random.wrap_key_data(r, impl=jax.random.key_impl(t)) if tree.is_prng_key(t) else r,
            template, out["state"])
        return state, dict(meta), bool(verified)

    def restore(self, template: TrainState, *, which: str = "last", epoch: int | None = None
                ) -> tuple[TrainState, dict]:
        """Load a checkpoint into the structure of ``template`` (e.g. ``learner.init_state()``).

        Returns ``(state, meta)`` where ``meta`` has ``epoch``, ``logs`` and ``history``.
        Raises :class:`CheckpointMismatchError` listing missing, unexpected and
        mis-shaped entries when the checkpoint belongs to another model or optimizer,
        :class:`CheckpointDamagedError` when its files are damaged (no fallback: see
        :meth:`resume`), and FileNotFoundError when there is none.
        """
        kind, epoch = self._find(which, epoch)
        state, meta, _ = self._restore_step(kind, epoch, template)
        if which == "last":  # a resumed run goes on appending to the saved history
            self._history = list(meta.get("history", []))
        return state, meta

    def _candidates(self, batches_per_epoch: int | None) -> list[tuple[tuple[int, int], str, int]]:
        """Every resumable step, newest position first: ((epochs done, batches of the
        next), kind, step)."""
        out = [((step, 0), "last", step) for step in self._last.all_steps()]
        if batches_per_epoch:
            out += [(divmod(step, batches_per_epoch), "partial", step)
                    for step in self._managers["partial"].all_steps()]
        return sorted(out, reverse=True)

    def resume(self, template: TrainState, *, batches_per_epoch: int | None = None,
               check: Callable[[dict], None] | None = None) -> Resumed | None:
        """Restore the newest intact position: the newest epoch checkpoint or (given the
        loader's ``batches_per_epoch``) mid-epoch position whose files match their
        manifest and which orbax reads. ``check(meta)`` may refuse a checkpoint (raising)
        before its arrays are read. Each newer damaged step is logged in one line and
        moved to ``<directory>/damaged/``. Returns None when there is no checkpoint at
        all; raises :class:`CheckpointDamagedError`, changing nothing on disk, when none
        is intact."""
        candidates = self._candidates(batches_per_epoch)
        if not candidates:
            return None
        damaged: list[tuple[str, int, str]] = []
        for (epoch, batch), kind, step in candidates:
            try:
                state, meta, verified = self._restore_step(kind, step, template, check)
            except CheckpointDamagedError as e:
                damaged.append((kind, step, e.reason))
                continue
            for dkind, dstep, reason in damaged:
                where = self._quarantine(dkind, dstep)
                if self.log is not None:
                    self.log(f"checkpoint {self._root / dkind / str(dstep)} is damaged: {reason}; moved to {where} "
                             "for inspection")
            self._history = list(meta.get("history", []))
            self._batches_per_epoch = meta.get("batches_per_epoch", batches_per_epoch)
            self._saved_at = epoch * batches_per_epoch + batch if batches_per_epoch else None
            notes = []
            if damaged:
                notes.append("the newest intact checkpoint")
            if not verified:
                notes.append("unverified: it has no manifest (written by an older jaxdl, or the run was killed "
                             "between orbax's commit and the manifest)")
            return Resumed(state, meta, epoch, batch, _metrics_from_json(meta.get("batch_metrics", {})),
                           self._step_dir(kind, step), "; ".join(notes))
        listed = "; ".join(f"{kind}/{step}: {reason}" for kind, step, reason in damaged)
        raise CheckpointDamagedError(
            f"no intact checkpoint to resume from in {self._root} ({listed}); nothing was changed. Start a new run "
            "without resume=True (it replaces these once it has written its first checkpoint) or pass another "
            "workdir=DIR", self._root, listed)

    def _quarantine(self, kind: str, step: int) -> Path:
        """Move a damaged step out of orbax's sight into ``<directory>/damaged/``."""
        src = self._step_dir(kind, step)
        dest = self._root / DAMAGED_DIR / f"{kind}-{step}"
        n = 1
        while dest.exists():
            n += 1
            dest = self._root / DAMAGED_DIR / f"{kind}-{step}-{n}"
        if self._primary:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.rename(src, dest)
        self._sync(f"quarantine_{kind}_{step}")
        self._managers[kind].reload()
        return dest

    def newest_intact(self) -> str | None:
        """The newest epoch checkpoint or mid-epoch position whose files are not damaged,
        as ``path (epoch E[, batch B])``; None when there is none."""
        for (epoch, batch), kind, step in self._candidates(self._batches_per_epoch):
            path = self._step_dir(kind, step)
            if check_files(path)[0] is not False:
                return f"{path} ({f'batch {batch} of epoch {epoch + 1}' if batch else f'epoch {epoch}'})"
        return None

    # -------------------------------------------------------------- closing
    def wait(self) -> None:
        """Wait for every save and write their manifests."""
        self._seal()

    def _close_managers(self) -> None:
        for m in self._managers.values():
            m.close()

    def close(self) -> None:
        try:
            self._seal()
            self._close_managers()
            if self._replacing and self._primary:  # a new run that saved nothing: the earlier one's stand
                shutil.rmtree(self._root, ignore_errors=True)
        finally:
            if _DropDiskFull.users:
                _DropDiskFull.users -= 1
                if not _DropDiskFull.users:
                    logging.getLogger("absl").removeFilter(_DISK_FULL_FILTER)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
            return
        with contextlib.suppress(Exception):  # already failing: closing must not replace that error
            self.close()
