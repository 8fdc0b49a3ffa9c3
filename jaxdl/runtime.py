"""The process JAX runs in: what it runs on, and the process-wide settings of a run.

:func:`setup` makes every process-wide setting a run asks for, in one explicit call at
the start of a program (every experiment makes it right after reading its flags):
importing jaxdl, parsing flags or building a ``Learner`` changes nothing process-wide.
:func:`describe` is the line every experiment prints first (torch:
``torch.device('cuda' if available else 'cpu')``: JAX places arrays on the default
device by itself, so the same code runs on CPU, GPU and TPU with no ``.to(device)``).
"""

from __future__ import annotations

import ctypes
import os
import sys
from pathlib import Path

import jax

from jaxdl.config import RunConfig
from jaxdl.precision import set_matmul_precision


def setup(config: RunConfig) -> None:
    """Make a run's process-wide settings, once, before any JAX computation.

    1. the persistent compilation cache (:func:`enable_compilation_cache`);
    2. with ``config.coordinator``: JAX's multi-process runtime
       (``jax.distributed.initialize``, CPU collectives over gloo), which must precede
       anything that asks for devices;
    3. ``config.matmul_precision``: JAX's float32 matmul/conv precision
       (:func:`jaxdl.precision.set_matmul_precision`);
    4. on the CPU backend, glibc keeps freed memory mapped for XLA's per-step scratch
       (:func:`keep_freed_host_memory`).

    Settings of JAX's configuration (``jax.config.update(...)``) belong with 3, before
    the backend starts. Calling it again in the same process changes nothing.

    Args:
        config: the run's configuration; only the fields above are read.
    """
    enable_compilation_cache()  # a config setting: does not start the backend
    if config.coordinator and not jax.distributed.is_initialized():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives
        jax.distributed.initialize(coordinator_address=config.coordinator,
                                   num_processes=config.num_processes, process_id=config.process_id)
    set_matmul_precision(config.matmul_precision)  # before the backend starts below
    if jax.default_backend() == "cpu":  # starts the backend
        keep_freed_host_memory()


def describe() -> str:
    """One line: JAX's version, backend, devices and processes."""
    devs = jax.devices()
    kinds = sorted({d.device_kind for d in devs})
    return (f"JAX {jax.__version__} on {jax.default_backend()}: {len(devs)} device(s) "
            f"({', '.join(kinds)}); {jax.process_count()} process(es)")


def enable_compilation_cache(directory: str | None = None) -> str | None:
    """Keep compiled XLA programs on disk (``jax_compilation_cache_dir``) so the next run
    of the same experiment skips most of its compile time. Directory: ``directory``,
    ``$JAXDL_COMPILE_CACHE``, else ``~/.cache/jaxdl/xla``; ``JAXDL_COMPILE_CACHE=0``
    turns it off. Returns the directory used, or None."""
    setting = directory or os.environ.get("JAXDL_COMPILE_CACHE")
    if setting == "0":
        return None
    path = Path(setting) if setting else Path.home() / ".cache" / "jaxdl" / "xla"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None  # an unwritable home: run without the cache
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    return str(path)


_HOST_MEMORY_KEPT: bool | None = None


def keep_freed_host_memory() -> bool:
    """Let the C allocator keep large freed blocks for reuse instead of unmapping them.

    XLA:CPU takes each step's temporaries (tens of MB for a conv net at batch 128) from
    ``malloc``. glibc serves blocks above its mmap threshold (at most 32 MB by default)
    with fresh ``mmap`` pages and unmaps them on ``free``, so every step page-faults its
    scratch memory in again (docs/speed.md has the measured cost). It sets glibc's
    ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` (``mallopt``) for the whole process, so
    freed memory stays with the process: its resident size stays at its peak.
    :func:`setup` makes it when JAX runs on the CPU;
    nothing else does (not importing jaxdl, not ``Learner``): a library user who wants
    the CPU speed calls it, or :func:`setup`, once at the start of the program.
    ``JAXDL_KEEP_HOST_MEMORY=0`` turns it off. Returns whether it is in effect (False
    off glibc, e.g. macOS).
    """
    global _HOST_MEMORY_KEPT
    if _HOST_MEMORY_KEPT is not None:
        return _HOST_MEMORY_KEPT
    _HOST_MEMORY_KEPT = False
    if os.environ.get("JAXDL_KEEP_HOST_MEMORY") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # musl and other C libraries: nothing to tune
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    mmap_ok = mallopt(M_MMAP_THRESHOLD, 1 << 30) or mallopt(M_MMAP_THRESHOLD, 32 << 20)
    _HOST_MEMORY_KEPT = bool(mmap_ok and mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    return _HOST_MEMORY_KEPT
