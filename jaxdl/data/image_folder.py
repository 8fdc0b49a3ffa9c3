"""Folders of image files (torch: ``torchvision.datasets.ImageFolder``).

``ImageFolder(root, transform=imagenet_transform())`` reads ``root/<class>/<file>``
exactly as torchvision does (sorted class folders, the same extensions, the same
``classes`` / ``class_to_idx`` / ``samples``) and decodes with Pillow; give it to
:class:`jaxdl.data.DataLoader` (``num_workers=2`` decodes in two processes). The
preprocessing is :mod:`jaxdl.data.image_transforms`'.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from jaxdl.data.errors import SkipRecord, UnreadableImageError

# torchvision.datasets.folder.IMG_EXTENSIONS (matched case-insensitively, as there)
IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


_HIGH_DEPTH = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # Pillow's 16- and 32-bit integer grayscale modes


def pil_loader(path: str):
    """torchvision's default loader: open with Pillow, ``convert('RGB')``; except for
    16-bit grayscale (PNG mode ``I;16``), which is scaled to 8 bits first
    (``round(v / 257)``: 65535 -> 255). torchvision's ``convert('RGB')`` instead clips
    every value above 255 to white, so a 16-bit image comes out almost all white
    without a word; here it keeps its picture (8 bits of its 16)."""
    from PIL import Image

    with open(path, "rb") as f:
        image = Image.open(f)
        if image.mode in _HIGH_DEPTH:
            a = np.asarray(image).astype(np.int64)
            if a.min() < 0 or a.max() > 65535:
                raise ValueError(f"{image.mode} pixel values {a.min()}..{a.max()} outside the 16-bit range")
            image = Image.fromarray(((a * 255 + 32767) // 65535).astype(np.uint8))
        return image.convert("RGB")


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
        for folder, _, fnames in sorted(_walk(target_dir)):
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


def _walk(top: str):
    """``os.walk(top, followlinks=True)`` (torchvision's walk), refusing a symbolic link
    that leads back into a folder it is inside: os.walk would follow such a loop until
    the path is too long and list every image below it dozens of times."""
    ancestors: dict[str, list[str]] = {top: [os.path.realpath(top)]}
    for folder, dirnames, fnames in os.walk(top, followlinks=True):
        chain = ancestors.pop(folder)
        for d in dirnames:
            path = os.path.join(folder, d)
            real = os.path.realpath(path)
            if real in chain:
                link = path
                while not os.path.islink(link) and len(link) > len(top):  # the link on the way, to name it
                    link = os.path.dirname(link)
                target = os.readlink(link) if os.path.islink(link) else real
                raise OSError(f"ImageFolder: {link} is a symbolic link to {target}, which leads back to "
                              f"{real}, a folder it is inside: following it would loop. Remove the link")
            ancestors[path] = [*chain, real]
        yield folder, dirnames, fnames


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

    Args:
        root: the folder holding one sub-folder of images per class.
        transform: applied to each decoded PIL image (:mod:`jaxdl.data.image_transforms`).
        target_transform: applied to each class index.
        extensions: the file name endings read (default ``IMG_EXTENSIONS``, any case).
        is_valid_file: ``path -> bool`` choosing the files instead of ``extensions``.
        allow_empty: keep class folders without a valid file as classes.
        loader: ``path -> image`` (default Pillow, ``convert('RGB')``).
        on_error: ``'raise'`` or ``'skip'`` (a file Pillow cannot decode).
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
