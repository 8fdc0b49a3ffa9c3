"""jaxdl.workdir: one run per workdir, held by a real second process; a kill -9 of the
holder leaves no stuck lock, and the next run says whose lock it took over."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jaxdl.workdir import LOCK_FILE, WorkdirBusyError, WorkdirLock

ROOT = Path(__file__).resolve().parent.parent
HOLD = "import sys, time; from jaxdl.workdir import WorkdirLock; WorkdirLock(sys.argv[1]).acquire(); " \
       "print('held', flush=True); time.sleep(600)"


def _holder(workdir):
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(workdir)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_run_is_refused_naming_the_holder_and_a_killed_holder_is_taken_over(tmp_path):
    holder = _holder(tmp_path / "run")
    try:
        with pytest.raises(WorkdirBusyError, match=rf"in use by another run: pid {holder.pid} on host \S+, started "
                                                   r"\d{4}-\d\d-\d\dT.*another workdir=DIR") as e:
            WorkdirLock(tmp_path / "run").acquire()
        assert "\n" not in str(e.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    said = []
    with WorkdirLock(tmp_path / "run", log=said.append):  # the kernel released the dead holder's lock
        assert said and f"taking over the lock of pid {holder.pid}" in said[0] and "ended without releasing" in said[0]
        record = json.loads((tmp_path / "run" / LOCK_FILE).read_text())
        assert record["pid"] == os.getpid()
    assert (tmp_path / "run" / LOCK_FILE).read_text() == ""  # released cleanly: no record left to take over
    said.clear()
    with WorkdirLock(tmp_path / "run", log=said.append):
        assert said == []


def test_the_same_process_may_nest_and_a_released_lock_is_free_for_another_process(tmp_path):
    with WorkdirLock(tmp_path) as outer:
        with WorkdirLock(tmp_path):  # e.g. an experiment that runs train_and_evaluate inside its own run
            pass
        assert outer._key is not None
        take = "import sys; from jaxdl.workdir import WorkdirLock; WorkdirLock(sys.argv[1]).acquire()"
        out = subprocess.run([sys.executable, "-c", take, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, check=False)
        assert out.returncode != 0 and "WorkdirBusyError" in out.stderr  # still held by the outer lock
    t = time.monotonic()
    holder = _holder(tmp_path)  # released by the outermost: another process takes it at once
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert time.monotonic() - t < 30
