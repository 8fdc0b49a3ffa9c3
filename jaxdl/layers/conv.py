"""Convolutions (torch: ``torch.nn.modules.conv``): Conv1d, Conv2d, ConvTranspose1d,
ConvTranspose2d, channels-last ((N, L, C) / (N, H, W, C) activations; kernels with the
spatial axes first). The arithmetic is :mod:`jaxdl.platform`'s (a 1-d convolution is the
2-d one with height 1); the sums are reassociated, so results differ from torch by float
rounding only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl import platform
from jaxdl.init import Initializer, torch_default_init
from jaxdl.layers.inputs import ntuple
from jaxdl.layers.padding import pad_spatial
from jaxdl.layers.torch_layer import (
    CHANNELS_LAST,
    SAME,
    ArrayFn,
    Rule,
    collapse,
    refuse,
    torch_layer,
)


def channels_last_kernel(spatial: int) -> tuple[ArrayFn, ArrayFn]:
    """(to_torch, from_torch) for a convolution kernel with ``spatial`` axes: jaxdl's
    (*spatial, I, O) <-> torch's (O, I, *spatial) (HWIO <-> OIHW for 2-d)."""
    s = tuple(range(spatial))
    return (lambda k: k.transpose(spatial + 1, spatial, *s),
            lambda w: w.transpose(*(a + 2 for a in s), 1, 0))


class _ConvNd(nnx.Module):
    """torch's ``_ConvNd``: ``spatial`` axes, channels last."""

    spatial: ClassVar[int] = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1, *, use_bias: bool = True,
                 padding_mode: str = "zeros", kernel_init: Initializer | None = None,
                 bias_init: Initializer | None = None, rngs: nnx.Rngs):
        name, n = type(self).__name__, self.spatial
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} and out_channels {out_channels} "
                             f"must both divide by groups={groups} (as torch)")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
                             f"got {padding_mode!r}")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(kernel_size, n, "kernel_size")
        self.stride, self.dilation = ntuple(stride, n, "stride"), ntuple(dilation, n, "dilation")
        self.padding = _conv_padding(padding, self.kernel_size, self.dilation, self.stride)
        self.padding_mode = padding_mode
        init = torch_default_init(in_channels // groups * math.prod(self.kernel_size))
        shape = (*self.kernel_size, in_channels // groups, out_channels)
        self.kernel = nnx.Param((kernel_init or init)(rngs.params(), shape))
        self.bias = nnx.Param((bias_init or init)(rngs.params(), (out_channels,))) if use_bias else None

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"in_channels": m.in_channels, "out_channels": m.out_channels,
                "kernel_size": collapse(m.kernel_size), "stride": collapse(m.stride),
                "padding": collapse(m.padding), "dilation": collapse(m.dilation), "groups": m.groups,
                "use_bias": m.bias is not None, "padding_mode": m.padding_mode}

    def torch_state(self) -> list[Rule]:
        """weight (O, I, *k) <-> kernel (*k, I, O); bias."""
        kernel = [Rule("weight", "kernel", *channels_last_kernel(self.spatial))]
        return kernel + ([Rule("bias", "bias", *SAME)] if self.bias is not None else [])

    def __call__(self, x: jax.Array) -> jax.Array:
        _check_channels_last(self, x, self.in_channels)
        padding = self.padding
        if self.padding_mode != "zeros":  # torch pads with the mode first, then convolves unpadded
            x, padding = pad_spatial(x, padding, self.padding_mode), ((0, 0),) * self.spatial
        kernel = self.kernel[...].astype(x.dtype)
        if self.spatial == 1:  # (N, L, C) as (N, 1, L, C)
            y = platform.conv2d(x[:, None], kernel[None], stride=(1, *self.stride), padding=((0, 0), *padding),
                                dilation=(1, *self.dilation), groups=self.groups)[:, 0]
        else:
            y = platform.conv2d(x, kernel, stride=self.stride, padding=padding, dilation=self.dilation,
                                groups=self.groups)
        return y if self.bias is None else y + self.bias[...].astype(y.dtype)


def _check_channels_last(layer, x: jax.Array, channels: int) -> None:
    n = layer.spatial
    if x.ndim != n + 2 or x.shape[-1] != channels:
        want = "(N, L, C)" if n == 1 else "NHWC"
        torch_order = "(N, C, L)" if n == 1 else "NCHW"
        move = "x.transpose(0, 2, 1)" if n == 1 else "x.transpose(0, 2, 3, 1)"
        raise ValueError(f"{type(layer).__name__}({layer.in_channels}, {layer.out_channels}) expects {want} "
                         f"input with {channels} channels last, got shape {tuple(x.shape)}; a PyTorch "
                         f"{torch_order} batch converts with {move}.")


@torch_layer("Conv1d", layout=CHANNELS_LAST)
class Conv1d(_ConvNd):
    """torch: ``nn.Conv1d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    dilation=1, groups=1, bias=True, padding_mode='zeros')``.

    (N, L, C) in and out; ``kernel`` is (k, I, O) = torch's ``weight.transpose(2, 1, 0)``.
    Computed as :class:`Conv2d` with height 1 (the same per-platform formulations)."""

    spatial = 1


@torch_layer("Conv2d", layout=CHANNELS_LAST)
class Conv2d(_ConvNd):
    """torch: ``nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    dilation=1, groups=1, bias=True, padding_mode='zeros')``.

    NHWC in and out; ``kernel`` is HWIO = torch's ``weight.transpose(2, 3, 1, 0)`` (I is
    ``in_channels // groups``). Padding 0 by default as torch (``nnx.Conv`` defaults to
    ``'SAME'``); ``padding='same'`` pads as torch does (the odd pixel at the end);
    ``padding_mode`` 'reflect', 'replicate' or 'circular' pads with that mode first, as torch.
    The arithmetic is :func:`jaxdl.platform.conv2d`: on CPU a stride-1 conv is an
    im2col matmul (faster on XLA:CPU), on GPU/TPU ``lax.conv_general_dilated``; the sums
    are reassociated, so results differ from torch by float rounding only (parity: 1e-5).
    """

    spatial = 2


def _conv_padding(padding, kernel: tuple[int, ...], dilation: tuple[int, ...],
                  stride: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
    """torch's ``padding`` argument (int, tuple, ``'valid'``, ``'same'``) -> (before, after) per axis."""
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding != "same":
            raise ValueError(f"padding must be an int, a tuple, 'valid' or 'same', got {padding!r}")
        if any(s != 1 for s in stride):
            raise ValueError("padding='same' is not supported for strided convolutions (as torch)")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((t // 2, t - t // 2) for t in total)
    pads = ntuple(padding, n, "padding")
    if min(pads) < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    return tuple((p, p) for p in pads)


# ---------------------------------------------------------------- transposed
def _transposed_kernel(spatial: int) -> tuple[ArrayFn, ArrayFn]:
    """(to_torch, from_torch): jaxdl's (*k, in, out/groups) <-> torch's (in, out/groups, *k)."""
    s = tuple(range(spatial))
    return (lambda k: k.transpose(spatial, spatial + 1, *s), lambda w: w.transpose(*(a + 2 for a in s), 0, 1))


class _ConvTransposeNd(nnx.Module):
    """torch's ``_ConvTransposeNd``: the gradient of a convolution with respect to its input."""

    spatial: ClassVar[int] = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                 output_padding: int | Sequence[int] = 0, groups: int = 1, *, use_bias: bool = True,
                 dilation: int | Sequence[int] = 1, kernel_init: Initializer | None = None,
                 bias_init: Initializer | None = None, rngs: nnx.Rngs):
        name, n = type(self).__name__, self.spatial
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: in_channels {in_channels} and out_channels {out_channels} "
                             f"must both divide by groups={groups} (as torch)")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = ntuple(kernel_size, n, "kernel_size")
        self.stride, self.dilation = ntuple(stride, n, "stride"), ntuple(dilation, n, "dilation")
        self.padding = ntuple(padding, n, "padding")
        self.output_padding = ntuple(output_padding, n, "output_padding")
        if min(self.padding) < 0 or min(self.output_padding) < 0:
            raise ValueError(f"{name}: padding and output_padding must be >= 0")
        for op, s, d in zip(self.output_padding, self.stride, self.dilation):
            if op >= max(s, d):
                raise ValueError(f"{name}: output_padding {self.output_padding} must be smaller than either "
                                 f"stride {self.stride} or dilation {self.dilation} (as torch)")
        # torch: fan_in from weight.size(1) = out_channels // groups, times the kernel's size
        init = torch_default_init(out_channels // groups * math.prod(self.kernel_size))
        shape = (*self.kernel_size, in_channels, out_channels // groups)
        self.kernel = nnx.Param((kernel_init or init)(rngs.params(), shape))
        self.bias = nnx.Param((bias_init or init)(rngs.params(), (out_channels,))) if use_bias else None

    @classmethod
    def torch_arguments(cls, m) -> dict:
        refuse(m, cls, m.padding_mode != "zeros" and f"padding_mode={m.padding_mode!r}")
        return {"in_channels": m.in_channels, "out_channels": m.out_channels,
                "kernel_size": collapse(m.kernel_size), "stride": collapse(m.stride),
                "padding": collapse(m.padding), "output_padding": collapse(m.output_padding),
                "groups": m.groups, "use_bias": m.bias is not None, "dilation": collapse(m.dilation)}

    def torch_state(self) -> list[Rule]:
        """weight (in, out/groups, *k) <-> kernel (*k, in, out/groups); bias."""
        kernel = [Rule("weight", "kernel", *_transposed_kernel(self.spatial))]
        return kernel + ([Rule("bias", "bias", *SAME)] if self.bias is not None else [])

    def __call__(self, x: jax.Array) -> jax.Array:
        _check_channels_last(self, x, self.in_channels)
        n, g = self.spatial, self.groups
        k = self.kernel[...].astype(x.dtype)
        # the equivalent convolution's kernel: (*k, in/groups, out), spatially flipped
        k = k.reshape(*self.kernel_size, g, self.in_channels // g, self.out_channels // g)
        k = jnp.moveaxis(k, n, n + 1).reshape(*self.kernel_size, self.in_channels // g, self.out_channels)
        k = jnp.flip(k, axis=tuple(range(n)))
        pads = tuple((d * (kk - 1) - p, d * (kk - 1) - p + op) for kk, p, op, d
                     in zip(self.kernel_size, self.padding, self.output_padding, self.dilation))
        if n == 1:  # (N, L, C) as (N, 1, L, C)
            y = platform.conv_transpose2d(x[:, None], k[None], stride=(1, *self.stride), padding=((0, 0), *pads),
                                          dilation=(1, *self.dilation), groups=g)[:, 0]
        else:
            y = platform.conv_transpose2d(x, k, stride=self.stride, padding=pads, dilation=self.dilation, groups=g)
        return y if self.bias is None else y + self.bias[...].astype(y.dtype)


@torch_layer("ConvTranspose1d", layout=CHANNELS_LAST)
class ConvTranspose1d(_ConvTransposeNd):
    """torch: ``nn.ConvTranspose1d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1)``.

    (N, L, C) in and out; ``kernel`` is (k, in, out/groups) = torch's ``weight.transpose(2, 0, 1)``.
    Output length (L-1)*stride - 2*padding + dilation*(k-1) + output_padding + 1, as torch."""

    spatial = 1


@torch_layer("ConvTranspose2d", layout=CHANNELS_LAST)
class ConvTranspose2d(_ConvTransposeNd):
    """torch: ``nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    output_padding=0, groups=1, bias=True, dilation=1)`` (the "deconvolution" of U-Nets and GANs).

    NHWC in and out; ``kernel`` is (kh, kw, in, out/groups) = torch's
    ``weight.transpose(2, 3, 0, 1)``. Computed as a convolution of the stride-dilated input
    with the flipped kernel (:func:`jaxdl.platform.conv_transpose2d`: on GPU/TPU one
    ``lax.conv_general_dilated`` with ``lhs_dilation``, on CPU the input dilated by padding
    and the im2col matmul)."""

    spatial = 2
