"""Session-wide test settings.

``--matmul-precision {default,high,highest}`` (default ``highest``) sets JAX's float32
matmul/convolution precision once for the session (jaxdl.precision.set_matmul_precision),
so that on a GPU (TensorFloat-32 otherwise) or a TPU (one bfloat16 pass otherwise) the
parity tests compare with torch's float32 at their 1e-5 tolerances. The CPU computes
float32 whatever the setting.
"""

from jaxdl.precision import (
    DEFAULT_MATMUL_PRECISION,
    MATMUL_PRECISIONS,
    set_matmul_precision,
)


def pytest_addoption(parser):
    parser.addoption("--matmul-precision", choices=MATMUL_PRECISIONS, default=DEFAULT_MATMUL_PRECISION,
                     help="JAX float32 matmul/conv precision for the session (jax_default_matmul_precision)")


def pytest_configure(config):
    set_matmul_precision(config.getoption("--matmul-precision"))
