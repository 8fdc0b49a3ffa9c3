"""Layouts: how each value of the generated code holds its torch tensor.

A layout is a permutation ``perm`` of the torch dims: the JAX array is
``x_torch.transpose(perm)`` (JAX axis ``i`` holds torch dim ``perm[i]``). ``PLAIN`` (None)
is torch's own order. Channels-last (:func:`channels_last`: ``(0, 2, 3, 1)`` for an
NCHW image, ``(0, 2, 1)`` for an (N, C, L) sequence) is what jaxdl's convolutions, pools
and norms take, so values between such layers stay in it and no transpose is written
between layers. Ops work in whatever layout their inputs have where they can (elementwise
ops, reductions, slicing, ``cat``, softmax, padding, reshapes that keep the channel
groups, permutes, which only change the layout); the others ask for ``PLAIN``, and the
value is converted exactly there (:func:`convert`).

:class:`Flat` is an image flattened for a dense layer: features in JAX (H, W, C) order
where torch has (C, H, W); the ``Linear`` that reads it permutes its rows instead
(``torch_flatten``), as the hand-written models do.
"""

from __future__ import annotations

import dataclasses

PLAIN = None
KEEP = "keep"  # no conversion asked for: the value as it is


@dataclasses.dataclass(frozen=True)
class Flat:
    """A flattened image: features in JAX (H, W, C) order where torch has (C, H, W)."""

    chw: tuple[int, int, int]


def channels_last(ndim: int):
    """The channels-last layout of an (N, C, *spatial) tensor; PLAIN below 3 dims."""
    return tuple([0] + list(range(2, ndim)) + [1]) if ndim >= 3 else PLAIN


IMAGE = channels_last(4)


def normal(perm):
    """``perm`` as a layout: PLAIN for the identity."""
    if perm is None or isinstance(perm, Flat):
        return perm
    perm = tuple(int(p) for p in perm)
    return PLAIN if perm == tuple(range(len(perm))) else perm


def is_perm(layout) -> bool:
    return isinstance(layout, tuple)


def axis(layout, dim: int, ndim: int) -> int:
    """The JAX axis of torch dim ``dim`` (negative allowed) in ``layout``."""
    d = dim % ndim if ndim else dim
    return layout.index(d) if is_perm(layout) else d


def last(ax: int, ndim: int) -> int:
    """An axis as a person writes it: the last of three or more (an image's channels, a
    sequence's features) as -1."""
    return -1 if ndim > 2 and ax == ndim - 1 else ax


def apply(layout, shape) -> list:
    """The JAX shape of a torch ``shape`` held in ``layout``."""
    return [shape[d] for d in layout] if is_perm(layout) else list(shape)


def inverse(perm: tuple) -> tuple:
    out = [0] * len(perm)
    for i, p in enumerate(perm):
        out[p] = i
    return tuple(out)


def transpose(have, want, ndim: int) -> tuple | None:
    """The ``.transpose(q)`` from layout ``have`` to ``want`` (both permutations or
    PLAIN, same rank), or None when they are the same."""
    have = have if is_perm(have) else tuple(range(ndim))
    want = want if is_perm(want) else tuple(range(ndim))
    q = tuple(have.index(w) for w in want)
    return None if q == tuple(range(ndim)) else q


def permuted(layout, q, ndim: int):
    """The layout of ``x.permute(q)`` when the JAX array is left as it is."""
    p = layout if is_perm(layout) else tuple(range(ndim))
    q = [d % ndim for d in q]
    return normal(tuple(q.index(d) for d in p))


def reduced(layout, dims, ndim: int, keepdim: bool):
    """The layout after reducing torch dims ``dims`` (the remaining dims keep their JAX order)."""
    if keepdim or not is_perm(layout):
        return layout if keepdim else PLAIN
    dims = {d % ndim for d in dims}
    remaining = [d for d in layout if d not in dims]
    rank = sorted(remaining)
    return normal(tuple(rank.index(d) for d in remaining))


def removed(layout, dim: int, ndim: int):
    """The layout after torch dim ``dim`` is indexed away (``x[:, 0]``)."""
    return reduced(layout, [dim], ndim, False)


def flat_layout(shape_NCHW):
    """The layout of ``flatten(x, 1)`` of an NHWC image: ``Flat`` unless the orders
    coincide (one channel, or 1x1 spatial), when it is PLAIN."""
    c, h, w = (int(v) for v in shape_NCHW[1:])
    return PLAIN if c == 1 or h * w == 1 else Flat((c, h, w))


def is_flatten(in_shape, out_shape) -> bool:
    """Whether a reshape of (N, C, H, W) to ``out_shape`` is ``flatten(x, 1)``."""
    return len(in_shape) == 4 and len(out_shape) == 2 and _same(out_shape[0], in_shape[0]) \
        and _same(out_shape[1], in_shape[1] * in_shape[2] * in_shape[3])


def regroup(layout, in_shape, out_shape):
    """The layout of ``x.reshape(out_shape)`` done on the JAX array, or None when the
    reshape cannot keep ``layout`` (its groups of dims are not contiguous in the JAX
    order). A reshape merges and splits consecutive torch dims; when every group is
    contiguous and in order in the JAX array, the JAX array reshapes group by group
    (a channel shuffle's ``view(b, g, c // g, h, w)`` of an NHWC image is
    ``reshape(b, h, w, g, c // g)``). Returns (jax shape as (torch out dim or -1) list,
    new layout)."""
    if not is_perm(layout):
        return None
    groups = _groups(list(in_shape), list(out_shape))
    if groups is None:
        return None
    pos = {d: i for i, d in enumerate(layout)}
    order = []
    for ins, outs in groups:
        js = [pos[d] for d in ins]
        if js and js != list(range(js[0], js[0] + len(js))):
            return None
        order.append((js[0] if js else None, outs))
    # groups of size-1 inserts (no input dims) go where their neighbour is
    placed = []
    last = -1
    for start, outs in order:
        key = start if start is not None else last + 0.5
        last = start if start is not None else last
        placed.append((key, outs))
    placed.sort(key=lambda t: t[0])
    jax_dims = [d for _, outs in placed for d in outs]
    return jax_dims, normal(tuple(jax_dims))


def regroup_target(layout, in_shape, out_shape):
    """The layout to convert to first when :func:`regroup` cannot keep ``layout``: the
    dims of each group together and in order, the groups where their first dim is now
    (the transpose back of a channel shuffle's ``transpose(1, 2)``). None when the
    reshape does not keep dims together at all."""
    if not is_perm(layout):
        return None
    groups = _groups(list(in_shape), list(out_shape))
    if groups is None:
        return None
    pos = {d: i for i, d in enumerate(layout)}
    ordered = sorted((min(pos[d] for d in ins), ins) for ins, _ in groups if ins)
    return normal(tuple(d for _, ins in ordered for d in ins))


def _groups(ins: list, outs: list):
    """Match consecutive input dims to consecutive output dims with equal products:
    [([input dims], [output dims]), ...], or None."""
    i = j = 0
    out = []
    while i < len(ins) or j < len(outs):
        gi, gj = [], []
        pi = pj = 1
        while True:
            if gi and gj and _same(pi, pj):
                break
            if (not gi or not _le(pi, pj)) and j < len(outs) and (not gj or _le(pj, pi)):
                gj.append(j)
                pj = pj * outs[j]
                j += 1
            elif i < len(ins):
                gi.append(i)
                pi = pi * ins[i]
                i += 1
            elif j < len(outs):
                gj.append(j)
                pj = pj * outs[j]
                j += 1
            else:
                return None
            if not gi and gj and _same(pj, 1):  # a new size-1 dim
                break
            if gi and not gj and _same(pi, 1) and (j >= len(outs) or not _same(outs[j], 1)):
                break  # a size-1 dim dropped
        out.append((gi, gj))
    return out


def _le(a, b) -> bool:
    try:
        return bool(a <= b)
    except Exception:  # noqa: BLE001 - symbolic sizes
        return str(a) == str(b)


def _same(a, b) -> bool:
    try:
        return bool(a == b)
    except Exception:  # noqa: BLE001 - symbolic sizes that cannot be compared
        return str(a) == str(b)
