"""Write a data set jaxdl has as image files (torch: ``torchvision.utils.save_image`` in
a loop): ``write_image_folder(root, "fashion_mnist")`` gives an :class:`ImageFolder` of
real images, for tests and examples on a machine without a photo set.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from jaxdl.data.datasets import Data, load


def safe_folder_name(name: str) -> str:
    """A class name as a folder name on any file system: characters other than letters,
    digits, space, ``.``, ``_``, ``-`` become ``_`` (Fashion-MNIST's ``T-shirt/top`` ->
    ``T-shirt_top``)."""
    safe = re.sub(r"[^A-Za-z0-9 ._-]", "_", name).strip(" .")
    if not safe:
        raise ValueError(f"class name {name!r} gives an empty folder name")
    return safe


def write_image_folder(root: str | os.PathLike, name: str | Data = "fashion_mnist", *, split: str = "train",
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
