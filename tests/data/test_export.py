"""jaxdl.data.export: write_image_folder writes a data set as PNGs that read back exactly."""

import numpy as np
import pytest

from jaxdl.data import write_image_folder
from jaxdl.data.export import safe_folder_name


def test_write_image_folder_writes_real_fashion_mnist(tmp_path):
    from PIL import Image

    from jaxdl.data import load

    data = load("fashion_mnist")
    root = write_image_folder(tmp_path / "fm", data, split="test", per_class=2, size=40, rgb=True)
    folders = sorted(p.name for p in root.iterdir())
    assert folders == sorted(safe_folder_name(c) for c in data.classes)
    assert "T-shirt_top" in folders and all(len(list((root / f).glob("*.png"))) == 2 for f in folders)
    first = min((root / "Trouser").glob("*.png"))
    assert Image.open(first).mode == "RGB" and Image.open(first).size == (40, 40)
    # unresized grayscale: the very pixels of the data set
    plain = write_image_folder(tmp_path / "plain", data, split="test", per_class=1)
    x, y = data.test.arrays
    for png in plain.glob("*/*.png"):
        i = int(png.stem)
        assert safe_folder_name(data.classes[y[i]]) == png.parent.name
        np.testing.assert_array_equal(np.asarray(Image.open(png)), np.round(x[i, :, :, 0] * 255).astype(np.uint8))
    with pytest.raises(ValueError, match="no split 'val'"):
        write_image_folder(tmp_path / "v", data, split="val")
