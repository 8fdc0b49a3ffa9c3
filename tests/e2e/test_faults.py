"""Faults: a training process killed with SIGKILL at several points resumes to the
bit-identical result of an uninterrupted run; NaN stops with the step and the last good
checkpoint; an unwritable workdir fails before training."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from jaxdl import losses, optim
from jaxdl.checkpoint import Checkpointer
from jaxdl.models import ConvolutionalNetwork
from jaxdl.train import Learner

ROOT = Path(__file__).resolve().parent.parent
EPOCHS = 3


def _cmd(workdir, *extra):
    return [sys.executable, "-m", "experiments.mnist_cnn", "--dataset", "mnist_5k", "--epochs", str(EPOCHS),
            "--batch-size", "20", "--workdir", str(workdir), "--no-progress", *extra]


def _env():
    return {**os.environ, "PYTHONUNBUFFERED": "1", "JAX_PLATFORMS": "cpu"}


def _final_params(workdir):
    learner = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(0)), losses.nll_loss, optim.adam(1e-3))
    with Checkpointer(workdir / "checkpoints") as ckpt:
        state, meta = ckpt.restore(learner.init_state())
    assert meta["epoch"] == EPOCHS
    return jax.tree.leaves(state.params), json.loads((workdir / "metrics.json").read_text())


def _run_and_kill(workdir, after_line, delay):
    """Start a run, SIGKILL it ``delay`` s after it prints a line starting with ``after_line``."""
    p = subprocess.Popen(_cmd(workdir), cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in p.stdout:
        if line.startswith(after_line):
            time.sleep(delay)
            p.send_signal(signal.SIGKILL)
            break
    p.wait(timeout=120)
    return p.returncode


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    w = tmp_path_factory.mktemp("reference")
    subprocess.run(_cmd(w), cwd=ROOT, env=_env(), check=True, capture_output=True, timeout=300)
    return _final_params(w)


# kill points: just as epoch 1's checkpoint is being written, in the middle of epoch 2,
# as epoch 2's checkpoint is being written
@pytest.mark.parametrize("after_line,delay", [("epoch 1/", 0.0), ("epoch 1/", 0.5), ("epoch 2/", 0.05)])
def test_sigkill_then_resume_is_bit_identical(tmp_path, reference, after_line, delay):
    rc = _run_and_kill(tmp_path, after_line, delay)
    assert rc == -signal.SIGKILL
    out = subprocess.run(_cmd(tmp_path, "--resume"), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "resumed from epoch" in out.stdout or "starting from scratch" in out.stdout
    params, metrics = _final_params(tmp_path)
    ref_params, ref_metrics = reference
    assert all(np.array_equal(a, b) for a, b in zip(params, ref_params))
    assert metrics["test_loss"] == ref_metrics["test_loss"]


def test_nan_stops_with_step_and_last_checkpoint(tmp_path):
    from jaxdl import data
    from jaxdl.config import RunConfig
    from jaxdl.harness import train_and_evaluate
    from jaxdl.train import NonFiniteLossError

    ds = data.load("mnist_5k")
    x, y = ds.train.arrays
    x = x[:200].copy()
    x[150] = np.nan  # batch 8 of epoch 2's order or epoch 1's: NaN somewhere after epoch 1's checkpoint
    bad = data.Data("poisoned", data.ArrayDataset(x, y[:200]), ds.test, ds.classes)
    config = RunConfig(epochs=2, batch_size=20, lr=1e-3, workdir=str(tmp_path), progress=False)
    run = lambda config: train_and_evaluate(config, name="t", data=bad, model=ConvolutionalNetwork(rngs=nnx.Rngs(0)),
                                            loss_fn=losses.nll_loss, optimizer=optim.adam(1e-3))
    with pytest.raises(NonFiniteLossError, match=r"NaN/Inf at step \d+.*Last good checkpoint: none yet"):
        run(config)
    out = run(config.replace(skip_nonfinite=True))
    assert np.isfinite(out.metrics["test_loss"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_workdir_fails_before_training(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    out = subprocess.run(_cmd(ro / "run"), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "not writable" in out.stderr and "epoch 1/" not in out.stdout


def test_workdir_that_is_a_file_fails_before_training(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    out = subprocess.run(_cmd(f / "run"), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode != 0 and "not writable" in out.stderr and "epoch 1/" not in out.stdout


def test_skip_nonfinite_leaves_the_state_unchanged_and_default_reports_it():
    import jax.numpy as jnp

    x = jnp.zeros((4, 28, 28, 1)).at[0, 0, 0, 0].set(jnp.nan)
    y = jnp.zeros(4, jnp.int32)
    guarded = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(0)), losses.nll_loss, optim.adam(1e-3), skip_nonfinite=True)
    s0 = guarded.init_state()
    before = [np.asarray(a).copy() for a in jax.tree.leaves(s0.params)]
    s1, m = guarded.train_step(s0, (x, y))
    assert int(m["nonfinite"]) == 1 and int(s1.step) == 0
    assert all(np.array_equal(a, np.asarray(b)) for a, b in zip(before, jax.tree.leaves(s1.params)))
    plain = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(0)), losses.nll_loss, optim.adam(1e-3))
    _, m = plain.train_step(plain.init_state(), (x, y))
    assert int(m["nonfinite"]) == 1  # reported, so fit stops before saving
