"""Activation ATen ops, with torch's values and torch's gradients at the kinks (relu'(0) = 0,
leaky_relu'(0) = slope, hardtanh' = 0 at its bounds, hardswish'(-3) = -0.5, ...).

torch: torch.nn.functional's activations and the nn layers of the same names.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl.aten.dtypes import as_dtype, default_float, is_int, normalize_dim, to_array
from jaxdl.aten.registry import aten_op

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _float(x):
    x = to_array(x)
    return x.astype(default_float()) if is_int(x.dtype) else x


@aten_op("relu")
def relu(self):
    """torch: F.relu / nn.ReLU (gradient 0 at 0)"""
    return jax.nn.relu(to_array(self))


@aten_op("sigmoid")
@aten_op("special_expit")
def sigmoid(self):
    """torch: torch.sigmoid / nn.Sigmoid"""
    return jax.nn.sigmoid(_float(self))


@aten_op("tanh")
def tanh(self):
    """torch: torch.tanh / nn.Tanh"""
    return jnp.tanh(_float(self))


@aten_op("hardtanh")
def hardtanh(self, min_val=-1, max_val=1):
    """torch: F.hardtanh / nn.Hardtanh (gradient 0 at and beyond the bounds)"""
    x = to_array(self)
    return jnp.where(x <= min_val, jnp.asarray(min_val, x.dtype),
                     jnp.where(x >= max_val, jnp.asarray(max_val, x.dtype), x))


@aten_op("relu6")
def relu6(self):
    """torch: F.relu6 / nn.ReLU6 (hardtanh(0, 6))"""
    return hardtanh(self, 0, 6)


@aten_op("leaky_relu")
def leaky_relu(self, negative_slope=0.01):
    """torch: F.leaky_relu / nn.LeakyReLU (gradient ``negative_slope`` at 0)"""
    x = to_array(self)
    return jnp.where(x > 0, x, x * negative_slope)


@aten_op("elu")
def elu(self, alpha=1, scale=1, input_scale=1):
    """torch: F.elu / nn.ELU: scale * (x if x > 0 else alpha * (exp(x * input_scale) - 1))"""
    x = _float(self)
    neg = alpha * jnp.expm1(jnp.where(x > 0, 0, x) * input_scale)
    return scale * jnp.where(x > 0, x, neg)


@aten_op("celu")
def celu(self, alpha=1.0):
    """torch: F.celu / nn.CELU"""
    return elu(self, alpha, 1, 1 / alpha)


@aten_op("selu")
def selu(self):
    """torch: F.selu / nn.SELU"""
    return elu(self, SELU_ALPHA, SELU_SCALE)


@aten_op("gelu")
def gelu(self, approximate="none"):
    """torch: F.gelu(approximate='none'|'tanh') / nn.GELU"""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"jaxdl.aten.gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return jax.nn.gelu(_float(self), approximate=approximate == "tanh")


@aten_op("silu")
def silu(self):
    """torch: F.silu / nn.SiLU"""
    return jax.nn.silu(_float(self))


@aten_op("mish")
def mish(self):
    """torch: F.mish / nn.Mish = x * tanh(softplus(x))"""
    x = _float(self)
    return x * jnp.tanh(jax.nn.softplus(x))


@aten_op("hardswish")
def hardswish(self):
    """torch: F.hardswish / nn.Hardswish (torch's gradient: 0 up to -3, x/3 + 1/2 inside, 1 from 3)"""
    x = _float(self)
    return jnp.where(x <= -3, 0.0, jnp.where(x < 3, x * (x + 3) / 6, x)).astype(x.dtype)


@aten_op("hardsigmoid")
def hardsigmoid(self):
    """torch: F.hardsigmoid / nn.Hardsigmoid (gradient 1/6 strictly inside (-3, 3))"""
    x = _float(self)
    return jnp.where(x <= -3, 0.0, jnp.where(x >= 3, 1.0, x / 6 + 0.5)).astype(x.dtype)


@aten_op("softplus")
def softplus(self, beta=1, threshold=20):
    """torch: F.softplus(beta, threshold) / nn.Softplus: x where beta * x > threshold"""
    x = _float(self)
    bx = x * beta
    return jnp.where(bx > threshold, x, jnp.log1p(jnp.exp(jnp.minimum(bx, threshold))) / beta)


@aten_op("log_sigmoid")
def log_sigmoid(self):
    """torch: F.logsigmoid / nn.LogSigmoid"""
    return jax.nn.log_sigmoid(_float(self))


@aten_op("log_sigmoid_forward")
def log_sigmoid_forward(self):
    """torch: F.logsigmoid's kernel: (output, buffer); the buffer is a backward cache (zeros here)"""
    out = log_sigmoid(self)
    return out, jnp.zeros_like(out)


@aten_op("threshold")
def threshold(self, threshold, value):
    """torch: F.threshold / nn.Threshold: x where x > threshold, else value"""
    x = to_array(self)
    return jnp.where(x > threshold, x, jnp.asarray(value, x.dtype))


@aten_op("hardshrink")
def hardshrink(self, lambd=0.5):
    """torch: F.hardshrink / nn.Hardshrink"""
    x = to_array(self)
    return jnp.where((x > lambd) | (x < -lambd), x, 0).astype(x.dtype)


@aten_op("softshrink")
def softshrink(self, lambd=0.5):
    """torch: F.softshrink / nn.Softshrink"""
    x = to_array(self)
    return jnp.where(x > lambd, x - lambd, jnp.where(x < -lambd, x + lambd, 0)).astype(x.dtype)


@aten_op("prelu")
@aten_op("_prelu_kernel")
def prelu(self, weight):
    """torch: F.prelu / nn.PReLU: one slope, or one per channel (dim 1)"""
    x = to_array(self)
    w = to_array(weight, x.dtype)
    if w.size > 1 and x.ndim >= 2:
        w = w.reshape((1, -1) + (1,) * (x.ndim - 2))
    elif w.size == 1:
        w = w.reshape(())
    return jnp.where(x > 0, x, w * x)


@aten_op("rrelu")
def rrelu(self, lower=0.125, upper=1.0 / 3.0, training=False, generator=None, *, rng=None):
    """torch: F.rrelu / nn.RReLU: in eval a leaky relu of slope (lower + upper) / 2; in
    training a slope drawn uniformly per element (needs ``rng``, a JAX PRNG key)."""
    x = _float(self)
    if not training:
        return leaky_relu(x, (lower + upper) / 2)
    if rng is None:
        raise ValueError("jaxdl.aten.rrelu: training=True draws random slopes: pass rng=<a jax.random key>")
    slope = jax.random.uniform(rng, x.shape, x.dtype, lower, upper)
    return jnp.where(x >= 0, x, x * slope)


@aten_op("glu")
def glu(self, dim=-1):
    """torch: F.glu / nn.GLU: first half * sigmoid(second half) along ``dim``"""
    x = _float(self)
    a, b = jnp.split(x, 2, axis=normalize_dim(dim, x.ndim))
    return a * jax.nn.sigmoid(b)


def _softmax(fn, x, dim, dtype):
    """fn along ``dim`` of ``x`` cast to ``dtype``; half precision computed in float32
    and rounded once, as torch's kernels."""
    x = to_array(x)
    x = x.astype(as_dtype(dtype)) if dtype is not None else _float(x)
    if x.ndim == 0:
        return fn(x.reshape(1), axis=0).reshape(())
    wide = x.astype(jnp.float32) if x.dtype in (jnp.float16, jnp.bfloat16) else x
    return fn(wide, axis=normalize_dim(dim, x.ndim)).astype(x.dtype)


@aten_op("softmax")
@aten_op("special_softmax")
def softmax(self, dim, dtype=None):
    """torch: torch.softmax(x, dim, dtype=None) (the input is cast to ``dtype`` first)"""
    return _softmax(jax.nn.softmax, self, dim, dtype)


@aten_op("log_softmax")
@aten_op("special_log_softmax")
def log_softmax(self, dim, dtype=None):
    """torch: torch.log_softmax(x, dim, dtype=None)"""
    return _softmax(jax.nn.log_softmax, self, dim, dtype)


@aten_op("_softmax")
def _softmax_kernel(self, dim, half_to_float):
    """torch: softmax's kernel (``half_to_float``: float16 in, float32 out)"""
    return softmax(self, dim, jnp.float32 if half_to_float else None)


@aten_op("_log_softmax")
def _log_softmax_kernel(self, dim, half_to_float):
    """torch: log_softmax's kernel"""
    return log_softmax(self, dim, jnp.float32 if half_to_float else None)
