"""Folders of image files and torchvision's ImageNet preprocessing (torch:
``torchvision.datasets.ImageFolder`` and ``torchvision.transforms``).

``ImageFolder(root, transform=imagenet_transform())`` reads ``root/<class>/<file>``
exactly as torchvision does (sorted class folders, the same extensions, the same
``classes`` / ``class_to_idx`` / ``samples``) and decodes with Pillow; give it to
:class:`jaxdl.data.DataLoader` (``num_workers=2`` decodes in two processes). The
transforms are host-side functions on PIL images or uint8 arrays giving the same pixels
as torchvision's; where jaxdl differs: ``ToTensor`` gives HWC (torch: CHW), so batches
come out NHWC float32, the layout of every jaxdl model.

``write_image_folder(root, "fashion_mnist")`` writes a data set jaxdl has as PNG files
in that layout: real images for tests and examples on a machine without a photo set.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

# torchvision.datasets.folder.IMG_EXTENSIONS (matched case-insensitively, as there)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SkipRecord(Exception):
    """Raised by a dataset's ``__getitem__`` to have :class:`jaxdl.data.DataLoader` skip
    that record with a warning (no torch equivalent: torch's DataLoader stops). The
    record's batch comes out smaller by one; the same records are skipped in every run."""


class UnreadableImageError(OSError):
    """A file in an image folder that Pillow cannot decode (corrupt, truncated or not an
    image). The message names the file and its class folder."""


def pil_loader(path: str):
    """torchvision's default loader: open with Pillow, ``convert('RGB')``."""
    from PIL import Image

    with open(path, "rb") as f:
        return Image.open(f).convert("RGB")


# --------------------------------------------------------------------------- folders


def find_classes(directory: str | os.PathLike) -> tuple[list[str], dict[str, int]]:
    """torchvision's ``find_classes``: the sorted sub-folder names and their indices."""
    classes = sorted(entry.name for entry in os.scandir(directory) if entry.is_dir())
    if not classes:
        raise FileNotFoundError(f"Couldn't find any class folder in {directory}: ImageFolder expects "
                                "root/<class name>/<image file>.")
    return classes, {name: i for i, name in enumerate(classes)}


def make_dataset(directory: str, class_to_idx: dict[str, int], extensions=None,
                 is_valid_file: Callable[[str], bool] | None = None,
                 allow_empty: bool = False) -> list[tuple[str, int]]:
    """torchvision's ``make_dataset``: ``(path, class_index)`` of every valid file, classes
    in sorted order, each class folder walked recursively in sorted order."""
    if (extensions is None) == (is_valid_file is None):
        raise ValueError("give exactly one of extensions and is_valid_file")
    if extensions is not None:
        suffixes = extensions if isinstance(extensions, str) else tuple(extensions)

        def is_valid_file(path: str) -> bool:
            return path.lower().endswith(suffixes)

    samples, found = [], set()
    for name in sorted(class_to_idx):
        target_dir = os.path.join(directory, name)
        if not os.path.isdir(target_dir):
            continue
        for folder, _, fnames in sorted(os.walk(target_dir, followlinks=True)):
            for fname in sorted(fnames):
                path = os.path.join(folder, fname)
                if is_valid_file(path):
                    samples.append((path, class_to_idx[name]))
                    found.add(name)
    empty = set(class_to_idx) - found
    if empty and not allow_empty:
        msg = f"Found no valid file for the classes {', '.join(sorted(empty))}. "
        if extensions is not None:
            msg += f"Supported extensions are: {extensions if isinstance(extensions, str) else ', '.join(extensions)}"
        raise FileNotFoundError(msg + " (allow_empty=True keeps empty class folders as classes)")
    return samples


_DEFAULT = object()


class ImageFolder:
    """torch: ``torchvision.datasets.ImageFolder(root, transform, target_transform,
    loader, is_valid_file, allow_empty)``: ``root/<class>/**/<image>``, classes indexed in
    sorted folder order.

    ``ds[i]`` is ``(transform(image), target_transform(class_index))``; with the ImageNet
    transform the image is an HWC float32 array (torch: CHW). ``extensions`` (default
    torchvision's ``IMG_EXTENSIONS``) is ignored when ``is_valid_file`` is given, as in
    torchvision. A file Pillow cannot decode raises :class:`UnreadableImageError` naming
    the file and its class folder; ``on_error='skip'`` instead makes the DataLoader skip
    it with a warning (jaxdl's addition; torch has no such option). Attributes as
    torchvision: ``classes``, ``class_to_idx``, ``samples`` (= ``imgs``), ``targets``.
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 target_transform: Callable | None = None, *, extensions=_DEFAULT,
                 is_valid_file: Callable[[str], bool] | None = None, allow_empty: bool = False,
                 loader: Callable[[str], object] = pil_loader, on_error: str = "raise"):
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if extensions is not _DEFAULT and is_valid_file is not None:
            raise ValueError("give extensions or is_valid_file, not both")
        self.root = os.path.expanduser(root) if isinstance(root, str) else root
        if not os.path.isdir(self.root):
            raise FileNotFoundError(f"ImageFolder: no folder {self.root} (expected root/<class name>/<image file>)")
        self.extensions = None if is_valid_file is not None else (
            IMG_EXTENSIONS if extensions is _DEFAULT else extensions)
        self.classes, self.class_to_idx = find_classes(self.root)
        self.samples = make_dataset(self.root, self.class_to_idx, self.extensions,
                                    is_valid_file, allow_empty)
        self.imgs = self.samples
        self.targets = [t for _, t in self.samples]
        self.transform, self.target_transform = transform, target_transform
        self.loader, self.on_error = loader, on_error

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, target = self.samples[index]
        try:
            image = self.loader(path)
        except Exception as err:  # Pillow raises OSError, ValueError, SyntaxError, DecompressionBombError...
            msg = (f"cannot decode image file {path} (class folder {self.classes[target]!r}, "
                   f"sample {index}): {type(err).__name__}: {err}")
            if self.on_error == "skip":
                raise SkipRecord(f"skipped {msg}") from err
            raise UnreadableImageError(f"{msg}. Remove or replace the file, or pass ImageFolder(..., "
                                       "on_error='skip') to skip unreadable files with a warning.") from err
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def __repr__(self) -> str:
        return f"ImageFolder({len(self)} images, {len(self.classes)} classes; root {self.root})"


# --------------------------------------------------------------------------- transforms


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
    HWC (torch: CHW), the layout jaxdl's NHWC models take. Grayscale gives HW1."""

    def __call__(self, image) -> np.ndarray:
        a = np.asarray(image)
        if a.dtype != np.uint8:
            raise TypeError(f"ToTensor expects a PIL image or a uint8 array, got {a.dtype}")
        a = np.divide(a, np.float32(255), dtype=np.float32)  # one pass; torch: x.float().div(255)
        return a[..., None] if a.ndim == 2 else a

    def __repr__(self) -> str:
        return "ToTensor()"


class Normalize:
    """torch: ``transforms.Normalize(mean, std)``: ``(x - mean) / std`` per channel, in
    float32, on HWC arrays (the channel axis is last)."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std contains zeros ({list(std)}); division by zero")
        self._rows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.dtype != np.float32 or x.ndim != 3 or x.shape[2] != len(self.mean) and len(self.mean) != 1:
            raise TypeError(f"Normalize expects float32 HWC arrays with {len(self.mean)} channels (after "
                            f"ToTensor), got {x.dtype} {x.shape}")
        h, w, c = x.shape
        if (w, c) not in self._rows:  # mean/std repeated along a row: long inner loops, same arithmetic
            self._rows[w, c] = (np.resize(self.mean, w * c), np.resize(self.std, w * c))
        mean, std = self._rows[w, c]
        out = np.subtract(x.reshape(h, w * c), mean)
        return np.divide(out, std, out=out).reshape(h, w, c)

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


# --------------------------------------------------------------------------- writing folders


def safe_folder_name(name: str) -> str:
    """A class name as a folder name on any file system: characters other than letters,
    digits, space, ``.``, ``_``, ``-`` become ``_`` (Fashion-MNIST's ``T-shirt/top`` ->
    ``T-shirt_top``)."""
    safe = re.sub(r"[^A-Za-z0-9 ._-]", "_", name).strip(" .")
    if not safe:
        raise ValueError(f"class name {name!r} gives an empty folder name")
    return safe


def write_image_folder(root: str | os.PathLike, name="fashion_mnist", *, split: str = "train",
                       per_class: int | None = None, size: int | None = None, rgb: bool = False,
                       data_dir=None) -> Path:
    """Write the ``split`` images of the jaxdl data set ``name`` (``jaxdl.data.load``, or a
    loaded :class:`jaxdl.data.Data`) as
    PNG files ``root/<class name>/<index>.png`` (``index``: the image's position in the
    split, 5 digits): an :class:`ImageFolder` of real images, offline. ``per_class``: only
    the first that many images of each class; ``size``: resized to ``size x size``
    (Pillow bilinear); ``rgb``: grayscale written as 3-channel RGB. Class names become
    folder names through :func:`safe_folder_name`; ImageFolder then indexes the classes
    in sorted folder order, which need not be the data set's label order. Returns
    ``Path(root)``."""
    from PIL import Image

    from jaxdl.data.datasets import load

    data = load(name, data_dir) if isinstance(name, str) else name
    name = data.name
    ds = getattr(data, split, None)
    if ds is None:
        raise ValueError(f"{name} has no split {split!r} (train, test{', val' if data.val is not None else ''})")
    if not data.classes:
        raise ValueError(f"{name} is not a classification image set (no class names)")
    x, y = ds.arrays[0], np.asarray(ds.arrays[-1]).reshape(len(ds))
    if x.ndim != 4:
        raise ValueError(f"{name} holds no images (arrays of shape {x.shape})")
    folders = [safe_folder_name(c) for c in data.classes]
    if len(set(folders)) != len(folders):
        raise ValueError(f"class names {data.classes} collide as folder names {folders}")
    root = Path(root)
    keep = np.concatenate([np.flatnonzero(y == c)[:per_class] for c in range(len(folders))])
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for i in np.sort(keep):
        pixels = np.round(x[i] * 255).astype(np.uint8)  # load() gives uint8 / 255: exact round trip
        image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        if size is not None:
            image = image.resize((size, size), Image.BILINEAR)
        if rgb:
            image = image.convert("RGB")
        image.save(root / folders[int(y[i])] / f"{i:05d}.png")
    return root
