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
