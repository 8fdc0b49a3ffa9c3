"""Random ATen ops: dropout variants, bernoulli, rand/randn/randint, normal, uniform,
randperm, multinomial.

The dropouts take the tensor as ``input`` (or ``self``, the name in-place ``dropout_``'s
schema gives it). Each takes a JAX PRNG key as the keyword ``rng`` (``key`` is taken: it is an argument
of scaled_dot_product_attention); torch's ``generator`` is accepted and ignored. The
draws cannot equal torch's (different generators); their distribution does. Dropout in
eval (``train=False``) or with ``p=0`` is the identity and needs no key.

torch: F.dropout, nn.Dropout2d, nn.AlphaDropout, torch.bernoulli, torch.rand, ...
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxdl.aten.dtypes import as_dtype, default_float, default_int, is_tensor, to_array
from jaxdl.aten.registry import aten_op

ALPHA_DROPOUT_ALPHA = 1.7580993408473766  # SELU's -scale * alpha, torch's constant


def _need(rng, what):
    if rng is None:
        raise ValueError(f"jaxdl.aten.{what}: draws random numbers: pass rng=<a jax.random key> "
                         "(e.g. jax.random.key(0), or an nnx.Rngs stream)")
    return rng


def _keep_mask(rng, p, shape, what):
    return jax.random.bernoulli(_need(rng, what), 1.0 - p, shape)


def _input(input, self, p, train, what):
    """The tensor of a dropout: ``input``, or ``self`` for the in-place overload (``dropout_``)."""
    if p is None or train is None:
        raise TypeError(f"jaxdl.aten.{what}: p and train are required")
    return input if input is not None else self


def _dropout(x, p, train, shape, what, rng):
    x = to_array(x)
    if not train or p == 0:
        return x, jnp.ones(x.shape, bool)
    if p == 1:
        return jnp.zeros_like(x), jnp.zeros(x.shape, bool)
    keep = jnp.broadcast_to(_keep_mask(rng, p, shape, what), x.shape)
    return jnp.where(keep, x / (1.0 - p), jnp.zeros((), x.dtype)).astype(x.dtype), keep


@aten_op("dropout")
def dropout(input=None, p=None, train=None, *, self=None, rng=None):
    """torch: F.dropout / nn.Dropout: zero each element with probability p, scale the
    rest by 1 / (1 - p); the identity when not ``train``."""
    input = _input(input, self, p, train, "dropout")
    return _dropout(input, p, train, jnp.shape(input), "dropout", rng)[0]


@aten_op("native_dropout")
def native_dropout(input, p, train, *, rng=None):
    """torch: dropout's kernel -> (output, keep mask as bool)"""
    return _dropout(input, p, True if train is None else train, jnp.shape(input), "native_dropout", rng)


def _feature_shape(x):
    """One draw per (sample, channel): torch's Dropout1d/2d/3d."""
    shape = jnp.shape(x)
    return shape[:2] + (1,) * (len(shape) - 2)


@aten_op("feature_dropout")
def feature_dropout(input=None, p=None, train=None, *, self=None, rng=None):
    """torch: F.dropout1d/2d/3d, nn.Dropout2d: whole channels zeroed"""
    input = _input(input, self, p, train, "feature_dropout")
    return _dropout(input, p, train, _feature_shape(input), "feature_dropout", rng)[0]


def _alpha_dropout(x, p, train, shape, what, rng):
    x = to_array(x)
    if not train or p == 0:
        return x
    if p == 1:
        return jnp.zeros_like(x)
    keep = jnp.broadcast_to(_keep_mask(rng, p, shape, what), x.shape).astype(x.dtype)
    a = 1.0 / ((ALPHA_DROPOUT_ALPHA ** 2 * p + 1) * (1 - p)) ** 0.5
    b = (keep - 1) * ALPHA_DROPOUT_ALPHA * a + ALPHA_DROPOUT_ALPHA * a * p
    return x * keep * a + b


@aten_op("alpha_dropout")
def alpha_dropout(input=None, p=None, train=None, *, self=None, rng=None):
    """torch: F.alpha_dropout / nn.AlphaDropout (keeps SELU's mean and variance)"""
    input = _input(input, self, p, train, "alpha_dropout")
    return _alpha_dropout(input, p, train, jnp.shape(input), "alpha_dropout", rng)


@aten_op("feature_alpha_dropout")
def feature_alpha_dropout(input=None, p=None, train=None, *, self=None, rng=None):
    """torch: F.feature_alpha_dropout / nn.FeatureAlphaDropout"""
    input = _input(input, self, p, train, "feature_alpha_dropout")
    return _alpha_dropout(input, p, train, _feature_shape(input), "feature_alpha_dropout", rng)


@aten_op("bernoulli")
def bernoulli(self, p=None, generator=None, *, rng=None):
    """torch: torch.bernoulli(probs) / Tensor.bernoulli_(p): 0/1 in ``self``'s dtype, of
    ``self``'s shape, 1 with probability ``p`` (or ``self`` when ``p`` is None)."""
    x = to_array(self)
    prob = x if p is None else to_array(p)
    draw = jax.random.bernoulli(_need(rng, "bernoulli"), prob.astype(jnp.float32), x.shape)
    return draw.astype(x.dtype)


def _size_dtype(dtype, fallback):
    return as_dtype(dtype) or fallback


@aten_op("rand")
def rand(size, generator=None, dtype=None, layout=None, device=None, pin_memory=None, *, rng=None):
    """torch: torch.rand: uniform on [0, 1)"""
    return jax.random.uniform(_need(rng, "rand"), tuple(size), _size_dtype(dtype, default_float()))


@aten_op("randn")
def randn(size, generator=None, dtype=None, layout=None, device=None, pin_memory=None, *, rng=None):
    """torch: torch.randn: standard normal"""
    return jax.random.normal(_need(rng, "randn"), tuple(size), _size_dtype(dtype, default_float()))


@aten_op("randint")
def randint(low=0, high=None, size=None, generator=None, dtype=None, layout=None, device=None, pin_memory=None,
            *, rng=None):
    """torch: torch.randint(low=0, high, size): integers in [low, high), int64"""
    return jax.random.randint(_need(rng, "randint"), tuple(size), low, high, _size_dtype(dtype, default_int()))


@aten_op("rand_like")
def rand_like(self, generator=None, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None,
              *, rng=None):
    """torch: torch.rand_like"""
    return rand(self.shape, dtype=dtype or self.dtype, rng=rng)


@aten_op("randn_like")
def randn_like(self, generator=None, dtype=None, layout=None, device=None, pin_memory=None, memory_format=None,
               *, rng=None):
    """torch: torch.randn_like"""
    return randn(self.shape, dtype=dtype or self.dtype, rng=rng)


@aten_op("randint_like")
def randint_like(self, low=0, high=None, generator=None, dtype=None, layout=None, device=None, pin_memory=None,
                 memory_format=None, *, rng=None):
    """torch: torch.randint_like(x, low=0, high)"""
    if is_tensor(high):
        high = to_array(high)
    return randint(low, high, self.shape, dtype=dtype or self.dtype, rng=rng)


@aten_op("randperm")
def randperm(n, generator=None, dtype=None, layout=None, device=None, pin_memory=None, *, rng=None):
    """torch: torch.randperm (int64)"""
    return jax.random.permutation(_need(rng, "randperm"), n).astype(_size_dtype(dtype, default_int()))


@aten_op("normal")
def normal(mean=0.0, std=1.0, size=None, generator=None, dtype=None, layout=None, device=None, pin_memory=None,
           *, rng=None):
    """torch: torch.normal(mean, std[, size]) (tensor means/stds broadcast)"""
    m, s = to_array(mean), to_array(std)
    shape = tuple(size) if size is not None else jnp.broadcast_shapes(m.shape, s.shape)
    out_dtype = _size_dtype(dtype, m.dtype if is_tensor(mean) else (s.dtype if is_tensor(std) else default_float()))
    return (m + s * jax.random.normal(_need(rng, "normal"), shape, jnp.float32)).astype(out_dtype)


@aten_op("uniform")
def uniform(self, from_=0.0, to=1.0, generator=None, *, rng=None):
    """torch: Tensor.uniform_(from, to) as a function (``from`` is ``from_``: a Python keyword)"""
    x = to_array(self)
    return jax.random.uniform(_need(rng, "uniform"), x.shape, x.dtype, from_, to)


@aten_op("exponential")
def exponential(self, lambd=1.0, generator=None, *, rng=None):
    """torch: Tensor.exponential_ as a function"""
    x = to_array(self)
    return (jax.random.exponential(_need(rng, "exponential"), x.shape, x.dtype) / lambd).astype(x.dtype)


@aten_op("multinomial")
def multinomial(self, num_samples, replacement=False, generator=None, *, rng=None):
    """torch: torch.multinomial (rows of non-negative weights; int64)"""
    w = to_array(self)
    logits = jnp.log(w.astype(jnp.float32))
    key = _need(rng, "multinomial")
    if replacement:
        out = jax.random.categorical(key, logits, axis=-1, shape=(num_samples,) + w.shape[:-1])
        return jnp.moveaxis(out, 0, -1).astype(default_int())
    gumbel = jax.random.gumbel(key, w.shape, jnp.float32)  # Gumbel top-k: sampling without replacement
    return jax.lax.top_k(logits + gumbel, num_samples)[1].astype(default_int())
