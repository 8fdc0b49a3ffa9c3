"""ResNet 18/34/50/101/152 (torch: ``torchvision.models.resnet``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl.init import kaiming_normal_fan_out
from jaxdl.layers import (
    AdaptiveAvgPool2d,
    BatchNorm,
    Conv2d,
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


def conv3x3(in_planes: int, out_planes: int, stride: int = 1, *, rngs: nnx.Rngs) -> Conv2d:
    """torch: ``torchvision.models.resnet.conv3x3`` (padding 1, no bias), initialised as
    ResNet does (kaiming-normal fan-out)."""
    return Conv2d(in_planes, out_planes, 3, stride, 1, use_bias=False, kernel_init=kaiming_normal_fan_out,
                 rngs=rngs)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1, *, rngs: nnx.Rngs) -> Conv2d:
    """torch: ``torchvision.models.resnet.conv1x1`` (no bias), kaiming-normal fan-out."""
    return Conv2d(in_planes, out_planes, 1, stride, use_bias=False, kernel_init=kaiming_normal_fan_out,
                 rngs=rngs)


class BasicBlock(nnx.Module):
    """torch: ``torchvision.models.resnet.BasicBlock``: conv3x3-BN-ReLU-conv3x3-BN, plus the
    input (through ``downsample`` when given), ReLU."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nnx.Sequential | None = None, *, rngs: nnx.Rngs):
        self.conv1 = conv3x3(inplanes, planes, stride, rngs=rngs)
        self.bn1 = BatchNorm(planes)
        self.conv2 = conv3x3(planes, planes, rngs=rngs)
        self.bn2 = BatchNorm(planes)
        self.downsample = downsample
        self.stride = stride

    def __call__(self, x: jax.Array) -> jax.Array:
        out = relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return relu(out + identity)


class Bottleneck(nnx.Module):
    """torch: ``torchvision.models.resnet.Bottleneck`` (ResNet v1.5: the stride on the 3x3
    conv): conv1x1-BN-ReLU, conv3x3-BN-ReLU, conv1x1 (x4 channels)-BN, plus the input
    (through ``downsample``), ReLU."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1,
                 downsample: nnx.Sequential | None = None, *, rngs: nnx.Rngs):
        self.conv1 = conv1x1(inplanes, planes, rngs=rngs)
        self.bn1 = BatchNorm(planes)
        self.conv2 = conv3x3(planes, planes, stride, rngs=rngs)
        self.bn2 = BatchNorm(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion, rngs=rngs)
        self.bn3 = BatchNorm(planes * self.expansion)
        self.downsample = downsample
        self.stride = stride

    def __call__(self, x: jax.Array) -> jax.Array:
        out = relu(self.bn1(self.conv1(x)))
        out = relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return relu(out + identity)


class ResNet(nnx.Module):
    """torch: ``torchvision.models.ResNet(block, layers, num_classes=1000,
    zero_init_residual=False)``: ``conv1`` 7x7/2, ``bn1``, ReLU, ``maxpool`` 3x3/2,
    ``layer1``..``layer4`` (``nnx.Sequential`` of blocks; the first block of a stage gets
    ``downsample`` = conv1x1 + BatchNorm when the shape changes), ``avgpool``, ``fc``.
    Convs kaiming-normal fan-out, ``fc`` torch's default; ``zero_init_residual`` zeroes
    the last BatchNorm scale of each block. Input (N, H, W, 3)."""

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: Sequence[int],
                 num_classes: int = 1000, zero_init_residual: bool = False, *, rngs: nnx.Rngs):
        self.conv1 = Conv2d(3, 64, 7, 2, 3, use_bias=False, kernel_init=kaiming_normal_fan_out, rngs=rngs)
        self.bn1 = BatchNorm(64)
        self.maxpool = MaxPool2d(3, 2, 1)
        inplanes = 64
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            downsample = None
            if stride != 1 or inplanes != planes * block.expansion:
                downsample = nnx.Sequential(conv1x1(inplanes, planes * block.expansion, stride, rngs=rngs),
                                            BatchNorm(planes * block.expansion))
            stage = [block(inplanes, planes, stride, downsample, rngs=rngs)]
            inplanes = planes * block.expansion
            stage += [block(inplanes, planes, rngs=rngs) for _ in range(1, blocks)]
            setattr(self, f"layer{i + 1}", nnx.Sequential(*stage))
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.fc = Linear(512 * block.expansion, num_classes, rngs=rngs)
        if zero_init_residual:
            for _, m in nnx.iter_modules(self):
                if isinstance(m, (BasicBlock, Bottleneck)):
                    last = m.bn3 if isinstance(m, Bottleneck) else m.bn2
                    last.scale.set_value(jnp.zeros_like(last.scale[...]))

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        check_image(x_NHWC, "ResNet", 1)
        x = self.maxpool(relu(self.bn1(self.conv1(x_NHWC))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(flatten(self.avgpool(x)))


def _resnet_factory(arch: str, block, layers: list[int]) -> Callable[..., ResNet]:
    def factory(pretrained=False, *, weights: str | None = None, progress: bool = True,
                num_classes: int = 1000, zero_init_residual: bool = False, rngs: nnx.Rngs) -> ResNet:
        state = weights_to_load(arch, num_classes, pretrained, weights, progress)
        return loaded(ResNet(block, layers, num_classes, zero_init_residual, rngs=rngs), state)

    factory.__name__ = factory.__qualname__ = arch
    factory.__doc__ = builder_doc(
        f"torch: ``torchvision.models.{arch}(pretrained=False, num_classes=1000, zero_init_residual=False)``: "
        f"{block.__name__} blocks {layers} (``weights='DEFAULT'`` is IMAGENET1K_V2 where torchvision has it).",
        "        zero_init_residual: zero the last BatchNorm scale of every block (torchvision's option).")
    return factory


resnet18 = _resnet_factory("resnet18", BasicBlock, [2, 2, 2, 2])
resnet34 = _resnet_factory("resnet34", BasicBlock, [3, 4, 6, 3])
resnet50 = _resnet_factory("resnet50", Bottleneck, [3, 4, 6, 3])
resnet101 = _resnet_factory("resnet101", Bottleneck, [3, 4, 23, 3])
resnet152 = _resnet_factory("resnet152", Bottleneck, [3, 8, 36, 3])
