"""Normalisation layers (torch: ``nn.BatchNorm1d/2d``, ``torchvision.ops.FrozenBatchNorm2d``,
``nn.LayerNorm``), features on the last axis."""

from __future__ import annotations

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
    refuse,
    torch_layer,
)


@torch_layer("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", layout=CHANNELS_LAST)
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

    @classmethod
    def torch_arguments(cls, m) -> dict:
        refuse(m, cls, m.momentum is None and "momentum=None (a cumulative average)",
               not m.affine and "affine=False", not m.track_running_stats and "track_running_stats=False")
        return {"num_features": m.num_features, "eps": m.eps, "momentum": m.momentum}

    def torch_state(self) -> list[Rule]:
        """weight/bias/running_mean/running_var/num_batches_tracked <-> scale/bias/mean/var/
        num_batches_tracked; a state_dict without ``num_batches_tracked`` (saved before PyTorch
        0.4.1) keeps the layer's count, as torch's ``load_state_dict``."""
        return [Rule("weight", "scale", *SAME), Rule("bias", "bias", *SAME), Rule("running_mean", "mean", *SAME),
                Rule("running_var", "var", *SAME), Rule("num_batches_tracked", "num_batches_tracked", *SAME, optional=True)]

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


@torch_layer("FrozenBatchNorm2d", layout=CHANNELS_LAST, module="torchvision.ops")
class FrozenBatchNorm(BatchNorm):
    """torch: ``torchvision.ops.FrozenBatchNorm2d``: a BatchNorm whose statistics are fixed.
    It normalises with its running mean and variance in train mode too (``model.train()``
    changes nothing here) and never updates them, so a frozen backbone computes the same
    features for an image whatever batch it is in. The arithmetic is BatchNorm's eval
    mode, bit for bit, and the variables are BatchNorm's, so ``jaxdl.interop`` converts it
    as a plain ``nn.BatchNorm2d`` (``num_batches_tracked`` kept). Make one from a trained
    BatchNorm with :func:`freeze_batchnorm`."""

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




@torch_layer("LayerNorm", layout=TORCH)
class LayerNorm(nnx.LayerNorm):
    """torch: ``nn.LayerNorm(num_features)``: eps 1e-5 (Flax: 1e-6), two-pass variance.
    Computed in float32 (at least) whatever the input's dtype; the output has the
    input's dtype (bfloat16 mixed precision, as torch autocast's layer_norm)."""

    def __init__(self, num_features: int, *, eps: float = 1e-5, rngs: nnx.Rngs):
        super().__init__(num_features, epsilon=eps, use_fast_variance=False, rngs=rngs)

    @classmethod
    def torch_arguments(cls, m) -> dict:
        shape = tuple(m.normalized_shape)
        refuse(m, cls, len(shape) != 1 and f"normalized_shape={shape} (jaxdl's LayerNorm normalises the last axis)",
               not m.elementwise_affine and "elementwise_affine=False",
               m.elementwise_affine and m.bias is None and "bias=False")
        return {"num_features": shape[-1], "eps": m.eps}

    def torch_state(self) -> list[Rule]:
        """weight/bias <-> scale/bias."""
        return [Rule("weight", "scale", *SAME), Rule("bias", "bias", *SAME)]

    def __call__(self, x: jax.Array, *, mask: jax.Array | None = None) -> jax.Array:
        return super().__call__(x.astype(jnp.promote_types(x.dtype, jnp.float32)), mask=mask).astype(x.dtype)
