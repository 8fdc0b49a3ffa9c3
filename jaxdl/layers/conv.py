"""Convolutions (torch: ``torch.nn.modules.conv``), channels-last (NHWC activations,
HWIO kernels); the arithmetic is :mod:`jaxdl.platform`'s."""

from __future__ import annotations

from collections.abc import Sequence

import jax
from flax import nnx

from jaxdl import platform
from jaxdl.init import Initializer, torch_default_init
from jaxdl.layers.inputs import pair as _pair
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


@torch_layer("Conv2d", layout=CHANNELS_LAST)
class Conv2d(nnx.Module):
    """torch: ``nn.Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0,
    dilation=1, groups=1, bias=True)``.

    NHWC in and out; ``kernel`` is HWIO = torch's ``weight.transpose(2, 3, 1, 0)`` (I is
    ``in_channels // groups``). Padding 0 by default as torch (``nnx.Conv`` defaults to
    ``'SAME'``); ``padding='same'`` pads as torch does (the odd pixel at the end).
    The arithmetic is :func:`jaxdl.platform.conv2d`: on CPU a stride-1 conv is an
    im2col matmul (faster on XLA:CPU), on GPU/TPU ``lax.conv_general_dilated``; the sums
    are reassociated, so results differ from torch by float rounding only (parity: 1e-5).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1, *, use_bias: bool = True,
                 kernel_init: Initializer | None = None, bias_init: Initializer | None = None,
                 rngs: nnx.Rngs):
        kh, kw = _pair(kernel_size)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"Conv2d: in_channels {in_channels} and out_channels {out_channels} "
                             f"must both divide by groups={groups} (as torch)")
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size, self.stride, self.dilation = (kh, kw), _pair(stride), _pair(dilation)
        self.padding = _conv_padding(padding, (kh, kw), self.dilation, self.stride)
        init = torch_default_init(in_channels // groups * kh * kw)
        shape = (kh, kw, in_channels // groups, out_channels)
        self.kernel = nnx.Param((kernel_init or init)(rngs.params(), shape))
        self.bias = nnx.Param((bias_init or init)(rngs.params(), (out_channels,))) if use_bias else None

    @classmethod
    def torch_arguments(cls, m) -> dict:
        refuse(m, cls, m.padding_mode != "zeros" and f"padding_mode={m.padding_mode!r}")
        return {"in_channels": m.in_channels, "out_channels": m.out_channels,
                "kernel_size": collapse(m.kernel_size), "stride": collapse(m.stride),
                "padding": collapse(m.padding), "dilation": collapse(m.dilation), "groups": m.groups,
                "use_bias": m.bias is not None}

    def torch_state(self) -> list[Rule]:
        """weight OIHW <-> kernel HWIO; bias."""
        kernel = [Rule("weight", "kernel", *channels_last_kernel(2))]
        return kernel + ([Rule("bias", "bias", *SAME)] if self.bias is not None else [])

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        if x_NHWC.ndim != 4 or x_NHWC.shape[-1] != self.in_channels:
            raise ValueError(
                f"Conv2d({self.in_channels}, {self.out_channels}) expects NHWC input with "
                f"{self.in_channels} channels last, got shape {tuple(x_NHWC.shape)}; a PyTorch "
                "NCHW batch converts with x.transpose(0, 2, 3, 1).")
        y = platform.conv2d(x_NHWC, self.kernel[...].astype(x_NHWC.dtype), stride=self.stride,
                            padding=self.padding, dilation=self.dilation, groups=self.groups)
        return y if self.bias is None else y + self.bias[...].astype(y.dtype)


def _conv_padding(padding, kernel: tuple[int, int], dilation: tuple[int, int],
                  stride: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """torch's ``padding`` argument (int, pair, ``'valid'``, ``'same'``) -> ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
        if stride != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions (as torch)")
        total = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((t // 2, t - t // 2) for t in total)  # type: ignore[return-value]
    ph, pw = _pair(padding)
    if ph < 0 or pw < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    return (ph, ph), (pw, pw)
