"""VGG 11/13/16/19, with and without BatchNorm (torch: ``torchvision.models.vgg``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl.init import kaiming_normal_fan_out, normal_init, zeros_init
from jaxdl.layers import (
    AdaptiveAvgPool2d,
    BatchNorm,
    Conv2d,
    Dropout,
    Linear,
    MaxPool2d,
    flatten,
)
from jaxdl.models.vision.common import (
    builder_doc,
    check_image,
    loaded,
    relu,
    weights_to_load,
)

CFGS: dict[str, list] = {  # torchvision's vgg.cfgs: channels, "M" = 2x2 max-pool
    "A": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "B": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "D": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "E": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
}


def make_layers(cfg: Sequence, batch_norm: bool = False, *, rngs: nnx.Rngs) -> nnx.Sequential:
    """torch: ``torchvision.models.vgg.make_layers(cfg, batch_norm)``: 3x3 convs (padding 1)
    followed by [BatchNorm,] ReLU, and 2x2 max-pools, in torchvision's positions."""
    layers, in_channels = [], 3
    for v in cfg:
        if v == "M":
            layers.append(MaxPool2d(2, 2))
            continue
        layers.append(Conv2d(in_channels, v, 3, padding=1, rngs=rngs))
        layers += [BatchNorm(v), relu] if batch_norm else [relu]
        in_channels = v
    return nnx.Sequential(*layers)


class VGG(nnx.Module):
    """torch: ``torchvision.models.VGG(features, num_classes=1000, init_weights=True,
    dropout=0.5)``: ``features`` from :func:`make_layers`, ``avgpool`` to 7x7,
    ``classifier`` (Linear 25088-4096, ReLU, Dropout, Linear 4096-4096, ReLU, Dropout,
    Linear). ``init_weights``: convs kaiming-normal fan-out with zero bias, Linear
    N(0, 0.01) with zero bias (else torch's defaults). Input (N, H, W, 3), H, W >= 32."""

    torch_flatten: ClassVar[dict] = {"classifier.0": (512, 7, 7)}

    def __init__(self, features: nnx.Sequential, num_classes: int = 1000, init_weights: bool = True,
                 dropout: float = 0.5, *, rngs: nnx.Rngs):
        self.features = features
        self.avgpool = AdaptiveAvgPool2d((7, 7))
        dense = {"kernel_init": normal_init(0.01), "bias_init": zeros_init} if init_weights else {}
        self.classifier = nnx.Sequential(
            Linear(512 * 7 * 7, 4096, rngs=rngs, **dense), relu, Dropout(dropout, rngs=rngs),
            Linear(4096, 4096, rngs=rngs, **dense), relu, Dropout(dropout, rngs=rngs),
            Linear(4096, num_classes, rngs=rngs, **dense))
        if init_weights:  # torchvision re-initialises the convs of the features it is given
            for _, m in nnx.iter_modules(self.features):
                if isinstance(m, Conv2d):
                    m.kernel.set_value(kaiming_normal_fan_out(rngs.params(), m.kernel.shape))
                    if m.bias is not None:
                        m.bias.set_value(jnp.zeros_like(m.bias[...]))

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        check_image(x_NHWC, "VGG", 32)
        return self.classifier(flatten(self.avgpool(self.features(x_NHWC))))


def _vgg_factory(arch: str, cfg: str, batch_norm: bool) -> Callable[..., VGG]:
    def factory(pretrained=False, *, weights: str | None = None, progress: bool = True,
                num_classes: int = 1000, dropout: float = 0.5, init_weights: bool = True,
                rngs: nnx.Rngs) -> VGG:
        state = weights_to_load(arch, num_classes, pretrained, weights, progress)
        model = VGG(make_layers(CFGS[cfg], batch_norm, rngs=rngs), num_classes,
                    init_weights and state is None, dropout, rngs=rngs)  # torchvision skips init when loading
        return loaded(model, state)

    layers = {"A": 11, "B": 13, "D": 16, "E": 19}[cfg]
    factory.__name__ = factory.__qualname__ = arch
    factory.__doc__ = builder_doc(
        f"torch: ``torchvision.models.{arch}(pretrained=False, num_classes=1000, dropout=0.5, "
        f"init_weights=True)``: VGG-{layers}{' with BatchNorm' if batch_norm else ''} (configuration {cfg}).",
        "        dropout: the classifier's dropout probability.\n"
        "        init_weights: torchvision's init (kaiming-normal fan-out convs, N(0, 0.01) Linear,\n"
        "            zero biases); False: torch's layer defaults. Skipped when weights are loaded.")
    return factory


vgg11 = _vgg_factory("vgg11", "A", False)
vgg11_bn = _vgg_factory("vgg11_bn", "A", True)
vgg13 = _vgg_factory("vgg13", "B", False)
vgg13_bn = _vgg_factory("vgg13_bn", "B", True)
vgg16 = _vgg_factory("vgg16", "D", False)
vgg16_bn = _vgg_factory("vgg16_bn", "D", True)
vgg19 = _vgg_factory("vgg19", "E", False)
vgg19_bn = _vgg_factory("vgg19_bn", "E", True)
