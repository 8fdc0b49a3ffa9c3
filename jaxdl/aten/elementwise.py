"""Elementwise ATen ops: arithmetic with torch's type promotion and integer division,
math functions, comparisons, logic and bits, clamps, ``where``, dtype conversion.

torch: the ``torch.*`` functions and Tensor operators of the same names.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy import special

from jaxdl.aten.dtypes import (
    as_dtype,
    default_float,
    is_float,
    is_int,
    is_tensor,
    promote,
    result_type,
    to_array,
)
from jaxdl.aten.registry import aten_op


def _float(x):
    """``x`` as an array; integral or bool input becomes the default float (torch's
    ``sin(int tensor)`` is float32, where JAX would make int8 float16)."""
    x = to_array(x)
    return x.astype(default_float()) if is_int(x.dtype) else x


def _unary_float(name, fn, torch_name=None):
    def op(self):
        return fn(_float(self))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch: {torch_name or 'torch.' + name}"
    return aten_op(name)(op)


for _name, _fn in {
    "exp": jnp.exp, "exp2": jnp.exp2, "expm1": jnp.expm1, "log": jnp.log, "log2": jnp.log2, "log10": jnp.log10,
    "log1p": jnp.log1p, "sqrt": jnp.sqrt, "rsqrt": lax.rsqrt, "sin": jnp.sin, "cos": jnp.cos, "tan": jnp.tan,
    "asin": jnp.arcsin, "acos": jnp.arccos, "atan": jnp.arctan, "sinh": jnp.sinh, "cosh": jnp.cosh,
    "asinh": jnp.arcsinh, "acosh": jnp.arccosh, "atanh": jnp.arctanh, "erf": special.erf,
    "erfc": special.erfc, "erfinv": special.erfinv, "lgamma": special.gammaln, "digamma": special.digamma,
    "i0": special.i0, "sinc": jnp.sinc, "deg2rad": jnp.deg2rad, "rad2deg": jnp.rad2deg,
    "reciprocal": lambda x: 1 / x,
}.items():
    _unary_float(_name, _fn)
for _alias, _fn in {"arcsin": jnp.arcsin, "arccos": jnp.arccos, "arctan": jnp.arctan, "arcsinh": jnp.arcsinh,
                    "arccosh": jnp.arccosh, "arctanh": jnp.arctanh, "special_erfinv": special.erfinv,
                    "special_expm1": jnp.expm1, "special_exp2": jnp.exp2}.items():
    _unary_float(_alias, _fn)


def _rounding(fn, name):
    def op(self):
        self = to_array(self)
        return self if is_int(self.dtype) else fn(self)  # identity on integers, as torch

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch: torch.{name} (integers unchanged)"
    return aten_op(name)(op)


_rounding(jnp.floor, "floor")
_rounding(jnp.ceil, "ceil")
_rounding(jnp.trunc, "trunc")
_rounding(jnp.trunc, "fix")
_rounding(lambda x: x - jnp.trunc(x), "frac")


@aten_op("round")
def round_(self, decimals=0):
    """torch: torch.round(x, decimals=0): half to even, as ``nearbyint(x * 10**d) / 10**d``
    (``nearbyint(x / 10**-d) * 10**-d`` for negative ``decimals``)."""
    self = to_array(self)
    if is_int(self.dtype):
        return self
    if decimals == 0:
        return jnp.round(self)
    if decimals > 0:
        scale = 10.0 ** decimals
        return jnp.round(self * scale) / scale
    scale = 10.0 ** -decimals
    return jnp.round(self / scale) * scale


@aten_op("abs")
@aten_op("absolute")
def abs_(self):
    """torch: torch.abs (gradient 0 at 0, as torch: x * sign(x))"""
    x = to_array(self)
    return jnp.abs(x) if is_int(x.dtype) else x * sign(x)


@aten_op("neg")
@aten_op("negative")
def neg(self):
    """torch: torch.neg"""
    return -to_array(self)


@aten_op("positive")
def positive(self):
    """torch: torch.positive"""
    return to_array(self)


@aten_op("square")
def square(self):
    """torch: torch.square (bool -> int64, as torch)"""
    self = to_array(self)
    if self.dtype == jnp.bool_:
        self = self.astype(result_type(self, 1))
    return lax.integer_pow(self, 2)


@aten_op("sign")
def sign(self):
    """torch: torch.sign (0 for NaN, as torch)"""
    x = to_array(self)
    if x.dtype == jnp.bool_:
        return x
    return ((x > 0).astype(x.dtype) - (x < 0).astype(x.dtype)).astype(x.dtype)


@aten_op("sgn")
def sgn(self):
    """torch: torch.sgn (x / |x| for complex)"""
    x = to_array(self)
    return jnp.sign(x) if jnp.iscomplexobj(x) else sign(x)


@aten_op("signbit")
def signbit(self):
    """torch: torch.signbit"""
    return jnp.signbit(to_array(self))


for _name, _fn in {"isnan": jnp.isnan, "isinf": jnp.isinf, "isfinite": jnp.isfinite,
                   "isposinf": jnp.isposinf, "isneginf": jnp.isneginf}.items():
    def _check(self, fn=_fn):
        self = to_array(self)
        if is_int(self.dtype):
            return fn(self.astype(default_float()))
        return fn(self)

    _check.__name__ = _name
    _check.__doc__ = f"torch: torch.{_name}"
    aten_op(_name)(_check)


# ---- arithmetic with torch's promotion

@aten_op("add")
def add(self, other, alpha=1):
    """torch: torch.add(x, y, alpha=1) / ``x + y`` (bool + bool is logical or)"""
    a, b = promote(self, other)
    if alpha != 1:
        b = b * to_array(alpha, b.dtype)
    return a | b if a.dtype == jnp.bool_ else a + b


@aten_op("sub")
@aten_op("subtract")
def sub(self, other, alpha=1):
    """torch: torch.sub(x, y, alpha=1) / ``x - y``"""
    a, b = promote(self, other)
    if a.dtype == jnp.bool_:
        raise TypeError("jaxdl.aten.sub: subtracting bool tensors is not supported (torch refuses it too); "
                        "use logical_xor or bitwise_not")
    if alpha != 1:
        b = b * to_array(alpha, b.dtype)
    return a - b


@aten_op("rsub")
def rsub(self, other, alpha=1):
    """torch: torch.rsub(x, y, alpha) = y - alpha * x (``1 - x``)"""
    return sub(other, self, alpha)


@aten_op("mul")
@aten_op("multiply")
def mul(self, other):
    """torch: torch.mul / ``x * y`` (bool * bool is logical and)"""
    a, b = promote(self, other)
    return a & b if a.dtype == jnp.bool_ else a * b


@aten_op("div")
@aten_op("divide")
def div(self, other, rounding_mode=None):
    """torch: torch.div(x, y, rounding_mode=None|'trunc'|'floor') / ``x / y``: true
    division makes integers float32; 'trunc' and 'floor' keep integer dtypes (integer
    division by zero is undefined here, where torch raises)."""
    if rounding_mode is None:
        a, b = promote(self, other, float_result=True)
        return a / b
    a, b = promote(self, other)
    if rounding_mode == "trunc":
        return lax.div(a, b) if is_int(a.dtype) else jnp.trunc(a / b)
    if rounding_mode == "floor":
        return _floor_divide(a, b)
    raise ValueError(f"jaxdl.aten.div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}")


@aten_op("true_divide")
def true_divide(self, other):
    """torch: torch.true_divide"""
    return div(self, other)


def _floor_divide(a, b):
    if is_int(a.dtype):
        return jnp.floor_divide(a, b)
    # torch's div_floor_floating: via fmod, exact where a / b rounds across an integer
    mod = jnp.fmod(a, b)
    q = (a - mod) / b
    q = jnp.where((mod != 0) & ((b < 0) != (mod < 0)), q - 1, q)
    floor_q = jnp.floor(q)
    floor_q = jnp.where(q - floor_q > 0.5, floor_q + 1, floor_q)
    q = jnp.where(q != 0, floor_q, jnp.copysign(jnp.zeros_like(q), a / b))
    return jnp.where(b == 0, a / b, q)


@aten_op("floor_divide")
def floor_divide(self, other):
    """torch: torch.floor_divide / ``x // y`` (rounds toward -inf, as Python)"""
    a, b = promote(self, other)
    return _floor_divide(a, b)


@aten_op("remainder")
def remainder(self, other):
    """torch: torch.remainder / ``x % y`` (sign of the divisor, as Python)"""
    a, b = promote(self, other)
    if is_int(a.dtype):
        return jnp.remainder(a, b)
    mod = jnp.fmod(a, b)
    return jnp.where((mod != 0) & ((b < 0) != (mod < 0)), mod + b, mod)


@aten_op("fmod")
def fmod(self, other):
    """torch: torch.fmod (sign of the dividend, as C)"""
    a, b = promote(self, other)
    return lax.rem(a, b)


@aten_op("pow")
def pow_(self, exponent):
    """torch: torch.pow / ``x ** y``: an integer exponent is exact repeated
    multiplication; integer tensors to negative integer powers are refused, as in torch."""
    if not is_tensor(exponent) and not isinstance(exponent, bool) and is_tensor(self):
        self = to_array(self)
        if isinstance(exponent, float) and exponent.is_integer() and is_float(self.dtype):
            exponent = int(exponent)
        if isinstance(exponent, int):
            if is_int(self.dtype):
                if exponent < 0:
                    raise ValueError("jaxdl.aten.pow: integers to negative integer powers are not allowed "
                                     "(as in torch); make the base float")
                if self.dtype == jnp.bool_:
                    self = self.astype(result_type(self, exponent))
            return lax.integer_pow(self, exponent) if exponent >= 0 else 1 / lax.integer_pow(self, -exponent)
    a, b = promote(self, exponent)
    return jnp.power(a, b)


@aten_op("float_power")
def float_power(self, exponent):
    """torch: torch.float_power (float64 in torch; float32 here without x64)"""
    dtype = jax.dtypes.canonicalize_dtype(jnp.float64)
    return jnp.power(to_array(self, dtype), to_array(exponent, dtype))


@aten_op("lerp")
def lerp(self, end, weight):
    """torch: torch.lerp (torch's two-sided formula, exact at weight 0 and 1)"""
    a, b, w = promote(self, end, weight)
    return jnp.where(jnp.abs(w) < 0.5, a + w * (b - a), b - (b - a) * (1 - w))


@aten_op("addcmul")
def addcmul(self, tensor1, tensor2, value=1):
    """torch: torch.addcmul = self + value * tensor1 * tensor2"""
    a, t1, t2 = promote(self, tensor1, tensor2)
    return a + to_array(value, a.dtype) * t1 * t2


@aten_op("addcdiv")
def addcdiv(self, tensor1, tensor2, value=1):
    """torch: torch.addcdiv = self + value * tensor1 / tensor2"""
    a, t1, t2 = promote(self, tensor1, tensor2)
    return a + to_array(value, a.dtype) * (t1 / t2)


def _binary_float(name, fn):
    def op(self, other):
        a, b = promote(self, other, float_result=True)
        return fn(a, b)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch: torch.{name}"
    return aten_op(name)(op)


_binary_float("atan2", jnp.arctan2)
_binary_float("arctan2", jnp.arctan2)
_binary_float("hypot", jnp.hypot)
_binary_float("logaddexp", jnp.logaddexp)
_binary_float("logaddexp2", jnp.logaddexp2)
_binary_float("copysign", jnp.copysign)


@jax.custom_jvp
def _xlogy(x, y):
    return jnp.where(jnp.isnan(y), jnp.nan, jnp.where(x == 0, 0, x * jnp.log(jnp.where(x == 0, 1, y))))


@_xlogy.defjvp
def _xlogy_jvp(primals, tangents):
    x, y = primals
    tx, ty = tangents
    # torch: d/dx = xlogy(x != 0, y), d/dy = x / y
    return _xlogy(x, y), _xlogy((x != 0).astype(x.dtype), y) * tx + x / y * ty


@aten_op("xlogy")
def xlogy(self, other):
    """torch: torch.xlogy = x * log(y), 0 where x == 0 (NaN where y is NaN)"""
    x, y = promote(self, other, float_result=True)
    return _xlogy(x, y)


@aten_op("logit")
def logit(self, eps=None):
    """torch: torch.logit(x, eps=None): x clamped to [eps, 1 - eps] first when given"""
    x = _float(self)
    if eps is not None:
        x = jnp.clip(x, eps, 1 - eps)
    return jnp.log(x / (1 - x))


@aten_op("nan_to_num")
def nan_to_num(self, nan=None, posinf=None, neginf=None):
    """torch: torch.nan_to_num (defaults: 0, the dtype's largest and smallest values)"""
    x = to_array(self)
    if is_int(x.dtype):
        return x
    return jnp.nan_to_num(x, nan=0.0 if nan is None else nan, posinf=posinf, neginf=neginf)


@aten_op("heaviside")
def heaviside(self, values):
    """torch: torch.heaviside"""
    a, v = promote(self, values)
    return jnp.where(a == 0, v, (a > 0).astype(a.dtype))


# ---- min / max / clamp

def _tie_half(better):
    """max/min of two arrays whose gradient is torch's: all to the chosen one, half to
    each at a tie, and to both where a NaN makes neither compare."""

    @jax.custom_jvp
    def pick(a, b):
        return jnp.maximum(a, b) if better is jnp.greater else jnp.minimum(a, b)

    @pick.defjvp
    def pick_jvp(primals, tangents):
        a, b = primals
        ta, tb = tangents
        half = jnp.asarray(0.5, a.dtype)
        wa = jnp.where(a == b, half, jnp.where(better(b, a), 0, 1).astype(a.dtype))
        wb = jnp.where(a == b, half, jnp.where(better(a, b), 0, 1).astype(a.dtype))
        return pick(a, b), wa * ta + wb * tb

    return pick


_maximum, _minimum = _tie_half(jnp.greater), _tie_half(jnp.less)


def elementwise_max(a, b):
    """torch.maximum on promoted arrays (bool: logical or)."""
    if a.dtype == jnp.bool_:
        return a | b
    return _maximum(a, b) if is_float(a.dtype) else jnp.maximum(a, b)


def elementwise_min(a, b):
    if a.dtype == jnp.bool_:
        return a & b
    return _minimum(a, b) if is_float(a.dtype) else jnp.minimum(a, b)


@aten_op("maximum")
def maximum(self, other):
    """torch: torch.maximum (NaN propagates; torch's gradient: half to each at a tie)"""
    return elementwise_max(*promote(self, other))


@aten_op("minimum")
def minimum(self, other):
    """torch: torch.minimum"""
    return elementwise_min(*promote(self, other))


@aten_op("fmax")
def fmax(self, other):
    """torch: torch.fmax (NaN ignored where the other is a number)"""
    a, b = promote(self, other)
    return jnp.fmax(a, b)


@aten_op("fmin")
def fmin(self, other):
    """torch: torch.fmin"""
    a, b = promote(self, other)
    return jnp.fmin(a, b)


@aten_op("clamp")
@aten_op("clip")
def clamp(self, min=None, max=None):
    """torch: torch.clamp(x, min, max): type promotion with the bounds; where min > max
    every value is max; NaN stays NaN; torch's gradients (to x where min <= x <= max, to
    a tensor bound where it is the result)."""
    if min is None and max is None:
        raise ValueError("jaxdl.aten.clamp: at least one of min and max must be given (as in torch)")
    operands = [x for x in (self, min, max) if x is not None]
    dtype = result_type(*operands)
    x = to_array(self, dtype)
    lo = None if min is None else to_array(min, dtype)
    hi = None if max is None else to_array(max, dtype)
    # the value: min(max(x, lo), hi), NaN kept; the gradient: torch's masks
    value = x
    if lo is not None:
        value = jnp.where(value < lo, lo, value)
    if hi is not None:
        value = jnp.where(value > hi, hi, value)
    out = lax.stop_gradient(value)
    lo_wins = None if lo is None else (x < lo if hi is None else (x < lo) & (lo < hi))
    hi_wins = None if hi is None else (x > hi if lo is None else (x > hi) | (hi < lo))
    if hi_wins is not None:
        out = jnp.where(hi_wins, hi, out)
    if lo_wins is not None:
        out = jnp.where(lo_wins, lo, out)
    inside = (x >= lo if lo is not None else True) & (x <= hi if hi is not None else True)
    out = jnp.where(inside, x, out)
    if is_float(dtype):
        out = jnp.where(jnp.isnan(x), lax.stop_gradient(x), out)
    return out


@aten_op("clamp_min")
def clamp_min(self, min):
    """torch: torch.clamp_min / torch.clamp(x, min=...)"""
    return clamp(self, min=min)


@aten_op("clamp_max")
def clamp_max(self, max):
    """torch: torch.clamp_max / torch.clamp(x, max=...)"""
    return clamp(self, max=max)


# ---- comparisons

def _compare(name, fn, torch_name):
    def op(self, other):
        a, b = promote(self, other)
        return fn(a, b)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch: {torch_name}"
    return aten_op(name)(op)


for _name, _fn, _torch in (("eq", jnp.equal, "torch.eq / =="), ("ne", jnp.not_equal, "torch.ne / !="),
                           ("lt", jnp.less, "torch.lt / <"), ("le", jnp.less_equal, "torch.le / <="),
                           ("gt", jnp.greater, "torch.gt / >"), ("ge", jnp.greater_equal, "torch.ge / >="),
                           ("not_equal", jnp.not_equal, "torch.not_equal"),
                           ("greater", jnp.greater, "torch.greater"), ("less", jnp.less, "torch.less"),
                           ("greater_equal", jnp.greater_equal, "torch.greater_equal"),
                           ("less_equal", jnp.less_equal, "torch.less_equal")):
    _compare(_name, _fn, _torch)


# ---- logic and bits

def _logical(name, fn):
    def op(self, other):
        return fn(to_array(self) != 0, to_array(other) != 0)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"torch: torch.{name} (bool result)"
    return aten_op(name)(op)


_logical("logical_and", jnp.logical_and)
_logical("logical_or", jnp.logical_or)
_logical("logical_xor", jnp.logical_xor)


@aten_op("logical_not")
def logical_not(self):
    """torch: torch.logical_not (bool result)"""
    return to_array(self) == 0


def _bitwise(names, fn, torch_name):
    def op(self, other):
        a, b = promote(self, other)
        if is_float(a.dtype):
            raise TypeError(f"jaxdl.aten.{names[0]}: bitwise ops need integer or bool tensors, got {a.dtype} "
                            "(as in torch)")
        return fn(a, b)

    op.__name__ = op.__qualname__ = names[0]
    op.__doc__ = f"torch: {torch_name}"
    for name in names:
        aten_op(name)(op)


_bitwise(("bitwise_and", "__and__"), jnp.bitwise_and, "torch.bitwise_and / &")
_bitwise(("bitwise_or", "__or__"), jnp.bitwise_or, "torch.bitwise_or / |")
_bitwise(("bitwise_xor", "__xor__"), jnp.bitwise_xor, "torch.bitwise_xor / ^")
_bitwise(("bitwise_left_shift", "__lshift__"), jnp.left_shift, "torch.bitwise_left_shift / <<")
_bitwise(("bitwise_right_shift", "__rshift__"), jnp.right_shift, "torch.bitwise_right_shift / >>")


@aten_op("bitwise_not")
def bitwise_not(self):
    """torch: torch.bitwise_not / ``~x`` (logical not on bool)"""
    x = to_array(self)
    if is_float(x.dtype):
        raise TypeError(f"jaxdl.aten.bitwise_not: needs an integer or bool tensor, got {x.dtype} (as in torch)")
    return jnp.invert(x)


@aten_op("where")
def where(condition, self, other):
    """torch: torch.where(condition, x, y), broadcasting all three, with type promotion
    of x and y (the one-argument form is data-dependent: nonzero)."""
    a, b = promote(self, other)
    return jnp.where(to_array(condition).astype(bool), a, b)


# ---- dtype conversion and copies

@aten_op("to")
def to(self, dtype=None, non_blocking=False, copy=False, memory_format=None, device=None, other=None):
    """torch: Tensor.to(dtype) / Tensor.to(other) (devices are JAX's business: ignored)."""
    if other is not None:
        dtype = other.dtype
    x = to_array(self)
    return x if dtype is None else x.astype(as_dtype(dtype))


@aten_op("_to_copy")
def _to_copy(self, dtype=None, layout=None, device=None, pin_memory=None, non_blocking=False, memory_format=None):
    """torch: Tensor.to(dtype) after decomposition (layout, device, pinning ignored)"""
    return to(self, dtype)


@aten_op("type_as")
def type_as(self, other):
    """torch: Tensor.type_as"""
    return to_array(self).astype(other.dtype)


@aten_op("copy")
def copy(self, src, non_blocking=False):
    """torch: Tensor.copy_ as a function: ``src`` broadcast to ``self``'s shape, in
    ``self``'s dtype."""
    self = to_array(self)
    return jnp.broadcast_to(to_array(src).astype(self.dtype), self.shape)


@aten_op("fill")
def fill(self, value):
    """torch: Tensor.fill_ as a function: ``self``'s shape and dtype, every value ``value``."""
    self = to_array(self)
    return jnp.full(self.shape, value, self.dtype)


@aten_op("zero")
def zero(self):
    """torch: Tensor.zero_ as a function"""
    return jnp.zeros_like(to_array(self))


@aten_op("detach")
def detach(self):
    """torch: Tensor.detach: no gradient flows through (jax.lax.stop_gradient)"""
    return lax.stop_gradient(to_array(self))

