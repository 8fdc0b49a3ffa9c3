"""Matrix products: linear, matmul and the BLAS-style ``add*`` ops, einsum, bilinear.

The float32 matmul precision is JAX's process setting (jaxdl.precision): at 'highest'
these match torch's float32 on every platform.

torch: F.linear, torch.matmul, torch.bmm, torch.addmm, torch.baddbmm, torch.einsum, ...
"""

from __future__ import annotations

import jax.numpy as jnp

from jaxdl.aten.dtypes import as_dtype, normalize_dim, promote, to_array
from jaxdl.aten.registry import aten_op


@aten_op("linear")
def linear(input, weight, bias=None):
    """torch: F.linear / nn.Linear: x @ weight.T + bias (weight is (out, in))"""
    x, w = promote(input, weight)
    y = jnp.matmul(x, w.T)
    return y if bias is None else y + to_array(bias, y.dtype)


@aten_op("matmul")
def matmul(self, other):
    """torch: torch.matmul / ``@`` (numpy's matmul broadcasting)"""
    a, b = promote(self, other)
    return jnp.matmul(a, b)


def _checked(name, a, b, ndim_a, ndim_b):
    if a.ndim != ndim_a or b.ndim != ndim_b:
        raise ValueError(f"jaxdl.aten.{name}: expects {ndim_a}-d and {ndim_b}-d tensors, got shapes "
                         f"{a.shape} and {b.shape} (as torch)")
    return jnp.matmul(a, b)


@aten_op("mm")
def mm(self, mat2, out_dtype=None):
    """torch: torch.mm (2-d only)"""
    a, b = promote(self, mat2)
    out = _checked("mm", a, b, 2, 2)
    return out if out_dtype is None else out.astype(as_dtype(out_dtype))


@aten_op("bmm")
def bmm(self, mat2, out_dtype=None):
    """torch: torch.bmm (3-d only, no broadcasting)"""
    a, b = promote(self, mat2)
    out = _checked("bmm", a, b, 3, 3)
    return out if out_dtype is None else out.astype(as_dtype(out_dtype))


@aten_op("mv")
def mv(self, vec):
    """torch: torch.mv"""
    a, b = promote(self, vec)
    return _checked("mv", a, b, 2, 1)


@aten_op("dot")
def dot(self, tensor):
    """torch: torch.dot (1-d)"""
    a, b = promote(self, tensor)
    return _checked("dot", a, b, 1, 1)


@aten_op("vdot")
def vdot(self, other):
    """torch: torch.vdot"""
    a, b = promote(self, other)
    return jnp.vdot(a, b)


@aten_op("inner")
def inner(self, other):
    """torch: torch.inner"""
    a, b = promote(self, other)
    return jnp.inner(a, b)


@aten_op("outer")
@aten_op("ger")
def outer(self, vec2):
    """torch: torch.outer"""
    a, b = promote(self, vec2)
    return jnp.outer(a, b)


@aten_op("kron")
def kron(self, other):
    """torch: torch.kron"""
    a, b = promote(self, other)
    return jnp.kron(a, b)


@aten_op("tensordot")
def tensordot(self, other, dims_self, dims_other):
    """torch: torch.tensordot"""
    a, b = promote(self, other)
    return jnp.tensordot(a, b, (tuple(dims_self), tuple(dims_other)))


def _add_product(self, product, beta, alpha):
    """beta * self + alpha * product; ``self`` is ignored (NaN included) when beta == 0, as torch."""
    out = product if alpha == 1 else product * alpha
    if beta == 0:
        return jnp.broadcast_to(out, jnp.broadcast_shapes(out.shape, jnp.shape(self))).astype(out.dtype)
    s = to_array(self, out.dtype)
    return (s if beta == 1 else s * beta) + out


@aten_op("addmm")
def addmm(self, mat1, mat2, beta=1, alpha=1, out_dtype=None):
    """torch: torch.addmm = beta * self + alpha * mat1 @ mat2"""
    out = _add_product(self, mm(mat1, mat2), beta, alpha)
    return out if out_dtype is None else out.astype(as_dtype(out_dtype))


@aten_op("baddbmm")
def baddbmm(self, batch1, batch2, beta=1, alpha=1, out_dtype=None):
    """torch: torch.baddbmm = beta * self + alpha * batch1 @ batch2"""
    out = _add_product(self, bmm(batch1, batch2), beta, alpha)
    return out if out_dtype is None else out.astype(as_dtype(out_dtype))


@aten_op("addbmm")
def addbmm(self, batch1, batch2, beta=1, alpha=1):
    """torch: torch.addbmm = beta * self + alpha * sum_b batch1[b] @ batch2[b]"""
    return _add_product(self, bmm(batch1, batch2).sum(0), beta, alpha)


@aten_op("addmv")
def addmv(self, mat, vec, beta=1, alpha=1):
    """torch: torch.addmv"""
    return _add_product(self, mv(mat, vec), beta, alpha)


@aten_op("addr")
def addr(self, vec1, vec2, beta=1, alpha=1):
    """torch: torch.addr"""
    return _add_product(self, outer(vec1, vec2), beta, alpha)


@aten_op("chain_matmul")
@aten_op("linalg_multi_dot")
def chain_matmul(matrices=None, tensors=None):
    """torch: torch.linalg.multi_dot / torch.chain_matmul"""
    arrays = promote(*(matrices if matrices is not None else tensors))
    return jnp.linalg.multi_dot(arrays)


@aten_op("einsum")
def einsum(equation, tensors, path=None):
    """torch: torch.einsum(equation, *operands)"""
    return jnp.einsum(equation, *promote(*tensors))


@aten_op("bilinear")
def bilinear(input1, input2, weight, bias=None):
    """torch: F.bilinear / nn.Bilinear: x1^T W_o x2 + b_o for each output o"""
    a, b, w = promote(input1, input2, weight)
    y = jnp.einsum("...i,oij,...j->...o", a, w, b)
    return y if bias is None else y + to_array(bias, y.dtype)


@aten_op("linalg_cross")
def linalg_cross(self, other, dim=-1):
    """torch: torch.linalg.cross"""
    a, b = promote(self, other)
    a, b = jnp.broadcast_arrays(a, b)
    return jnp.cross(a, b, axis=normalize_dim(dim, a.ndim))


@aten_op("cross")
def cross(self, other, dim=None):
    """torch: torch.cross (no dim: the first dim of size 3)"""
    a = to_array(self)
    if dim is None:
        dim = next(i for i, n in enumerate(a.shape) if n == 3)
    return linalg_cross(self, other, dim)
