"""Layers that only move values around (torch: ``nn.Flatten``, ``nn.Unflatten``,
``nn.PixelShuffle``, ``nn.PixelUnshuffle``, ``nn.ChannelShuffle``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import jax
from flax import nnx

from jaxdl.layers.torch_layer import (
    CHANNELS_LAST,
    TORCH,
    ParameterlessLayer,
    torch_layer,
)


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


@torch_layer("Unflatten", layout=TORCH)
class Unflatten(ParameterlessLayer, nnx.Module):
    """torch: ``nn.Unflatten(dim, unflattened_size)``: axis ``dim`` split into
    ``unflattened_size`` (one entry may be -1)."""

    def __init__(self, dim: int, unflattened_size: Sequence[int]):
        self.dim, self.unflattened_size = dim, tuple(unflattened_size)

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"dim": m.dim, "unflattened_size": tuple(m.unflattened_size)}

    def __call__(self, x: jax.Array) -> jax.Array:
        d = self.dim % x.ndim
        return x.reshape(*x.shape[:d], *self.unflattened_size, *x.shape[d + 1:])


def pixel_shuffle(x_NHWC: jax.Array, upscale_factor: int) -> jax.Array:
    """torch: ``F.pixel_shuffle(x, r)`` channels-last: (N, H, W, C*r*r) -> (N, H*r, W*r, C), torch's
    channel c*r*r + i*r + j going to pixel (h*r + i, w*r + j) of channel c."""
    r = upscale_factor
    n, h, w, crr = x_NHWC.shape
    if crr % (r * r):
        raise ValueError(f"pixel_shuffle: {crr} channels do not divide by upscale_factor^2 = {r * r} (as torch)")
    c = crr // (r * r)
    return x_NHWC.reshape(n, h, w, c, r, r).transpose(0, 1, 4, 2, 5, 3).reshape(n, h * r, w * r, c)


def pixel_unshuffle(x_NHWC: jax.Array, downscale_factor: int) -> jax.Array:
    """torch: ``F.pixel_unshuffle(x, r)`` channels-last: the inverse of :func:`pixel_shuffle`."""
    r = downscale_factor
    n, hr, wr, c = x_NHWC.shape
    if hr % r or wr % r:
        raise ValueError(f"pixel_unshuffle: height {hr} and width {wr} must divide by downscale_factor {r} (as torch)")
    return x_NHWC.reshape(n, hr // r, r, wr // r, r, c).transpose(0, 1, 3, 5, 2, 4).reshape(n, hr // r, wr // r,
                                                                                           c * r * r)


def channel_shuffle(x: jax.Array, groups: int) -> jax.Array:
    """torch: ``F.channel_shuffle(x, groups)`` / ShuffleNet's shuffle, channels last: the
    channels viewed as (groups, C/groups), transposed, flattened."""
    c = x.shape[-1]
    if c % groups:
        raise ValueError(f"channel_shuffle: {c} channels do not divide by groups={groups} (as torch)")
    return x.reshape(*x.shape[:-1], groups, c // groups).swapaxes(-1, -2).reshape(x.shape)


@torch_layer("PixelShuffle", layout=CHANNELS_LAST)
class PixelShuffle(ParameterlessLayer, nnx.Module):
    """torch: ``nn.PixelShuffle(upscale_factor)``; see :func:`pixel_shuffle`."""

    def __init__(self, upscale_factor: int):
        self.upscale_factor = upscale_factor

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"upscale_factor": m.upscale_factor}

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        return pixel_shuffle(x_NHWC, self.upscale_factor)


@torch_layer("PixelUnshuffle", layout=CHANNELS_LAST)
class PixelUnshuffle(ParameterlessLayer, nnx.Module):
    """torch: ``nn.PixelUnshuffle(downscale_factor)``; see :func:`pixel_unshuffle`."""

    def __init__(self, downscale_factor: int):
        self.downscale_factor = downscale_factor

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"downscale_factor": m.downscale_factor}

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        return pixel_unshuffle(x_NHWC, self.downscale_factor)


@torch_layer("ChannelShuffle", layout=CHANNELS_LAST)
class ChannelShuffle(ParameterlessLayer, nnx.Module):
    """torch: ``nn.ChannelShuffle(groups)``; see :func:`channel_shuffle`."""

    def __init__(self, groups: int):
        self.groups = groups

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"groups": m.groups}

    def __call__(self, x: jax.Array) -> jax.Array:
        return channel_shuffle(x, self.groups)
