"""jaxdl.aten resampling against torch: nearest / nearest-exact / linear / bilinear /
trilinear / bicubic with sizes and scale factors (also non-integer ones) and
align_corners, grid_sample (modes, paddings), affine_grid, pixel (un)shuffle."""

import pytest

from tests.aten.runner import Case, T, check


def up(op, overload, shape, id="", **kw):
    return Case(op, overload, lambda g: ((T(g, *shape),), kw), id=id)


CASES = [
    up("upsample_nearest1d", "vec", (2, 3, 5), output_size=None, scale_factors=[2.5]),
    up("upsample_nearest1d", "default", (2, 3, 5), output_size=[7], id="sized"),
    up("upsample_nearest2d", "vec", (2, 3, 4, 5), output_size=[7, 3], scale_factors=None),
    up("upsample_nearest2d", "vec", (2, 3, 5, 5), output_size=None, scale_factors=[1.7, 2.0], id="scale"),
    up("upsample_nearest2d", "default", (2, 3, 4, 5), output_size=[8, 10], scales_h=2.0, scales_w=2.0, id="sized"),
    up("upsample_nearest3d", "vec", (1, 2, 3, 4, 5), output_size=[5, 4, 3], scale_factors=None),
    up("_upsample_nearest_exact1d", "vec", (2, 3, 5), output_size=[8], scale_factors=None),
    up("_upsample_nearest_exact2d", "vec", (2, 3, 5, 4), output_size=None, scale_factors=[1.5, 0.5]),
    up("_upsample_nearest_exact3d", "vec", (1, 2, 3, 4, 5), output_size=[4, 4, 4], scale_factors=None),
    up("upsample_linear1d", "vec", (2, 3, 5), output_size=[9], align_corners=False, scale_factors=None),
    up("upsample_linear1d", "vec", (2, 3, 5), output_size=[9], align_corners=True, scale_factors=None, id="corners"),
    up("upsample_bilinear2d", "vec", (2, 3, 4, 5), output_size=[7, 9], align_corners=False, scale_factors=None),
    up("upsample_bilinear2d", "vec", (2, 3, 4, 5), output_size=[7, 9], align_corners=True, scale_factors=None,
       id="corners"),
    up("upsample_bilinear2d", "vec", (2, 3, 5, 5), output_size=None, align_corners=False, scale_factors=[1.7, 0.6],
       id="scale"),
    up("upsample_bilinear2d", "default", (2, 3, 4, 5), output_size=[3, 2], align_corners=False, id="down"),
    up("upsample_trilinear3d", "vec", (1, 2, 3, 4, 5), output_size=[5, 3, 7], align_corners=False,
       scale_factors=None),
    up("upsample_bicubic2d", "vec", (2, 3, 4, 5), output_size=[7, 9], align_corners=False, scale_factors=None),
    up("upsample_bicubic2d", "vec", (2, 3, 4, 5), output_size=[7, 9], align_corners=True, scale_factors=None,
       id="corners"),
    up("upsample_bicubic2d", "default", (2, 3, 6, 6), output_size=[12, 15], align_corners=False, scales_h=2.0,
       scales_w=2.5, id="scales"),
    *(Case("grid_sampler_2d", make=lambda g, m=m, p=p, a=a: (
        (T(g, 2, 3, 5, 6), T(g, 2, 4, 3, 2, low=-1.2, high=1.2), m, p, a), {}), id=f"{m}{p}{int(a)}",
        grad=m != 1) for m in (0, 1, 2) for p in (0, 1, 2) for a in (False, True)),
    Case("grid_sampler", make=lambda g: ((T(g, 2, 3, 5, 6), T(g, 2, 4, 3, 2, low=-1, high=1), 0, 0, False), {})),
    Case("affine_grid_generator", make=lambda g: ((T(g, 2, 2, 3), [2, 3, 4, 5], False), {})),
    Case("affine_grid_generator", make=lambda g: ((T(g, 2, 3, 4), [2, 3, 2, 4, 5], True), {}), id="3d"),
    up("pixel_shuffle", "default", (2, 8, 3, 4), upscale_factor=2),
    up("pixel_shuffle", "default", (5, 2, 9, 3, 4), upscale_factor=3, id="extra_dims"),
    up("pixel_unshuffle", "default", (2, 2, 6, 4), downscale_factor=2),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)
