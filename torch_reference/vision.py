"""torchvision's models with CPU torch: the reference side of the backbone and porting tests.

The torchvision 0.28 wheel on PyPI is CUDA-linked: with the CPU build of torch 2.13,
``import torchvision`` fails (``operator torchvision::nms does not exist``) while
registering its detection ops. The models are pure Python: skipping that one module
before the first import makes ``torchvision.models`` usable (detection ops such as
``nms`` stay unavailable).
"""

from __future__ import annotations

import sys
import types


def models():
    """``torchvision.models``, importable beside CPU torch."""
    if "torchvision" not in sys.modules:
        sys.modules.setdefault("torchvision._meta_registrations",
                               types.ModuleType("torchvision._meta_registrations"))
    import torchvision.models

    return torchvision.models
