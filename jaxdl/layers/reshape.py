"""Layers that only move values around (torch: ``nn.Flatten``)."""

from __future__ import annotations

import jax


def flatten(x: jax.Array) -> jax.Array:
    """torch: ``x.view(N, -1)`` / ``nn.Flatten()``, in NHWC order.

    A dense layer after it sees features in (H, W, C) order where torch sees (C, H, W):
    ``jaxdl.interop`` permutes that layer's rows when converting weights (see each
    model's ``torch_flatten``).
    """
    return x.reshape(x.shape[0], -1)
