"""Which accelerator runs the code (torch: ``torch.device('cuda' if available else 'cpu')``).

JAX places arrays on the default device by itself: the same code runs on CPU, GPU and
TPU with no ``.to(device)``. ``describe()`` is the line every experiment prints first.
"""

from __future__ import annotations

import jax


def describe() -> str:
    devs = jax.devices()
    kinds = sorted({d.device_kind for d in devs})
    return (f"JAX {jax.__version__} on {jax.default_backend()}: {len(devs)} device(s) "
            f"({', '.join(kinds)}); {jax.process_count()} process(es)")


def enable_compilation_cache(directory: str | None = None) -> str | None:
    """Keep compiled XLA programs on disk (``jax_compilation_cache_dir``) so the next run
    of the same experiment skips most of its compile time. Directory: ``directory``,
    ``$JAXDL_COMPILE_CACHE``, else ``~/.cache/jaxdl/xla``; ``JAXDL_COMPILE_CACHE=0``
    turns it off. Returns the directory used, or None."""
    import os
    from pathlib import Path

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
    scratch memory in again. Measured on 2 CPU cores: the CifarNet conv1 forward at batch
    128 took 9,000 page faults and 12.6 ms of system time a call (14.9 ms in all, 4.8 ms
    with this); the MNIST CNN at batch 256 trains 1.5x faster. It sets glibc's
    ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` (``mallopt``) for the whole process, so
    freed memory stays with the process: its resident size stays at its peak. PyTorch's
    speed is unaffected (measured). The experiments' setup call (:func:`jaxdl.cli.setup`)
    makes it when JAX runs on the CPU; nothing else does (not importing jaxdl, not
    ``Learner``): a library user who wants the CPU speed calls it once at the start of the
    program. ``JAXDL_KEEP_HOST_MEMORY=0`` turns it off. Returns whether it is in effect
    (False off glibc, e.g. macOS).
    """
    global _HOST_MEMORY_KEPT
    import ctypes
    import os
    import sys

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
