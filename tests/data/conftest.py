"""Fixtures of the data tests."""

from pathlib import Path

import pytest

from jaxdl.data import write_image_folder


@pytest.fixture(scope="module")
def fashion_folder(tmp_path_factory) -> Path:
    """3 real Fashion-MNIST test images per class, 28x28 grayscale PNGs."""
    return write_image_folder(tmp_path_factory.mktemp("fm"), "fashion_mnist", split="test", per_class=3)
