"""Loader worker processes end with the process that started them.

torch's DataLoader workers poll their parent and exit when it is gone
(``torch.utils.data._utils.worker.ManagerWatchdog``). grain's ``mp_prefetch`` workers
do not: after a kill -9 of the training process they stay blocked on a full queue for
good, each holding its memory (about 240 MB for an ImageFolder worker), and with them
the multiprocessing resource tracker and the shared-memory segments of the batches they
had built. :func:`exit_with_parent` is installed as each worker's init function
(``worker_init_fn``): a daemon thread that waits for the parent to end and then ends the
worker at once (``os._exit``). When the last worker is gone the resource tracker sees its
pipe close and unlinks every segment still registered (the batches nobody read), and
exits too.

The wait uses a pidfd (Linux >= 5.3: a blocking ``poll`` that returns when the parent
ends, no polling), else checks ``os.getppid()`` twice a second (a dead parent's children
are re-parented). ``prctl(PR_SET_PDEATHSIG)`` is not used: Linux sends that signal when
the *thread* that started the worker ends, and grain starts its workers from its own
prefetch threads, which may end while the parent lives on.
"""

from __future__ import annotations

import functools
import os
import select
import threading
import time

POLL_S = 0.5  # the fallback's interval between parent checks


def _parent_ended(parent_pid: int) -> None:
    """Block until process ``parent_pid`` (this process's parent) has ended."""
    fd = None
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(parent_pid)
        except OSError:  # already gone, or pidfds unsupported here
            fd = None
    if fd is not None and os.getppid() == parent_pid:  # the pidfd names our parent, not a reused pid
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            while not poller.poll():
                pass
            return
        finally:
            os.close(fd)
    while os.getppid() == parent_pid:
        time.sleep(POLL_S)


def _watch(parent_pid: int) -> None:
    _parent_ended(parent_pid)
    os._exit(0)  # the parent is gone: nobody will read this worker's batches


def _start_watchdog(parent_pid: int, worker_index: int = 0, worker_count: int = 1) -> None:
    if os.getppid() != parent_pid:  # the parent ended before this worker started
        os._exit(0)
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True, name="jaxdl-parent-watchdog").start()


def exit_with_parent() -> functools.partial:
    """A grain ``worker_init_fn`` (``(worker_index, worker_count) -> None``) that makes
    the worker end when the calling process (its parent) ends, however it ends."""
    return functools.partial(_start_watchdog, os.getpid())
