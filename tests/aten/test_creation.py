"""jaxdl.aten creation ops against torch: dtypes implied by Python numbers, arange's and
linspace's exact values, tril/triu."""

import numpy as np
import pytest
import torch

from tests.aten.runner import Case, T, check, jax_dtype


def make(op, overload="default", *args, id="", compare=None, **kw):
    return Case(op, overload, lambda g: (args, kw), id=id, compare=compare, grad=False)


def like(op, overload="default", dtype=torch.float32, id="", **kw):
    return Case(op, overload, lambda g: ((T(g, 2, 3, dtype=dtype, low=0, high=5),), kw), id=id)


def _shape_dtype(want, got):
    """``empty``: torch leaves the values uninitialised."""
    assert tuple(got.shape) == tuple(want.shape) and np.asarray(got).dtype == jax_dtype(want.dtype)


CASES = [
    make("arange", "default", 5), make("arange", "default", 4.5, id="float"),
    make("arange", "start", 2, 9), make("arange", "start_step", 0, 1, 0.1, id="tenths"),
    make("arange", "start_step", 10, -3, -3, id="negative_step"),
    make("arange", "start_step", -1.5, 2.25, 0.35, id="float_bounds"),
    make("arange", "default", 5, dtype=torch.float32, id="dtype"),
    make("zeros", "default", [2, 3]), make("zeros", "default", [2], dtype=torch.int64, id="int"),
    make("ones", "default", [3, 1]), make("ones", "default", [2], dtype=torch.bool, id="bool"),
    make("empty", "memory_format", [2, 3], compare=_shape_dtype),
    make("empty_strided", "default", [2, 3], [3, 1], compare=_shape_dtype),
    make("full", "default", [2, 2], 1.5), make("full", "default", [2], 3, id="int"),
    make("full", "default", [2], True, id="bool"), make("full", "default", [2], 2, dtype=torch.float16, id="dtype"),
    make("scalar_tensor", "default", 2.5), make("scalar_tensor", "default", 3, dtype=torch.int32, id="int"),
    like("zeros_like"), like("ones_like", dtype=torch.int64, id="int"), like("full_like", fill_value=7.0),
    like("full_like", dtype=torch.int64, fill_value=2.7, id="int_truncates"),
    Case("empty_like", make=lambda g: ((T(g, 2, 3),), {}), compare=_shape_dtype),
    Case("zeros_like", make=lambda g: ((T(g, 2, 3),), {"dtype": torch.int64}), id="dtype_arg"),
    like("new_zeros", size=[4]), like("new_ones", dtype=torch.int64, size=[2, 2]), like("new_full", size=[3],
                                                                                        fill_value=-1.0),
    Case("new_empty", make=lambda g: ((T(g, 2), [3, 1]), {}), compare=_shape_dtype),
    make("linspace", "default", 0, 1, 5), make("linspace", "default", -3.7, 11.2, 17, id="odd"),
    make("linspace", "default", 5, 5, 1, id="one"), make("linspace", "default", 0, 10, 6, dtype=torch.int64,
                                                         id="int"),
    make("linspace", "default", 1.0, 0.0, 4, id="down"),
    make("logspace", "default", 0, 2, 5), make("logspace", "default", -1, 3, 4, base=2.0, id="base2"),
    make("eye", "default", 3), make("eye", "m", 2, 4), make("eye", "default", 2, dtype=torch.bool, id="bool"),
    Case("tril", make=lambda g: ((T(g, 2, 3, 4),), {})), Case("tril", make=lambda g: ((T(g, 3, 4),), {"diagonal": 1}),
                                                              id="above"),
    Case("triu", make=lambda g: ((T(g, 3, 4),), {"diagonal": -1})), Case("triu", make=lambda g: ((T(
        g, 2, 4, 3),), {"diagonal": 2}), id="above"),
    make("tril_indices", "default", 3, 4), make("tril_indices", "default", 4, 3, -1, id="offset"),
    make("triu_indices", "default", 3, 4, 1),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)
