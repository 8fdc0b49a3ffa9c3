"""jaxdl.aten reductions, scans, norms, sorting against torch: dtypes (integer sums),
dims (negative, empty list, keepdim), ties and NaN."""

import functools

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxdl import aten
from tests.aten.runner import Case, T, assert_close, check

I64, BOOL = torch.int64, torch.bool
TIED = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, 2.0], [0.5, float("nan"), 0.5, 9.0]])
TIED_NO_NAN = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, -1.0, 2.0], [0.5, 0.5, 0.5, 9.0]])


def red(op, overload="default", shape=(3, 4, 5), dtype=torch.float32, id="", grad=True, low=-2.0, high=2.0, **kw):
    return Case(op, overload, lambda g: ((T(g, *shape, dtype=dtype, low=low, high=high),), kw), id=id, grad=grad)


def fixed(op, overload, x, id="", grad=True, **kw):
    return Case(op, overload, lambda g: ((x.clone(),), kw), id=id, grad=grad)


def _tie_insensitive(source, want, got):
    """torch leaves the order of tied indices unspecified: values must match, and each
    index must point at its value."""
    assert_close(want[0], got[0], 0, 0, "values")
    picked = source.gather(1, torch.as_tensor(np.asarray(got[1])).long())
    np.testing.assert_array_equal(picked.numpy(), want[0].numpy())


CASES = [
    red("sum"), red("sum", "dim_IntList", dim=[0, -1], id="dims"), red("sum", "dim_IntList", dim=[1], keepdim=True),
    red("sum", "dim_IntList", dim=[], id="empty_dims"), red("sum", dtype=BOOL, id="bool"),
    red("sum", "dim_IntList", dtype=torch.uint8, low=0, high=200, dim=[1], id="uint8"),
    red("sum", dtype=I64, low=-5, high=5, id="int"), red("sum", dtype=torch.float16, id="f16", grad=False),
    red("sum", "dim_IntList", dim=[0], dtype=torch.float64, id="dtype_arg", grad=False),
    red("nansum"), red("prod", "dim_int", dim=1), red("prod", id="all"), red("prod", dtype=I64, low=-3, high=3,
                                                                           id="int"),
    red("mean"), red("mean", "dim", dim=[-1, 0], keepdim=True), red("mean", "dim", dim=[1], dtype=torch.float32,
                                                                     id="dtype"),
    red("nanmean", dim=[1]),
    red("var"), red("var", "dim", dim=[1], unbiased=False), red("var", "correction", dim=[0, 2], correction=0,
                                                                keepdim=True),
    red("var", "correction", id="default_correction"), red("std", "dim", dim=[-1]),
    red("std", "correction", dim=[1], correction=2, id="c2"),
    red("var_mean", "correction", dim=[1]), red("std_mean", "dim", dim=[0], unbiased=True),
    red("amax", dim=[1]), red("amin", dim=[0, 2], keepdim=True), red("amax", id="all"),
    fixed("amax", "default", TIED_NO_NAN, dim=[1], id="ties"),
    red("max"), red("min"), red("max", "dim", dim=1), red("min", "dim", dim=-1, keepdim=True),
    fixed("max", "dim", TIED, dim=1, id="ties_nan"), fixed("min", "dim", TIED, dim=0, id="ties_nan"),
    fixed("max", "default", TIED, id="nan"),
    Case("max", "other", lambda g: ((T(g, 3, 4), T(g, 4)), {})),
    Case("min", "other", lambda g: ((T(g, 3, 4), T(g, 4)), {})),
    red("argmax", grad=False), red("argmax", dim=1, keepdim=True, grad=False, id="dim"),
    red("argmin", dim=-1, grad=False), fixed("argmax", "default", TIED, dim=1, grad=False, id="ties_nan"),
    fixed("argmin", "default", TIED_NO_NAN, grad=False, id="ties"),
    red("argmax", dim=None, keepdim=True, grad=False, id="all_keepdim"),
    red("aminmax", dim=1), red("aminmax", id="all"),
    red("all", dtype=BOOL), red("all", "dim", dtype=BOOL, dim=1, id="dim"), red("any", "dims", dim=[0, 2],
                                                                                 dtype=BOOL),
    red("any", "dim", dim=0, keepdim=True, id="float"), red("all", dtype=torch.uint8, low=0, high=2, id="uint8"),
    red("count_nonzero", dtype=I64, low=0, high=2, dim=1), red("count_nonzero", "dim_IntList", dim=[0, 1],
                                                               dtype=BOOL),
    red("logsumexp", dim=[1]), red("logsumexp", dim=[0, -1], keepdim=True, id="dims"),
    fixed("logsumexp", "default", torch.tensor([[0.0, float("-inf")], [float("-inf"), float("-inf")]]), dim=[1],
          grad=False, id="neg_inf"),
    red("linalg_vector_norm"), red("linalg_vector_norm", ord=1, dim=[1]), red("linalg_vector_norm", ord=3.5,
                                                                               dim=[-1], keepdim=True, id="p"),
    red("linalg_vector_norm", ord=float("inf"), dim=[0], id="inf"), red("linalg_vector_norm", ord=0, dim=[1],
                                                                        grad=False, id="zero"),
    fixed("linalg_vector_norm", "default", torch.tensor([[0.0, 0.0], [3.0, 4.0]]), dim=[1], id="zero_vector"),
    red("norm", "Scalar"), red("norm", "ScalarOpt_dim", p=2, dim=[1]), red("norm", "ScalarOpt_dim", p=None,
                                                                            dim=[0, 1], id="p_none"),
    red("frobenius_norm", "dim", dim=[0, 1]),
    red("linalg_norm", dim=[1]), red("linalg_norm", "ord_str", ord="fro", dim=[0, 2], id="fro"),
    red("linalg_norm", shape=(3, 4), ord=1, dim=[0, 1], id="matrix1"),
    red("linalg_norm", shape=(3, 4), ord=float("inf"), dim=[0, 1], id="matrix_inf"),
    red("linalg_norm", "ord_str", shape=(3, 4), ord="nuc", dim=[0, 1], id="nuc", grad=False),
    # scans
    red("cumsum", dim=1), red("cumsum", dim=-1, dtype=torch.float64, id="dtype", grad=False),
    red("cumsum", dtype=BOOL, dim=0, id="bool"), red("cumsum", dtype=torch.int32, low=-4, high=4, dim=2,
                                                     id="int32"),
    red("cumprod", dim=1), fixed("cumprod", "default", torch.tensor([2.0, 0.0, 3.0, 0.5]), dim=0, id="zero"),
    red("logcumsumexp", dim=2),
    red("cummax", dim=1), fixed("cummax", "default", TIED, dim=1, grad=False, id="ties_nan"),
    red("cummin", dim=0), fixed("cummin", "default", TIED_NO_NAN, dim=1, id="ties"),
    # sorting
    red("sort", dim=1), red("sort", dim=0, descending=True, id="descending"),
    fixed("sort", "default", TIED, dim=1, grad=False, id="ties_nan"),
    fixed("sort", "stable", TIED, stable=True, dim=1, descending=True, grad=False, id="ties_nan_descending"),
    fixed("sort", "stable", torch.tensor([3, 1, 2, 1, 3]), stable=True, id="int"),
    red("argsort", dim=1, grad=False), fixed("argsort", "stable", TIED, stable=True, dim=1, descending=True,
                                             id="ties_nan"),
    red("msort"),
    red("topk", k=2, dim=1), red("topk", k=3, dim=0, largest=False, id="smallest"),
    Case("topk", "default", lambda g: ((TIED.clone(), 2, 1), {}), grad=False, id="ties_nan",
         compare=functools.partial(_tie_insensitive, TIED)),
    Case("topk", "default", lambda g: ((TIED_NO_NAN.clone(), 3, 1, False), {}), grad=False, id="ties_smallest",
         compare=functools.partial(_tie_insensitive, TIED_NO_NAN)),
    red("kthvalue", k=2, dim=1), red("kthvalue", k=1, dim=0, keepdim=True, id="keepdim"),
    red("median", shape=(3, 5), id="all"), red("median", "dim", shape=(3, 5), dim=1),
    fixed("median", "dim", torch.tensor([[1.0, float("nan"), 2.0], [3.0, 1.0, 2.0]]), dim=1, grad=False, id="nan"),
    fixed("median", "default", torch.tensor([1.0, float("nan"), 2.0]), grad=False, id="nan_all"),
    fixed("nanmedian", "dim", torch.tensor([[1.0, float("nan"), 2.0, 5.0], [3.0, 1.0, 2.0, 0.0]]), dim=1,
          grad=False),
    red("nanmedian", shape=(3, 5), id="all"),
    # distances
    Case("cosine_similarity", make=lambda g: ((T(g, 3, 4, 5), T(g, 1, 4, 5)), {"dim": 1})),
    Case("cosine_similarity", make=lambda g: ((T(g, 3, 4), torch.zeros(3, 4)), {"dim": 1}), id="zero"),
    Case("pairwise_distance", make=lambda g: ((T(g, 3, 4), T(g, 3, 4)), {"p": 3.0})),
    Case("cdist", make=lambda g: ((T(g, 2, 3, 4), T(g, 2, 5, 4)), {})),
    Case("cdist", make=lambda g: ((T(g, 3, 4), T(g, 5, 4)), {"p": 1.0}), id="p1"),
    Case("_cdist_forward", make=lambda g: ((T(g, 3, 4), T(g, 5, 4)), {"p": 2.0, "compute_mode": None})),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)


def test_mean_of_integers_is_refused_as_in_torch():
    with pytest.raises(TypeError, match="floating point"):
        aten.mean(jnp.arange(4))
    with pytest.raises(IndexError, match="dim 3 out of range"):
        aten.sum(jnp.ones((2, 2)), dim=[3])
