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

One module per family, as torchvision: ``alexnet``, ``vgg``, ``resnet``, ``inception``;
what they share (input check, weight loading, the builders' arguments) is ``common``.
"""

from jaxdl.models.vision.alexnet import AlexNet, alexnet
from jaxdl.models.vision.inception import (
    BasicConv2d,
    Inception3,
    InceptionA,
    InceptionAux,
    InceptionB,
    InceptionC,
    InceptionD,
    InceptionE,
    InceptionOutputs,
    inception_v3,
)
from jaxdl.models.vision.resnet import (
    BasicBlock,
    Bottleneck,
    ResNet,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
)
from jaxdl.models.vision.vgg import (
    CFGS,
    VGG,
    make_layers,
    vgg11,
    vgg11_bn,
    vgg13,
    vgg13_bn,
    vgg16,
    vgg16_bn,
    vgg19,
    vgg19_bn,
)

__all__ = [
    "CFGS",
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
