"""jaxdl.aten matrix products against torch."""

import pytest

from tests.aten.runner import Case, T, check


def mats(op, overload="default", *shapes, id="", grad=True, **kw):
    return Case(op, overload, lambda g: (tuple(T(g, *s) for s in shapes), kw), id=id, grad=grad)


CASES = [
    mats("linear", "default", (2, 5, 4), (3, 4), (3,)), mats("linear", "default", (4,), (3, 4), id="no_bias"),
    mats("matmul", "default", (2, 1, 3, 4), (5, 4, 2)), mats("matmul", "default", (4,), (4, 3), id="vec"),
    mats("mm", "default", (3, 4), (4, 2)), mats("bmm", "default", (2, 3, 4), (2, 4, 5)),
    mats("mv", "default", (3, 4), (4,)), mats("dot", "default", (4,), (4,)), mats("vdot", "default", (4,), (4,)),
    mats("inner", "default", (2, 4), (3, 4)), mats("outer", "default", (3,), (4,)), mats("ger", "default", (3,), (2,)),
    mats("kron", "default", (2, 3), (2, 2)),
    mats("tensordot", "default", (2, 3, 4), (4, 3, 5), dims_self=[1, 2], dims_other=[1, 0]),
    mats("addmm", "default", (4,), (3, 5), (5, 4), beta=0.5, alpha=2.0),
    mats("addmm", "default", (3, 4), (3, 5), (5, 4), beta=0, id="beta0"),
    mats("baddbmm", "default", (2, 3, 4), (2, 3, 5), (2, 5, 4), alpha=0.3),
    mats("addbmm", "default", (3, 4), (2, 3, 5), (2, 5, 4)), mats("addmv", "default", (3,), (3, 4), (4,), beta=2),
    mats("addr", "default", (3, 4), (3,), (4,), alpha=-1),
    Case("chain_matmul", make=lambda g: (([T(g, 2, 3), T(g, 3, 4), T(g, 4, 2)],), {})),
    Case("linalg_multi_dot", make=lambda g: (([T(g, 2, 3), T(g, 3, 4)],), {})),
    Case("einsum", make=lambda g: (("bij,bjk->bik", [T(g, 2, 3, 4), T(g, 2, 4, 5)]), {})),
    Case("einsum", make=lambda g: (("i,j->ij", [T(g, 3), T(g, 4)]), {}), id="outer"),
    Case("einsum", make=lambda g: (("...ij->...ji", [T(g, 2, 3, 4)]), {}), id="ellipsis"),
    mats("bilinear", "default", (2, 3), (2, 4), (5, 3, 4), (5,)),
    mats("linalg_cross", "default", (2, 3), (1, 3)), mats("cross", "default", (3, 2), (3, 2), dim=0),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)
