"""Per-platform formulations of convolution and pooling, chosen while lowering.

The one place that knows XLA:CPU needs other formulations than cuDNN or the TPU
compiler. Layers call :func:`conv2d`, :func:`conv_transpose2d` and :func:`max_pool2d_tiled`; each picks its
branch with ``jax.lax.platform_dependent``, so the choice is made when the function is
lowered for a platform, not when it is traced: a step exported or compiled ahead of
time for ``cuda`` or ``tpu`` (``jax.export.export(..., platforms=["cuda"])``) gets the
plain ``lax.conv_general_dilated`` / ``reduce_window`` ops those backends are built
for, and a CPU lowering gets the CPU formulation. Nothing else in jaxdl asks which
backend it runs on.

CPU formulations (why each is faster on XLA:CPU, with the figures: docs/speed.md):

* convolution (any stride) as a channel-major im2col and one matmul, faster than
  ``lax.conv_general_dilated`` at the notes' batch sizes and for torchvision's strided
  convolutions, also inside ``lax.scan``;
* a transposed convolution as the stride-dilated input (zeros inserted by ``lax.pad``)
  and the same im2col matmul, where ``lax.conv_general_dilated`` would need ``lhs_dilation``;
* non-overlapping max-pool as a reshape and a max, with an elementwise backward that
  sends each window's gradient to its first maximum as torch does, ties included.

Every branch computes the same function: the two differ by float rounding only
(reassociated sums), and both are parity-tested against torch (tests/test_platform.py
runs the program exported for ``cuda`` on the CPU).

Under autodiff each choice is a ``cond`` whose branches return the same residuals, so
a step lowered for ``cuda`` still passes a zero placeholder of the CPU branch's im2col
patch matrix to its backward. It sits in a case with a constant index, which XLA's
conditional simplifier inlines, and is then removed as dead code (checked by compiling
the ``cuda`` export with XLA:CPU; tests/test_export.py).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax

Pair = tuple[int, int]
_NHWC = ("NHWC", "HWIO", "NHWC")


# ---------------------------------------------------------------- convolution
def conv2d(x_NHWC: jax.Array, kernel_HWIO: jax.Array, *, stride: Pair = (1, 1),
           padding: Sequence[Pair] = ((0, 0), (0, 0)), dilation: Pair = (1, 1),
           groups: int = 1) -> jax.Array:
    """torch: ``F.conv2d(x, w, stride, padding, dilation, groups)`` on NHWC / HWIO arrays
    (``padding`` as ((top, bottom), (left, right))). Undilated, ungrouped convolutions
    lower to the CPU im2col on CPU; dilated and grouped ones, and every convolution on
    GPU/TPU, are ``lax.conv_general_dilated``."""
    padding = tuple((int(a), int(b)) for a, b in padding)

    def native(x, k):
        return lax.conv_general_dilated(x, k, window_strides=stride, padding=padding,
                                        rhs_dilation=dilation, dimension_numbers=_NHWC,
                                        feature_group_count=groups)

    if tuple(dilation) != (1, 1) or groups != 1:
        return native(x_NHWC, kernel_HWIO)

    def cpu(x, k):
        if any(padding[0]) or any(padding[1]):
            x = jnp.pad(x, ((0, 0), padding[0], padding[1], (0, 0)))
        return conv2d_im2col(x, k, tuple(stride))

    return lax.platform_dependent(x_NHWC, kernel_HWIO, cpu=cpu, default=native)


def conv2d_im2col(x_NHWC: jax.Array, kernel_HWIO: jax.Array, stride: Pair = (1, 1)) -> jax.Array:
    """A VALID convolution as a channel-major im2col and one matmul (the CPU branch of
    :func:`conv2d`).

    The input is turned to (C, N, H, W), its kh*kw shifted (and, with a stride,
    subsampled) views are stacked in two passes (the kw column shifts, then the kh row
    shifts of those) into a (C*kh*kw, N*Ho*Wo) matrix, and one matmul with the
    (C*kh*kw, Cout) kernel gives the output, turned back to NHWC. XLA:CPU materialises
    a 25-way NHWC channel concatenate slice by slice; the two-pass stack avoids that.
    Strided convolutions gain the most: XLA:CPU's own strided convolution trained
    resnet18 (64x64, batch 32) at 16 images/s, this at 90 (docs/speed.md).
    """
    kh, kw, ci, co = kernel_HWIO.shape
    n, h, w, _ = x_NHWC.shape
    sh, sw = stride
    if h < kh or w < kw:
        raise ValueError(f"Conv2d kernel {kh}x{kw} is larger than the (padded) input {h}x{w}")
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    x_CNHW = x_NHWC.transpose(3, 0, 1, 2)
    cols_w = jnp.stack([x_CNHW[..., j:j + sw * (wo - 1) + 1:sw] for j in range(kw)], axis=1)  # C, kw, N, H, Wo
    cols = jnp.stack([cols_w[..., i:i + sh * (ho - 1) + 1:sh, :] for i in range(kh)], axis=1)  # C, kh, kw, N, Ho, Wo
    kernel_KO = kernel_HWIO.transpose(2, 0, 1, 3).reshape(ci * kh * kw, co)
    # kernel^T @ cols with the kernel kept (K, Cout): the backward then forms the kernel
    # gradient as cols @ dy (K, Cout), twice as fast on XLA:CPU as dy^T @ cols^T (Cout, K)
    y = lax.dot_general(kernel_KO, cols.reshape(ci * kh * kw, n * ho * wo), (((0,), (0,)), ((), ())))
    return y.reshape(co, n, ho, wo).transpose(1, 2, 3, 0)


def conv_transpose2d(x_NHWC: jax.Array, kernel_HWIO: jax.Array, *, stride: Pair = (1, 1),
                     padding: Sequence[Pair] = ((0, 0), (0, 0)), dilation: Pair = (1, 1),
                     groups: int = 1) -> jax.Array:
    """torch: ``F.conv_transpose2d`` written as the convolution it is: ``kernel_HWIO`` is the
    already flipped and regrouped kernel, ``padding`` the (possibly negative) padding of the
    input after it is dilated by ``stride``. GPU/TPU: one ``lax.conv_general_dilated`` with
    ``lhs_dilation`` (cuDNN's backward-data convolution); CPU, ungrouped and undilated: the
    zeros inserted with ``lax.pad`` and the im2col matmul of :func:`conv2d_im2col`."""
    padding = tuple((int(a), int(b)) for a, b in padding)

    def native(x, k):
        return lax.conv_general_dilated(x, k, window_strides=(1, 1), padding=padding, lhs_dilation=stride,
                                        rhs_dilation=dilation, dimension_numbers=_NHWC,
                                        feature_group_count=groups)

    if groups != 1 or tuple(dilation) != (1, 1):
        return native(x_NHWC, kernel_HWIO)

    def cpu(x, k):
        (sh, sw), ((t, b), (left, r)) = stride, padding
        x = lax.pad(x, jnp.zeros((), x.dtype), ((0, 0, 0), (t, b, sh - 1), (left, r, sw - 1), (0, 0, 0)))
        return conv2d_im2col(x, k)

    return lax.platform_dependent(x_NHWC, kernel_HWIO, cpu=cpu, default=native)


# ---------------------------------------------------------------- pooling
def max_pool2d_window(x_NHWC: jax.Array, window: Pair, stride: Pair,
                      padding: Sequence[Pair] = ((0, 0), (0, 0))) -> jax.Array:
    """Max over windows with -inf padding (``reduce_window``): every platform, any
    window. Its gradient goes to the first maximum of each window, as torch's."""
    return lax.reduce_window(x_NHWC, -jnp.inf, lax.max, (1, *window, 1), (1, *stride, 1),
                             ((0, 0), *padding, (0, 0)))


def max_pool2d_tiled(x_NHWC: jax.Array, kh: int, kw: int) -> jax.Array:
    """Max over non-overlapping kh x kw windows that tile ``x`` exactly (H % kh == W % kw
    == 0): a reshape and a max with torch's gradient rule on CPU, ``reduce_window``
    elsewhere."""
    return lax.platform_dependent(
        x_NHWC, cpu=lambda x: _max_pool_reshaped(x, kh, kw),
        default=lambda x: max_pool2d_window(x, (kh, kw), (kh, kw)))


@functools.partial(jax.custom_jvp, nondiff_argnums=(1, 2))
def _max_pool_reshaped(x_NHWC: jax.Array, kh: int, kw: int) -> jax.Array:
    n, h, w, c = x_NHWC.shape
    return x_NHWC.reshape(n, h // kh, kh, w // kw, kw, c).max(axis=(2, 4))


@_max_pool_reshaped.defjvp
def _max_pool_reshaped_jvp(kh, kw, primals, tangents):
    """Each window passes on the tangent of its first maximum in row-major order, as
    torch's kernel does (``val > maxval`` keeps the first): the same gradient as torch,
    ties included. Written as a select over the kh*kw strided views, so the backward is
    elementwise (JAX's own max rule counts the ties with a reduction and divides)."""
    (x,), (t,) = primals, tangents
    y = _max_pool_reshaped(x, kh, kw)
    views = [(x[:, i::kh, j::kw, :] == y, t[:, i::kh, j::kw, :]) for i in range(kh) for j in range(kw)]
    taken, dy = views[0]
    for at, t_ij in views[1:]:
        dy = jnp.where(at & ~taken, t_ij, dy)
        taken = taken | at
    return y, dy
