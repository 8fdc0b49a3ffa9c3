"""Building blocks with PyTorch semantics, as Flax NNX modules.

Where Flax's default differs from PyTorch, the layer here follows PyTorch and the
docstring says what Flax would have done:

* init: torch's default distributions for Linear/Conv (``kaiming_uniform_(a=sqrt(5))``
  weights, ``U(+-1/sqrt(fan_in))`` biases); Flax uses truncated lecun-normal kernels
  (1.73x the spread) and zero biases. Equal to torch's in distribution, not in values:
  the draws come from JAX's generator, so a seed gives other weights than in torch
  (``jaxdl.interop.from_torch`` copies torch's when the values must match).
* Conv2d: padding 0 by default (Flax: ``'SAME'``); NHWC activations, HWIO kernels.
* pooling: stride = kernel size by default (Flax: stride 1).
* BatchNorm: momentum 0.1 in torch's sense, the unbiased variance in the running
  variance (Flax stores the biased one), eps 1e-5, two-pass variance.
* LayerNorm: eps 1e-5 (Flax: 1e-6).
* LSTM / RNN: two biases (``b_ih``, ``b_hh``) trained separately, torch's init distribution.

Activations are NHWC throughout: a PyTorch NCHW batch converts with
``x.transpose(0, 2, 3, 1)``.

The package holds one module per family: ``linear`` (Linear, Identity), ``conv``
(Conv1d/2d, ConvTranspose1d/2d), ``pool`` (max/avg/adaptive, 1-d and 2-d), ``norm``
(BatchNorm, FrozenBatchNorm, GroupNorm, InstanceNorm, LayerNorm), ``dropout`` (Dropout,
StochasticDepth), ``embedding``, ``recurrent``, ``activation`` (ReLU ... PReLU, GLU, as
functions and modules), ``padding`` (zero/constant/reflection/replication/circular),
``reshape`` (Flatten, Unflatten, PixelShuffle/Unshuffle, ChannelShuffle), ``resample``
(interpolate, Upsample); the initialisers are :mod:`jaxdl.init`. Every name is
importable from ``jaxdl.layers``. Conv-like layers are channels-last: (N, L, C) and
(N, H, W, C) where torch has (N, C, L) and (N, C, H, W).

Each layer that mirrors a torch layer carries its record (:mod:`jaxdl.layers.torch_layer`):
the torch names, the input layout, ``torch_arguments`` and ``torch_state``, read by the
porter and by :mod:`jaxdl.interop`; :data:`TORCH_LAYERS` maps torch's class names to them.
"""

from __future__ import annotations

import jax
from flax import nnx

from jaxdl.init import Initializer, torch_default_init, uniform_init
from jaxdl.layers.activation import (
    CELU,
    ELU,
    GELU,
    GLU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
    celu,
    elu,
    glu,
    hardsigmoid,
    hardswish,
    hardtanh,
    leaky_relu,
    mish,
    prelu,
    relu6,
    selu,
    softplus,
)
from jaxdl.layers.attention import MultiheadAttention, scaled_dot_product_attention
from jaxdl.layers.conv import Conv1d, Conv2d, ConvTranspose1d, ConvTranspose2d
from jaxdl.layers.dropout import Dropout, StochasticDepth
from jaxdl.layers.embedding import Embedding
from jaxdl.layers.inputs import check_input
from jaxdl.layers.linear import Identity, Linear
from jaxdl.layers.norm import (
    BatchNorm,
    FrozenBatchNorm,
    GroupNorm,
    InstanceNorm,
    LayerNorm,
    freeze_batchnorm,
)
from jaxdl.layers.padding import (
    CircularPad1d,
    CircularPad2d,
    ConstantPad1d,
    ConstantPad2d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReplicationPad1d,
    ReplicationPad2d,
    ZeroPad1d,
    ZeroPad2d,
    pad,
)
from jaxdl.layers.pool import (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    MaxPool1d,
    MaxPool2d,
    adaptive_avg_pool1d,
    adaptive_avg_pool2d,
    adaptive_max_pool1d,
    adaptive_max_pool2d,
    avg_pool1d,
    avg_pool2d,
    max_pool1d,
    max_pool2d,
)
from jaxdl.layers.recurrent import GRU, LSTM, RNN
from jaxdl.layers.resample import (
    Upsample,
    UpsamplingBilinear2d,
    UpsamplingNearest2d,
    interpolate,
)
from jaxdl.layers.reshape import (
    ChannelShuffle,
    Flatten,
    PixelShuffle,
    PixelUnshuffle,
    Unflatten,
    channel_shuffle,
    flatten,
    pixel_shuffle,
    pixel_unshuffle,
)
from jaxdl.layers.torch_layer import (
    TORCH_LAYERS,
    UnsupportedSetting,
    for_torch_module,
    torch_layer,
)
from jaxdl.layers.transformer import (
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    generate_square_subsequent_mask,
)

__all__ = [
    "CELU", "ELU", "GELU", "GLU", "LSTM", "RNN", "SELU", "TORCH_LAYERS", "AdaptiveAvgPool1d", "AdaptiveAvgPool2d",
    "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AvgPool1d", "AvgPool2d", "BatchNorm", "ChannelShuffle", "CircularPad1d",
    "CircularPad2d", "ConstantPad1d", "ConstantPad2d", "Conv1d", "Conv2d", "ConvTranspose1d", "ConvTranspose2d",
    "Dropout", "Embedding", "Flatten", "FrozenBatchNorm", "GroupNorm", "Hardsigmoid", "Hardswish", "Hardtanh",
    "Identity", "Initializer", "InstanceNorm", "LayerNorm", "LeakyReLU", "Linear", "LogSigmoid", "LogSoftmax",
    "MaxPool1d", "MaxPool2d", "Mish", "PReLU", "PixelShuffle", "PixelUnshuffle", "ReLU", "ReLU6", "ReflectionPad1d",
    "ReflectionPad2d", "ReplicationPad1d", "ReplicationPad2d", "SiLU", "Sigmoid", "Softmax", "Softplus",
    "StochasticDepth", "Tanh", "Unflatten", "UnsupportedSetting", "Upsample", "UpsamplingBilinear2d",
    "UpsamplingNearest2d", "ZeroPad1d", "ZeroPad2d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "avg_pool1d", "avg_pool2d", "celu", "channel_shuffle", "check_input",
    "count_params", "elu", "flatten", "for_torch_module", "freeze_batchnorm", "glu", "hardsigmoid", "hardswish",
    "hardtanh", "interpolate", "leaky_relu", "max_pool1d", "max_pool2d", "mish", "pad", "pixel_shuffle",
    "pixel_unshuffle", "prelu", "relu6", "selu", "softplus", "torch_default_init", "torch_layer", "uniform_init",
]
__all__ += [  # sequence layers (recurrent, attention, transformer: the seqlayers stream)
    "GRU",
    "MultiheadAttention",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "generate_square_subsequent_mask",
    "scaled_dot_product_attention",
]


def count_params(model: nnx.Module) -> int:
    """Number of trainable parameters (torch: ``sum(p.numel() for p in model.parameters())``;
    the notes' ``calculate_capacity``)."""
    return sum(int(p.size) for p in jax.tree.leaves(nnx.state(model, nnx.Param)))
