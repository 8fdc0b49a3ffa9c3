"""torchvision's image preprocessing (torch: ``torchvision.transforms``), host-side.

The transforms take PIL images or uint8 arrays and give the same pixels as
torchvision's PIL path; where jaxdl differs: ``ToTensor`` gives HWC (torch: CHW), so
batches come out NHWC float32, the layout of every jaxdl model. :class:`Normalize` also
takes a whole NHWC array (``Data.map(x=Normalize(mean, std))``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _to_pil(image):
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    a = np.asarray(image)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise TypeError(f"expected a PIL image or a uint8 HW/HWC array, got {a.dtype} {a.shape}")
    return Image.fromarray(a[..., 0] if a.ndim == 3 and a.shape[2] == 1 else a)


def _size_hw(image) -> tuple[int, int]:
    if hasattr(image, "size") and not isinstance(image, np.ndarray):
        w, h = image.size  # PIL
        return h, w
    return np.shape(image)[:2]


def resized_size(h: int, w: int, size: int | Sequence[int], max_size: int | None = None) -> tuple[int, int]:
    """torchvision's output size for ``Resize(size)``: an int scales the shorter side to
    ``size`` and the longer to ``int(size * long / short)`` (truncated)."""
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return int(size[0]), int(size[1])
    size = int(size[0] if isinstance(size, (tuple, list)) else size)
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    if max_size is not None:
        if max_size <= size:
            raise ValueError(f"max_size = {max_size} must be greater than the requested size {size}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


class Resize:
    """torch: ``transforms.Resize(size, interpolation=BILINEAR, max_size=None)`` on a PIL
    image: the shorter side to ``size`` (or ``(h, w)`` exactly) with Pillow's resampling,
    which antialiases when shrinking (torchvision's PIL path, so the same pixels). Takes
    a PIL image or a uint8 HWC array; returns a PIL image."""

    _MODES: ClassVar[dict[str, int]] = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1, "box": 4, "hamming": 5}

    def __init__(self, size: int | Sequence[int], interpolation: str = "bilinear", max_size: int | None = None):
        if interpolation not in self._MODES:
            raise ValueError(f"interpolation must be one of {sorted(self._MODES)}, got {interpolation!r}")
        self.size, self.interpolation, self.max_size = size, interpolation, max_size

    def __call__(self, image):
        image = _to_pil(image)
        h, w = _size_hw(image)
        out_h, out_w = resized_size(h, w, self.size, self.max_size)
        if (out_h, out_w) == (h, w):
            return image
        return image.resize((out_w, out_h), self._MODES[self.interpolation])

    def __repr__(self) -> str:
        return f"Resize({self.size}, {self.interpolation})"


class CenterCrop:
    """torch: ``transforms.CenterCrop(size)``: offsets ``int(round((H - h) / 2))`` (Python's
    round, as torchvision), zero padding first when the image is smaller than the crop.
    PIL image in, PIL image out; a HWC array in, an array out."""

    def __init__(self, size: int | Sequence[int]):
        self.size = (int(size), int(size)) if isinstance(size, (int, np.integer)) else (
            (int(size[0]), int(size[0])) if len(size) == 1 else (int(size[0]), int(size[1])))

    def __call__(self, image):
        ch, cw = self.size
        h, w = _size_hw(image)
        is_pil = not isinstance(image, np.ndarray)
        if is_pil and ch <= h and cw <= w:
            top, left = round((h - ch) / 2.0), round((w - cw) / 2.0)
            return image.crop((left, top, left + cw, top + ch))
        a = np.asarray(image)
        if ch > h or cw > w:  # torchvision pads (left, top) = floor(diff / 2), the rest right/bottom
            top, left = max(ch - h, 0) // 2, max(cw - w, 0) // 2
            pad = [(top, max(ch - h, 0) - top), (left, max(cw - w, 0) - left)] + [(0, 0)] * (a.ndim - 2)
            a = np.pad(a, pad)
            h, w = a.shape[:2]
        top, left = round((h - ch) / 2.0), round((w - cw) / 2.0)
        a = a[top:top + ch, left:left + cw]
        if not is_pil:
            return a
        from PIL import Image

        return Image.fromarray(np.ascontiguousarray(a))

    def __repr__(self) -> str:
        return f"CenterCrop({self.size})"


class ToTensor:
    """torch: ``transforms.ToTensor()``: uint8 -> float32 in [0, 1] (``x / 255``), but
    HWC (torch: CHW), the layout jaxdl's NHWC models take. Grayscale gives HW1.
    16-bit images (PIL mode ``I;16``, uint16 arrays) are scaled to [0, 1] too
    (``x / 65535``); torchvision returns their raw values as int16 there (65535 becomes
    -1). Other types are refused."""

    def __call__(self, image) -> np.ndarray:
        mode = getattr(image, "mode", None)
        a = np.asarray(image)
        if mode and mode.startswith("I;16"):
            a = a.astype(np.uint16)
        if a.dtype not in (np.uint8, np.uint16):
            raise TypeError(f"ToTensor expects a PIL image or a uint8 or uint16 array, got {a.dtype}"
                            f"{f' (PIL mode {mode})' if mode else ''}")
        scale = np.float32(255 if a.dtype == np.uint8 else 65535)
        a = np.divide(a, scale, dtype=np.float32)  # one pass; torch: x.float().div(255)
        return a[..., None] if a.ndim == 2 else a

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """torch: ``transforms.Normalize(mean, std)``: ``(x - mean) / std`` per channel, in
    float32, on one HWC image (after :class:`ToTensor`) or a whole NHWC array (the
    channel axis is last): ``Data.map(x=Normalize((0.1307,), (0.3081,)))``.

    Args:
        mean: per-channel means (one value: the same for every channel).
        std: per-channel standard deviations, none zero.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std contains zeros ({list(std)}); division by zero")
        self._rows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.float32 or x.ndim not in (3, 4) or x.shape[-1] != len(self.mean) and len(self.mean) != 1:
            raise TypeError(f"Normalize expects float32 HWC or NHWC arrays with {len(self.mean)} channels (after "
                            f"ToTensor), got {x.dtype} {x.shape}")
        w, c = x.shape[-2:]
        if (w, c) not in self._rows:  # mean/std repeated along a row: long inner loops, same arithmetic
            self._rows[w, c] = (np.resize(self.mean, w * c), np.resize(self.std, w * c))
        mean, std = self._rows[w, c]
        out = np.subtract(x.reshape(-1, w * c), mean)
        return np.divide(out, std, out=out).reshape(x.shape)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


class Compose:
    """torch: ``transforms.Compose([...])``: the transforms applied in order."""

    def __init__(self, transforms: Sequence[Callable]):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self) -> str:
        return "Compose([" + ", ".join(map(repr, self.transforms)) + "])"


def imagenet_transform(crop_size: int = 224, resize_size: int = 256) -> Compose:
    """The torchvision ImageNet evaluation preprocessing of the notes: ``Resize(256)``,
    ``CenterCrop(224)``, ``ToTensor()``, ``Normalize(IMAGENET_MEAN, IMAGENET_STD)``;
    HWC float32 out. Inception v3: :func:`inception_transform` (342 / 299)."""
    return Compose([Resize(resize_size), CenterCrop(crop_size), ToTensor(), Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def inception_transform() -> Compose:
    """torchvision's Inception v3 preprocessing: ``Resize(342)``, ``CenterCrop(299)``,
    ``ToTensor()``, ImageNet ``Normalize``."""
    return imagenet_transform(299, 342)
