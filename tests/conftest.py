"""Session-wide test settings.

``--matmul-precision {default,high,highest}`` (default ``highest``) sets JAX's float32
matmul/convolution precision once for the session (jaxdl.precision.set_matmul_precision),
so that on a GPU (TensorFloat-32 otherwise) or a TPU (one bfloat16 pass otherwise) the
parity tests compare with torch's float32 at their 1e-5 tolerances. The CPU computes
float32 whatever the setting. On a GPU, torch's TensorFloat-32 follows the same setting.
"""

import torch

from jaxdl.precision import (
    DEFAULT_MATMUL_PRECISION,
    MATMUL_PRECISIONS,
    set_matmul_precision,
)


def pytest_addoption(parser):
    parser.addoption("--matmul-precision", choices=MATMUL_PRECISIONS, default=DEFAULT_MATMUL_PRECISION,
                     help="JAX float32 matmul/conv precision for the session (jax_default_matmul_precision)")


def pytest_configure(config):
    precision = config.getoption("--matmul-precision")
    set_matmul_precision(precision)
    # torch's side of a GPU comparison at the same precision: TensorFloat-32 only below 'highest'
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision != "highest"
