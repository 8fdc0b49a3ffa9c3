"""The notes' model classes as Flax NNX modules, named after them.

Every model takes ``rngs=nnx.Rngs(seed)`` (``nnx.Rngs(params=..., dropout=...)`` for
models with dropout), expects NHWC images where the notes use NCHW, and initialises
like torch. ``torch_flatten`` names the dense layer that follows a conv stack and the
(C, H, W) shape torch flattens there, for weight conversion.

basic.py: linear/logistic regression, the iris and Pima MLPs; mlp.py: the MNIST and
Fashion-MNIST MLPs; cnn.py: the CNNs; rnn.py: the LSTM forecaster; tabular.py: the
categorical-embedding model. vision/ (imported by its path, ``jaxdl.models.vision``; one module per family):
torchvision's backbones (alexnet, vgg*, resnet*, inception_v3) with pretrained weights
(pretrained.py).
"""

from jaxdl.models.basic import *  # noqa: F401,F403
from jaxdl.models.cnn import *  # noqa: F401,F403
from jaxdl.models.mlp import *  # noqa: F401,F403
from jaxdl.models.rnn import *  # noqa: F401,F403
from jaxdl.models.tabular import *  # noqa: F401,F403
