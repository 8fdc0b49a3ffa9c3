"""Normalisation layers (torch: ``nn.BatchNorm1d/2d/3d``, ``torchvision.ops.FrozenBatchNorm2d``,
``nn.GroupNorm``, ``nn.InstanceNorm1d/2d/3d``, ``nn.LayerNorm``), channels on the last axis.

Every one computes its statistics in float32 (at least) whatever the input's dtype, with
the two-pass (biased) variance, and returns the input's dtype (bfloat16 mixed precision,
as torch autocast's norm layers). The variables are ``scale``/``bias`` (torch's ``weight``/
``bias``) and ``mean``/``var``/``num_batches_tracked`` (torch's ``running_mean``/
``running_var``/``num_batches_tracked``); ``None`` where torch's is None (``affine=False``,
``track_running_stats=False``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from jaxdl.layers.torch_layer import (
    CHANNELS_LAST,
    SAME,
    TORCH,
    Rule,
    torch_layer,
)


def _float32(x: jax.Array) -> jax.Array:
    return x.astype(jnp.promote_types(x.dtype, jnp.float32))


def _normalised(x32: jax.Array, axes: tuple[int, ...], eps: float):
    """(x - mean) / sqrt(var + eps) over ``axes`` with the biased two-pass variance; also the
    mean and variance (kept dims)."""
    mean = x32.mean(axis=axes, keepdims=True)
    var = jnp.square(x32 - mean).mean(axis=axes, keepdims=True)
    return (x32 - mean) * lax.rsqrt(var + eps), mean, var


def _affine(features, affine: bool):
    """``scale`` (ones) and ``bias`` (zeros) Params of shape ``features``, or (None, None)."""
    if not affine:
        return None, None
    return nnx.Param(jnp.ones(features, jnp.float32)), nnx.Param(jnp.zeros(features, jnp.float32))


def _running(num_features: int, track: bool):
    """``mean`` (zeros), ``var`` (ones) and ``num_batches_tracked`` (0) BatchStats, or Nones."""
    if not track:
        return None, None, None
    return (nnx.BatchStat(jnp.zeros((num_features,), jnp.float32)),
            nnx.BatchStat(jnp.ones((num_features,), jnp.float32)),
            nnx.BatchStat(jnp.zeros((), jnp.int32)))


def _norm_state(layer) -> list[Rule]:
    """torch's weight/bias/running_mean/running_var/num_batches_tracked, those the layer has."""
    rules = []
    if layer.scale is not None:
        rules += [Rule("weight", "scale", *SAME), Rule("bias", "bias", *SAME)]
    if layer.mean is not None:
        rules += [Rule("running_mean", "mean", *SAME), Rule("running_var", "var", *SAME),
                  Rule("num_batches_tracked", "num_batches_tracked", *SAME, optional=True)]
    return rules


class _RunningStatisticsNorm(nnx.Module):
    """What BatchNorm and InstanceNorm share with torch's ``_NormBase``: the arguments and the
    state_dict entries (scale/bias with ``affine``, statistics with ``track_running_stats``)."""

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"num_features": m.num_features, "eps": m.eps, "momentum": m.momentum, "affine": m.affine,
                "track_running_stats": m.track_running_stats}

    def torch_state(self) -> list[Rule]:
        """weight/bias/running_mean/running_var/num_batches_tracked <-> scale/bias/mean/var/
        num_batches_tracked, those the layer has; a state_dict without ``num_batches_tracked``
        (saved before PyTorch 0.4.1) keeps the layer's count, as torch's ``load_state_dict``."""
        return _norm_state(self)


@torch_layer("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", layout=CHANNELS_LAST)
class BatchNorm(_RunningStatisticsNorm):
    """torch: ``nn.BatchNorm1d(num_features, eps=1e-5, momentum=0.1, affine=True,
    track_running_stats=True)`` / ``nn.BatchNorm2d`` / ``nn.BatchNorm3d`` (features on the last axis).

    Training: normalise with the biased batch variance (two-pass), then update
    ``mean <- (1 - momentum) * mean + momentum * batch_mean`` and the same for ``var``
    with the *unbiased* variance n/(n-1), momentum 0.1 as torch; ``momentum=None`` is
    torch's cumulative average (momentum 1/num_batches_tracked). Eval
    (``use_running_average=True``, set by ``model.eval()``): the running statistics.
    ``track_running_stats=False``: no running statistics, batch statistics in eval too (as
    torch); ``affine=False``: no scale and bias. ``nnx.BatchNorm`` differs: momentum 0.99 is
    the keep-rate, and the biased variance is stored (eval outputs then differ by ~0.1 at
    batch 16).

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

    Args:
        num_features: channels (the last axis).
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics; None: their cumulative average.
        affine: learn ``scale`` and ``bias`` (torch's ``weight`` and ``bias``).
        track_running_stats: keep running statistics for eval mode.
        use_running_average: eval mode (``model.eval()`` sets it).
        replicas: slices normalised separately (set by ``DataParallel``).
        rngs: accepted for a uniform constructor; nothing is random.
    """

    frozen_statistics: ClassVar[bool] = False  # FrozenBatchNorm: the running statistics in train mode too

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, *, use_running_average: bool = False, replicas: int = 1,
                 rngs: nnx.Rngs | None = None):
        if replicas < 1:
            raise ValueError(f"BatchNorm replicas must be >= 1, got {replicas}")
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.use_running_average, self.replicas = use_running_average, replicas
        self.scale, self.bias = _affine((num_features,), affine)
        self.mean, self.var, self.num_batches_tracked = _running(num_features, track_running_stats)

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.shape[-1] != self.num_features:
            raise ValueError(f"BatchNorm({self.num_features}) expects features on the last axis, "
                             f"got shape {tuple(x.shape)}.")
        x32 = _float32(x)
        tracking = self.mean is not None
        if tracking and (self.use_running_average or self.frozen_statistics):
            y = (x32 - self.mean[...]) * lax.rsqrt(self.var[...] + self.eps)
        else:
            # (R, N/R, ..., C): one slice per replica (R = 1: the whole batch)
            r = self.replicas if x.shape[0] % self.replicas == 0 else 1
            xr = x32.reshape(r, x.shape[0] // r, *x.shape[1:])
            n = xr[0].size // x.shape[-1]
            if n < 2:
                raise ValueError("BatchNorm in training mode needs more than 1 value per feature "
                                 f"(got input shape {tuple(x.shape)}"
                                 + (f" in {r} replicas" if r > 1 else "") + "); use a batch of 2 or "
                                 "more, or call model.eval() (torch raises the same).")
            y, mean, var = _normalised(xr, tuple(range(1, xr.ndim - 1)), self.eps)
            y = y.reshape(x.shape)
            if tracking and not self.use_running_average:
                count = self.num_batches_tracked[...] + 1
                m = 1.0 / count.astype(jnp.float32) if self.momentum is None else self.momentum
                stat_mean = lax.stop_gradient(mean).reshape(r, -1).mean(axis=0)
                stat_var = lax.stop_gradient(var).reshape(r, -1).mean(axis=0)
                self.mean[...] = (1 - m) * self.mean[...] + m * stat_mean
                self.var[...] = (1 - m) * self.var[...] + m * stat_var * (n / (n - 1))
                self.num_batches_tracked[...] = count
        if self.scale is not None:
            y = y * self.scale[...] + self.bias[...]
        return y.astype(x.dtype)


@torch_layer("FrozenBatchNorm2d", layout=CHANNELS_LAST, module="torchvision.ops")
class FrozenBatchNorm(BatchNorm):
    """torch: ``torchvision.ops.FrozenBatchNorm2d``: a BatchNorm whose statistics are fixed.
    It normalises with its running mean and variance in train mode too (``model.train()``
    changes nothing here) and never updates them, so a frozen backbone computes the same
    features for an image whatever batch it is in. The arithmetic is BatchNorm's eval
    mode, bit for bit, and the variables are BatchNorm's, so ``jaxdl.interop`` converts it
    as a plain ``nn.BatchNorm2d`` (``num_batches_tracked`` kept). Make one from a trained
    BatchNorm with :func:`freeze_batchnorm`. Unlike torchvision's, whose weight and bias are
    buffers, ``scale`` and ``bias`` stay trainable parameters (freeze them with the optimizer)."""

    frozen_statistics: ClassVar[bool] = True

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"num_features": int(m.weight.shape[0]), "eps": m.eps}


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
        if bn.mean is None:
            raise ValueError(f"freeze_batchnorm: the BatchNorm at {'.'.join(map(str, path))} has no running "
                             "statistics (track_running_stats=False) to freeze")
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


@torch_layer("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", layout=CHANNELS_LAST)
class InstanceNorm(_RunningStatisticsNorm):
    """torch: ``nn.InstanceNorm2d(num_features, eps=1e-5, momentum=0.1, affine=False,
    track_running_stats=False)`` (and 1d/3d): each example's channels normalised over the
    spatial axes, (N, *spatial, C). With ``track_running_stats`` training also moves
    running statistics (the batch's mean of the instances' means and unbiased variances,
    as torch), which eval (``model.eval()``) then uses; ``momentum=None`` leaves them where
    they are (torch passes 0 for it).

    Args:
        num_features: channels (the last axis).
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics (None: 0, as torch).
        affine: learn a per-channel ``scale`` and ``bias``.
        track_running_stats: keep running statistics, used in eval mode.
        use_running_average: eval mode (``model.eval()`` sets it).
        rngs: accepted for a uniform constructor; nothing is random.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, *, use_running_average: bool = False,
                 rngs: nnx.Rngs | None = None):
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.use_running_average = use_running_average
        self.scale, self.bias = _affine((num_features,), affine)
        self.mean, self.var, self.num_batches_tracked = _running(num_features, track_running_stats)

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim < 3 or x.shape[-1] != self.num_features:
            raise ValueError(f"InstanceNorm({self.num_features}) expects (N, *spatial, {self.num_features}) "
                             f"channels-last input, got shape {tuple(x.shape)}.")
        x32 = _float32(x)
        if self.mean is not None and self.use_running_average:
            y = (x32 - self.mean[...]) * lax.rsqrt(self.var[...] + self.eps)
        else:
            axes = tuple(range(1, x.ndim - 1))
            n = math.prod(x.shape[1:-1])
            if n < 2:
                raise ValueError(f"InstanceNorm needs more than 1 spatial value per channel, got input shape "
                                 f"{tuple(x.shape)} (torch raises the same)")
            y, mean, var = _normalised(x32, axes, self.eps)
            if self.mean is not None:
                m = 0.0 if self.momentum is None else self.momentum
                stat_mean = lax.stop_gradient(mean).reshape(x.shape[0], -1).mean(axis=0)
                stat_var = lax.stop_gradient(var).reshape(x.shape[0], -1).mean(axis=0) * (n / (n - 1))
                self.mean[...] = (1 - m) * self.mean[...] + m * stat_mean
                self.var[...] = (1 - m) * self.var[...] + m * stat_var
        if self.scale is not None:
            y = y * self.scale[...] + self.bias[...]
        return y.astype(x.dtype)


@torch_layer("GroupNorm", layout=CHANNELS_LAST)
class GroupNorm(nnx.Module):
    """torch: ``nn.GroupNorm(num_groups, num_channels, eps=1e-5, affine=True)``: the channels
    split into ``num_groups`` consecutive groups, each example's group normalised over its
    channels and the spatial axes, (N, *spatial, C); then the per-channel scale and bias.
    The same in train and eval mode (no running statistics).

    Args:
        num_groups: groups of consecutive channels.
        num_channels: channels (the last axis); must divide by ``num_groups``.
        eps: added to the variance.
        affine: learn a per-channel ``scale`` and ``bias``.
        rngs: accepted for a uniform constructor; nothing is random.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5, affine: bool = True, *,
                 rngs: nnx.Rngs | None = None):
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels {num_channels} must divide by num_groups {num_groups} "
                             "(as torch)")
        self.num_groups, self.num_channels, self.eps = num_groups, num_channels, eps
        self.scale, self.bias = _affine((num_channels,), affine)

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"num_groups": m.num_groups, "num_channels": m.num_channels, "eps": m.eps, "affine": m.affine}

    def torch_state(self) -> list[Rule]:
        return [Rule("weight", "scale", *SAME), Rule("bias", "bias", *SAME)] if self.scale is not None else []

    def __call__(self, x: jax.Array) -> jax.Array:
        if x.ndim < 2 or x.shape[-1] != self.num_channels:
            raise ValueError(f"GroupNorm({self.num_groups}, {self.num_channels}) expects (N, *spatial, "
                             f"{self.num_channels}) channels-last input, got shape {tuple(x.shape)}.")
        g = self.num_groups
        xg = _float32(x).reshape(*x.shape[:-1], g, x.shape[-1] // g)
        y, _, _ = _normalised(xg, (*range(1, x.ndim - 1), x.ndim), self.eps)
        y = y.reshape(x.shape)
        if self.scale is not None:
            y = y * self.scale[...] + self.bias[...]
        return y.astype(x.dtype)


@torch_layer("LayerNorm", layout=TORCH)
class LayerNorm(nnx.Module):
    """torch: ``nn.LayerNorm(normalized_shape, eps=1e-5, elementwise_affine=True, bias=True)``:
    each example normalised over its trailing axes ``normalized_shape`` (an int: the last
    axis), then the elementwise scale (and bias, unless ``use_bias=False``: torch's
    ``bias=False``). eps 1e-5 (Flax: 1e-6), two-pass variance. On an NHWC image,
    ``LayerNorm(C)`` is the channel LayerNorm of ConvNeXt's ``LayerNorm2d``
    (torch: ``F.layer_norm`` over the channels of a permuted NCHW tensor).

    Args:
        normalized_shape: the trailing axes normalised over (an int: the last one).
        eps: added to the variance.
        elementwise_affine: learn ``scale`` (and ``bias``) of shape ``normalized_shape``.
        use_bias: torch's ``bias``: learn the bias too.
        rngs: accepted for a uniform constructor; nothing is random.
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 *, use_bias: bool = True, rngs: nnx.Rngs | None = None):
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(int(d) for d in normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        self.scale = nnx.Param(jnp.ones(shape, jnp.float32)) if elementwise_affine else None
        self.bias = nnx.Param(jnp.zeros(shape, jnp.float32)) if elementwise_affine and use_bias else None

    @classmethod
    def torch_arguments(cls, m) -> dict:
        shape = tuple(m.normalized_shape)
        return {"normalized_shape": shape[0] if len(shape) == 1 else shape, "eps": m.eps,
                "elementwise_affine": m.elementwise_affine, "use_bias": getattr(m, "bias", None) is not None}

    def torch_state(self) -> list[Rule]:
        """weight/bias <-> scale/bias (those the layer has)."""
        return ([Rule("weight", "scale", *SAME)] if self.scale is not None else []) + \
            ([Rule("bias", "bias", *SAME)] if self.bias is not None else [])

    def __call__(self, x: jax.Array) -> jax.Array:
        k = len(self.normalized_shape)
        if tuple(x.shape[x.ndim - k:]) != self.normalized_shape:
            raise ValueError(f"LayerNorm({self.normalized_shape}) normalises the trailing axes "
                             f"{self.normalized_shape}, got input shape {tuple(x.shape)}.")
        y, _, _ = _normalised(_float32(x), tuple(range(x.ndim - k, x.ndim)), self.eps)
        if self.scale is not None:
            y = y * self.scale[...]
        if self.bias is not None:
            y = y + self.bias[...]
        return y.astype(x.dtype)
