"""Process-wide settings are made by one explicit call, ``jaxdl.cli.setup``, never as a
side effect: importing ``jaxdl.plots`` keeps matplotlib's backend, building and training
a ``Learner`` leaves the C allocator alone, and parsing flags starts no runtime. Each
check runs in a fresh process (the settings are process-wide)."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

LIBRARY_USE = r"""
import json, sys
import matplotlib
from jaxdl import devices, plots
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
                  "png": open(png, "rb").read(8).hex(), "host_memory_setting": devices._HOST_MEMORY_KEPT}))
"""

CLI_SETUP = r"""
import json, sys
import jax
from jaxdl import cli, devices
args = cli.parser("t", epochs=1, batch_size=1, lr=0.1).parse_args(
    ["--coordinator", sys.argv[1], "--num-processes", "1", "--process-id", "0"])
parsed = {"distributed": jax.distributed.is_initialized(), "cache": jax.config.jax_compilation_cache_dir,
          "host_memory_setting": devices._HOST_MEMORY_KEPT}
assert cli.setup(args) is args
cli.setup(args)  # a second call changes nothing
after = {"distributed": jax.distributed.is_initialized(), "cache": jax.config.jax_compilation_cache_dir,
         "host_memory_setting": devices._HOST_MEMORY_KEPT, "processes": jax.process_count()}
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
    assert r["parsed"] == {"distributed": False, "cache": None, "host_memory_setting": None}
    assert r["setup"]["distributed"] and r["setup"]["processes"] == 1
    assert r["setup"]["cache"] == str(cache) and cache.is_dir()
    if sys.platform.startswith("linux"):  # glibc's mallopt
        assert r["setup"]["host_memory_setting"] is True
