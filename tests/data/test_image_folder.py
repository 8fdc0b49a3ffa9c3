"""jaxdl.data.image_folder: ImageFolder indexes a folder as torchvision's does (classes,
samples, extensions, targets)."""

import numpy as np
import pytest

from jaxdl.data import ImageFolder
from tests.data.datasets import photos, torchvision_modules


def test_image_folder_indexes_as_torchvision(fashion_folder, tmp_path):
    import shutil

    _, D = torchvision_modules()
    root = tmp_path / "tree"
    shutil.copytree(fashion_folder, root)
    shutil.copy(photos()[0], root / "Bag" / "PHOTO.JPG")  # upper-case extension counts
    (root / "Bag" / "notes.txt").write_text("not an image")  # other extensions do not
    (root / "Coat" / "nested" / "deeper").mkdir(parents=True)  # sub-folders are walked
    shutil.copy(next((root / "Coat").glob("*.png")), root / "Coat" / "nested" / "deeper" / "a.png")
    (root / "stray.png").write_bytes(b"")  # files at the root are not samples
    ours, theirs = ImageFolder(root), D.ImageFolder(root)
    assert ours.classes == theirs.classes and ours.class_to_idx == theirs.class_to_idx
    assert ours.samples == theirs.samples and ours.targets == theirs.targets and len(ours) == 32
    assert ours.classes[:2] == ["Ankle boot", "Bag"]  # sorted folder names, not the data set's label order
    image, target = ours[5]
    ref_image, ref_target = theirs[5]
    assert target == ref_target and np.array_equal(np.asarray(image), np.asarray(ref_image))
    png_only = ImageFolder(root, is_valid_file=lambda p: p.endswith(".png"))
    assert png_only.samples == D.ImageFolder(root, is_valid_file=lambda p: p.endswith(".png")).samples

    (root / "Empty").mkdir()  # an empty class folder: an error, as torchvision's allow_empty=False
    with pytest.raises(FileNotFoundError, match="no valid file for the classes Empty"):
        ImageFolder(root)
    with_empty = ImageFolder(root, allow_empty=True)
    assert with_empty.class_to_idx == D.ImageFolder(root, allow_empty=True).class_to_idx
    assert "Empty" in with_empty.classes
    with pytest.raises(FileNotFoundError, match="no folder"):
        ImageFolder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="class folder"):
        ImageFolder(root / "Bag")
    with pytest.raises(ValueError, match="not both"):
        ImageFolder(root, extensions=(".png",), is_valid_file=lambda p: True)
