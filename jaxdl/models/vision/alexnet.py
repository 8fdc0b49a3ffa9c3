"""AlexNet (torch: ``torchvision.models.alexnet``)."""

from __future__ import annotations

from typing import ClassVar

import jax
from flax import nnx

from jaxdl.layers import AdaptiveAvgPool2d, Conv2d, Dropout, Linear, MaxPool2d, flatten
from jaxdl.models.vision.common import (
    builder_doc,
    check_image,
    loaded,
    relu,
    weights_to_load,
)


class AlexNet(nnx.Module):
    """torch: ``torchvision.models.AlexNet(num_classes=1000, dropout=0.5)``: ``features``
    (5 convs, ReLU, 3 max-pools), ``avgpool`` to 6x6, ``classifier`` (Dropout, Linear
    9216-4096, ReLU, Dropout, Linear 4096-4096, ReLU, Linear). torch's default init.
    Input (N, H, W, 3), H, W >= 63."""

    torch_flatten: ClassVar[dict] = {"classifier.1": (256, 6, 6)}

    def __init__(self, num_classes: int = 1000, dropout: float = 0.5, *, rngs: nnx.Rngs):
        self.features = nnx.Sequential(
            Conv2d(3, 64, 11, stride=4, padding=2, rngs=rngs), relu, MaxPool2d(3, 2),
            Conv2d(64, 192, 5, padding=2, rngs=rngs), relu, MaxPool2d(3, 2),
            Conv2d(192, 384, 3, padding=1, rngs=rngs), relu,
            Conv2d(384, 256, 3, padding=1, rngs=rngs), relu,
            Conv2d(256, 256, 3, padding=1, rngs=rngs), relu, MaxPool2d(3, 2))
        self.avgpool = AdaptiveAvgPool2d((6, 6))
        self.classifier = nnx.Sequential(
            Dropout(dropout, rngs=rngs), Linear(256 * 6 * 6, 4096, rngs=rngs), relu,
            Dropout(dropout, rngs=rngs), Linear(4096, 4096, rngs=rngs), relu,
            Linear(4096, num_classes, rngs=rngs))

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        check_image(x_NHWC, "AlexNet", 63)
        return self.classifier(flatten(self.avgpool(self.features(x_NHWC))))


def alexnet(pretrained=False, *, weights: str | None = None, progress: bool = True, num_classes: int = 1000,
            dropout: float = 0.5, rngs: nnx.Rngs) -> AlexNet:
    state = weights_to_load("alexnet", num_classes, pretrained, weights, progress)
    return loaded(AlexNet(num_classes, dropout, rngs=rngs), state)


alexnet.__doc__ = builder_doc("torch: ``torchvision.models.alexnet(pretrained=False, num_classes=1000, dropout=0.5)``.",
                              "        dropout: the classifier's dropout probability.")
