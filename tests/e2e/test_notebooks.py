"""Every chapter (notebooks/NN_*.py) runs where a reader opens it, both ways:

- as a Jupyter kernel started in ``notebooks/``, as JupyterLab and VS Code start it, through
  the book's executor (docs/hooks/chapters.py: the same chapter with the same code runs once
  per checkout, by this test or by the book build, whichever comes first; its cache is
  keyed by the chapter, jaxdl's and torch_reference's sources and the library versions);
- as a script from the repository root (``python notebooks/05_cnns.py``), where the
  script's folder, not the root, is on ``sys.path``: jaxdl and torch_reference must come
  from the installed package.

Each chapter carries its own assertions that PyTorch and JAX agree, pairs the notes'
PyTorch cells with JAX cells, and shows every figure it draws."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("book_chapters", ROOT / "docs" / "hooks" / "chapters.py")
chapters = importlib.util.module_from_spec(spec)
spec.loader.exec_module(chapters)
NOTEBOOKS = chapters.chapters()


def test_there_are_ten_chapters_that_pair_pytorch_with_jax():
    import jupytext

    assert len(NOTEBOOKS) == 10
    for path in NOTEBOOKS:
        nb = jupytext.read(path)
        tags = [c.metadata.get("tags", []) for c in nb.cells]
        assert ["pytorch"] in tags and ["jax"] in tags, f"{path.name}: no pytorch/jax cell pair"
        assert sum(c.cell_type == "code" and "assert" in c.source for c in nb.cells) >= 2, (
            f"{path.name}: agreement checks")
        assert nb.metadata["kernelspec"]["name"] == "python3", f"{path.name}: the kernel JupyterLab starts"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_runs_as_a_kernel_in_notebooks(path):
    nb, seconds = chapters.execute(path)
    print(f"{path.name}: {'from the cache' if seconds is None else f'{seconds:.1f} s'}")
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    figures = sum(o.output_type == "display_data" and "image/png" in o.get("data", {}) for c in code for o in c.outputs)
    shown = sum(c.source.count("plots.show(") for c in code)
    assert figures == shown, f"{path.name}: {shown} plots.show calls but {figures} PNG outputs"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_runs_as_a_script_from_the_root(path):
    run = subprocess.run([sys.executable, str(path.relative_to(ROOT))], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, check=False)
    assert run.returncode == 0, f"python {path.relative_to(ROOT)} failed:\n{run.stderr[-3000:]}"
    shown = sum(line.startswith("figure: ") for line in run.stdout.splitlines())
    assert shown == path.read_text().count("plots.show("), "a script prints where each figure went"
