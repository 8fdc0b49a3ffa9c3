"""Activations with torch's values and gradients (torch: ``torch.nn.modules.activation``).

Each is a function (torch: ``F.<name>``) and a module (torch: ``nn.<Name>``, so that an
``nnx.Sequential`` keeps torch's ``nn.Sequential`` positions). Where JAX's own function
has another gradient at a kink, the function here is written so that its gradient is
torch's there too: ``jax.nn.leaky_relu``'(0) = 1 (torch: the slope), ``jnp.clip``'s
gradient at the clip points is 0.5 (torch: 0); hardswish's at -3 and 3 are torch's 0 and 1.
Elementwise activations work on either layout
(``torch_layout`` ANY); those with a ``dim`` (Softmax, LogSoftmax, GLU) take torch's axis
numbers (TORCH); PReLU's per-channel weight is on the last axis (CHANNELS_LAST).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl.init import constant_init
from jaxdl.layers.torch_layer import (
    ANY,
    CHANNELS_LAST,
    SAME,
    TORCH,
    ParameterlessLayer,
    Rule,
    constructor,
    torch_layer,
)

# torch's SELU constants (F.selu)
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


# ---------------------------------------------------------------- functions (torch: F.<name>)
def leaky_relu(x: jax.Array, negative_slope: float = 0.01) -> jax.Array:
    """torch: ``F.leaky_relu(x, negative_slope)`` / ``nn.LeakyReLU``, with torch's
    gradient at exactly 0 (``negative_slope``); ``jax.nn.leaky_relu`` gives 1 there."""
    return jnp.where(x > 0, x, negative_slope * x)


def hardtanh(x: jax.Array, min_val: float = -1.0, max_val: float = 1.0) -> jax.Array:
    """torch: ``F.hardtanh``: clip to [min_val, max_val]; gradient 1 strictly inside, 0 at
    and beyond the clip points (``jnp.clip`` gives 0.5 at them)."""
    return jnp.where(x <= min_val, min_val, jnp.where(x >= max_val, max_val, x)).astype(x.dtype)


def relu6(x: jax.Array) -> jax.Array:
    """torch: ``F.relu6`` = ``hardtanh(x, 0, 6)``."""
    return hardtanh(x, 0.0, 6.0)


def hardsigmoid(x: jax.Array) -> jax.Array:
    """torch: ``F.hardsigmoid``: 0 below -3, 1 above 3, x/6 + 1/2 between (gradient 1/6
    strictly between)."""
    return jnp.where(x <= -3, 0.0, jnp.where(x >= 3, 1.0, x / 6 + 0.5)).astype(x.dtype)


def hardswish(x: jax.Array) -> jax.Array:
    """torch: ``F.hardswish``: x * hardsigmoid(x); derivative x/3 + 1/2 strictly between -3
    and 3, 0 at -3 and 1 at 3 (torch's kernel)."""
    return jnp.where(x <= -3, 0.0, jnp.where(x >= 3, x, x * (x + 3) / 6)).astype(x.dtype)


def elu(x: jax.Array, alpha: float = 1.0) -> jax.Array:
    """torch: ``F.elu``: x above 0, alpha*(exp(x) - 1) at and below (gradient alpha at 0)."""
    return jnp.where(x > 0, x, alpha * jnp.expm1(x))


def celu(x: jax.Array, alpha: float = 1.0) -> jax.Array:
    """torch: ``F.celu``: x above 0, alpha*(exp(x/alpha) - 1) at and below (gradient 1 at 0)."""
    return jnp.where(x > 0, x, alpha * jnp.expm1(x / alpha))


def selu(x: jax.Array) -> jax.Array:
    """torch: ``F.selu``: scale * elu(x, alpha) with torch's constants."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def softplus(x: jax.Array, beta: float = 1.0, threshold: float = 20.0) -> jax.Array:
    """torch: ``F.softplus(x, beta, threshold)``: log(1 + exp(beta*x))/beta, and x itself
    where beta*x > threshold (as torch, for numerical stability)."""
    return jnp.where(x * beta > threshold, x, jax.nn.softplus(beta * x) / beta)


def mish(x: jax.Array) -> jax.Array:
    """torch: ``F.mish``: x * tanh(softplus(x))."""
    return x * jnp.tanh(jax.nn.softplus(x))


def glu(x: jax.Array, dim: int = -1) -> jax.Array:
    """torch: ``F.glu(x, dim)``: the first half of ``dim`` times the sigmoid of the second."""
    if x.shape[dim] % 2:
        raise ValueError(f"glu halves dimension {dim}, whose size {x.shape[dim]} is odd (torch raises too)")
    a, b = jnp.split(x, 2, axis=dim)
    return a * jax.nn.sigmoid(b)


def prelu(x: jax.Array, weight: jax.Array) -> jax.Array:
    """torch: ``F.prelu(x, weight)`` with the channels last: x above 0, weight*x at and
    below (one weight, or one per channel of the last axis)."""
    return jnp.where(x > 0, x, weight.astype(x.dtype) * x)


def _softmax_dim(dim: int | None, ndim: int) -> int:
    """torch's implicit softmax dim (``_get_softmax_dim``): 0 for 0-, 1- and 3-d input, else 1."""
    return dim if dim is not None else (0 if ndim in (0, 1, 3) else 1)


# ---------------------------------------------------------------- modules (torch: nn.<Name>)
class _Elementwise(ParameterlessLayer, nnx.Module):
    """An activation module without weights: ``fn(x, **settings)``, the settings being the
    constructor's arguments (torch's attributes of the same names). torch's ``inplace`` is
    accepted and has no effect: JAX arrays are values."""

    fn = staticmethod(jax.nn.relu)

    def __init__(self, inplace: bool = False):
        pass

    @classmethod
    def _settings(cls) -> list[str]:
        return [k for k in constructor(cls).parameters if k != "inplace"]

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {k: getattr(m, k) for k in cls._settings()}

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.fn(x, **{k: getattr(self, k) for k in self._settings()})


@torch_layer("ReLU", layout=ANY)
class ReLU(_Elementwise):
    """torch: ``nn.ReLU()``: ``jax.nn.relu`` (gradient 0 at 0, as torch)."""


@torch_layer("ReLU6", layout=ANY)
class ReLU6(_Elementwise):
    """torch: ``nn.ReLU6()``; see :func:`relu6`."""

    fn = staticmethod(relu6)


@torch_layer("Hardtanh", layout=ANY)
class Hardtanh(_Elementwise):
    """torch: ``nn.Hardtanh(min_val=-1, max_val=1)``; see :func:`hardtanh`."""

    fn = staticmethod(hardtanh)

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False):
        self.min_val, self.max_val = min_val, max_val


@torch_layer("LeakyReLU", layout=ANY)
class LeakyReLU(_Elementwise):
    """torch: ``nn.LeakyReLU(negative_slope=0.01)``; see :func:`leaky_relu`."""

    fn = staticmethod(leaky_relu)

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        self.negative_slope = negative_slope


@torch_layer("ELU", layout=ANY)
class ELU(_Elementwise):
    """torch: ``nn.ELU(alpha=1.0)``; see :func:`elu`."""

    fn = staticmethod(elu)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        self.alpha = alpha


@torch_layer("CELU", layout=ANY)
class CELU(_Elementwise):
    """torch: ``nn.CELU(alpha=1.0)``; see :func:`celu`."""

    fn = staticmethod(celu)

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        self.alpha = alpha


@torch_layer("SELU", layout=ANY)
class SELU(_Elementwise):
    """torch: ``nn.SELU()``; see :func:`selu`."""

    fn = staticmethod(selu)


@torch_layer("GELU", layout=ANY)
class GELU(_Elementwise):
    """torch: ``nn.GELU(approximate='none')``: the exact (erf) GELU, or its tanh
    approximation with ``approximate='tanh'`` (``jax.nn.gelu`` defaults to the approximation)."""

    def __init__(self, approximate: str = "none"):
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    @staticmethod
    def fn(x: jax.Array, approximate: str = "none") -> jax.Array:
        return jax.nn.gelu(x, approximate=approximate == "tanh")


@torch_layer("SiLU", layout=ANY)
class SiLU(_Elementwise):
    """torch: ``nn.SiLU()`` (swish): x * sigmoid(x)."""

    fn = staticmethod(jax.nn.silu)


@torch_layer("Mish", layout=ANY)
class Mish(_Elementwise):
    """torch: ``nn.Mish()``; see :func:`mish`."""

    fn = staticmethod(mish)


@torch_layer("Hardswish", layout=ANY)
class Hardswish(_Elementwise):
    """torch: ``nn.Hardswish()``; see :func:`hardswish`."""

    fn = staticmethod(hardswish)


@torch_layer("Hardsigmoid", layout=ANY)
class Hardsigmoid(_Elementwise):
    """torch: ``nn.Hardsigmoid()``; see :func:`hardsigmoid`."""

    fn = staticmethod(hardsigmoid)


@torch_layer("Softplus", layout=ANY)
class Softplus(_Elementwise):
    """torch: ``nn.Softplus(beta=1.0, threshold=20.0)``; see :func:`softplus`."""

    fn = staticmethod(softplus)

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        self.beta, self.threshold = beta, threshold


@torch_layer("Sigmoid", layout=ANY)
class Sigmoid(_Elementwise):
    """torch: ``nn.Sigmoid()``."""

    fn = staticmethod(jax.nn.sigmoid)

    def __init__(self):
        pass


@torch_layer("Tanh", layout=ANY)
class Tanh(_Elementwise):
    """torch: ``nn.Tanh()``."""

    fn = staticmethod(jnp.tanh)

    def __init__(self):
        pass


@torch_layer("LogSigmoid", layout=ANY)
class LogSigmoid(_Elementwise):
    """torch: ``nn.LogSigmoid()``."""

    fn = staticmethod(jax.nn.log_sigmoid)

    def __init__(self):
        pass


@torch_layer("Softmax", layout=TORCH)
class Softmax(_Elementwise):
    """torch: ``nn.Softmax(dim=None)`` over torch's axis ``dim`` (None: torch's implicit
    choice, 0 for 0-, 1- and 3-d input, else 1, with torch's deprecation in mind: pass it)."""

    def __init__(self, dim: int | None = None):
        self.dim = dim

    @staticmethod
    def fn(x: jax.Array, dim: int | None = None) -> jax.Array:
        return jax.nn.softmax(x, axis=_softmax_dim(dim, x.ndim))


@torch_layer("LogSoftmax", layout=TORCH)
class LogSoftmax(_Elementwise):
    """torch: ``nn.LogSoftmax(dim=None)``; ``dim`` as :class:`Softmax`."""

    def __init__(self, dim: int | None = None):
        self.dim = dim

    @staticmethod
    def fn(x: jax.Array, dim: int | None = None) -> jax.Array:
        return jax.nn.log_softmax(x, axis=_softmax_dim(dim, x.ndim))


@torch_layer("GLU", layout=TORCH)
class GLU(_Elementwise):
    """torch: ``nn.GLU(dim=-1)``; see :func:`glu`."""

    fn = staticmethod(glu)

    def __init__(self, dim: int = -1):
        self.dim = dim


@torch_layer("PReLU", layout=CHANNELS_LAST)
class PReLU(nnx.Module):
    """torch: ``nn.PReLU(num_parameters=1, init=0.25)``: a learned slope for x <= 0, one for
    all channels or one per channel (``num_parameters`` = C, the last axis here; torch:
    axis 1). ``weight`` equals torch's ``weight``; see :func:`prelu`."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, *, rngs: nnx.Rngs | None = None):
        self.num_parameters = num_parameters
        self.weight = nnx.Param(constant_init(init)(None, (num_parameters,)))

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return {"num_parameters": m.num_parameters, "init": m.init}

    def torch_state(self) -> list[Rule]:
        return [Rule("weight", "weight", *SAME)]

    def __call__(self, x: jax.Array) -> jax.Array:
        if self.num_parameters != 1 and (x.ndim < 2 or x.shape[-1] != self.num_parameters):
            raise ValueError(f"PReLU({self.num_parameters}) expects {self.num_parameters} channels on the last "
                             f"axis (channels-last), got shape {tuple(x.shape)}")
        return prelu(x, self.weight[...])
