"""Every side-by-side notebook executes headless (nbclient) without error, its kernel started in
``notebooks/`` as Jupyter starts it; each carries its own assertions of agreement with PyTorch."""

import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))


def test_there_are_ten_chapters():
    assert len(NOTEBOOKS) == 10


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path):
    import jupytext
    import nbclient

    nb = jupytext.read(path)
    assert sum(c.cell_type == "code" and "assert" in c.source for c in nb.cells) >= 2, "agreement checks"
    t0 = time.perf_counter()
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute()
    print(f"{path.name}: {time.perf_counter() - t0:.1f} s")
