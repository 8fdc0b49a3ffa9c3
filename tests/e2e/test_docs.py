"""The book builds offline with warnings as errors (``mkdocs build --strict``), and reads in a
browser: served on localhost and opened in headless Chromium (Debian's ``chromium``, driven
over the DevTools protocol on a pipe: no driver, no extra package), a chapter shows its
figures (PNG images that loaded) and both code variants (the notes' PyTorch cells and the
JAX cells), and the API reference lists ``Learner``. The screenshots are kept in pytest's
temporary directory (their paths are printed), never in the repository.

The build executes the chapters that tests/e2e/test_notebooks.py has not already executed
with the same code (docs/hooks/chapters.py caches them)."""

import functools
import json
import os
import shutil
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                         capture_output=True, text=True, timeout=1800, check=False)
    assert run.returncode == 0, f"mkdocs build --strict failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    return out


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def url(site):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class Browser:
    """Headless Chromium over the DevTools protocol on fds 3 and 4 (``--remote-debugging-pipe``:
    JSON messages ending in NUL), one page."""

    def __init__(self, user_data_dir):
        to_chrome, self._out = os.pipe()
        self._in, from_chrome = os.pipe()

        def child_fds():  # the protocol's fixed descriptors in the child
            os.dup2(to_chrome, 3)
            os.dup2(from_chrome, 4)

        self.proc = subprocess.Popen([CHROMIUM, *FLAGS, f"--user-data-dir={user_data_dir}", "about:blank"],
                                     preexec_fn=child_fds, close_fds=False,  # noqa: PLW1509 (only dup2 runs there)
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_chrome)
        os.close(from_chrome)
        self._reader, self._buffer, self._id, self.session = os.fdopen(self._in, "rb"), b"", 0, None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Page.enable")

    def _message(self):
        while b"\0" not in self._buffer:
            chunk = os.read(self._in, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def call(self, method, **params):
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._message()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url, width=1700, height=1300):
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", url=url)
        self.evaluate("new Promise(r => document.readyState === 'complete' ? r(1) : "
                      "addEventListener('load', () => r(1)))")

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path):
        import base64
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        print(f"screenshot: {path}")

    def close(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self._reader.close()
        os.close(self._out)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium); .ci/run installs it, so CI "
                    "never skips this test")
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


IMAGES = """Promise.all(Array.from(document.images).map(i => i.decode().then(() => i, () => i))).then(imgs =>
  imgs.filter(i => i.src.startsWith('data:image/png') || i.src.endsWith('.png'))
      .map(i => ({width: i.naturalWidth, height: i.naturalHeight, complete: i.complete})))"""
CELLS = """['pytorch', 'jax'].map(tag => Array.from(document.querySelectorAll('.jp-CodeCell.celltag_' + tag))
  .map(c => c.querySelector('.jp-InputArea').innerText))"""


def test_a_chapter_shows_its_figures_and_both_code_variants(browser, url, shots):
    browser.open(f"{url}/chapters/05_cnns.html")
    images = browser.evaluate(IMAGES)
    assert len(images) >= 3 and all(i["complete"] and i["width"] > 0 and i["height"] > 0 for i in images), images
    torch_cells, jax_cells = browser.evaluate(CELLS)
    assert any("class ConvolutionalNetwork(nn.Module)" in c for c in torch_cells), torch_cells[:1]
    assert any("class JaxConvolutionalNetwork(nnx.Module)" in c for c in jax_cells), jax_cells[:1]
    assert len(torch_cells) == len(jax_cells) >= 4  # the same steps in both
    # side by side on a wide screen: the first pair shares a row
    tops = browser.evaluate("['pytorch', 'jax'].map(t => document.querySelector('.celltag_' + t)"
                            ".getBoundingClientRect().top)")
    assert tops[0] == tops[1], tops
    browser.screenshot(shots / "05_cnns.png")
    browser.evaluate("document.querySelectorAll('img')[1].scrollIntoView()")
    browser.screenshot(shots / "05_cnns_figure.png")


def test_the_api_reference_lists_learner(browser, url, shots):
    browser.open(f"{url}/api/train.html")
    heading = browser.evaluate("(document.getElementById('jaxdl.train.Learner') || {}).innerText || ''")
    assert "Learner" in heading
    assert "fit" in browser.evaluate("Array.from(document.querySelectorAll('.doc-heading')).map(h => h.id).join(' ')")
    browser.screenshot(shots / "api_train.png")


def test_the_concept_map_and_the_guides_are_in_the_book(site):
    for page in ("pytorch_to_jax.html", "speed.html", "precision.html", "data.html", "vision.html", "porting.html",
                 "devices.html", "experiments.html"):
        assert (site / page).is_file(), page
    concept_map = (site / "pytorch_to_jax.html").read_text()
    assert "chapters/01_tensors.html" in concept_map and "source/experiments/iris.py.html" in concept_map
