"""jaxdl.aten indexing ops against torch: advanced indexing and index_put (duplicates,
boolean masks), gather/scatter family, masks, embedding, one_hot, searchsorted."""

import jax
import numpy as np
import pytest
import torch

from jaxdl import aten
from tests.aten.runner import Case, T, check

I64 = torch.int64


def idx(*values):
    return torch.tensor(values)


def case(op, overload="default", make=None, id="", **kw):
    return Case(op, overload, make, id=id, **kw)


CASES = [
    case("index", "Tensor", lambda g: ((T(g, 4, 5), [idx(3, -1, 0, 3)]), {})),
    case("index", "Tensor", lambda g: ((T(g, 3, 4, 5), [None, idx([0, 2], [1, 1])]), {}), id="skip_dim"),
    case("index", "Tensor", lambda g: ((T(g, 3, 4, 5), [idx(0, 2), idx(1, 3)]), {}), id="adjacent"),
    case("index", "Tensor", lambda g: ((T(g, 3, 4, 5), [idx(0, 2), None, idx([1], [4])]), {}), id="split"),
    case("index", "Tensor", lambda g: ((T(g, 3, 4), [idx(True, False, True)]), {}), id="bool_concrete", jit=False),
    case("_unsafe_index", "Tensor", lambda g: ((T(g, 4, 5), [None, idx(1, 1, 4)]), {})),
    case("index_put", "default", lambda g: ((T(g, 4, 5), [idx(0, 2)], T(g, 2, 5)), {})),
    case("index_put", "default", lambda g: ((T(g, 4, 5), [idx(0, 2, 0), idx(1, 1, 1)], T(g, 3)),
                                            {"accumulate": True}), id="accumulate_duplicates"),
    case("index_put", "default", lambda g: ((T(g, 4, 5), [None, idx(4, 0)], torch.tensor(1.5)), {}), id="scalar"),
    case("index_put", "default", lambda g: ((T(g, 3, 4), [idx(True, False, True)], T(g, 4)), {}), id="bool",
         jit=False),
    case("_unsafe_index_put", "default", lambda g: ((T(g, 4, 5), [idx(1, 3)], T(g, 5)), {"accumulate": True})),
    case("_index_put_impl", "default", lambda g: ((T(g, 4, 5), [idx(1, 3)], T(g, 5)), {}), grad=False),
    case("gather", "default", lambda g: ((T(g, 4, 5), 1, T(g, 3, 2, dtype=I64, low=0, high=5)), {})),
    case("gather", "default", lambda g: ((T(g, 4, 5), -2, T(g, 2, 5, dtype=I64, low=0, high=4)), {}), id="dim0"),
    # src larger than index: torch's autograd itself fails on it (2.13), so values only
    case("scatter", "src", lambda g: ((T(g, 3, 5), 1, torch.tensor([[0, 2], [4, 1], [3, 3]])[:, :1], T(g, 3, 2)),
                                      {}), grad=False, id="src_larger"),
    case("scatter", "src", lambda g: ((T(g, 3, 5), 1, torch.tensor([[0, 2], [4, 1], [3, 0]]), T(g, 3, 2)), {})),
    case("scatter", "value", lambda g: ((T(g, 3, 5), 0, torch.tensor([[2, 0, 1]]), 2.5), {})),
    case("scatter", "reduce", lambda g: ((T(g, 3, 5), 1, torch.tensor([[0, 0], [1, 4], [2, 2]]), T(g, 3, 2)),
                                         {"reduce": "add"}), grad=False),
    case("scatter", "value_reduce", lambda g: ((T(g, 3, 5), 1, torch.tensor([[0, 0], [1, 4], [2, 2]]), 3.0),
                                               {"reduce": "multiply"}), grad=False),
    case("scatter_add", "default", lambda g: ((T(g, 3, 5), 1, torch.tensor([[0, 0, 1], [1, 4, 4], [2, 2, 2]]),
                                               T(g, 3, 3)), {})),
    *(case("scatter_reduce", "two", lambda g, r=r, s=s: ((T(g, 3, 5), 1, torch.tensor([[0, 0, 1], [1, 4, 4],
                                                                                       [2, 2, 2]]),
                                                          T(g, 3, 3)), {"reduce": r, "include_self": s}),
           id=f"{r}_{'self' if s else 'noself'}", grad=r in ("sum", "mean"))
      for r in ("sum", "prod", "mean", "amax", "amin") for s in (True, False)),
    case("index_select", "default", lambda g: ((T(g, 4, 5), 1, idx(4, 0, 0)), {})),
    case("index_select", "default", lambda g: ((T(g, 4, 5), 0, torch.tensor(2)), {}), id="0d_index"),
    case("index_add", "default", lambda g: ((T(g, 4, 5), 0, idx(1, 1, 3), T(g, 3, 5)), {"alpha": 2.0})),
    case("index_copy", "default", lambda g: ((T(g, 4, 5), 1, idx(4, 0), T(g, 4, 2)), {})),
    case("index_fill", "int_Scalar", lambda g: ((T(g, 4, 5), 1, idx(4, 0), -1.0), {})),
    case("index_fill", "int_Tensor", lambda g: ((T(g, 4, 5), 0, idx(2), torch.tensor(3.0)), {}), grad=False),
    case("masked_fill", "Scalar", lambda g: ((T(g, 3, 4), T(g, 4, dtype=torch.bool), -1.5), {})),
    case("masked_fill", "Tensor", lambda g: ((T(g, 3, 4), T(g, 3, 1, dtype=torch.bool), torch.tensor(2.0)), {}),
         grad=False),
    case("masked_fill", "Scalar", lambda g: ((T(g, 3, 4, dtype=I64, low=0, high=9),
                                              T(g, 3, 4, dtype=torch.bool), 7), {}), id="int"),
    case("masked_scatter", "default", lambda g: ((T(g, 3, 4), T(g, 3, 4, dtype=torch.bool), T(g, 12)), {})),
    case("take_along_dim", "default", lambda g: ((T(g, 3, 4), T(g, 3, 2, dtype=I64, low=0, high=4)), {"dim": 1})),
    case("take_along_dim", "default", lambda g: ((T(g, 3, 4), T(g, 1, 4, dtype=I64, low=0, high=3)), {"dim": 0}),
         id="broadcast"),
    case("take_along_dim", "default", lambda g: ((T(g, 3, 4), idx(11, 0, 5)), {}), id="flat"),
    case("take", "default", lambda g: ((T(g, 3, 4), idx([0, -1], [5, 7])), {})),
    case("embedding", "default", lambda g: ((T(g, 6, 3), T(g, 2, 5, dtype=I64, low=0, high=6)), {})),
    case("embedding", "default", lambda g: ((T(g, 6, 3), idx([0, 2, 0], [1, 0, 5])), {"padding_idx": 0}),
         id="padding_idx"),
    case("embedding", "default", lambda g: ((T(g, 6, 3), idx([1, 2, 1], [1, 1, 5])), {"scale_grad_by_freq": True}),
         id="scale_grad_by_freq"),
    case("one_hot", "default", lambda g: ((idx(0, 3, 1),), {"num_classes": 5})),
    case("one_hot", "default", lambda g: ((idx([0, 3], [2, 1]),), {}), id="inferred", jit=False),
    case("searchsorted", "Tensor", lambda g: ((torch.tensor([0.0, 1.0, 1.0, 3.0]), torch.tensor([1.0, -1, 2, 5])),
                                              {})),
    case("searchsorted", "Tensor", lambda g: ((torch.tensor([[0.0, 1, 2], [1, 1, 4]]), torch.tensor([[1.0], [1.0]])),
                                              {"right": True}), id="rows_right"),
    case("searchsorted", "Scalar", lambda g: ((torch.tensor([0.0, 1.0, 3.0]), 2.0), {"out_int32": True})),
    case("bucketize", "Tensor", lambda g: ((torch.tensor([0.5, 1.0, 4.0]), torch.tensor([0.0, 1.0, 3.0])), {})),
    case("bucketize", "Tensor", lambda g: ((torch.tensor([0.5, 1.0, 4.0]), torch.tensor([0.0, 1.0, 3.0])),
                                           {"right": True}), id="right"),
    case("isin", "Tensor_Tensor", lambda g: ((idx(1, 2, 3, 4), idx(2, 4)), {})),
    case("isin", "Tensor_Tensor", lambda g: ((idx(1, 2, 3, 4), idx(2, 4)), {"invert": True}), id="invert"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)


def test_boolean_mask_write_under_jit_is_a_where():
    """``x[mask] = v`` and ``x[mask] += v`` with a traced mask: torch's index_put_ as a where."""
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(0))
    mask = x > 0
    want = x.clone().index_put_((mask,), torch.tensor(-1.0))
    want_acc = x.clone().index_put_((mask,), torch.tensor(2.0), accumulate=True)
    put = jax.jit(lambda a, m, v: aten.index_put(a, [m], v))
    add = jax.jit(lambda a, m, v: aten.index_put(a, [m], v, accumulate=True))
    xa, ma = np.asarray(x), np.asarray(mask)
    np.testing.assert_allclose(np.asarray(put(xa, ma, np.float32(-1.0))), want.numpy())
    np.testing.assert_allclose(np.asarray(add(xa, ma, np.float32(2.0))), want_acc.numpy())


def test_boolean_mask_read_under_jit_is_refused():
    with pytest.raises(ValueError, match="data-dependent number of elements"):
        jax.jit(lambda a, m: aten.index(a, [m]))(np.ones((2, 3), np.float32), np.array([True, False]))
    with pytest.raises(ValueError, match="num_classes"):
        jax.jit(lambda a: aten.one_hot(a))(np.array([1, 2]))
