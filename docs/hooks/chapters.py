"""The book's chapters (notebooks/NN_*.py) executed as Jupyter executes them: a ``python3``
kernel started in ``notebooks/`` (JupyterLab and VS Code start it in the notebook's folder),
every cell within ``CELL_TIMEOUT_S``. Executed notebooks are cached in ``.cache/book/``,
keyed by the chapter's text, every source file of ``jaxdl/`` and ``torch_reference/`` and
the versions of the libraries they run on: the same chapter with the same code is executed
once (by the book build or by tests/e2e/test_notebooks.py, whichever comes first). Used by
``book.py`` (mkdocs) and the notebook test; needs only jupytext and nbclient."""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
from pathlib import Path

import jupytext
import nbclient
import nbformat
from nbclient.exceptions import CellExecutionError, DeadKernelError

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
CACHE = ROOT / ".cache" / "book"
CELL_TIMEOUT_S = 300
VERSIONED = ("jax", "jaxlib", "flax", "optax", "numpy", "torch", "torchvision", "matplotlib", "nbclient", "jupytext")


class ChapterError(RuntimeError):
    """A chapter failed to execute; the message names it and the failing cell."""


def chapters() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))


def cache_key(notebook: Path) -> str:
    digest = hashlib.sha256(notebook.read_bytes())
    for package in ("jaxdl", "torch_reference"):
        for path in sorted((ROOT / package).rglob("*.py")):
            digest.update(str(path.relative_to(ROOT)).encode() + path.read_bytes())
    for name in VERSIONED:
        try:
            digest.update(f"{name}=={importlib.metadata.version(name)}".encode())
        except importlib.metadata.PackageNotFoundError:
            digest.update(f"{name} absent".encode())
    return digest.hexdigest()[:16]


def execute(notebook: Path) -> tuple[nbformat.NotebookNode, float | None]:
    """The executed chapter and the seconds its execution took (None: from the cache)."""
    cached = CACHE / f"{notebook.stem}-{cache_key(notebook)}.ipynb"
    if cached.exists():
        return nbformat.read(cached, as_version=4), None
    nb = jupytext.read(notebook)
    t0 = time.perf_counter()
    try:
        nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                resources={"metadata": {"path": str(NOTEBOOKS)}}).execute()
    except (CellExecutionError, DeadKernelError, TimeoutError) as e:  # the error names the cell
        raise ChapterError(f"notebooks/{notebook.name} failed, executed in notebooks/: {e}") from None
    seconds = time.perf_counter() - t0
    CACHE.mkdir(parents=True, exist_ok=True)
    for stale in CACHE.glob(f"{notebook.stem}-*.ipynb"):
        stale.unlink()
    nbformat.write(nb, cached)
    return nb, seconds
