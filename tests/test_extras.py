"""jaxdl.extras: every entry point that needs PyTorch, run where torch cannot be imported,
stops with one line that names the extra to install (``pip install "jaxdl[torch]"``), and
what only optionally writes a torch file says it did not. Each check runs in a fresh
process whose import system refuses ``torch`` (a meta-path finder installed first)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

NO_TORCH = textwrap.dedent("""
    import importlib.abc, sys

    class NoTorch(importlib.abc.MetaPathFinder):  # as if torch and torchvision were not installed
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("torch", "torchvision"):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoTorch())
    """)

CALL = NO_TORCH + textwrap.dedent("""
    import json
    try:
        CALL
        print(json.dumps({"error": None}))
    except Exception as e:
        print(json.dumps({"error": type(e).__name__, "message": str(e)}))
    """)

OTHER_STREAM = "until the {} stream routes its torch imports through jaxdl.extras"


def _python(code: str, *argv: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu"})


def _module(module: str, *argv: str) -> subprocess.CompletedProcess:
    """``python -m module argv...`` without torch."""
    run = f"import runpy; sys.argv = [{module!r}, *sys.argv[1:]]; runpy.run_module({module!r}, run_name='__main__')"
    return _python(NO_TORCH + run, *argv)


def _call(call: str, **names: str) -> dict:
    """The exception (type and message) that ``call`` (``{name}``: ``repr(names[name])``)
    raises without torch."""
    out = _python(CALL.replace("CALL", call.format(**{k: repr(v) for k, v in names.items()})))
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _names_the_extra(message: str, extra: str = "torch") -> bool:
    return "\n" not in message.strip() and f'pip install "jaxdl[{extra}]"' in message


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    """A real torch state_dict file (written here, where torch is installed)."""
    import torch

    path = tmp_path_factory.mktemp("weights") / "linear.pt"
    torch.save(torch.nn.Linear(2, 3).state_dict(), path)
    return path


def test_without_torch_the_finder_refuses_it():
    out = _call("import torch")
    assert out == {"error": "ModuleNotFoundError", "message": "No module named 'torch'"}
    assert _call("import jaxdl, jaxdl.data, jaxdl.harness, jaxdl.models, jaxdl.interop, jaxdl.transfer") == {
        "error": None}  # nothing imports torch on import


def test_load_torch_file(weights):
    out = _call("from jaxdl import interop; interop.load_torch_file({path})", path=str(weights))
    assert out["error"] == "MissingExtraError" and _names_the_extra(out["message"]), out


def test_to_torch():
    out = _call("from flax import nnx; from jaxdl import interop; from jaxdl.models import IrisModel; "
                "interop.to_torch(IrisModel(rngs=nnx.Rngs(0)))")
    assert out["error"] == "MissingExtraError" and _names_the_extra(out["message"]), out


def test_vision_builder_with_pretrained_weights(weights):
    out = _call("from flax import nnx; from jaxdl.models import vision; "
                "vision.alexnet(pretrained={path}, rngs=nnx.Rngs(0))", path=str(weights))
    assert out["error"] == "MissingExtraError" and _names_the_extra(out["message"]), out


def test_port_help_needs_no_torch():
    out = _module("jaxdl.port", "--help")
    assert out.returncode == 0 and "--input-shape" in out.stdout, out.stderr[-3000:]


def test_port_command(tmp_path):
    (tmp_path / "model.py").write_text("import torch\n\nclass M(torch.nn.Module):\n    pass\n")
    out = _module("jaxdl.port", f"{tmp_path / 'model.py'}:M", "--input-shape", "1,4", "--out", str(tmp_path / "out"))
    assert out.returncode != 0 and _names_the_extra(out.stderr, "port"), out.stderr[-3000:]


def test_transfer_recipe_on_a_torchvision_backbone(weights, tmp_path):
    out = _module("experiments.transfer_learning", "--backbone", "alexnet", "--data-dir", str(tmp_path),
                  "--pretrained", str(weights), "--workdir", str(tmp_path / "run"))
    assert out.returncode == 1 and out.stderr.startswith("error: ") and _names_the_extra(out.stderr), out.stderr
    assert not (tmp_path / "run").exists()  # stopped before anything was read or written


def test_iris_says_it_did_not_write_the_torch_file(tmp_path):
    out = _module("experiments.iris", "--epochs", "1", "--workdir", str(tmp_path), "--no-progress")
    assert out.returncode == 0, out.stderr[-3000:]
    said = [line for line in out.stdout.splitlines() if line.startswith("iris_model.pt not written")]
    assert len(said) == 1 and _names_the_extra(said[0]) and not (tmp_path / "iris_model.pt").exists()
    assert (tmp_path / "metrics.json").is_file()  # the run itself is complete
