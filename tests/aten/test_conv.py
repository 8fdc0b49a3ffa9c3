"""jaxdl.aten convolutions against torch: 1-3 spatial dims, stride, padding (ints,
'same', 'valid'), dilation, groups, transposed with output_padding, unbatched input,
im2col/col2im."""

import pytest

from tests.aten.runner import Case, T, check


def conv(op, overload, x, w, bias=True, id="", **kw):
    def make(g):
        transposed = "transpose" in op or kw.get("transposed", False)
        channels = w[1] * kw.get("groups", 1) if transposed else w[0]
        args = (T(g, *x), T(g, *w) * 0.5) + ((T(g, channels),) if bias else (None,))
        return args, kw

    return Case(op, overload, make, id=id)


CASES = [
    conv("conv1d", "default", (2, 4, 9), (6, 2, 3), stride=[2], padding=[2], dilation=[2], groups=2),
    conv("conv1d", "padding", (2, 4, 9), (6, 4, 4), padding="same", dilation=[1], id="same_even"),
    conv("conv2d", "default", (2, 3, 7, 6), (4, 3, 3, 2), stride=[2, 1], padding=[1, 0]),
    conv("conv2d", "default", (2, 4, 7, 6), (4, 1, 3, 3), bias=False, padding=[1, 1], groups=4, id="depthwise"),
    conv("conv2d", "padding", (2, 3, 7, 6), (4, 3, 3, 3), padding="valid", id="valid"),
    conv("conv2d", "padding", (2, 3, 7, 6), (4, 3, 3, 3), padding="same", dilation=[2, 1], id="same_dilated"),
    conv("conv2d", "default", (3, 7, 6), (4, 3, 3, 3), id="unbatched"),
    conv("conv3d", "default", (1, 2, 4, 5, 5), (3, 2, 2, 3, 3), stride=[1, 2, 2], padding=[1, 0, 1]),
    conv("conv_transpose1d", "default", (2, 4, 5), (4, 3, 3), stride=[2], padding=[1], output_padding=[1],
         groups=2),
    conv("conv_transpose2d", "input", (2, 4, 5, 4), (4, 3, 3, 2), stride=[2, 3], padding=[1, 0],
         output_padding=[1, 2], groups=2),
    conv("conv_transpose2d", "input", (2, 4, 5, 4), (4, 2, 3, 3), bias=False, stride=[2, 2], padding=[1, 1],
         dilation=[2, 1], id="dilated"),
    conv("conv_transpose3d", "input", (1, 2, 3, 4, 4), (2, 3, 2, 2, 2), stride=[2, 1, 2]),
    conv("convolution", "default", (2, 3, 7, 6), (4, 3, 3, 3), stride=[1, 2], padding=[1, 1], dilation=[1, 1],
         transposed=False, output_padding=[0, 0], groups=1),
    conv("convolution", "default", (2, 4, 5), (4, 3, 3), stride=[2], padding=[0], dilation=[1], transposed=True,
         output_padding=[1], groups=1, id="transposed"),
    conv("_convolution", "default", (2, 3, 7, 6), (4, 3, 3, 3), stride=[1, 1], padding=[0, 0], dilation=[1, 1],
         transposed=False, output_padding=[0, 0], groups=1, benchmark=False, deterministic=False,
         cudnn_enabled=True, allow_tf32=False),
    Case("im2col", make=lambda g: ((T(g, 2, 3, 6, 5),), {"kernel_size": [2, 3], "dilation": [1, 2],
                                                         "padding": [1, 0], "stride": [2, 1]})),
    Case("col2im", make=lambda g: ((T(g, 2, 12, 12),), {"output_size": [5, 4], "kernel_size": [2, 2],
                                                        "dilation": [1, 1], "padding": [0, 0], "stride": [1, 1]})),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)
