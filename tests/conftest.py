"""Session-wide test settings and shared fixtures.

``--matmul-precision {default,high,highest}`` (default ``highest``) sets JAX's float32
matmul/convolution precision once for the session (jaxdl.precision.set_matmul_precision),
so that on a GPU (TensorFloat-32 otherwise) or a TPU (one bfloat16 pass otherwise) the
parity tests compare with torch's float32 at their 1e-5 tolerances. The CPU computes
float32 whatever the setting. On a GPU, torch's TensorFloat-32 follows the same setting
in the tests that compare with torch (they import torch; this file never does).
"""

import http.server
import sys
import threading

import pytest

from jaxdl.data import arrays
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


def pytest_collection_finish(session):
    """torch's side of a GPU comparison at the same precision (TensorFloat-32 only below
    'highest'), set when a collected test module imported torch."""
    torch = sys.modules.get("torch")
    if torch is not None:
        precision = session.config.getoption("--matmul-precision")
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = precision != "highest"


class RangeHandler(http.server.BaseHTTPRequestHandler):
    files: dict = {}
    log: list = []
    drop_after: int | None = None  # bytes sent before the connection is cut (first request only)

    def do_GET(self):
        name = self.path.lstrip("/")
        body = self.files.get(name)
        rng = self.headers.get("Range")
        self.log.append((name, rng))
        if body is None:
            self.send_error(404)
            return
        start = int(rng.split("=")[1].split("-")[0]) if rng else 0
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        chunk = body[start:]
        if type(self).drop_after is not None:
            chunk, type(self).drop_after = chunk[: type(self).drop_after], None
            self.wfile.write(chunk)
            self.wfile.flush()
            self.connection.shutdown(2)
            return
        self.wfile.write(chunk)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    """A loopback HTTP server for downloads: ``(base URL, handler)``; put files in
    ``handler.files[name]``; ``handler.log`` lists the requests (name, Range header)."""
    RangeHandler.files, RangeHandler.log, RangeHandler.drop_after = {}, [], None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", RangeHandler
    httpd.shutdown()


@pytest.fixture(params=[False, True, "in_step"], ids=["host", "resident", "resident_in_step"])
def device_resident(request, monkeypatch):
    """DataLoader's ``device_resident`` three ways: off; on (on a CPU: rows gathered by
    NumPy beside the step); on, with the rows gathered inside the compiled step as GPUs
    and TPUs do (``arrays.GATHER_IN_STEP_ON_CPU``), so a CPU run tests that path too."""
    if request.param == "in_step":
        monkeypatch.setattr(arrays, "GATHER_IN_STEP_ON_CPU", True)
    return bool(request.param)
