"""Activations with torch's values and gradients (torch: ``torch.nn.modules.activation``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def leaky_relu(x: jax.Array, negative_slope: float = 0.01) -> jax.Array:
    """torch: ``F.leaky_relu(x, negative_slope)`` / ``nn.LeakyReLU``, with torch's
    gradient at exactly 0 (``negative_slope``); ``jax.nn.leaky_relu`` gives 1 there."""
    return jnp.where(x > 0, x, negative_slope * x)
