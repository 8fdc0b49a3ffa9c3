"""Several devices and processes, end to end: two CPU devices in one process, and two
processes on 127.0.0.1 with jax.distributed and CPU (gloo) collectives, against one
device; resume across processes; a dropout model (typed PRNG keys in the state) across
processes; evaluation that counts every example once in any number of processes."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cmd(workdir, *extra, epochs=1, experiment="mnist_cnn"):
    return [sys.executable, "-m", f"experiments.{experiment}", "--dataset", "mnist_5k", "--epochs", str(epochs),
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


def _two_processes(workdir, *extra, epochs=1, experiment="mnist_cnn"):
    port = _free_port()
    procs = [subprocess.Popen(_cmd(workdir, "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2",
                                   "--process-id", str(i), *extra, epochs=epochs, experiment=experiment),
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


@pytest.mark.slow
def test_dropout_model_two_processes_equal_one_process(tmp_path):
    # mnist_binary's model has dropout: its dropout RNG key is a typed key leaf of the train state
    one = subprocess.run(_cmd(tmp_path / "one", "--batch-size", "100", experiment="mnist_binary"), cwd=ROOT,
                         env=_env(1), capture_output=True, text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    outs = _two_processes(tmp_path / "two", "--batch-size", "100", experiment="mnist_binary")
    assert "DataParallel(2 devices, 2 process(es))" in outs[0]
    m1, m2 = _metrics(tmp_path / "one"), _metrics(tmp_path / "two")
    assert m2["test_loss"] == pytest.approx(m1["test_loss"], rel=1e-4)
    assert abs(m2["test_accuracy"] - m1["test_accuracy"]) <= 0.002
    assert sum(c["support"] for c in m2["per_class"].values()) == 1000  # every test example once
    assert abs(m2["train_accuracy"] - m1["train_accuracy"]) <= 0.002  # training metrics agree too


EVALUATE = r"""
import json, sys
import jax, numpy as np
from flax import nnx
from jaxdl import data, losses, optim, runtime
from jaxdl.config import RunConfig
from jaxdl.data import ArrayDataset, DataLoader
from jaxdl.models import MLP
from jaxdl.parallel import for_mode
from jaxdl.train import Learner, evaluate
n, port = int(sys.argv[1]), sys.argv[2]
runtime.setup(RunConfig(coordinator=f"127.0.0.1:{port}" if n > 1 else None, num_processes=n,
                        process_id=int(sys.argv[3])))
ds = data.load("mnist_5k")
test = ArrayDataset(*ds.test[:999])  # 999 examples: divides neither the batch (100) nor 2 processes
learner = Learner(MLP([784, 64, 10], dropout=0.5, rngs=nnx.Rngs(params=0, dropout=1)), losses.cross_entropy,
                  optim.adam(1e-3), num_classes=10, parallel=for_mode("auto"))
loader = DataLoader(test, 100, pad_last=True, process_index=jax.process_index(), process_count=n)
r = evaluate(learner, learner.init_state(), loader)
try:  # a loader that hands every process the whole set would count each example n times
    evaluate(learner, learner.init_state(), DataLoader(test, 100, pad_last=True))
    whole_set_refused = n == 1
except ValueError as e:
    whole_set_refused = "several times" in str(e)
print(json.dumps({"loss": r["loss"], "accuracy": r["accuracy"], "confusion": np.asarray(r["confusion"]).tolist(),
                  "batches": len(loader), "devices": jax.device_count(), "refused": whole_set_refused}))
"""


def _evaluate(processes):
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-c", EVALUATE, str(processes), str(port), str(i)], cwd=ROOT,
                              env={**_env(1), "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for i in range(processes)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0] * processes, "".join(o[1][-3000:] for o in outs)
    return [json.loads(o[0].strip().splitlines()[-1]) for o in outs]


@pytest.mark.slow
def test_evaluation_counts_every_example_once_in_two_processes():
    (one,), two = _evaluate(1), _evaluate(2)
    assert one["devices"] == 1 and two[0]["devices"] == 2 and two[0] == two[1]
    assert one["refused"] and two[0]["refused"]  # one process: allowed; two: refused with the recipe
    assert np.sum(one["confusion"]) == np.sum(two[0]["confusion"]) == 999 and two[0]["batches"] == 10
    assert two[0]["confusion"] == one["confusion"]
    assert two[0]["accuracy"] == one["accuracy"]
    assert two[0]["loss"] == pytest.approx(one["loss"], rel=1e-6)  # measured: 1e-8 apart (float32 sums)
