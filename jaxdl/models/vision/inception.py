"""Inception v3 (torch: ``torchvision.models.inception``)."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl import interop
from jaxdl.init import trunc_normal_init
from jaxdl.layers import (
    AdaptiveAvgPool2d,
    BatchNorm,
    Conv2d,
    Dropout,
    Linear,
    MaxPool2d,
    adaptive_avg_pool2d,
    avg_pool2d,
    flatten,
    max_pool2d,
)
from jaxdl.models.vision.common import builder_doc, check_image, relu, weights_to_load


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
        check_image(x_NHWC, "Inception3", 75)
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


def inception_v3(pretrained=False, *, weights: str | None = None, progress: bool = True,
                 num_classes: int = 1000, aux_logits: bool = True, transform_input: bool | None = None,
                 init_weights: bool | None = None, dropout: float = 0.5, rngs: nnx.Rngs) -> Inception3:
    """torch: ``torchvision.models.inception_v3(pretrained=False, num_classes=1000,
    aux_logits=True, transform_input=False, init_weights=None, dropout=0.5)``.

    As torchvision when weights are loaded: ``transform_input`` defaults to True (Google's
    weights expect [-1, 1] input), the weights load with the aux head, which is then
    dropped if ``aux_logits=False``."""
    state = weights_to_load("inception_v3", num_classes, pretrained, weights, progress)
    if state is None:
        return Inception3(num_classes, aux_logits, bool(transform_input), init_weights, dropout, rngs=rngs)
    has_aux = any(k.startswith("AuxLogits.") for k in state)
    transform_input = True if transform_input is None else transform_input
    model = Inception3(num_classes, aux_logits or has_aux, transform_input, False, dropout, rngs=rngs)
    interop.from_torch(model, state)
    if not aux_logits:
        model.aux_logits, model.AuxLogits = False, None
    return model


inception_v3.__doc__ = builder_doc(
    inception_v3.__doc__.rstrip(),
    "        aux_logits: build the auxiliary classifier (train mode then returns\n"
    "            :class:`InceptionOutputs`).\n"
    "        transform_input: re-normalise ImageNet-normalised input to Google's [-1, 1] scaling\n"
    "            (default: True with loaded weights, else False).\n"
    "        init_weights: torchvision's truncated-normal init (default: True without weights).\n"
    "        dropout: the dropout probability before ``fc``.")
