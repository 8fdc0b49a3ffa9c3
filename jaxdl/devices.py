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
