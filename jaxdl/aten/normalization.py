"""Normalization ATen ops in torch's layout (N, C, *): batch norm (train and eval),
layer norm, group norm, instance norm, RMS norm.

Running statistics. torch updates a batch norm's (and a tracked instance norm's)
``running_mean``/``running_var`` in place. Here those ops return the buffers' new values
after ATen's own outputs: ``batch_norm(...) -> (output, running_mean, running_var)``,
``native_batch_norm(...) -> (output, save_mean, save_invstd, running_mean,
running_var)``; a buffer passed as None comes back as None, and outside training the
buffers come back unchanged. The update is torch's: ``(1 - momentum) * running +
momentum * batch``, with the batch variance unbiased (n / (n - 1)); the normalisation
uses the biased one. The new statistics carry no gradient.

torch: F.batch_norm, nn.BatchNorm*d, F.layer_norm, nn.GroupNorm, F.instance_norm, F.rms_norm.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jax import lax

from jaxdl.aten.dtypes import to_array
from jaxdl.aten.registry import aten_op


def _channel(v, ndim, dtype):
    """A per-channel vector shaped to broadcast against (N, C, *)."""
    return None if v is None else to_array(v).astype(dtype).reshape((1, -1) + (1,) * (ndim - 2))


def _affine(y, weight, bias):
    if weight is not None:
        y = y * _channel(weight, y.ndim, y.dtype)
    if bias is not None:
        y = y + _channel(bias, y.ndim, y.dtype)
    return y


def _update(running, batch, momentum):
    if running is None:
        return None
    running = to_array(running)
    return ((1 - momentum) * running + momentum * lax.stop_gradient(batch).astype(running.dtype)).astype(running.dtype)


def _batch_norm(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """-> (output, save_mean, save_invstd, new_running_mean, new_running_var)"""
    x = to_array(x)
    if x.ndim < 2:
        raise ValueError(f"jaxdl.aten.batch_norm: expects (N, C, *) input, got shape {x.shape}")
    stats_dtype = jnp.promote_types(x.dtype, jnp.float32)
    xs = x.astype(stats_dtype)
    if training or running_mean is None:
        axes = (0,) + tuple(range(2, x.ndim))
        mean = jnp.mean(xs, axis=axes)
        var = jnp.mean(jnp.square(xs - _channel(mean, x.ndim, stats_dtype)), axis=axes)
        n = math.prod(x.shape[d] for d in axes)
        if training and n <= 1 and running_mean is not None:
            raise ValueError(f"jaxdl.aten.batch_norm: expected more than 1 value per channel when training, got "
                             f"input of shape {x.shape} (as torch)")
        invstd = lax.rsqrt(var + eps)
        y = (xs - _channel(mean, x.ndim, stats_dtype)) * _channel(invstd, x.ndim, stats_dtype)
        unbiased = var * (n / max(n - 1, 1))
        new_mean = _update(running_mean, mean, momentum) if training else running_mean
        new_var = _update(running_var, unbiased, momentum) if training else running_var
        return _affine(y, weight, bias).astype(x.dtype), mean, invstd, new_mean, new_var
    mean = to_array(running_mean).astype(stats_dtype)
    invstd = lax.rsqrt(to_array(running_var).astype(stats_dtype) + eps)
    y = (xs - _channel(mean, x.ndim, stats_dtype)) * _channel(invstd, x.ndim, stats_dtype)
    empty = jnp.zeros((0,), stats_dtype)
    return _affine(y, weight, bias).astype(x.dtype), empty, empty, running_mean, running_var


@aten_op("batch_norm")
def batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled=True):
    """torch: F.batch_norm / nn.BatchNorm1d/2d/3d -> (output, new running_mean, new
    running_var) (see the module docstring)."""
    y, _, _, rm, rv = _batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps)
    return y, rm, rv


@aten_op("native_batch_norm")
@aten_op("_native_batch_norm_legit")
@aten_op("_native_batch_norm_legit_functional")
def native_batch_norm(input, weight, bias, running_mean=None, running_var=None, training=False, momentum=0.1,
                      eps=1e-5):
    """torch: batch norm's kernel -> (output, save_mean, save_invstd, new running_mean,
    new running_var) (save_* are empty outside training, as torch)."""
    return _batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps)


@aten_op("_native_batch_norm_legit_no_training")
def _native_batch_norm_legit_no_training(input, weight, bias, running_mean, running_var, momentum, eps):
    """torch: batch norm's kernel in eval -> (output, save_mean, save_invstd)"""
    return _batch_norm(input, weight, bias, running_mean, running_var, False, momentum, eps)[:3]


@aten_op("_batch_norm_with_update")
def _batch_norm_with_update(input, weight, bias, running_mean, running_var, momentum, eps):
    """torch: batch norm in training -> (output, save_mean, save_invstd, reserve, new
    running_mean, new running_var)"""
    y, m, s, rm, rv = _batch_norm(input, weight, bias, running_mean, running_var, True, momentum, eps)
    return y, m, s, jnp.zeros((0,), jnp.uint8), rm, rv


@aten_op("_batch_norm_no_update")
def _batch_norm_no_update(input, weight, bias, running_mean, running_var, momentum, eps):
    """torch: batch norm in eval -> (output, save_mean, save_invstd, reserve)"""
    y, m, s, _, _ = _batch_norm(input, weight, bias, running_mean, running_var, False, momentum, eps)
    return y, m, s, jnp.zeros((0,), jnp.uint8)


def _layer_norm(x, normalized_shape, weight, bias, eps):
    x = to_array(x)
    k = len(normalized_shape)
    if tuple(x.shape[x.ndim - k:]) != tuple(normalized_shape):
        raise ValueError(f"jaxdl.aten.layer_norm: normalized_shape {list(normalized_shape)} does not match the "
                         f"last dims of an input of shape {x.shape}")
    axes = tuple(range(x.ndim - k, x.ndim))
    xs = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    mean = jnp.mean(xs, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(xs - mean), axis=axes, keepdims=True)
    rstd = lax.rsqrt(var + eps)
    y = (xs - mean) * rstd
    if weight is not None:
        y = y * to_array(weight).astype(y.dtype)
    if bias is not None:
        y = y + to_array(bias).astype(y.dtype)
    return y.astype(x.dtype), mean, rstd


@aten_op("layer_norm")
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):
    """torch: F.layer_norm / nn.LayerNorm (over the last len(normalized_shape) dims, biased variance)"""
    return _layer_norm(input, normalized_shape, weight, bias, eps)[0]


@aten_op("native_layer_norm")
def native_layer_norm(input, normalized_shape, weight, bias, eps):
    """torch: layer norm's kernel -> (output, mean, rstd)"""
    return _layer_norm(input, normalized_shape, weight, bias, eps)


def _group_norm(x, num_groups, weight, bias, eps):
    x = to_array(x)
    n, c = x.shape[:2]
    if c % num_groups:
        raise ValueError(f"jaxdl.aten.group_norm: {c} channels do not split into {num_groups} groups")
    xs = x.astype(jnp.promote_types(x.dtype, jnp.float32)).reshape(n, num_groups, -1)
    mean = jnp.mean(xs, axis=-1, keepdims=True)
    var = jnp.mean(jnp.square(xs - mean), axis=-1, keepdims=True)
    rstd = lax.rsqrt(var + eps)
    y = ((xs - mean) * rstd).reshape(x.shape)
    return _affine(y, weight, bias).astype(x.dtype), mean[..., 0], rstd[..., 0]


@aten_op("group_norm")
def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):
    """torch: F.group_norm / nn.GroupNorm"""
    return _group_norm(input, num_groups, weight, bias, eps)[0]


@aten_op("native_group_norm")
def native_group_norm(input, weight, bias, N, C, HxW, group, eps):
    """torch: group norm's kernel -> (output, mean (N, G), rstd (N, G))"""
    x = to_array(input)
    y, mean, rstd = _group_norm(x.reshape(N, C, HxW), group, weight, bias, eps)
    return y.reshape(x.shape), mean, rstd


@aten_op("instance_norm")
def instance_norm(input, weight, bias, running_mean, running_var, use_input_stats, momentum, eps,
                  cudnn_enabled=True):
    """torch: F.instance_norm / nn.InstanceNorm1d/2d/3d -> (output, new running_mean, new
    running_var): each sample's channels normalised over their own spatial values; with
    running statistics, their update is the batch mean of the per-sample statistics."""
    x = to_array(input)
    if not use_input_stats:
        if running_mean is None:
            raise ValueError("jaxdl.aten.instance_norm: use_input_stats=False needs running_mean and running_var")
        y, _, _, rm, rv = _batch_norm(x, weight, bias, running_mean, running_var, False, momentum, eps)
        return y, rm, rv
    axes = tuple(range(2, x.ndim))
    xs = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    mean = jnp.mean(xs, axis=axes, keepdims=True)
    var = jnp.mean(jnp.square(xs - mean), axis=axes, keepdims=True)
    y = _affine((xs - mean) * lax.rsqrt(var + eps), weight, bias).astype(x.dtype)
    n = math.prod(x.shape[2:])
    unbiased = var * (n / max(n - 1, 1))
    rm = _update(running_mean, jnp.mean(mean.reshape(x.shape[:2]), 0), momentum)
    rv = _update(running_var, jnp.mean(unbiased.reshape(x.shape[:2]), 0), momentum)
    return y, rm, rv


@aten_op("rms_norm")
def rms_norm(input, normalized_shape, weight=None, eps=None):
    """torch: F.rms_norm / nn.RMSNorm (eps None: the dtype's machine epsilon, as torch)"""
    x = to_array(input)
    k = len(normalized_shape)
    axes = tuple(range(x.ndim - k, x.ndim))
    xs = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    if eps is None:
        eps = float(jnp.finfo(x.dtype).eps)
    y = xs * lax.rsqrt(jnp.mean(jnp.square(xs), axis=axes, keepdims=True) + eps)
    if weight is not None:
        y = y * to_array(weight).astype(y.dtype)
    return y.astype(x.dtype)
