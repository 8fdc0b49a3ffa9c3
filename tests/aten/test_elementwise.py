"""jaxdl.aten elementwise ops against torch: values, dtypes (promotion, integer division,
rounding) and gradients."""

import pytest
import torch

from tests.aten.runner import Case, T, check

F16 = torch.float16
I64, I32, U8, BOOL = torch.int64, torch.int32, torch.uint8, torch.bool


def unary(op, low=-2.0, high=2.0, grad=True, overload="default", id="", **kw):
    return Case(op, overload, lambda g: ((T(g, 3, 4, low=low, high=high),), kw), grad=grad, id=id)


def binary(op, overload="Tensor", a=(3, 4), b=(4,), low=-2.0, high=2.0, dtype_a=torch.float32, dtype_b=None,
           grad=True, id="", **kw):
    dtype_b = dtype_b or dtype_a

    def make(g):
        x = T(g, *a, dtype=dtype_a, low=low, high=high)
        y = T(g, *b, dtype=dtype_b, low=low, high=high) if isinstance(b, tuple) else b
        return (x, y), kw

    return Case(op, overload, make, grad=grad, id=id)


def fixed(op, overload, *args, grad=True, id="", **kw):
    return Case(op, overload, lambda g: (tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args), kw),
                grad=grad, id=id)


POSITIVE = {"low": 0.1, "high": 3.0}
UNIT = {"low": -0.9, "high": 0.9}
TIES = torch.tensor([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49999997, -0.0, 3.7, -3.7])
SPECIAL = torch.tensor([0.0, -0.0, 1.0, -1.0, float("inf"), float("-inf"), float("nan"), 2.5])
INTS = torch.tensor([-7, -6, -1, 0, 1, 5, 7, 9])
NONZERO_INTS = torch.tensor([3, -3, 2, -2, 5, -5, 1, -1])

CASES = [
    *(unary(op) for op in ("exp", "exp2", "expm1", "sin", "cos", "tan", "atan", "sinh", "cosh", "asinh", "erf",
                           "erfc", "sinc", "deg2rad", "rad2deg", "arctan", "arcsinh", "special_expm1",
                           "special_exp2")),
    *(unary(op, **POSITIVE) for op in ("log", "log2", "log10", "log1p", "sqrt", "rsqrt", "reciprocal", "lgamma",
                                       "digamma", "i0")),
    *(unary(op, **UNIT) for op in ("asin", "acos", "atanh", "erfinv", "arcsin", "arccos", "arctanh",
                                   "special_erfinv")),
    unary("acosh", 1.1, 3.0), unary("arccosh", 1.1, 3.0),
    Case("sin", make=lambda g: ((T(g, 5, dtype=I64, low=-3, high=3),), {}), id="int"),
    Case("exp", make=lambda g: ((T(g, 5, dtype=torch.int8, low=-3, high=3),), {}), id="int8"),
    *(unary(op, grad=False) for op in ("floor", "ceil", "trunc", "fix")),
    unary("frac"),
    fixed("floor", "default", INTS, id="int"),
    fixed("round", "default", TIES, grad=False, id="ties"),
    fixed("round", "decimals", TIES * 1.01, decimals=1, grad=False),
    fixed("round", "decimals", TIES * 37, decimals=-1, grad=False, id="negative"),
    fixed("round", "default", INTS, id="int"),
    unary("abs"), unary("absolute"), unary("neg"), unary("negative"), unary("positive"), unary("square"),
    fixed("abs", "default", torch.tensor([0.0, -1.0, 2.0]), id="zero"),
    fixed("square", "default", torch.tensor([True, False]), id="bool"),
    unary("sign", grad=False), unary("sgn", grad=False), fixed("signbit", "default", SPECIAL),
    fixed("sign", "default", SPECIAL, grad=False, id="special"),
    *(fixed(op, "default", SPECIAL) for op in ("isnan", "isinf", "isfinite", "isposinf", "isneginf")),
    fixed("isnan", "default", INTS, id="int"),
    # ---- arithmetic and promotion
    binary("add", alpha=2.5), binary("add", "Scalar", b=1.5, id="scalar"),
    binary("add", dtype_a=I64, b=2.5, overload="Scalar", id="int+float_scalar"),
    binary("add", dtype_a=I64, b=3, overload="Scalar", id="int+int_scalar"),
    binary("add", dtype_a=BOOL, id="bool"), binary("add", dtype_a=U8, dtype_b=torch.int8, id="u8+i8", low=0,
                                                    high=100),
    binary("add", dtype_a=BOOL, b=1, overload="Scalar", id="bool+int"),
    Case("add", "Tensor", lambda g: ((T(g, 3, dtype=F16), torch.tensor(0.25)), {}), id="f16+0d_f32"),
    Case("add", "Tensor", lambda g: ((T(g, 3, dtype=I32, low=-5, high=5), torch.tensor(2.5)), {}),
         id="int+0d_float"),
    Case("add", "Tensor", lambda g: ((T(g, 3, dtype=I32, low=-5, high=5), T(g, 3, dtype=I64, low=-5, high=5)), {}),
         id="i32+i64"),
    binary("sub", alpha=0.5), binary("sub", "Scalar", b=2), binary("subtract", b=(3, 4)),
    binary("rsub", alpha=2), binary("rsub", "Scalar", b=1.0, id="one_minus"),
    binary("mul"), binary("mul", "Scalar", b=3), binary("multiply"), binary("mul", dtype_a=BOOL, id="bool"),
    binary("div"), binary("divide"), binary("true_divide"), binary("div", "Scalar", b=4),
    binary("div", dtype_a=I64, b=(4,), low=1, high=9, id="int_true"),
    fixed("div", "Tensor_mode", INTS, NONZERO_INTS, rounding_mode="trunc", id="int_trunc"),
    fixed("div", "Tensor_mode", INTS, NONZERO_INTS, rounding_mode="floor", id="int_floor"),
    fixed("div", "Tensor_mode", INTS.float() * 1.3, NONZERO_INTS.float() * 0.7, rounding_mode="floor",
          grad=False, id="float_floor"),
    fixed("div", "Scalar_mode", INTS.float() * 1.3, -0.7, rounding_mode="trunc", grad=False, id="float_trunc"),
    fixed("floor_divide", "default", INTS, NONZERO_INTS), fixed("floor_divide", "Scalar", INTS, -3),
    fixed("floor_divide", "default", INTS.float() * 1.7, NONZERO_INTS.float() * 0.6, grad=False, id="float"),
    fixed("remainder", "Tensor", INTS, NONZERO_INTS), fixed("remainder", "Scalar", INTS, -3, id="int"),
    fixed("remainder", "Tensor", INTS.float() * 1.7, NONZERO_INTS.float() * 0.6, id="float"),
    fixed("remainder", "Scalar_Tensor", 5, NONZERO_INTS, id="scalar_self"),
    fixed("fmod", "Tensor", INTS, NONZERO_INTS), fixed("fmod", "Scalar", INTS.float() * 1.7, -1.5, id="float"),
    binary("pow", "Tensor_Scalar", b=3, id="cube"), binary("pow", "Tensor_Scalar", b=2.0, id="square_float"),
    binary("pow", "Tensor_Scalar", b=-2, id="negative_int"),
    binary("pow", "Tensor_Scalar", b=0.5, low=0.1, high=3, id="sqrt"),
    binary("pow", "Tensor_Tensor", low=0.5, high=2), binary("pow", "Tensor_Scalar", dtype_a=I64, b=3, low=-4,
                                                            high=4, id="int"),
    binary("pow", "Tensor_Scalar", dtype_a=I64, b=0.5, low=0, high=9, id="int_float_exponent"),
    fixed("pow", "Scalar", 2, torch.tensor([0.5, 1.5, -1.0])),
    fixed("pow", "Tensor_Tensor", torch.tensor([2, 3, -2]), torch.tensor([3, 2, 3]), id="int"),
    binary("float_power", "Tensor_Scalar", b=2, low=0.5, high=2, grad=False),
    binary("lerp", "Scalar", b=(4,), weight=0.3), binary("lerp", "Scalar", weight=0.8, id="high"),
    Case("lerp", "Tensor", lambda g: ((T(g, 3, 4), T(g, 4), T(g, 3, 4, low=0, high=1)), {})),
    Case("addcmul", make=lambda g: ((T(g, 3, 4), T(g, 4), T(g, 3, 1)), {"value": 0.5})),
    Case("addcdiv", make=lambda g: ((T(g, 3, 4), T(g, 4), T(g, 3, 1, low=0.5, high=2)), {"value": 2})),
    binary("atan2", "default"), binary("arctan2", "default"), binary("hypot", "default"),
    binary("logaddexp", "default"), binary("logaddexp2", "default"),
    binary("copysign", "Tensor", grad=False),
    fixed("xlogy", "Tensor", torch.tensor([0.0, 1.0, 2.0, 0.0]), torch.tensor([0.0, 3.0, 0.5, float("nan")])),
    fixed("logit", "default", torch.tensor([0.0, 0.3, 0.7, 1.0]), eps=0.01),
    unary("logit", 0.1, 0.9, id="plain"),
    fixed("nan_to_num", "default", SPECIAL, grad=False),
    fixed("nan_to_num", "default", SPECIAL, nan=1.0, posinf=5.0, neginf=-5.0, grad=False, id="values"),
    fixed("heaviside", "default", torch.tensor([-1.0, 0.0, 2.0]), torch.tensor([0.5, 0.5, 0.5]), grad=False),
    # ---- min / max / clamp
    binary("maximum", "default"), binary("minimum", "default"),
    fixed("maximum", "default", torch.tensor([1.0, 2.0, float("nan")]), torch.tensor([1.0, 3.0, 0.0]), id="tie_nan"),
    fixed("fmax", "default", torch.tensor([1.0, float("nan"), 0.0]), torch.tensor([2.0, 1.0, float("nan")])),
    fixed("fmin", "default", torch.tensor([1.0, float("nan"), 0.0]), torch.tensor([2.0, 1.0, float("nan")])),
    unary("clamp", min=-0.5, max=0.7), unary("clip", min=-0.5), unary("clamp", max=0.3, id="max"),
    Case("clamp", "Tensor", lambda g: ((T(g, 3, 4), T(g, 4, low=-1, high=0), T(g, 3, 1, low=0, high=1)), {})),
    fixed("clamp", "default", torch.tensor([1, 5, 9]), 2.5, 6, grad=False, id="int_float_bound"),
    fixed("clamp", "default", torch.tensor([-1.0, 0.5, 2.0, float("nan")]), 1.0, 0.0, id="min_above_max"),
    fixed("clamp", "default", torch.tensor([-1.0, 0.0, 0.5, 1.0, 2.0]), 0.0, 1.0, id="at_bounds"),
    Case("clamp", "Tensor", lambda g: ((T(g, 6), torch.tensor([0.5, -3, 0.5, 9, 1, 1]), torch.tensor(
        [0.0, 3, 1.5, 9.5, 1, -1])), {}), id="tensor_bounds_crossed"),
    unary("clamp_min", min=0.1), unary("clamp_max", max=0.1),
    # ---- comparisons, logic, bits
    *(binary(op, grad=False) for op in ("eq", "ne", "lt", "le", "gt", "ge", "not_equal", "greater", "less",
                                         "greater_equal", "less_equal")),
    binary("lt", "Scalar", b=0.5, grad=False, id="scalar"), binary("eq", "Scalar", dtype_a=I64, b=1, low=0, high=3,
                                                                   grad=False, id="int"),
    binary("eq", dtype_a=I64, dtype_b=torch.float32, low=0, high=3, grad=False, id="int_vs_float"),
    *(binary(op, "default", dtype_a=BOOL, grad=False) for op in ("logical_and", "logical_or", "logical_xor")),
    binary("logical_and", "default", grad=False, id="float"),
    unary("logical_not", grad=False),
    *(binary(op, "Tensor", dtype_a=I64, low=-8, high=8, grad=False) for op in
      ("bitwise_and", "bitwise_or", "bitwise_xor", "__and__", "__or__", "__xor__")),
    *(binary(op, "Tensor", dtype_a=BOOL, grad=False, id="bool") for op in ("__and__", "__or__", "bitwise_xor")),
    *(binary(op, "Tensor", dtype_a=I64, low=0, high=5, grad=False) for op in
      ("bitwise_left_shift", "bitwise_right_shift", "__lshift__", "__rshift__")),
    fixed("bitwise_not", "default", INTS), fixed("bitwise_not", "default", torch.tensor([True, False]), id="bool"),
    Case("where", "self", lambda g: ((T(g, 3, 1, dtype=BOOL), T(g, 3, 4), T(g, 4)), {})),
    Case("where", "ScalarOther", lambda g: ((T(g, 3, 4, dtype=BOOL), T(g, 3, 4), 0.5), {})),
    Case("where", "ScalarSelf", lambda g: ((T(g, 3, 4, dtype=BOOL), 2, T(g, 4, dtype=I64, low=0, high=5)), {})),
    Case("where", "Scalar", lambda g: ((T(g, 3, 4, dtype=BOOL), 1.0, 0.0), {})),
    Case("where", "self", lambda g: ((T(g, 4, dtype=BOOL), T(g, 4, dtype=F16), T(g, 4)), {}), id="f16_f32"),
    # ---- conversion and copies
    unary("to", overload="dtype", dtype=torch.float16), unary("to", overload="dtype", dtype=torch.int64, grad=False,
                                                              id="int"),
    Case("to", "other", lambda g: ((T(g, 3), T(g, 2, dtype=I32)), {}), grad=False),
    unary("_to_copy", dtype=torch.float16, grad=False),
    Case("type_as", make=lambda g: ((T(g, 3, dtype=I64, low=0, high=4), T(g, 2)), {})),
    Case("copy", make=lambda g: ((T(g, 3, 4), T(g, 4, dtype=I64, low=0, high=3)), {}), grad=False),
    Case("copy", make=lambda g: ((T(g, 3, 4), T(g, 4)), {}), grad=False, id="float"),
    unary("fill", overload="Scalar", value=2.5), Case("fill", "Tensor", lambda g: ((T(g, 3), torch.tensor(1.5)), {})),
    unary("zero"), unary("detach"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)


def test_detach_blocks_gradient():
    import jax

    from jaxdl import aten
    assert jax.grad(lambda x: aten.detach(x) * x)(2.0) == 2.0


def test_bad_input_messages():
    import jax.numpy as jnp

    from jaxdl import aten
    with pytest.raises(ValueError, match="negative integer powers"):
        aten.pow(jnp.arange(3), -1)
    with pytest.raises(ValueError, match="rounding_mode"):
        aten.div(jnp.ones(2), 2.0, rounding_mode="round")
    with pytest.raises(TypeError, match="bitwise"):
        aten.bitwise_and(jnp.ones(2), jnp.ones(2))
    with pytest.raises(ValueError, match="at least one of min and max"):
        aten.clamp(jnp.ones(2))
