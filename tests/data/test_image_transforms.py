"""jaxdl.data.image_transforms: torchvision's preprocessing, the same pixels as torchvision
on real photos and Fashion-MNIST PNGs, HWC out; bad input says what is expected."""

import numpy as np
import pytest

from jaxdl.data import image_transforms as transforms
from jaxdl.data.image_folder import pil_loader
from tests.data.datasets import photos, torchvision_modules


@pytest.mark.parametrize("crop,resize", [(224, 256), (299, 342)])
def test_imagenet_transform_same_pixels_as_torchvision(fashion_folder, crop, resize):
    T, _ = torchvision_modules()
    ours = transforms.imagenet_transform(crop, resize)
    theirs = T.Compose([T.Resize(resize), T.CenterCrop(crop), T.ToTensor(),
                        T.Normalize(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])])
    files = photos() + sorted(fashion_folder.glob("*/*.png"))[::6]
    worst = 0.0
    for f in files:
        image = pil_loader(str(f))
        x_HWC = ours(image)
        ref_HWC = theirs(image).numpy().transpose(1, 2, 0)
        assert x_HWC.shape == (crop, crop, 3) and x_HWC.dtype == np.float32
        worst = max(worst, float(np.abs(x_HWC - ref_HWC).max()))
    # same Pillow resampling and the same float32 operations: measured 0.0 (the issue allows 1/255)
    assert worst == 0.0, worst


def test_resize_and_center_crop_geometry_as_torchvision():
    T, _ = torchvision_modules()
    photo = pil_loader(str(photos()[0]))  # 640x427
    for size in [(301, 255), (255, 301), (224, 224), (100, 333)]:  # odd margins: Python's round
        image = photo.resize(size)
        for crop in [224, (200, 111), 350]:  # 350: larger than the image -> zero padding
            got = np.asarray(transforms.CenterCrop(crop)(image))
            want = np.asarray(T.CenterCrop(crop)(image))
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(transforms.CenterCrop(crop)(np.asarray(image)), want)  # arrays too
        for spec in [256, (120, 90), 64]:
            np.testing.assert_array_equal(np.asarray(transforms.Resize(spec)(image)), np.asarray(T.Resize(spec)(image)))
        np.testing.assert_array_equal(np.asarray(transforms.Resize(200, max_size=210)(image)),
                                      np.asarray(T.Resize(200, max_size=210)(image)))
    gray = np.asarray(photo.convert("L"))
    np.testing.assert_array_equal(np.asarray(transforms.Resize(100)(gray)),
                                  np.asarray(T.Resize(100)(photo.convert("L"))))
    assert transforms.ToTensor()(gray[:5, :7]).shape == (5, 7, 1)


def test_transform_bad_input_says_what_is_expected():
    with pytest.raises(TypeError, match="uint8"):
        transforms.Resize(8)(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(TypeError, match="float32 HWC"):
        transforms.Normalize(transforms.IMAGENET_MEAN, transforms.IMAGENET_STD)(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="zeros"):
        transforms.Normalize([0.5], [0.0])
    with pytest.raises(ValueError, match="interpolation"):
        transforms.Resize(8, interpolation="cubic-ish")
