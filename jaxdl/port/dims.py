"""Names of an input's dims in messages and docstrings: which ones the port takes at any
size (torch.export left them symbolic) and which ones the model fixes."""

from __future__ import annotations

_WORDS = {"N": "batch", "C": "channels", "H": "height", "W": "width", "T": "length"}


def name(ndim: int, d: int, image: bool, integer: bool = False) -> str:
    """A short name for torch dim ``d``: N (batch); C, H, W of an image; T, the length of
    a (N, T, ...) sequence (or of integer token ids (N, T)); D<d> otherwise."""
    if d == 0:
        return "N"
    if image and ndim == 4:
        return "CHW"[d - 1]
    if d == 1 and (ndim >= 3 or integer and ndim == 2):
        return "T"
    return f"D{d}"


def word(ndim: int, d: int, image: bool, integer: bool = False) -> str:
    """The dim in words: 'batch', 'channels', 'height', 'width', 'length', 'dim 2'."""
    n = name(ndim, d, image, integer)
    return _WORDS.get(n, f"dim {d}")


def shape_text(shape, dynamic, image: bool, integer: bool = False, order=None) -> str:
    """``(N, 3, H, W)``: the torch shape with its symbolic dims named; ``order`` (torch dims)
    writes it in another layout (``(0, 2, 3, 1)``: NHWC)."""
    order = range(len(shape)) if order is None else order
    return "(" + ", ".join(name(len(shape), d, image, integer) if d in dynamic else str(shape[d])
                           for d in order) + ")"


def fixed_text(shape, dynamic, image: bool, integer: bool = False) -> str:
    """'any size of every dim', or 'the model fixes channels at 3, height and width at 224'."""
    fixed = [d for d in range(len(shape)) if d not in dynamic]
    if not fixed:
        return "any size of every dim"
    groups: dict = {}
    for d in fixed:
        groups.setdefault(shape[d], []).append(word(len(shape), d, image, integer))
    return "the model fixes " + ", ".join(f"{_and(ws)} at {size}" for size, ws in groups.items())


def _and(items: list) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
