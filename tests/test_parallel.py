"""Data parallelism: two CPU devices in one process, and two processes on 127.0.0.1 with
jax.distributed and CPU (gloo) collectives, against one device; resume across processes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _cmd(workdir, *extra, epochs=1):
    return [sys.executable, "-m", "experiments.mnist_cnn", "--dataset", "mnist_5k", "--epochs", str(epochs),
            "--batch-size", "50", "--workdir", str(workdir), "--no-progress", *extra]


def _env(devices=1):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONUNBUFFERED": "1"}
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}" if devices > 1 else ""
    return env


def _metrics(workdir):
    return json.loads((Path(workdir) / "metrics.json").read_text())


@pytest.fixture(scope="module")
def one_device(tmp_path_factory):
    w = tmp_path_factory.mktemp("one")
    subprocess.run(_cmd(w), cwd=ROOT, env=_env(1), check=True, capture_output=True, timeout=300)
    return _metrics(w)


def test_two_devices_one_process_equal_one_device(tmp_path, one_device):
    out = subprocess.run(_cmd(tmp_path), cwd=ROOT, env=_env(2), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "data parallel: DataParallel(2 devices, 1 process(es))" in out.stdout
    m = _metrics(tmp_path)
    assert m["test_loss"] == pytest.approx(one_device["test_loss"], rel=1e-4)
    assert abs(m["test_accuracy"] - one_device["test_accuracy"]) <= 0.002


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _two_processes(workdir, *extra, epochs=1):
    port = _free_port()
    procs = [subprocess.Popen(_cmd(workdir, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                                   "--process-id", str(i), *extra, epochs=epochs),
                              cwd=ROOT, env=_env(1), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs[0][-3000:] + outs[1][-3000:]
    return outs


def test_two_processes_equal_one_process_and_resume(tmp_path, one_device):
    outs = _two_processes(tmp_path)
    assert "DataParallel(2 devices, 2 process(es))" in outs[0] and "test accuracy" not in outs[1]  # one speaker
    m = _metrics(tmp_path)
    assert m["test_loss"] == pytest.approx(one_device["test_loss"], rel=1e-4)
    outs = _two_processes(tmp_path, "--resume", epochs=2)
    assert "resumed from epoch 1" in outs[0]
    assert _metrics(tmp_path)["epochs"] == 2
    assert sorted(p.name for p in (tmp_path / "checkpoints" / "last").iterdir()) == ["1", "2"]
