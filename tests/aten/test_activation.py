"""jaxdl.aten activations against torch, values and gradients, including at the kinks."""

import dataclasses

import jax
import jax.numpy as jnp
import pytest
import torch

from jaxdl import aten
from tests.aten.runner import Case, T, assert_close, check

KINKS = torch.tensor([-4.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 6.0, 7.0, 25.0])


def act(op, overload="default", id="", **kw):
    return Case(op, overload, lambda g: ((T(g, 2, 3, 4, low=-4, high=4),), kw), id=id)


def at_kinks(op, overload="default", **kw):
    return Case(op, overload, lambda g: ((KINKS.clone(),), kw), id="kinks")


def _first_output(want, got):
    assert_close(want[0], got[0], 1e-5, 1e-6, "log_sigmoid_forward output")


CASES = [
    *(act(op) for op in ("relu", "sigmoid", "special_expit", "tanh", "relu6", "selu", "silu", "mish", "hardswish",
                         "hardsigmoid", "log_sigmoid")),
    *(at_kinks(op) for op in ("relu", "relu6", "hardswish", "hardsigmoid", "selu", "mish")),
    act("hardtanh", min_val=-0.5, max_val=2.0), at_kinks("hardtanh", min_val=-1.0, max_val=1.0),
    act("leaky_relu", negative_slope=0.2), at_kinks("leaky_relu", negative_slope=0.2),
    act("elu", alpha=0.7, scale=1.3, input_scale=0.8), at_kinks("elu"),
    act("celu", alpha=1.5), act("gelu"), act("gelu", approximate="tanh", id="tanh"),
    act("softplus", beta=2.0, threshold=3.0), at_kinks("softplus", beta=1.0, threshold=20.0),
    act("threshold", threshold=0.1, value=-1.0), at_kinks("threshold", threshold=0.5, value=2.0),
    act("hardshrink", lambd=0.3), act("softshrink", lambd=0.3),
    Case("log_sigmoid_forward", make=lambda g: ((T(g, 3, 4),), {}), compare=_first_output, grad=False),
    Case("prelu", make=lambda g: ((T(g, 2, 3, 4), torch.tensor([0.25])), {}), id="one"),
    Case("prelu", make=lambda g: ((T(g, 2, 3, 4), T(g, 3, low=0, high=1)), {}), id="channels"),
    Case("_prelu_kernel", make=lambda g: ((T(g, 2, 3, 4, 4), T(g, 3, low=0, high=1).view(3, 1, 1)), {})),
    act("rrelu", lower=0.1, upper=0.3, training=False),
    act("glu", dim=0), act("glu", id="last"),
    act("softmax", "int", dim=1),
    dataclasses.replace(act("softmax", "int", dim=-1, dtype=torch.float16, id="f16"), rtol=1e-3),
    act("special_softmax", dim=2), act("log_softmax", "int", dim=0), act("special_log_softmax", dim=1),
    act("_softmax", dim=1, half_to_float=False), act("_log_softmax", dim=-1, half_to_float=False),
    Case("softmax", "int", lambda g: ((torch.tensor([0.0, float("-inf"), 1.0]),), {"dim": 0}), id="neg_inf"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)


def test_rrelu_training_draws_slopes_in_range():
    x = -jnp.ones(1000)
    y = aten.rrelu(x, 0.1, 0.3, True, rng=jax.random.key(0))
    slopes = -y
    assert float(slopes.min()) >= 0.1 and float(slopes.max()) <= 0.3 and float(slopes.std()) > 0.03
    with pytest.raises(ValueError, match="rng="):
        aten.rrelu(x, training=True)
