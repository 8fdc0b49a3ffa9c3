"""What the torchvision families share: the input check, ReLU, loading torchvision's
weights, and the builders' common arguments."""

from __future__ import annotations

import jax
from flax import nnx

from jaxdl import interop
from jaxdl.layers import check_input
from jaxdl.models import pretrained as _pretrained

relu = jax.nn.relu  # torch: nn.ReLU(inplace=True); relu'(0) = 0 as torch

# the Args entries every builder shares (torchvision's own arguments plus rngs)
WEIGHTS_ARGS = """\
        pretrained: True for torchvision's ImageNet weights (``IMAGENET1K_V1``, from the torch
            hub cache, else downloaded), or the path of a torchvision ``.pth`` file; False: a
            randomly initialised model.
        weights: a torchvision weights name instead of ``pretrained`` ("DEFAULT",
            "IMAGENET1K_V1", ...).
        progress: show a progress bar while downloading.
        num_classes: outputs of the classifier (1000 with ImageNet weights)."""
RNGS_ARG = """\
        rngs: ``nnx.Rngs(seed)`` for the initialisation and dropout
            (``nnx.Rngs(params=..., dropout=...)`` for separate dropout masks)."""


def builder_doc(summary: str, args: str = "") -> str:
    """A builder's docstring: ``summary``, then Args (the shared ones, ``args``, rngs) and Returns."""
    return (f"{summary}\n\n    Args:\n{WEIGHTS_ARGS}\n{args + chr(10) if args else ''}{RNGS_ARG}\n\n"
            "    Returns:\n        The model, in train mode as a new torch module "
            "(``model.eval()`` for inference).\n    ")


def _hint(min_size: int) -> str:
    return ("Images are NHWC here; a PyTorch NCHW batch converts with x.transpose(0, 2, 3, 1). "
            f"Height and width must be at least {min_size} (torchvision's min_size).")


def check_image(x_NHWC: jax.Array, where: str, min_size: int) -> None:
    """A ValueError naming the expected (N, H, W, 3) shape and torchvision's ``min_size``."""
    check_input(x_NHWC, (None, None, 3), where, _hint(min_size))
    if min(x_NHWC.shape[1:3]) < min_size:
        raise ValueError(f"{where} expects images of at least {min_size}x{min_size} (torchvision's "
                         f"min_size), got {x_NHWC.shape[1]}x{x_NHWC.shape[2]}.")


def weights_to_load(arch: str, num_classes: int, pretrained, weights, progress: bool) -> dict | None:
    """The state_dict to load (None: random init), found before any weight is drawn."""
    if (pretrained is True or weights is not None) and num_classes != 1000:  # torchvision's check
        raise ValueError(f"The parameter 'num_classes' expected value 1000 but got {num_classes} instead "
                         "(torchvision's ImageNet weights have 1000 classes: load them with 1000, then "
                         "replace the classifier).")
    return _pretrained.load_state_dict(arch, pretrained, weights, progress=progress)


def loaded(model: nnx.Module, state: dict | None) -> nnx.Module:
    return model if state is None else interop.from_torch(model, state)
