"""A model summary table: layers, input/output shapes, parameter shapes and counts
(torch: ``torchinfo.summary(model, input_size)``; ``calculate_capacity`` of the notes is
``jaxdl.layers.count_params``).

Built on ``nnx.tabulate``. It runs the model once on a copy in eval mode, so BatchNorm
statistics and dropout RNG of ``model`` are left as they were.
"""

from __future__ import annotations

import jax.numpy as jnp
from flax import nnx


def summary(model: nnx.Module, x, *, depth: int | None = 1, width: int = 110) -> str:
    """The table as plain text (no colour codes). ``x``: an example input batch, or its
    shape as a tuple (float32 zeros of that shape are used)."""
    if isinstance(x, tuple) and all(isinstance(d, int) for d in x):
        x = jnp.zeros(x, jnp.float32)
    copy = nnx.clone(model)
    copy.eval()
    return nnx.tabulate(copy, x, depth=depth,
                        console_kwargs={"width": width, "force_terminal": False, "no_color": True,
                                        "color_system": None})
