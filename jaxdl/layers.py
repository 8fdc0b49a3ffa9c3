"""Building blocks with PyTorch semantics, as Flax NNX modules.

Where Flax's default differs from PyTorch, the layer here follows PyTorch and the
docstring says what Flax would have done:

* init: torch's default distributions for Linear/Conv (``kaiming_uniform_(a=sqrt(5))``
  weights, ``U(+-1/sqrt(fan_in))`` biases); Flax uses truncated lecun-normal kernels
  (1.73x the spread) and zero biases. Equal to torch's in distribution, not in values:
  the draws come from JAX's generator, so a seed gives other weights than in torch
  (``jaxdl.interop.from_torch`` copies torch's when the values must match).
* Conv2d: padding 0 by default (Flax: ``'SAME'``); NHWC activations, HWIO kernels.
* pooling: stride = kernel size by default (Flax: stride 1).
* BatchNorm: momentum 0.1 in torch's sense, the unbiased variance in the running
  variance (Flax stores the biased one), eps 1e-5, two-pass variance.
* LayerNorm: eps 1e-5 (Flax: 1e-6).
* LSTM / RNN: two biases (``b_ih``, ``b_hh``) trained separately, torch's init distribution.

Activations are NHWC throughout: a PyTorch NCHW batch converts with
``x.transpose(0, 2, 3, 1)``.
"""

from __future__ import annotations

import math
from typing import Callable, ClassVar, Sequence

import jax
import jax.numpy as jnp
from flax import nnx
import numpy as np
from jax import lax

from jaxdl import platform

Initializer = Callable[..., jax.Array]


# ---------------------------------------------------------------- initialisers
def uniform_init(low: float = 0.0, high: float = 1.0) -> Initializer:
    """U(low, high) (torch: ``nn.init.uniform_(w, a=low, b=high)``, default U(0, 1))."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, low, high)

    return init


def torch_default_init(fan_in: int) -> Initializer:
    """torch's default Linear/Conv init for weights and biases: U(+-1/sqrt(fan_in)).

    ``kaiming_uniform_(a=sqrt(5))`` on the weight has bound gain*sqrt(3/fan_in) with
    gain = sqrt(2/(1+5)), which is exactly 1/sqrt(fan_in), the bias bound too.
    """
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_init(-bound, bound)


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def check_input(x: jax.Array, tail: Sequence[int | None], where: str, hint: str = "") -> None:
    """Raise a ValueError naming the expected shape when ``x.shape[1:]`` does not fit ``tail``.

    Shapes are static under jit, so this fires while tracing, before compilation.
    ``None`` in ``tail`` matches any size.
    """
    shape = tuple(x.shape)
    ok = len(shape) == len(tail) + 1 and all(t is None or t == s for t, s in zip(tail, shape[1:]))
    if not ok:
        want = "(N, " + ", ".join("*" if t is None else str(t) for t in tail) + ")"
        raise ValueError(f"{where} expects input of shape {want}, got {shape}. {hint}".rstrip())
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"{where} expects a floating-point input, got dtype {x.dtype}; "
                        "convert with x.astype(jnp.float32) (torch: .float()).")


# ---------------------------------------------------------------- dense & conv
class Linear(nnx.Linear):
    """torch: ``nn.Linear(in_features, out_features)``.

    ``kernel`` has shape (in, out) = torch's ``weight.T``. Initialised like torch unless
    ``kernel_init``/``bias_init`` are given (e.g. :func:`uniform_init` for ``nn.init.uniform_``).
    """

    def __init__(self, in_features: int, out_features: int, *, use_bias: bool = True,
                 kernel_init: Initializer | None = None, bias_init: Initializer | None = None,
                 rngs: nnx.Rngs):
        init = torch_default_init(in_features)
        super().__init__(in_features, out_features, use_bias=use_bias,
                         kernel_init=kernel_init or init, bias_init=bias_init or init, rngs=rngs)


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


def flatten(x: jax.Array) -> jax.Array:
    """torch: ``x.view(N, -1)`` / ``nn.Flatten()``, in NHWC order.

    A dense layer after it sees features in (H, W, C) order where torch sees (C, H, W):
    ``jaxdl.interop`` permutes that layer's rows when converting weights (see each
    model's ``torch_flatten``).
    """
    return x.reshape(x.shape[0], -1)


# ---------------------------------------------------------------- activations
def leaky_relu(x: jax.Array, negative_slope: float = 0.01) -> jax.Array:
    """torch: ``F.leaky_relu(x, negative_slope)`` / ``nn.LeakyReLU``, with torch's
    gradient at exactly 0 (``negative_slope``); ``jax.nn.leaky_relu`` gives 1 there."""
    return jnp.where(x > 0, x, negative_slope * x)


# ---------------------------------------------------------------- pooling
def _pool_geometry(size: int, k: int, s: int, p: int, ceil_mode: bool) -> tuple[int, int]:
    """torch's pooling output length along one axis, and the padding needed after the
    input (``p`` plus what a ceil-mode window reaches past it; negative: rows dropped)."""
    if p > k // 2:
        raise ValueError(f"pooling padding {p} must be at most half the kernel size {k} (as torch)")
    span = size + 2 * p - k
    if span < 0:
        raise ValueError(f"pooling kernel {k} is larger than the (padded) input {size + 2 * p}")
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:  # the last window must start inside the input
        out -= 1
    return out, (out - 1) * s + k - size - p


def max_pool2d(x_NHWC: jax.Array, kernel_size: int | Sequence[int],
               stride: int | Sequence[int] | None = None, padding: int | Sequence[int] = 0,
               ceil_mode: bool = False) -> jax.Array:
    """torch: ``F.max_pool2d(x, kernel_size, stride=kernel_size, padding=0, ceil_mode=False)``
    / ``nn.MaxPool2d``.

    Stride defaults to the kernel size as torch (Flax's ``max_pool`` defaults to 1);
    padding counts as -inf; a trailing row/column that does not fill a window is
    dropped unless ``ceil_mode``. The gradient of each window goes to its first maximum
    like torch, exact ties included. Windows that tile the input exactly take the CPU's
    fast path (:func:`jaxdl.platform.max_pool2d_tiled`).
    """
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride) if stride is not None else _pair(kernel_size)
    ph, pw = _pair(padding)
    n, h, w, c = x_NHWC.shape
    ho, bottom = _pool_geometry(h, kh, sh, ph, ceil_mode)
    wo, right = _pool_geometry(w, kw, sw, pw, ceil_mode)
    if (sh, sw) == (kh, kw) and ph == pw == 0 and bottom <= 0 and right <= 0:
        return platform.max_pool2d_tiled(x_NHWC[:, : ho * kh, : wo * kw, :], kh, kw)
    return platform.max_pool2d_window(x_NHWC, (kh, kw), (sh, sw), ((ph, max(bottom, 0)), (pw, max(right, 0))))


def avg_pool2d(x_NHWC: jax.Array, kernel_size: int | Sequence[int],
               stride: int | Sequence[int] | None = None, padding: int | Sequence[int] = 0,
               ceil_mode: bool = False, count_include_pad: bool = True) -> jax.Array:
    """torch: ``F.avg_pool2d(x, kernel_size, stride=kernel_size, padding=0,
    ceil_mode=False, count_include_pad=True)`` / ``nn.AvgPool2d``: zero padding, and each
    window divided as torch divides it (by the cells inside the padded input, or only
    the real ones with ``count_include_pad=False``)."""
    (kh, kw), (sh, sw) = _pair(kernel_size), _pair(stride) if stride is not None else _pair(kernel_size)
    ph, pw = _pair(padding)
    n, h, w, c = x_NHWC.shape
    ho, bottom = _pool_geometry(h, kh, sh, ph, ceil_mode)
    wo, right = _pool_geometry(w, kw, sw, pw, ceil_mode)
    pads = ((0, 0), (ph, max(bottom, 0)), (pw, max(right, 0)), (0, 0))
    window, strides = (1, kh, kw, 1), (1, sh, sw, 1)
    total = lax.reduce_window(x_NHWC, 0.0, lax.add, window, strides, pads)
    if ph == pw == 0 and bottom <= 0 and right <= 0:
        return total / (kh * kw)
    # the divisor of each window, counted on a mask of the cells torch counts (a constant)
    inside = np.zeros((h + 2 * ph, w + 2 * pw), np.float32)
    if count_include_pad:
        inside[:] = 1
    else:
        inside[ph:ph + h, pw:pw + w] = 1
    mask = np.pad(inside, ((0, max(bottom - ph, 0)), (0, max(right - pw, 0))))
    counts = lax.reduce_window(jnp.asarray(mask), 0.0, lax.add, (kh, kw), (sh, sw), "VALID")
    return total / counts[None, :ho, :wo, None].astype(total.dtype)


def adaptive_avg_pool2d(x_NHWC: jax.Array, output_size: int | Sequence[int | None]) -> jax.Array:
    """torch: ``F.adaptive_avg_pool2d(x, output_size)`` / ``nn.AdaptiveAvgPool2d``: output
    cell i averages input rows ``floor(i*H/out) .. ceil((i+1)*H/out) - 1`` (windows may
    overlap, or repeat rows when the input is smaller than the output). Evenly dividing
    sizes are a reshape and a mean; others a product with the averaging matrices."""
    n, h, w, c = x_NHWC.shape
    oh, ow = (output_size, output_size) if isinstance(output_size, int) else output_size
    oh, ow = oh or h, ow or w
    if h % oh == 0 and w % ow == 0:
        return x_NHWC.reshape(n, oh, h // oh, ow, w // ow, c).mean(axis=(2, 4))
    ah, aw = _adaptive_matrix(h, oh), _adaptive_matrix(w, ow)
    return jnp.einsum("ih,jw,nhwc->nijc", ah.astype(x_NHWC.dtype), aw.astype(x_NHWC.dtype), x_NHWC)


def _adaptive_matrix(size: int, out: int) -> np.ndarray:
    m = np.zeros((out, size), np.float32)
    for i in range(out):
        lo, hi = (i * size) // out, -(-((i + 1) * size) // out)
        m[i, lo:hi] = 1.0 / (hi - lo)
    return m


class MaxPool2d(nnx.Module):
    """torch: ``nn.MaxPool2d(kernel_size, stride=None, padding=0, ceil_mode=False)``; see
    :func:`max_pool2d`. No parameters (a module so that ``nnx.Sequential`` positions
    match torch's ``nn.Sequential`` indices)."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False):
        self.kernel_size, self.stride, self.padding, self.ceil_mode = kernel_size, stride, padding, ceil_mode

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        return max_pool2d(x_NHWC, self.kernel_size, self.stride, self.padding, self.ceil_mode)


class AvgPool2d(nnx.Module):
    """torch: ``nn.AvgPool2d(kernel_size, stride=None, padding=0, ceil_mode=False,
    count_include_pad=True)``; see :func:`avg_pool2d`."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
                 count_include_pad: bool = True):
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        return avg_pool2d(x_NHWC, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                          self.count_include_pad)


class AdaptiveAvgPool2d(nnx.Module):
    """torch: ``nn.AdaptiveAvgPool2d(output_size)``; see :func:`adaptive_avg_pool2d`."""

    def __init__(self, output_size):
        self.output_size = output_size

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        return adaptive_avg_pool2d(x_NHWC, self.output_size)


# ---------------------------------------------------------------- normalisation
class BatchNorm(nnx.Module):
    """torch: ``nn.BatchNorm1d(num_features)`` / ``nn.BatchNorm2d`` (features on the last axis).

    Training: normalise with the biased batch variance (two-pass), then update
    ``mean <- (1 - momentum) * mean + momentum * batch_mean`` and the same for ``var``
    with the *unbiased* variance n/(n-1), momentum 0.1 as torch. Eval
    (``use_running_average=True``, set by ``model.eval()``): the running statistics.
    ``nnx.BatchNorm`` differs: momentum 0.99 is the keep-rate, and the biased variance is
    stored (eval outputs then differ by ~0.1 at batch 16).

    Statistics are computed and stored in float32 (at least) whatever the input's
    dtype, and the output has the input's dtype (bfloat16 mixed precision, as torch
    autocast's batch_norm).

    Under :class:`jaxdl.parallel.DataParallel` the batch axis is the global batch, so by
    default the statistics are the global batch's (torch: ``nn.SyncBatchNorm``).
    ``replicas=R`` (set by ``DataParallel(batch_norm="per_replica")``) normalises each of
    R equal contiguous slices of the batch, the devices' shards, with its own statistics
    (torch: ``nn.BatchNorm`` under ``DistributedDataParallel``), and moves the running
    statistics by the mean of the R slices' statistics. torch's DDP instead overwrites
    every replica's running statistics with rank 0's at each forward
    (``forward_sync_buffers``, default True), so its checkpoints hold statistics of
    rank 0's slices alone; the mean uses every example and keeps the replicated train
    state equal on all devices. A batch that does not divide by R is not split over
    the devices (``DataParallel.shard`` replicates it), and is normalised as one slice.
    """

    frozen_statistics: ClassVar[bool] = False  # FrozenBatchNorm: the running statistics in train mode too

    def __init__(self, num_features: int, *, eps: float = 1e-5, momentum: float = 0.1,
                 use_running_average: bool = False, replicas: int = 1, rngs: nnx.Rngs | None = None):
        if replicas < 1:
            raise ValueError(f"BatchNorm replicas must be >= 1, got {replicas}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.use_running_average, self.replicas = use_running_average, replicas
        self.scale = nnx.Param(jnp.ones((num_features,), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((num_features,), jnp.float32))
        self.mean = nnx.BatchStat(jnp.zeros((num_features,), jnp.float32))
        self.var = nnx.BatchStat(jnp.ones((num_features,), jnp.float32))
        self.num_batches_tracked = nnx.BatchStat(jnp.zeros((), jnp.int32))

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.shape[-1] != self.num_features:
            raise ValueError(f"BatchNorm({self.num_features}) expects features on the last axis, "
                             f"got shape {tuple(x.shape)}.")
        x32 = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        if self.use_running_average or self.frozen_statistics:
            y = (x32 - self.mean[...]) * lax.rsqrt(self.var[...] + self.eps)
        else:
            # (R, N/R, ..., C): one slice per replica (R = 1: the whole batch)
            r = self.replicas if x.shape[0] % self.replicas == 0 else 1
            xr = x32.reshape(r, x.shape[0] // r, *x.shape[1:])
            axes = tuple(range(1, xr.ndim - 1))
            n = xr[0].size // x.shape[-1]
            if n < 2:
                raise ValueError("BatchNorm in training mode needs more than 1 value per feature "
                                 f"(got input shape {tuple(x.shape)}"
                                 + (f" in {r} replicas" if r > 1 else "") + "); use a batch of 2 or "
                                 "more, or call model.eval() (torch raises the same).")
            mean = xr.mean(axis=axes, keepdims=True)
            var = jnp.square(xr - mean).mean(axis=axes, keepdims=True)
            y = ((xr - mean) * lax.rsqrt(var + self.eps)).reshape(x.shape)
            m = self.momentum
            stat_mean = lax.stop_gradient(mean).reshape(r, -1).mean(axis=0)
            stat_var = lax.stop_gradient(var).reshape(r, -1).mean(axis=0)
            self.mean[...] = (1 - m) * self.mean[...] + m * stat_mean
            self.var[...] = (1 - m) * self.var[...] + m * stat_var * (n / (n - 1))
            self.num_batches_tracked[...] = self.num_batches_tracked[...] + 1
        return (y * self.scale[...] + self.bias[...]).astype(x.dtype)


class FrozenBatchNorm(BatchNorm):
    """torch: ``torchvision.ops.FrozenBatchNorm2d``: a BatchNorm whose statistics are fixed.
    It normalises with its running mean and variance in train mode too (``model.train()``
    changes nothing here) and never updates them, so a frozen backbone computes the same
    features for an image whatever batch it is in. The arithmetic is BatchNorm's eval
    mode, bit for bit, and the variables are BatchNorm's, so ``jaxdl.interop`` converts it
    as a plain ``nn.BatchNorm2d`` (``num_batches_tracked`` kept). Make one from a trained
    BatchNorm with :func:`freeze_batchnorm`."""

    frozen_statistics: ClassVar[bool] = True


def freeze_batchnorm(module: nnx.Module) -> nnx.Module:
    """Replace every :class:`BatchNorm` inside ``module`` by a :class:`FrozenBatchNorm`
    holding the same variables (in place; ``module`` is returned). torch: a backbone
    built with ``norm_layer=FrozenBatchNorm2d``, as torchvision's detection models freeze
    theirs; the usual PyTorch alternative, calling ``.eval()`` on the frozen part after
    every ``model.train()``, has no counterpart where the mode is fixed per compiled step.
    ``requires_grad = False`` alone leaves torch's BatchNorm updating its running
    statistics from the new data in train mode."""
    for path, bn in list(nnx.iter_modules(module)):
        if type(bn) is not BatchNorm:
            continue
        if not path:
            raise ValueError("freeze_batchnorm replaces the BatchNorm layers inside a module; "
                             "build a FrozenBatchNorm directly instead")
        frozen = FrozenBatchNorm(bn.num_features, eps=bn.eps, momentum=bn.momentum)
        for name in ("scale", "bias", "mean", "var", "num_batches_tracked"):
            setattr(frozen, name, getattr(bn, name))  # the same Variables: nothing is copied
        parent = module
        for p in path[:-1]:
            parent = parent[p] if isinstance(p, int) else getattr(parent, p)
        if isinstance(path[-1], int):
            parent[path[-1]] = frozen
        else:
            setattr(parent, path[-1], frozen)
    return module


class Identity(nnx.Module):
    """torch: ``nn.Identity()``: returns its input. Put in place of a model's head
    (``model.fc = Identity()``) to get the features the head would have seen."""

    def __call__(self, x: jax.Array) -> jax.Array:
        return x


class LayerNorm(nnx.LayerNorm):
    """torch: ``nn.LayerNorm(num_features)``: eps 1e-5 (Flax: 1e-6), two-pass variance.
    Computed in float32 (at least) whatever the input's dtype; the output has the
    input's dtype (bfloat16 mixed precision, as torch autocast's layer_norm)."""

    def __init__(self, num_features: int, *, eps: float = 1e-5, rngs: nnx.Rngs):
        super().__init__(num_features, epsilon=eps, use_fast_variance=False, rngs=rngs)

    def __call__(self, x: jax.Array, *, mask: jax.Array | None = None) -> jax.Array:
        return super().__call__(x.astype(jnp.promote_types(x.dtype, jnp.float32)), mask=mask).astype(x.dtype)


class Dropout(nnx.Dropout):
    """torch: ``nn.Dropout(p)``: zeroes with probability p and scales kept values by 1/(1-p)
    in training; identity after ``model.eval()``. Masks come from the module's RNG stream
    (``nnx.Rngs(dropout=...)``), carried in the train state, so they cannot equal torch's."""

    def __init__(self, p: float = 0.5, *, rngs: nnx.Rngs):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability has to be in [0, 1), got {p}")
        super().__init__(rate=p, rngs=rngs)


class Embedding(nnx.Embed):
    """torch: ``nn.Embedding(num_embeddings, embedding_dim)``, init N(0, 1) as torch (in distribution).

    ``embedding`` equals torch's ``weight`` (no transpose). Concrete (non-traced) indices
    are range-checked like torch; under jit, validate codes in the data pipeline
    (an out-of-range index would otherwise give NaN or wrap around).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *, rngs: nnx.Rngs):
        super().__init__(num_embeddings, embedding_dim,
                         embedding_init=jax.nn.initializers.normal(1.0), rngs=rngs)

    def __call__(self, idx: jax.Array) -> jax.Array:
        if not isinstance(idx, jax.core.Tracer):
            lo, hi = int(jnp.min(idx)), int(jnp.max(idx))
            if lo < 0 or hi >= self.num_embeddings:
                raise IndexError(f"Embedding({self.num_embeddings}, {self.features}): index out of "
                                 f"range [0, {self.num_embeddings}), got values in [{lo}, {hi}].")
        return super().__call__(idx)


# ---------------------------------------------------------------- recurrent
class _Recurrent(nnx.Module):
    """Shared parts of torch's single-layer ``nn.LSTM`` / ``nn.RNN``: two biases, torch's init distribution."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, *, batch_first: bool, rngs: nnx.Rngs):
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        init, g = torch_default_init(hidden_size), self.gates * hidden_size
        # kernels are torch's weight_ih.T / weight_hh.T; columns in torch's gate order
        self.w_ih = nnx.Param(init(rngs.params(), (input_size, g)))
        self.w_hh = nnx.Param(init(rngs.params(), (hidden_size, g)))
        self.b_ih = nnx.Param(init(rngs.params(), (g,)))
        self.b_hh = nnx.Param(init(rngs.params(), (g,)))

    def _inputs(self, x: jax.Array) -> jax.Array:
        """(T, B, I) or (B, T, I) -> input projections (T, B, gates*H), one matmul for all steps."""
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            order = "(B, T, I)" if self.batch_first else "(T, B, I)"
            raise ValueError(f"{type(self).__name__}({self.input_size}, {self.hidden_size}) expects "
                             f"input {order} with I={self.input_size}, got shape {tuple(x.shape)}.")
        if self.batch_first:
            x = jnp.swapaxes(x, 0, 1)
        return x @ self.w_ih[...] + self.b_ih[...]

    def _outputs(self, ys: jax.Array) -> jax.Array:
        return jnp.swapaxes(ys, 0, 1) if self.batch_first else ys


class LSTM(_Recurrent):
    """torch: ``nn.LSTM(input_size, hidden_size)`` (one layer, unidirectional).

    ``__call__(x, (h0, c0))`` returns ``(output, (h_n, c_n))`` in torch's order, with
    h/c of shape (B, H) (torch: (1, B, H)); zeros when omitted, which is the notes'
    "reset the hidden state for every sequence". Gates i, f, g, o as torch; ``b_ih`` and
    ``b_hh`` are separate parameters so that training moves both as torch does (folding
    them into one bias is exact forward but doubles their step). ``nnx.OptimizedLSTMCell``
    keeps its carry as (c, h) and has one bias.
    """

    gates = 4

    def __init__(self, input_size: int, hidden_size: int, *, batch_first: bool = False,
                 rngs: nnx.Rngs):
        super().__init__(input_size, hidden_size, batch_first=batch_first, rngs=rngs)

    def __call__(self, x: jax.Array, hc: tuple[jax.Array, jax.Array] | None = None):
        xs = self._inputs(x)
        H, B = self.hidden_size, xs.shape[1]
        if hc is None:
            hc = (jnp.zeros((B, H), xs.dtype), jnp.zeros((B, H), xs.dtype))
        w_hh, b_hh = self.w_hh[...], self.b_hh[...]

        def step(carry, xt):
            h, c = carry
            z = xt + h @ w_hh + b_hh
            i, f, g, o = jnp.split(z, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        (h, c), ys = lax.scan(step, hc, xs)
        return self._outputs(ys), (h, c)


class RNN(_Recurrent):
    """torch: ``nn.RNN(input_size, hidden_size)`` with tanh (one layer).

    ``__call__(x, h0)`` returns ``(output, h_n)``; two biases as torch (see :class:`LSTM`).
    """

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, *, batch_first: bool = False,
                 rngs: nnx.Rngs):
        super().__init__(input_size, hidden_size, batch_first=batch_first, rngs=rngs)

    def __call__(self, x: jax.Array, h: jax.Array | None = None):
        xs = self._inputs(x)
        if h is None:
            h = jnp.zeros((xs.shape[1], self.hidden_size), xs.dtype)
        w_hh, b_hh = self.w_hh[...], self.b_hh[...]

        def step(h, xt):
            h = jnp.tanh(xt + h @ w_hh + b_hh)
            return h, h

        h, ys = lax.scan(step, h, xs)
        return self._outputs(ys), h


def count_params(model: nnx.Module) -> int:
    """Number of trainable parameters (torch: ``sum(p.numel() for p in model.parameters())``;
    the notes' ``calculate_capacity``)."""
    return sum(int(p.size) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
