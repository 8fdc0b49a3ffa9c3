"""jaxdl.aten pools against torch: padding, dilation, ceil_mode, count_include_pad,
divisor_override, indices (also on ties), adaptive windows that do not divide evenly."""

import jax
import jax.numpy as jnp
import pytest
import torch

from jaxdl import aten
from tests.aten.runner import Case, T, check


def pool(op, shape, id="", ties=False, grad=True, **kw):
    def make(g):
        x = T(g, *shape)
        if ties:  # few distinct values: many tied maxima
            x = torch.round(x)
        return (x,), kw

    return Case(op, "default", make, id=id, grad=grad)


CASES = [
    pool("max_pool1d", (2, 3, 11), kernel_size=[3], stride=[2], padding=[1], dilation=[2], ceil_mode=True),
    pool("max_pool1d", (2, 3, 10), kernel_size=[4], id="default_stride"),
    pool("max_pool2d", (2, 3, 9, 8), kernel_size=[3, 2], stride=[2, 2], padding=[1, 1], ceil_mode=True),
    pool("max_pool2d", (2, 3, 9, 8), kernel_size=[3, 3], stride=[2, 1], dilation=[2, 1], id="dilated"),
    pool("max_pool2d", (2, 3, 6, 6), kernel_size=[2, 2], ties=True, id="ties"),
    pool("max_pool2d", (3, 7, 7), kernel_size=[3, 3], stride=[2, 2], id="unbatched"),
    pool("max_pool3d", (1, 2, 5, 6, 5), kernel_size=[2, 3, 2], stride=[2, 2, 1], padding=[1, 1, 0], ceil_mode=True),
    pool("max_pool1d_with_indices", (2, 3, 11), kernel_size=[3], stride=[2], padding=[1]),
    pool("max_pool2d_with_indices", (2, 3, 9, 8), kernel_size=[3, 2], stride=[2, 2], padding=[1, 1],
         ceil_mode=True),
    pool("max_pool2d_with_indices", (2, 2, 6, 6), kernel_size=[3, 3], stride=[1, 1], ties=True, id="ties"),
    pool("max_pool3d_with_indices", (1, 2, 4, 5, 5), kernel_size=[2, 2, 2], dilation=[1, 2, 1]),
    pool("avg_pool1d", (2, 3, 11), kernel_size=[3], stride=[2], padding=[1], ceil_mode=True,
         count_include_pad=False),
    pool("avg_pool1d", (2, 3, 11), kernel_size=[4], padding=[2], id="include_pad"),
    pool("avg_pool2d", (2, 3, 9, 8), kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=True),
    pool("avg_pool2d", (2, 3, 9, 8), kernel_size=[3, 3], stride=[2, 2], padding=[1, 1], ceil_mode=True,
         count_include_pad=False, id="exclude_pad"),
    pool("avg_pool2d", (2, 3, 9, 8), kernel_size=[2, 3], stride=[2, 3], divisor_override=4, id="divisor"),
    pool("avg_pool2d", (2, 3, 6, 6), kernel_size=[3, 3], id="default_stride"),
    pool("avg_pool3d", (1, 2, 5, 6, 5), kernel_size=[2, 3, 2], stride=[2, 2, 1], padding=[1, 1, 0],
         count_include_pad=False),
    pool("adaptive_avg_pool1d", (2, 3, 10), output_size=[4]),
    pool("adaptive_avg_pool2d", (2, 3, 7, 9), output_size=[3, 4]), pool("adaptive_avg_pool2d", (2, 3, 8, 8),
                                                                        output_size=[1, 1], id="global"),
    pool("adaptive_avg_pool3d", (1, 2, 5, 6, 7), output_size=[2, 4, 3]),
    pool("_adaptive_avg_pool2d", (2, 3, 7, 9), output_size=[5, 2]),
    pool("_adaptive_avg_pool3d", (1, 2, 5, 6, 7), output_size=[3, 3, 3]),
    pool("adaptive_max_pool1d", (2, 3, 10), output_size=[4]),
    pool("adaptive_max_pool2d", (2, 3, 7, 9), output_size=[3, 4]),
    pool("adaptive_max_pool2d", (2, 2, 7, 7), output_size=[3, 3], ties=True, id="ties"),
    pool("adaptive_max_pool3d", (1, 2, 5, 6, 7), output_size=[2, 4, 3]),
    Case("max_unpool2d", make=lambda g: (torch.nn.functional.max_pool2d(T(g, 2, 3, 6, 6), 2, return_indices=True)
                                         + ([6, 6],), {}), grad=False),
    Case("max_unpool3d", make=lambda g: (torch.nn.functional.max_pool3d(T(g, 1, 2, 4, 4, 4), 2, return_indices=True)
                                         + ([4, 4, 4], [2, 2, 2], [0, 0, 0]), {}), grad=False),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)


@pytest.mark.parametrize("op", ["max_pool2d", "max_pool2d_with_indices", "avg_pool2d"])
def test_gradient_under_jit(op):
    """reduce_window pools differentiate under jax.jit (a traced init value once broke it)."""
    def loss(x):
        out = aten.get(op)(x, [2, 2])
        return (out[0] if isinstance(out, tuple) else out).sum()

    jax.jit(jax.grad(loss))(jnp.ones((1, 2, 4, 4)))


def test_bad_padding_is_refused_as_in_torch():
    with pytest.raises(ValueError, match="at most half"):
        aten.max_pool2d(jnp.ones((1, 1, 4, 4)), [2, 2], padding=[2, 2])
