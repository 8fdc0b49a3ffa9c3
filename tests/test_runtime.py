"""jaxdl.runtime: process-wide settings are made by one explicit call, ``runtime.setup``,
never as a side effect: importing ``jaxdl.plots`` keeps matplotlib's backend, building
and training a ``Learner`` leaves the C allocator alone, and parsing flags starts no
runtime. ``keep_freed_host_memory``: XLA:CPU's per-step scratch stops page-faulting in.
Each check runs in a fresh process (the settings are process-wide)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

LIBRARY_USE = r"""
import json, sys
import matplotlib
from jaxdl import plots, runtime
backend_after_import = matplotlib.get_backend()
from flax import nnx
from jaxdl import losses, optim
from jaxdl.data import DataLoader
from jaxdl.models import BinaryANN
from jaxdl.train import Learner, fit
import numpy as np
learner = Learner(BinaryANN(rngs=nnx.Rngs(0)), losses.bce_with_logits_loss, optim.sgd(0.01), task="binary")
x = np.random.default_rng(0).random((8, 28, 28, 1), np.float32)
state, hist = fit(learner, learner.init_state(), DataLoader((x, np.ones((8, 1), np.float32)), 4),
                  epochs=1, log=None)
png = plots.curves(hist.rows, sys.argv[1])
print(json.dumps({"backend_after_import": backend_after_import, "backend_after_plot": matplotlib.get_backend(),
                  "pyplot_imported": "matplotlib.pyplot" in sys.modules,
                  "png": open(png, "rb").read(8).hex(), "host_memory_setting": runtime._HOST_MEMORY_KEPT}))
"""

CLI_SETUP = r"""
import json, sys
import jax
from jaxdl import cli, runtime
config = cli.parse(cli.parser("t", epochs=1, batch_size=1, lr=0.1),
                   ["--coordinator", sys.argv[1], "--num-processes", "1", "--process-id", "0",
                    "--matmul-precision", "high"])
parsed = {"distributed": jax.distributed.is_initialized(), "cache": jax.config.jax_compilation_cache_dir,
          "host_memory_setting": runtime._HOST_MEMORY_KEPT, "matmul": jax.config.jax_default_matmul_precision}
runtime.setup(config)
runtime.setup(config)  # a second call changes nothing
after = {"distributed": jax.distributed.is_initialized(), "cache": jax.config.jax_compilation_cache_dir,
         "host_memory_setting": runtime._HOST_MEMORY_KEPT, "processes": jax.process_count(),
         "matmul": jax.config.jax_default_matmul_precision}
print(json.dumps({"parsed": parsed, "setup": after}))
"""


def _run(script, *argv, env=None):
    out = subprocess.run([sys.executable, "-c", script, *argv], check=False, cwd=ROOT, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_library_use_changes_no_process_setting(tmp_path):
    # a notebook's backend ("svg" stands for the inline one): importing jaxdl.plots used to switch it to Agg
    r = _run(LIBRARY_USE, str(tmp_path / "curves.png"), env={"MPLBACKEND": "svg"})
    assert r["backend_after_import"] == "svg" and r["backend_after_plot"] == "svg"
    assert not r["pyplot_imported"]
    assert r["png"] == "89504e470d0a1a0a"  # a PNG written headless, without a global backend
    assert r["host_memory_setting"] is None  # Learner + a training epoch never called mallopt


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_parse_args_starts_nothing_and_setup_makes_every_setting(tmp_path):
    cache = tmp_path / "xla"
    r = _run(CLI_SETUP, f"127.0.0.1:{_free_port()}", env={"JAXDL_COMPILE_CACHE": str(cache),
                                                          "JAX_PLATFORMS": "cpu"})
    assert r["parsed"] == {"distributed": False, "cache": None, "host_memory_setting": None, "matmul": None}
    assert r["setup"]["distributed"] and r["setup"]["processes"] == 1 and r["setup"]["matmul"] == "high"
    assert r["setup"]["cache"] == str(cache) and cache.is_dir()
    if sys.platform.startswith("linux"):  # glibc's mallopt
        assert r["setup"]["host_memory_setting"] is True


PAGE_FAULTS = r"""
import resource, sys
import jax, jax.numpy as jnp
from jaxdl import runtime
from jaxdl.platform import conv2d_im2col
if sys.argv[1] == "on":
    assert runtime.keep_freed_host_memory()
conv = jax.jit(conv2d_im2col)
x, k = jnp.ones((128, 32, 32, 3)), jnp.ones((5, 5, 3, 6))
for _ in range(3):
    conv(x, k).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    conv(x, k).block_until_ready()
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
"""


def _faults_per_call(mode: str) -> float:
    """Minor page faults per call of the CIFAR Net's first convolution at batch 128 (a
    30 MB im2col temporary), 20 calls in a fresh process, with or without the setting."""
    out = subprocess.run([sys.executable, "-c", PAGE_FAULTS, mode], capture_output=True, text=True, timeout=300,
                         cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_host_memory_stops_per_call_page_faults():
    off, on = _faults_per_call("off"), _faults_per_call("on")
    # measured: about 9,200 faults a call (the 30 MB buffer mapped afresh) against about 900
    assert off > 2000, off
    assert on < off / 3, (on, off)


def test_opt_out_by_environment():
    env = dict(os.environ, JAXDL_KEEP_HOST_MEMORY="0", PYTHONPATH=str(ROOT))
    code = "from jaxdl import runtime; print(runtime.keep_freed_host_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
