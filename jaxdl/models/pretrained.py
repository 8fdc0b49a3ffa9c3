"""torchvision's pretrained ImageNet weights for :mod:`jaxdl.models.vision`, found where
PyTorch keeps them (torch: ``torchvision.models.resnet18(pretrained=True)`` /
``weights="IMAGENET1K_V1"``, which call ``torch.hub.load_state_dict_from_url``).

* Cache: torch hub's own folder, ``$TORCH_HOME/hub/checkpoints/`` (``$TORCH_HOME``
  defaults to ``$XDG_CACHE_HOME/torch``, then ``~/.cache/torch``), under torchvision's
  file names: weights PyTorch already downloaded are used as they are, and files jaxdl
  downloads serve PyTorch too.
* Download: torchvision's URL (the table below, copied from torchvision 0.28), through
  :func:`jaxdl.data.download.fetch` (resumable, retried) with the check torch hub makes:
  the file's SHA-256 hex digest starts with the hex in its name (``resnet18-f37072fd.pth``).
  jaxdl checks a cached file the same way before using it (torch trusts its cache).
* Loading: :func:`jaxdl.interop.load_torch_file` (``torch.load(weights_only=True)``:
  tensors only, no code from the file runs), then :func:`jaxdl.interop.from_torch`.
"""

from __future__ import annotations

import os
from pathlib import Path

from jaxdl import interop
from jaxdl.data import download

_URL = "https://download.pytorch.org/models/"

# torchvision 0.28's weights: {architecture: {weights name: URL}} (``<Arch>_Weights.<name>.url``)
URLS: dict[str, dict[str, str]] = {
    "alexnet": {"IMAGENET1K_V1": _URL + "alexnet-owt-7be5be79.pth"},
    "vgg11": {"IMAGENET1K_V1": _URL + "vgg11-8a719046.pth"},
    "vgg11_bn": {"IMAGENET1K_V1": _URL + "vgg11_bn-6002323d.pth"},
    "vgg13": {"IMAGENET1K_V1": _URL + "vgg13-19584684.pth"},
    "vgg13_bn": {"IMAGENET1K_V1": _URL + "vgg13_bn-abd245e5.pth"},
    "vgg16": {"IMAGENET1K_V1": _URL + "vgg16-397923af.pth"},
    "vgg16_bn": {"IMAGENET1K_V1": _URL + "vgg16_bn-6c64b313.pth"},
    "vgg19": {"IMAGENET1K_V1": _URL + "vgg19-dcbb9e9d.pth"},
    "vgg19_bn": {"IMAGENET1K_V1": _URL + "vgg19_bn-c79401a0.pth"},
    "resnet18": {"IMAGENET1K_V1": _URL + "resnet18-f37072fd.pth"},
    "resnet34": {"IMAGENET1K_V1": _URL + "resnet34-b627a593.pth"},
    "resnet50": {"IMAGENET1K_V1": _URL + "resnet50-0676ba61.pth",
                 "IMAGENET1K_V2": _URL + "resnet50-11ad3fa6.pth"},
    "resnet101": {"IMAGENET1K_V1": _URL + "resnet101-63fe2227.pth",
                  "IMAGENET1K_V2": _URL + "resnet101-cd907fc2.pth"},
    "resnet152": {"IMAGENET1K_V1": _URL + "resnet152-394f9c45.pth",
                  "IMAGENET1K_V2": _URL + "resnet152-f82ba261.pth"},
    "inception_v3": {"IMAGENET1K_V1": _URL + "inception_v3_google-0cc3c7bd.pth"},
}
# torchvision's ``weights="DEFAULT"``; ``pretrained=True`` is always IMAGENET1K_V1 (as torchvision)
DEFAULT_WEIGHTS = {arch: "IMAGENET1K_V2" if "IMAGENET1K_V2" in names else "IMAGENET1K_V1"
                   for arch, names in URLS.items()}


class PretrainedWeightsNotFoundError(download.DownloadError):
    """Weights neither in the torch hub cache nor downloadable: the message names the
    file and the folder to put it in."""


def checkpoints_dir() -> Path:
    """torch: ``torch.hub.get_dir() + '/checkpoints'``: ``$TORCH_HOME/hub/checkpoints``,
    ``$TORCH_HOME`` defaulting to ``$XDG_CACHE_HOME/torch``, then ``~/.cache/torch``."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    torch_home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))
    return Path(torch_home) / "hub" / "checkpoints"


def weights_url(arch: str, weights: str = "IMAGENET1K_V1") -> str:
    """torchvision's URL of ``arch``'s ``weights`` (``"DEFAULT"`` as torchvision)."""
    if arch not in URLS:
        raise ValueError(f"no pretrained weights for {arch!r}; known: {', '.join(URLS)}")
    name = DEFAULT_WEIGHTS[arch] if weights == "DEFAULT" else weights
    if name not in URLS[arch]:
        raise ValueError(f"{arch} has no weights {weights!r}; torchvision has "
                         f"{', '.join(['DEFAULT', *URLS[arch]])}")
    return URLS[arch][name]


def weights_file(arch: str, weights: str = "IMAGENET1K_V1", *, progress: bool = True,
                 **fetch_kwargs) -> Path:
    """The local path of ``arch``'s torchvision ``weights``: from the torch hub cache when
    there (its SHA-256 checked), else downloaded there from torchvision's URL
    (torch: ``torch.hub.load_state_dict_from_url(url, check_hash=True)``).
    ``fetch_kwargs`` go to :func:`jaxdl.data.download.fetch` (retries, timeout)."""
    url = weights_url(arch, weights)
    remote = download.torch_hub_remote(url)
    directory = checkpoints_dir()
    try:
        return download.fetch(remote, directory, progress=progress, **fetch_kwargs)
    except download.DownloadError as e:
        why = e.errors[-1].split(": ", 1)[-1] if e.errors else "no connection"
        raise PretrainedWeightsNotFoundError(
            f"{remote.filename} is not in {directory} and could not be downloaded from {url} "
            f"({why}): put that file into {directory}, or pass pretrained='/path/to/{remote.filename}'.") from e


def load_state_dict(arch: str, pretrained=False, weights: str | None = None, *,
                    progress: bool = True) -> dict | None:
    """The state_dict a vision factory loads: ``pretrained`` a path to a torchvision
    ``.pth`` file, or True (torchvision's IMAGENET1K_V1, as its legacy ``pretrained=True``);
    ``weights`` a torchvision weights name (``"DEFAULT"``, ``"IMAGENET1K_V1"``, ...).
    None when neither asks for weights. (BatchNorm layers without ``num_batches_tracked``,
    files saved before PyTorch 0.4.1 such as torchvision's Inception and VGG-BN weights,
    keep their count on load, as in torch: the key is optional in BatchNorm's record.)"""
    if pretrained is None:
        pretrained = False
    if pretrained is not False and weights is not None:
        raise ValueError("pass either pretrained= or weights=, not both (torchvision: weights=)")
    if isinstance(pretrained, (str, os.PathLike)):
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"pretrained={str(pretrained)!r}: no such file; pass the path of a "
                                    "torchvision .pth file, or pretrained=True for torchvision's weights")
    elif pretrained is True or weights is not None:
        path = weights_file(arch, "IMAGENET1K_V1" if weights is None else weights, progress=progress)
    elif pretrained is False:
        return None
    else:
        raise TypeError(f"pretrained must be True, False or a path, got {type(pretrained).__name__}")
    return dict(interop.load_torch_file(path))
