"""Optional dependencies: the one place that imports them, naming the extra to install.

jaxdl itself never needs PyTorch. A few entry points do, because they read or compare
PyTorch objects: :func:`jaxdl.interop.load_torch_file` and ``to_torch`` (and so the
vision builders' ``pretrained=``), :mod:`jaxdl.port`, and the transfer recipe's
torchvision weights. Each gets torch through :func:`torch` here, which without it stops
with one line that names the feature and the extra (``pip install 'jaxdl[torch]'``).
"""

from __future__ import annotations

import importlib
from types import ModuleType

# extra -> what it installs (pyproject.toml's [project.optional-dependencies])
EXTRAS = {"torch": "PyTorch", "port": "PyTorch"}


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """``import module``, or :class:`MissingExtraError`: '<feature> needs <what>:
    pip install "jaxdl[<extra>]"'."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        if e.name is not None and e.name.split(".")[0] != module.split(".")[0]:
            raise  # the module is there but one of its own imports failed: show that
        raise MissingExtraError(f"{feature} needs {EXTRAS.get(extra, module)}, which is not installed: "
                                f"pip install \"jaxdl[{extra}]\"") from None


def torch(feature: str, *, extra: str = "torch") -> ModuleType:
    """The ``torch`` module for ``feature`` (e.g. ``"jaxdl.port"``), or the one-line error."""
    return require("torch", extra=extra, feature=feature)
