"""jaxdl.aten shape ops against torch: views, permutes, expands, slices and their
scatters, joins and splits, pads."""

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxdl import aten
from tests.aten.runner import Case, T, check

X = (2, 3, 4)


def op(name, overload="default", inp=X, id="", grad=True, dtype=torch.float32, **kw):
    return Case(name, overload, lambda g: ((T(g, *inp, dtype=dtype),), kw), id=id, grad=grad)


def two(name, overload, a, b, id="", grad=True, **kw):
    return Case(name, overload, lambda g: ((T(g, *a), T(g, *b)), kw), id=id, grad=grad)


def many(name, overload, shapes, id="", dtypes=None, **kw):
    dtypes = dtypes or [torch.float32] * len(shapes)
    return Case(name, overload, lambda g: (([T(g, *s, dtype=d) for s, d in zip(shapes, dtypes)],), kw), id=id)


CASES = [
    op("view", size=[4, -1]), Case("view", "dtype", lambda g: ((T(g, *X), torch.int32), {}), grad=False),
    Case("view", "dtype", lambda g: ((T(g, *X), torch.int16), {}), grad=False, id="narrower"),
    op("reshape", shape=[3, 8]), op("_unsafe_view", size=[24]),
    two("view_as", "default", (6, 4), (2, 12)), two("reshape_as", "default", (6, 4), (3, 8)),
    op("flatten", "using_ints", start_dim=1), op("flatten", "using_ints", start_dim=0, end_dim=-2, id="partial"),
    Case("flatten", "using_ints", lambda g: ((torch.tensor(3.0),), {}), id="0d"),
    op("ravel"), op("unflatten", "int", dim=-1, sizes=[2, -1]),
    op("squeeze", inp=(2, 1, 4, 1)), op("squeeze", "dim", inp=(2, 1, 4), dim=1),
    op("squeeze", "dim", dim=0, id="not_one"), op("squeeze", "dims", inp=(1, 3, 1), dim=[0, -1, 1]),
    op("unsqueeze", dim=-1), op("unsqueeze", dim=0, id="front"),
    op("permute", dims=[2, 0, 1]), op("permute", dims=[-1, -3, -2], id="negative"),
    op("transpose", "int", dim0=0, dim1=-1), op("swapdims", dim0=1, dim1=2), op("swapaxes", axis0=0, axis1=1),
    op("t", inp=(3, 4)), op("t", inp=(3,), id="1d"), op("numpy_T"), op("mT"), op("adjoint"), op("mH"),
    op("movedim", "int", source=0, destination=-1), op("movedim", "intlist", source=[0, 1], destination=[2, 0]),
    op("moveaxis", "int", source=2, destination=0),
    op("expand", inp=(3, 1), size=[2, 3, -1, 5]), two("expand_as", "default", (3, 1), (2, 3, 4)),
    op("broadcast_to", inp=(4,), size=[3, 4]),
    Case("broadcast_tensors", make=lambda g: (([T(g, 3, 1), T(g, 4), T(g, 1, 1)],), {})),
    op("contiguous"), op("clone"),
    op("atleast_1d", inp=()), op("atleast_2d", inp=(3,)), op("atleast_3d", inp=(3, 4)),
    many("atleast_1d", "Sequence", [(), (2,)]),
    Case("view_as_real", make=lambda g: ((torch.complex(T(g, 3), T(g, 3)),), {}), grad=False),
    op("view_as_complex", inp=(3, 2), grad=False),
    op("as_strided", size=[3, 2], stride=[4, 2], storage_offset=1),
    # torch's own derivative of as_strided_scatter w.r.t. self is wrong (2.13: zero where untouched)
    Case("as_strided_scatter", make=lambda g: ((T(g, *X), T(g, 3, 2)), {"size": [3, 2], "stride": [4, 2],
                                                                       "storage_offset": 1}), grad=False),
    # slicing
    op("slice", "Tensor", dim=1, start=1), op("slice", "Tensor", dim=-1, start=-3, end=-1, step=2, id="negative"),
    op("slice", "Tensor", dim=2, start=1, end=100, id="clamped"), op("slice", "Tensor", dim=0, end=0, id="empty"),
    op("slice", "Tensor", dim=1, start=None, end=None, step=2, id="none"),
    two("slice_scatter", "default", X, (2, 2, 4), dim=1, start=1),
    two("slice_scatter", "default", X, (2, 3, 2), dim=2, start=0, end=4, step=2, id="step"),
    op("select", "int", dim=1, index=-1), op("select", "int", dim=0, index=1, id="front"),
    two("select_scatter", "default", X, (2, 4), dim=1, index=-2),
    op("narrow", dim=2, start=1, length=2), op("narrow", dim=1, start=-2, length=2, id="negative"),
    Case("narrow", "Tensor", lambda g: ((T(g, *X), 2, torch.tensor(1), 2), {})),
    op("diagonal", inp=(3, 4), offset=1), op("diagonal", offset=-1, dim1=2, dim2=1, id="dims"),
    two("diagonal_scatter", "default", (3, 4), (3,), offset=1),
    op("diag", inp=(3,), diagonal=1), op("diag", inp=(3, 4), diagonal=-1, id="2d"),
    op("diag_embed", inp=(2, 3)), op("diag_embed", inp=(2, 3), offset=-1, dim1=0, dim2=2, id="dims"),
    # joins and splits
    many("cat", "default", [(2, 3), (2, 1)], dim=1), many("cat", "default", [(2, 3), (0,)], id="legacy_empty"),
    many("cat", "default", [(2,), (3,)], dtypes=[torch.float32, torch.int64], id="promote"),
    many("concat", "default", [(2, 3), (1, 3)]), many("concatenate", "default", [(2, 3), (2, 3)], dim=-1),
    many("stack", "default", [(2, 3), (2, 3)], dim=1), many("stack", "default", [(2,), (2,)], dim=-1, id="last"),
    many("hstack", "default", [(2, 3), (2, 1)]), many("vstack", "default", [(3,), (2, 3)]),
    many("row_stack", "default", [(3,), (3,)]), many("dstack", "default", [(2, 3), (2, 3)]),
    many("column_stack", "default", [(3,), (3, 2)]),
    op("split", "Tensor", split_size=3, dim=2), op("split", "sizes", split_size=[1, 2], dim=1),
    op("split", "default", split_sizes=[2, 2], dim=-1, id="sizes_list"),
    op("split_with_sizes", split_sizes=[1, 3], dim=2),
    op("chunk", chunks=3, dim=2), op("chunk", inp=(6,), chunks=4, id="fewer"),
    op("tensor_split", "sections", sections=3, dim=2), op("tensor_split", "indices", indices=[1, 3], dim=2),
    Case("tensor_split", "tensor_indices_or_sections", lambda g: ((T(g, *X), torch.tensor([1, 2])), {"dim": 2})),
    op("unbind", "int", dim=1), op("unbind", "int", dim=-1, id="last"),
    many("meshgrid", "default", [(2,), (3,)]), many("meshgrid", "indexing", [(2,), (3,)], indexing="xy"),
    many("cartesian_prod", "default", [(2,), (3,)]), many("block_diag", "default", [(2, 3), (1, 1), (2,)]),
    # reorderings
    op("flip", dims=[0, -1]), op("roll", shifts=[1, -2], dims=[0, 2]), op("roll", shifts=[3], id="flat"),
    op("rot90", inp=(3, 4), k=1), op("rot90", k=-1, dims=[1, 2], id="dims"),
    op("repeat", repeats=[2, 1, 1, 2]), op("tile", inp=(3, 4), dims=[2]),
    op("repeat_interleave", "self_int", repeats=2, dim=1),
    op("repeat_interleave", "self_int", repeats=2, id="flat"),
    Case("repeat_interleave", "self_Tensor", lambda g: ((T(g, 3, 2), torch.tensor([1, 0, 2])), {"dim": 0})),
    Case("repeat_interleave", "self_Tensor", lambda g: ((T(g, 3, 2), torch.tensor([1, 0, 2])),
                                                        {"dim": 0, "output_size": 3}), id="output_size"),
    Case("repeat_interleave", "Tensor", lambda g: ((torch.tensor([2, 0, 1]),), {})),
    op("diff", inp=(3, 5), dim=1), op("diff", inp=(3, 5), n=2, dim=0, id="n2"),
    Case("diff", make=lambda g: ((T(g, 3, 5), 1, -1, T(g, 3, 1), T(g, 3, 2)), {}), id="prepend_append"),
    op("diff", inp=(6,), dtype=torch.bool, id="bool"),
    op("unfold", inp=(2, 7), dimension=1, size=3, step=2), op("unfold", dimension=0, size=2, step=1, id="dim0"),
    op("channel_shuffle", inp=(2, 6, 2, 2), groups=3),
    op("native_channel_shuffle", inp=(2, 4, 3), groups=2, grad=False),
    # padding
    op("constant_pad_nd", pad=[1, 2], value=0.5), op("constant_pad_nd", pad=[-1, 1, 2, 0], id="negative"),
    op("pad", inp=(2, 3, 4, 5), pad=[1, 2, 2, 1], mode="reflect"),
    op("pad", inp=(2, 3, 4, 5), pad=[1, 2, 2, 1], mode="replicate", id="replicate"),
    op("pad", inp=(2, 3, 4, 5), pad=[1, 2, 2, 1], mode="circular", id="circular"),
    op("pad", pad=[1, 1], value=2.0, id="constant"),
    op("reflection_pad1d", padding=[2, 1]), op("reflection_pad2d", inp=(1, 2, 4, 5), padding=[1, 2, 3, 0]),
    op("reflection_pad3d", inp=(1, 2, 3, 4, 5), padding=[1, 1, 2, 0, 1, 2]),
    op("replication_pad1d", padding=[2, 1]), op("replication_pad2d", inp=(1, 2, 4, 5), padding=[1, 2, 3, 0]),
    op("replication_pad3d", inp=(1, 2, 3, 4, 5), padding=[1, 1, 2, 0, 1, 2]),
    op("_pad_circular", inp=(1, 2, 4, 5), pad=[1, 2, 2, 1]),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)


def test_in_place_write_into_a_view_is_a_scatter():
    """``x[:, :2].fill_(0.5); x[:, 2].mul_(2)`` as the porter writes it back."""
    t = torch.arange(12.0).view(3, 4)
    t[:, :2].fill_(0.5)
    t[:, 2].mul_(2)
    x = jnp.arange(12.0).reshape(3, 4)
    x = aten.slice_scatter(x, aten.fill(aten.slice(x, 1, 0, 2), 0.5), 1, 0, 2)
    x = aten.select_scatter(x, aten.mul(aten.select(x, 1, 2), 2), 1, 2)
    np.testing.assert_array_equal(np.asarray(x), t.numpy())
