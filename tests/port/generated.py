"""Checks on generated source shared by the tests in tests/port."""

import ast
import subprocess
import sys


def imported_modules(source: str) -> set:
    """The modules a source imports (no torch: the generated code is JAX only)."""
    tree = ast.parse(source)
    mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return mods | {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}


def code_of(source: str) -> str:
    """The source without its module docstring."""
    return source.split('"""', 2)[2]


def ruff_check(directory):
    """``ruff check`` in the directory the code is written to (a user's directory, where
    jaxdl is a third-party package for the import order)."""
    ruff = [sys.executable, "-m", "ruff", "check", "--no-cache", "."]
    out = subprocess.run(ruff, capture_output=True, text=True, cwd=directory, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
