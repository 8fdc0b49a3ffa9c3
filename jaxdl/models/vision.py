"""torchvision's classification backbones as Flax NNX modules (torch: ``torchvision.models``).

``alexnet``, ``vgg11/13/16/19`` (and ``_bn``), ``resnet18/34/50/101/152`` and
``inception_v3`` take torchvision's arguments (``num_classes``, ``dropout``,
``aux_logits``, ``transform_input``, ``init_weights``, ``pretrained=`` / ``weights=``,
``progress``) plus ``rngs=nnx.Rngs(seed)`` (``nnx.Rngs(params=..., dropout=...)`` for
separate dropout masks). Submodules carry torchvision's names and indices
(``features.3``, ``layer1.0.downsample.0``, ``Mixed_5b.branch1x1.conv``, ``AuxLogits``,
``fc``), so :func:`jaxdl.interop.from_torch` / :func:`~jaxdl.interop.to_torch` take and
give torchvision's ``state_dict`` key for key, and parameter-path filters (freezing
``features``) read as in PyTorch. torch's ``nn.Sequential`` is an ``nnx.Sequential`` with
the same positions: parameterless layers (ReLU as ``jax.nn.relu``, pooling modules) keep
their index.

Where jaxdl differs from torchvision:

* images are NHWC, ``(N, H, W, 3)``; a PyTorch batch converts with ``x.transpose(0, 2, 3, 1)``.
  The dense layer after AlexNet's / VGG's flatten sees (H, W, C) order; ``torch_flatten``
  tells interop to permute its rows.
* train / eval mode is NNX's: ``model.train()`` / ``model.eval()`` set
  ``use_running_average`` on every BatchNorm and ``deterministic`` on every Dropout (and
  on :class:`Inception3`, whose ``training`` property reads it: torch's
  ``self.training``). A new model is in train mode, as in torch. In
  :class:`jaxdl.train.Learner` the mode is which step runs. BatchNorm is
  :class:`jaxdl.layers.BatchNorm`: torch's momentum 0.1 and unbiased running variance.
* initialisation draws from torchvision's distributions (kaiming-normal fan-out convs
  in ResNet/VGG, N(0, 0.01) VGG classifier, Inception's truncated normals, torch's
  defaults elsewhere) with JAX's RNG: same distributions, not the same numbers.
* ``pretrained=True`` / ``weights=`` read torchvision's files from the torch hub cache or
  download them (:mod:`jaxdl.models.pretrained`); ``pretrained='path.pth'`` loads a
  file you have.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl import interop
from jaxdl.init import (
    kaiming_normal_fan_out,
    normal_init,
    trunc_normal_init,
    zeros_init,
)
from jaxdl.layers import (
    AdaptiveAvgPool2d,
    BatchNorm,
    Conv2d,
    Dropout,
    Linear,
    MaxPool2d,
    adaptive_avg_pool2d,
    avg_pool2d,
    check_input,
    flatten,
    max_pool2d,
)
from jaxdl.models import pretrained as _pretrained

__all__ = [
    "VGG",
    "AlexNet",
    "BasicBlock",
    "BasicConv2d",
    "Bottleneck",
    "Inception3",
    "InceptionA",
    "InceptionAux",
    "InceptionB",
    "InceptionC",
    "InceptionD",
    "InceptionE",
    "InceptionOutputs",
    "ResNet",
    "alexnet",
    "inception_v3",
    "make_layers",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "vgg11",
    "vgg11_bn",
    "vgg13",
    "vgg13_bn",
    "vgg16",
    "vgg16_bn",
    "vgg19",
    "vgg19_bn",
]

relu = jax.nn.relu  # torch: nn.ReLU(inplace=True); relu'(0) = 0 as torch


def _hint(min_size: int) -> str:
    return ("Images are NHWC here; a PyTorch NCHW batch converts with x.transpose(0, 2, 3, 1). "
            f"Height and width must be at least {min_size} (torchvision's min_size).")


def _check_image(x_NHWC: jax.Array, where: str, min_size: int) -> None:
    check_input(x_NHWC, (None, None, 3), where, _hint(min_size))
    if min(x_NHWC.shape[1:3]) < min_size:
        raise ValueError(f"{where} expects images of at least {min_size}x{min_size} (torchvision's "
                         f"min_size), got {x_NHWC.shape[1]}x{x_NHWC.shape[2]}.")


# ---------------------------------------------------------------- AlexNet
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
        _check_image(x_NHWC, "AlexNet", 63)
        return self.classifier(flatten(self.avgpool(self.features(x_NHWC))))


# ---------------------------------------------------------------- VGG
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
        _check_image(x_NHWC, "VGG", 32)
        return self.classifier(flatten(self.avgpool(self.features(x_NHWC))))


# ---------------------------------------------------------------- ResNet
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
        _check_image(x_NHWC, "ResNet", 1)
        x = self.maxpool(relu(self.bn1(self.conv1(x_NHWC))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(flatten(self.avgpool(x)))


# ---------------------------------------------------------------- Inception v3
class InceptionOutputs(NamedTuple):
    """torch: ``torchvision.models.InceptionOutputs``: what Inception3 returns in train mode
    with ``aux_logits`` (torchvision's recipe trains on ``loss(logits) + 0.4 * loss(aux_logits)``)."""

    logits: jax.Array
    aux_logits: jax.Array | None


class BasicConv2d(nnx.Module):
    """torch: ``torchvision.models.inception.BasicConv2d``: conv (no bias), BatchNorm with
    eps 0.001, ReLU. ``init_weights``: the kernel ~ N(0, stddev) cut at +-2 (torchvision's
    ``trunc_normal_``), else torch's default."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, *,
                 stddev: float = 0.1, init_weights: bool = True, rngs: nnx.Rngs):
        self.conv = Conv2d(in_channels, out_channels, kernel_size, stride, padding, use_bias=False,
                          kernel_init=trunc_normal_init(stddev) if init_weights else None, rngs=rngs)
        self.bn = BatchNorm(out_channels, eps=0.001)

    def __call__(self, x: jax.Array) -> jax.Array:
        return relu(self.bn(self.conv(x)))


def _concat(branches: list[jax.Array]) -> jax.Array:
    return jnp.concatenate(branches, axis=-1)  # torch.cat(outputs, 1) in NCHW


def _pool3(x: jax.Array) -> jax.Array:
    return avg_pool2d(x, 3, stride=1, padding=1)  # F.avg_pool2d(x, 3, 1, 1), count_include_pad


class InceptionA(nnx.Module):
    """torch: ``torchvision.models.inception.InceptionA`` (35x35 grid, Mixed_5b-d)."""

    def __init__(self, in_channels: int, pool_features: int, *, init_weights: bool = True, rngs: nnx.Rngs):
        conv = functools.partial(BasicConv2d, init_weights=init_weights, rngs=rngs)
        self.branch1x1 = conv(in_channels, 64, 1)
        self.branch5x5_1 = conv(in_channels, 48, 1)
        self.branch5x5_2 = conv(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = conv(96, 96, 3, padding=1)
        self.branch_pool = conv(in_channels, pool_features, 1)

    def __call__(self, x: jax.Array) -> jax.Array:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return _concat([self.branch1x1(x), b5, b3, self.branch_pool(_pool3(x))])


class InceptionB(nnx.Module):
    """torch: ``torchvision.models.inception.InceptionB`` (35x35 -> 17x17, Mixed_6a)."""

    def __init__(self, in_channels: int, *, init_weights: bool = True, rngs: nnx.Rngs):
        conv = functools.partial(BasicConv2d, init_weights=init_weights, rngs=rngs)
        self.branch3x3 = conv(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = conv(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = conv(96, 96, 3, stride=2)

    def __call__(self, x: jax.Array) -> jax.Array:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return _concat([self.branch3x3(x), b3, max_pool2d(x, 3, 2)])


class InceptionC(nnx.Module):
    """torch: ``torchvision.models.inception.InceptionC`` (17x17 grid, factorised 7x7
    convs, Mixed_6b-e)."""

    def __init__(self, in_channels: int, channels_7x7: int, *, init_weights: bool = True, rngs: nnx.Rngs):
        conv = functools.partial(BasicConv2d, init_weights=init_weights, rngs=rngs)
        c7 = channels_7x7
        self.branch1x1 = conv(in_channels, 192, 1)
        self.branch7x7_1 = conv(in_channels, c7, 1)
        self.branch7x7_2 = conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = conv(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = conv(in_channels, c7, 1)
        self.branch7x7dbl_2 = conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = conv(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = conv(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = conv(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = conv(in_channels, 192, 1)

    def __call__(self, x: jax.Array) -> jax.Array:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = layer(d)
        return _concat([self.branch1x1(x), b7, d, self.branch_pool(_pool3(x))])


class InceptionD(nnx.Module):
    """torch: ``torchvision.models.inception.InceptionD`` (17x17 -> 8x8, Mixed_7a)."""

    def __init__(self, in_channels: int, *, init_weights: bool = True, rngs: nnx.Rngs):
        conv = functools.partial(BasicConv2d, init_weights=init_weights, rngs=rngs)
        self.branch3x3_1 = conv(in_channels, 192, 1)
        self.branch3x3_2 = conv(192, 320, 3, stride=2)
        self.branch7x7x3_1 = conv(in_channels, 192, 1)
        self.branch7x7x3_2 = conv(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = conv(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = conv(192, 192, 3, stride=2)

    def __call__(self, x: jax.Array) -> jax.Array:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return _concat([b3, b7, max_pool2d(x, 3, 2)])


class InceptionE(nnx.Module):
    """torch: ``torchvision.models.inception.InceptionE`` (8x8 grid, split 1x3/3x1 convs,
    Mixed_7b-c)."""

    def __init__(self, in_channels: int, *, init_weights: bool = True, rngs: nnx.Rngs):
        conv = functools.partial(BasicConv2d, init_weights=init_weights, rngs=rngs)
        self.branch1x1 = conv(in_channels, 320, 1)
        self.branch3x3_1 = conv(in_channels, 384, 1)
        self.branch3x3_2a = conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = conv(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = conv(in_channels, 448, 1)
        self.branch3x3dbl_2 = conv(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = conv(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = conv(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = conv(in_channels, 192, 1)

    def __call__(self, x: jax.Array) -> jax.Array:
        b3 = self.branch3x3_1(x)
        b3 = _concat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)])
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        d = _concat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)])
        return _concat([self.branch1x1(x), b3, d, self.branch_pool(_pool3(x))])


class InceptionAux(nnx.Module):
    """torch: ``torchvision.models.inception.InceptionAux``: the auxiliary classifier on
    Mixed_6e's 17x17 features (avg-pool 5/3, conv0 1x1, conv1 5x5, global average, fc)."""

    def __init__(self, in_channels: int, num_classes: int, *, init_weights: bool = True, rngs: nnx.Rngs):
        conv = functools.partial(BasicConv2d, init_weights=init_weights, rngs=rngs)
        self.conv0 = conv(in_channels, 128, 1)
        # torchvision sets conv1.stddev = 0.01 on this BasicConv2d, but its init loop reads
        # ``stddev`` from the nn.Conv2d inside, which has none: the kernel gets 0.1 like the rest
        self.conv1 = conv(128, 768, 5)
        self.fc = Linear(768, num_classes, kernel_init=trunc_normal_init(0.001) if init_weights else None,
                          rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        if min(x.shape[1:3]) < 17:
            raise ValueError(
                f"InceptionAux needs Mixed_6e features of at least 17x17 (a 299x299 image), got "
                f"{x.shape[1]}x{x.shape[2]}: in train mode use 299x299 inputs, or build the model "
                "with aux_logits=False (torch fails here too).")
        x = self.conv1(self.conv0(avg_pool2d(x, 5, stride=3)))
        return self.fc(flatten(adaptive_avg_pool2d(x, (1, 1))))


# Inception3._transform_input: ImageNet normalisation -> Google's (x - 0.5) / 0.5
_TRANSFORM_SCALE = (0.229 / 0.5, 0.224 / 0.5, 0.225 / 0.5)
_TRANSFORM_SHIFT = ((0.485 - 0.5) / 0.5, (0.456 - 0.5) / 0.5, (0.406 - 0.5) / 0.5)


class Inception3(nnx.Module):
    """torch: ``torchvision.models.Inception3(num_classes=1000, aux_logits=True,
    transform_input=False, init_weights=True, dropout=0.5)``.

    Stem (``Conv2d_1a_3x3`` .. ``maxpool2``), ``Mixed_5b`` .. ``Mixed_7c``, ``avgpool``,
    ``dropout``, ``fc``; with ``aux_logits`` the ``AuxLogits`` head on Mixed_6e's output.
    As torchvision: in train mode with ``aux_logits`` the call returns
    :class:`InceptionOutputs` ``(logits, aux_logits)``, otherwise the logits. The mode is
    ``training`` (torch: ``self.training``), which reads this module's ``deterministic``
    attribute: ``model.train()`` / ``model.eval()`` set it with every Dropout's, so one call
    switches BatchNorm, Dropout and the aux head together. ``transform_input`` re-normalises ImageNet-normalised
    input to the [-1, 1] scaling Google's weights expect. Input (N, H, W, 3), H, W >= 75
    (299 in train mode with ``aux_logits``).
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = True, transform_input: bool = False,
                 init_weights: bool | None = None, dropout: float = 0.5, *, rngs: nnx.Rngs):
        init_weights = True if init_weights is None else init_weights  # torchvision's default
        self.aux_logits, self.transform_input = aux_logits, transform_input
        self.deterministic = False  # train mode, as a new torch module
        conv = functools.partial(BasicConv2d, init_weights=init_weights, rngs=rngs)
        block = {"init_weights": init_weights, "rngs": rngs}
        self.Conv2d_1a_3x3 = conv(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = conv(32, 32, 3)
        self.Conv2d_2b_3x3 = conv(32, 64, 3, padding=1)
        self.maxpool1 = MaxPool2d(3, 2)
        self.Conv2d_3b_1x1 = conv(64, 80, 1)
        self.Conv2d_4a_3x3 = conv(80, 192, 3)
        self.maxpool2 = MaxPool2d(3, 2)
        self.Mixed_5b = InceptionA(192, pool_features=32, **block)
        self.Mixed_5c = InceptionA(256, pool_features=64, **block)
        self.Mixed_5d = InceptionA(288, pool_features=64, **block)
        self.Mixed_6a = InceptionB(288, **block)
        self.Mixed_6b = InceptionC(768, channels_7x7=128, **block)
        self.Mixed_6c = InceptionC(768, channels_7x7=160, **block)
        self.Mixed_6d = InceptionC(768, channels_7x7=160, **block)
        self.Mixed_6e = InceptionC(768, channels_7x7=192, **block)
        self.AuxLogits = InceptionAux(768, num_classes, **block) if aux_logits else None
        self.Mixed_7a = InceptionD(768, **block)
        self.Mixed_7b = InceptionE(1280, **block)
        self.Mixed_7c = InceptionE(2048, **block)
        self.avgpool = AdaptiveAvgPool2d((1, 1))
        self.dropout = Dropout(dropout, rngs=rngs)
        self.fc = Linear(2048, num_classes, kernel_init=trunc_normal_init(0.1) if init_weights else None,
                          rngs=rngs)

    @property
    def training(self) -> bool:
        """torch: ``module.training``: False after ``model.eval()``, True after ``model.train()``."""
        return not self.deterministic

    def __call__(self, x_NHWC: jax.Array) -> jax.Array | InceptionOutputs:
        _check_image(x_NHWC, "Inception3", 75)
        x = x_NHWC
        if self.transform_input:  # torch: Inception3._transform_input, per channel
            x = x * jnp.array(_TRANSFORM_SCALE, x.dtype) + jnp.array(_TRANSFORM_SHIFT, x.dtype)
        for stage in (self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3, self.maxpool1,
                      self.Conv2d_3b_1x1, self.Conv2d_4a_3x3, self.maxpool2,
                      self.Mixed_5b, self.Mixed_5c, self.Mixed_5d,
                      self.Mixed_6a, self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e):
            x = stage(x)
        aux = self.AuxLogits(x) if self.AuxLogits is not None and self.training else None
        x = self.Mixed_7c(self.Mixed_7b(self.Mixed_7a(x)))
        x = self.fc(flatten(self.dropout(self.avgpool(x))))
        if self.training and self.aux_logits:
            return InceptionOutputs(x, aux)
        return x


# ---------------------------------------------------------------- the factories
def _weights(arch: str, num_classes: int, pretrained, weights, progress: bool) -> dict | None:
    """The state_dict to load (None: random init), found before any weight is drawn."""
    if (pretrained is True or weights is not None) and num_classes != 1000:  # torchvision's check
        raise ValueError(f"The parameter 'num_classes' expected value 1000 but got {num_classes} instead "
                         "(torchvision's ImageNet weights have 1000 classes: load them with 1000, then "
                         "replace the classifier).")
    return _pretrained.load_state_dict(arch, pretrained, weights, progress=progress)


def _loaded(model: nnx.Module, state: dict | None) -> nnx.Module:
    return model if state is None else interop.from_torch(model, state)


def alexnet(pretrained=False, *, weights: str | None = None, progress: bool = True, num_classes: int = 1000,
            dropout: float = 0.5, rngs: nnx.Rngs) -> AlexNet:
    """torch: ``torchvision.models.alexnet(pretrained=False, num_classes=1000, dropout=0.5)``;
    ``pretrained`` True (torchvision's ImageNet weights, hub cache or download) or a
    ``.pth`` path; ``weights`` a torchvision weights name ("DEFAULT", "IMAGENET1K_V1")."""
    state = _weights("alexnet", num_classes, pretrained, weights, progress)
    return _loaded(AlexNet(num_classes, dropout, rngs=rngs), state)


def _vgg_factory(arch: str, cfg: str, batch_norm: bool) -> Callable[..., VGG]:
    def factory(pretrained=False, *, weights: str | None = None, progress: bool = True,
                num_classes: int = 1000, dropout: float = 0.5, init_weights: bool = True,
                rngs: nnx.Rngs) -> VGG:
        state = _weights(arch, num_classes, pretrained, weights, progress)
        model = VGG(make_layers(CFGS[cfg], batch_norm, rngs=rngs), num_classes,
                    init_weights and state is None, dropout, rngs=rngs)  # torchvision skips init when loading
        return _loaded(model, state)

    layers = {"A": 11, "B": 13, "D": 16, "E": 19}[cfg]
    factory.__name__ = factory.__qualname__ = arch
    factory.__doc__ = (f"torch: ``torchvision.models.{arch}(pretrained=False, num_classes=1000, "
                       f"dropout=0.5, init_weights=True)``: VGG-{layers}{' with BatchNorm' if batch_norm else ''}"
                       f" (configuration {cfg}). ``pretrained``/``weights`` as :func:`alexnet`.")
    return factory


vgg11 = _vgg_factory("vgg11", "A", False)
vgg11_bn = _vgg_factory("vgg11_bn", "A", True)
vgg13 = _vgg_factory("vgg13", "B", False)
vgg13_bn = _vgg_factory("vgg13_bn", "B", True)
vgg16 = _vgg_factory("vgg16", "D", False)
vgg16_bn = _vgg_factory("vgg16_bn", "D", True)
vgg19 = _vgg_factory("vgg19", "E", False)
vgg19_bn = _vgg_factory("vgg19_bn", "E", True)


def _resnet_factory(arch: str, block, layers: list[int]) -> Callable[..., ResNet]:
    def factory(pretrained=False, *, weights: str | None = None, progress: bool = True,
                num_classes: int = 1000, zero_init_residual: bool = False, rngs: nnx.Rngs) -> ResNet:
        state = _weights(arch, num_classes, pretrained, weights, progress)
        return _loaded(ResNet(block, layers, num_classes, zero_init_residual, rngs=rngs), state)

    factory.__name__ = factory.__qualname__ = arch
    factory.__doc__ = (f"torch: ``torchvision.models.{arch}(pretrained=False, num_classes=1000, "
                       f"zero_init_residual=False)``: {block.__name__} blocks {layers}. "
                       "``pretrained``/``weights`` as :func:`alexnet` (``weights='DEFAULT'`` is "
                       "IMAGENET1K_V2 where torchvision has it).")
    return factory


resnet18 = _resnet_factory("resnet18", BasicBlock, [2, 2, 2, 2])
resnet34 = _resnet_factory("resnet34", BasicBlock, [3, 4, 6, 3])
resnet50 = _resnet_factory("resnet50", Bottleneck, [3, 4, 6, 3])
resnet101 = _resnet_factory("resnet101", Bottleneck, [3, 4, 23, 3])
resnet152 = _resnet_factory("resnet152", Bottleneck, [3, 8, 36, 3])


def inception_v3(pretrained=False, *, weights: str | None = None, progress: bool = True,
                 num_classes: int = 1000, aux_logits: bool = True, transform_input: bool | None = None,
                 init_weights: bool | None = None, dropout: float = 0.5, rngs: nnx.Rngs) -> Inception3:
    """torch: ``torchvision.models.inception_v3(pretrained=False, num_classes=1000,
    aux_logits=True, transform_input=False, init_weights=None, dropout=0.5)``.

    As torchvision when weights are loaded: ``transform_input`` defaults to True (Google's
    weights expect [-1, 1] input), the weights load with the aux head, which is then
    dropped if ``aux_logits=False``. ``pretrained``/``weights`` as :func:`alexnet`.
    """
    state = _weights("inception_v3", num_classes, pretrained, weights, progress)
    if state is None:
        return Inception3(num_classes, aux_logits, bool(transform_input), init_weights, dropout, rngs=rngs)
    has_aux = any(k.startswith("AuxLogits.") for k in state)
    transform_input = True if transform_input is None else transform_input
    model = Inception3(num_classes, aux_logits or has_aux, transform_input, False, dropout, rngs=rngs)
    interop.from_torch(model, state)
    if not aux_logits:
        model.aux_logits, model.AuxLogits = False, None
    return model
