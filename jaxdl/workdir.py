"""One run per workdir: an exclusive lock on ``<workdir>/.jaxdl.lock``.

torch has none: two scripts pointed at one output folder both write there, and their
checkpoints interleave. Here a run holds an exclusive ``flock`` on the lock file while it
uses the folder. The kernel releases it when the process ends, however it ends (kill -9
included), so a killed run never leaves the folder locked. The file records the holder
(pid, host, start time, command) for the message a second run gets; a clean release
empties it, so a record found in an unlocked file is that of a run that ended without
releasing it: the next run takes over and says so. A process may take the lock of a
folder it already holds again (nested runs); it is released with the outermost.
Multi-process jobs take it once, in process 0 (:func:`jaxdl.harness.train_and_evaluate`).
On NFS, ``flock`` is mapped to POSIX byte-range locks (Linux >= 2.6.12), which the
server arbitrates between hosts.

    with WorkdirLock("runs/cnn", log=print):
        ...  # nobody else trains into runs/cnn meanwhile
"""

from __future__ import annotations

import datetime
import errno
import fcntl
import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Self

LOCK_FILE = ".jaxdl.lock"


class WorkdirBusyError(OSError):
    """Another run holds the workdir; the message names it (pid, host, start time)."""


def _describe(holder: dict) -> str:
    out = f"pid {holder.get('pid', '?')} on host {holder.get('host', '?')}"
    if holder.get("started"):
        out += f", started {holder['started']}"
    if holder.get("command"):
        out += f" ({holder['command']})"
    return out


def _read_record(fd: int) -> dict | None:
    os.lseek(fd, 0, os.SEEK_SET)
    raw = os.read(fd, 1 << 16)
    if not raw.strip():
        return None
    try:
        out = json.loads(raw)
        return out if isinstance(out, dict) else {"record": str(out)}
    except ValueError:
        return {"record": raw[:200].decode(errors="replace")}


_HELD: dict[str, list] = {}  # realpath -> [fd, depth]: locks this process holds


class WorkdirLock:
    """The exclusive lock of ``workdir`` (created if missing) while the ``with`` block or
    between :meth:`acquire` and :meth:`release`. Raises :class:`WorkdirBusyError` at
    once when another live process holds it; takes over (and logs one line about) the
    record of a run that ended without releasing it."""

    def __init__(self, workdir: str | os.PathLike, *, log: Callable[[str], None] | None = print):
        self.workdir, self.log = Path(workdir), log
        self.path = self.workdir / LOCK_FILE
        self._key: str | None = None

    def acquire(self) -> Self:
        self.workdir.mkdir(parents=True, exist_ok=True)
        key = os.path.realpath(self.path)
        if key in _HELD:
            _HELD[key][1] += 1
            self._key = key
            return self
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as e:
                if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                holder = _read_record(fd) or {}
                raise WorkdirBusyError(
                    f"workdir {self.workdir} is in use by another run: {_describe(holder)}; wait for it to end, "
                    "stop it, or pass another workdir=DIR") from None
            stale = _read_record(fd)
            if stale and self.log is not None:
                self.log(f"workdir {self.workdir}: taking over the lock of {_describe(stale)}, "
                         "which ended without releasing it (killed?)")
            record = {"pid": os.getpid(), "host": socket.gethostname(),
                      "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                      "command": " ".join([os.path.basename(sys.executable), *sys.argv])[:300]}
            data = json.dumps(record).encode()
            os.pwrite(fd, data, 0)  # then cut: a reader never sees the file empty meanwhile
            os.ftruncate(fd, len(data))
        except BaseException:
            os.close(fd)
            raise
        _HELD[key] = [fd, 1]
        self._key = key
        return self

    def release(self) -> None:
        key, self._key = self._key, None
        if key is None or key not in _HELD:
            return
        _HELD[key][1] -= 1
        if _HELD[key][1]:
            return
        fd = _HELD.pop(key)[0]
        try:  # an empty file: released cleanly (the file itself stays: unlinking it races)
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
