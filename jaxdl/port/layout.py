"""NCHW -> NHWC: which values change layout in the port, and how ops on them are rewritten.

Every value of the captured graph has one of three layouts in the generated code:

* ``IMAGE``: a 4-D image, NCHW in torch and NHWC in JAX (``x_jax = x_torch.transpose(0, 2,
  3, 1)``). Image inputs (4-D floating-point) start here, and convolutions, pooling and
  BatchNorm2d keep values here; elementwise ops, ``cat`` on channels, ``mean(dim=(2,
  3))``, slicing and softmax over channels are rewritten with :func:`image_axis`.
* ``Flat(C, H, W)``: an image flattened for a dense layer (``torch.flatten(x, 1)``,
  ``x.view(x.size(0), -1)``, ``nn.Flatten()``): torch orders the features (C, H, W),
  JAX (H, W, C). Elementwise ops keep it; the ``Linear`` that reads it gets
  ``torch_flatten = {"path": (C, H, W)}`` so that ``jaxdl.interop`` permutes its rows,
  exactly as the hand-written models do.
* ``PLAIN``: the same layout as torch (tokens, sequences, tables, dense features).

Anything that needs torch's order converts explicitly (:func:`to_plain`); in the
models of the notes and torchvision that never happens between layers.
"""

from __future__ import annotations

import dataclasses

IMAGE = "image"
PLAIN = "plain"
TORCH_TO_JAX = (0, 3, 1, 2)  # torch dim d of an image lives at JAX axis TORCH_TO_JAX[d]
JAX_TO_TORCH = (0, 2, 3, 1)  # JAX axis j of an image holds torch dim JAX_TO_TORCH[j]


@dataclasses.dataclass(frozen=True)
class Flat:
    """A flattened image: features in JAX (H, W, C) order where torch has (C, H, W)."""

    chw: tuple[int, int, int]


def image_axis(dim: int) -> int:
    """The JAX axis of torch dim ``dim`` (negative allowed) of an NCHW image; channels are -1."""
    jax_axis = TORCH_TO_JAX[dim % 4]
    return -1 if jax_axis == 3 else jax_axis


def image_axes(dims) -> tuple[int, ...]:
    return tuple(sorted(TORCH_TO_JAX[d % 4] for d in dims))


def permute_image(perm) -> tuple[int, ...]:
    """``x.permute(*perm)`` of an image, as a transpose of its NHWC array (result in torch
    order): identity for ``x.permute(0, 2, 3, 1)``."""
    return tuple(TORCH_TO_JAX[d % 4] for d in perm)


def reduced_order(dims) -> tuple[int, ...] | None:
    """After reducing an NHWC image over torch dims ``dims`` (keepdim=False): the transpose
    that puts the remaining axes in torch order, or None when they already are (e.g.
    ``mean(dim=(2, 3))`` -> (N, C))."""
    dims = {d % 4 for d in dims}
    remaining = [d for d in JAX_TO_TORCH if d not in dims]
    if remaining == sorted(remaining):
        return None
    return tuple(sorted(range(len(remaining)), key=lambda i: remaining[i]))


def is_flatten(in_shape, out_shape) -> bool:
    """Whether a reshape of (N, C, H, W) to ``out_shape`` is ``flatten(x, 1)``."""
    return len(in_shape) == 4 and len(out_shape) == 2 and _same(out_shape[0], in_shape[0]) \
        and _same(out_shape[1], in_shape[1] * in_shape[2] * in_shape[3])


def flat_layout(shape_NCHW) -> object:
    """The layout of ``flatten(x, 1)`` of an image: ``Flat`` unless the orders coincide (one
    channel, or 1x1 spatial), when it is ``PLAIN``."""
    c, h, w = (int(v) for v in shape_NCHW[1:])
    return PLAIN if c == 1 or h * w == 1 else Flat((c, h, w))


def to_plain(layout) -> str | None:
    """The conversion of a value in ``layout`` to torch's order, as an expression template
    over ``A`` (None when nothing is needed)."""
    if layout == IMAGE:
        return "A.transpose(0, 3, 1, 2)"
    if isinstance(layout, Flat):
        c, h, w = layout.chw
        return f"A.reshape(-1, {h}, {w}, {c}).transpose(0, 3, 1, 2).reshape(-1, {c * h * w})"
    return None


TO_IMAGE = "A.transpose(0, 2, 3, 1)"


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - symbolic sizes that cannot be compared
        return str(a) == str(b)
