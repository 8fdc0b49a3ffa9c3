"""devices.keep_freed_host_memory: XLA:CPU's per-step scratch stops page-faulting in.

Each run is a fresh process (the setting is process-wide; cli.setup applies it): the
CIFAR Net's first convolution at batch 128 (a 30 MB im2col temporary) is called 20 times
and the minor page faults per call are counted with and without the setting."""

import os
import subprocess
import sys

import pytest

SCRIPT = r"""
import resource, sys
import jax, jax.numpy as jnp
from jaxdl import devices
from jaxdl.platform import conv2d_im2col
if sys.argv[1] == "on":
    assert devices.keep_freed_host_memory()
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
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_kept_host_memory_stops_per_call_page_faults():
    off, on = _faults_per_call("off"), _faults_per_call("on")
    # measured: about 9,200 faults a call (the 30 MB buffer mapped afresh) against about 900
    assert off > 2000, off
    assert on < off / 3, (on, off)


def test_opt_out_by_environment():
    env = dict(os.environ, JAXDL_KEEP_HOST_MEMORY="0")
    code = "from jaxdl import devices; print(devices.keep_freed_host_memory())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.stdout.strip() == "False", out.stderr[-2000:]
