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

The package holds one module per family: ``linear`` (Linear, Identity), ``conv``,
``pool``, ``norm`` (BatchNorm, FrozenBatchNorm, LayerNorm), ``dropout``, ``embedding``,
``recurrent``, ``activation``, ``reshape`` (flatten); the initialisers are
:mod:`jaxdl.init`. Every name is importable from ``jaxdl.layers``.

Each layer that mirrors a torch layer carries its record (:mod:`jaxdl.layers.torch_layer`):
the torch names, the input layout, ``torch_arguments`` and ``torch_state``, read by the
porter and by :mod:`jaxdl.interop`; :data:`TORCH_LAYERS` maps torch's class names to them.
"""

from __future__ import annotations

import jax
from flax import nnx

from jaxdl.init import Initializer, torch_default_init, uniform_init
from jaxdl.layers.activation import leaky_relu
from jaxdl.layers.attention import MultiheadAttention, scaled_dot_product_attention
from jaxdl.layers.conv import Conv2d
from jaxdl.layers.dropout import Dropout
from jaxdl.layers.embedding import Embedding
from jaxdl.layers.inputs import check_input
from jaxdl.layers.linear import Identity, Linear
from jaxdl.layers.norm import BatchNorm, FrozenBatchNorm, LayerNorm, freeze_batchnorm
from jaxdl.layers.pool import (
    AdaptiveAvgPool2d,
    AvgPool2d,
    MaxPool2d,
    adaptive_avg_pool2d,
    avg_pool2d,
    max_pool2d,
)
from jaxdl.layers.recurrent import GRU, LSTM, RNN
from jaxdl.layers.reshape import Flatten, flatten
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
    "LSTM",
    "RNN",
    "TORCH_LAYERS",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "FrozenBatchNorm",
    "Identity",
    "Initializer",
    "LayerNorm",
    "Linear",
    "MaxPool2d",
    "UnsupportedSetting",
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "check_input",
    "count_params",
    "flatten",
    "for_torch_module",
    "freeze_batchnorm",
    "leaky_relu",
    "max_pool2d",
    "torch_default_init",
    "torch_layer",
    "uniform_init",
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
