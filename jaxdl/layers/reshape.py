"""Layers that only move values around (torch: ``nn.Flatten``)."""

from __future__ import annotations

import math

import jax
from flax import nnx

from jaxdl.layers.torch_layer import TORCH, ParameterlessLayer, torch_layer


def flatten(x: jax.Array) -> jax.Array:
    """torch: ``x.view(N, -1)`` / ``nn.Flatten()``, in NHWC order.

    A dense layer after it sees features in (H, W, C) order where torch sees (C, H, W):
    ``jaxdl.interop`` permutes that layer's rows when converting weights (see each
    model's ``torch_flatten``).
    """
    return x.reshape(x.shape[0], -1)


@torch_layer("Flatten", layout=TORCH)
class Flatten(ParameterlessLayer, nnx.Module):
    """torch: ``nn.Flatten(start_dim=1, end_dim=-1)``: axes ``start_dim`` .. ``end_dim`` joined
    into one, in the array's own order (on an NHWC image that is (H, W, C) order; for
    torch's (C, H, W) order on images use :func:`flatten` and the row permutation it
    describes, or transpose to NCHW first)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        self.start_dim, self.end_dim = start_dim, end_dim

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"start_dim": m.start_dim, "end_dim": m.end_dim}

    def __call__(self, x: jax.Array) -> jax.Array:
        start, end = self.start_dim % max(x.ndim, 1), self.end_dim % max(x.ndim, 1)
        if x.ndim == 0 or start > end:
            raise ValueError(f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim}) does not fit an "
                             f"input of shape {tuple(x.shape)} (flattening needs start_dim <= end_dim).")
        return x.reshape(*x.shape[:start], math.prod(x.shape[start:end + 1]), *x.shape[end + 1:])
