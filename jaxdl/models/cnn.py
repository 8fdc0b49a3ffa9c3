"""Convolutional models of the notes."""

from __future__ import annotations

import jax
from flax import nnx

from jaxdl.layers import Conv2d, Linear, check_input, flatten, max_pool2d

__all__ = ["ConvolutionalNetwork"]

NCHW_HINT = "Images are NHWC here; a PyTorch NCHW batch converts with x.transpose(0, 2, 3, 1)."


class ConvolutionalNetwork(nnx.Module):
    """torch: the course's ``ConvolutionalNetwork`` (notes 000) for 28x28 grey images.

    conv 1->6 k3, relu, max-pool 2; conv 6->16 k3, relu, max-pool 2; fc 400->100, relu;
    fc 100->10; returns ``log_softmax`` (train it with :func:`jaxdl.losses.nll_loss`).
    Input (N, 28, 28, 1).
    """

    torch_flatten = {"fc1": (16, 5, 5)}

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = Conv2d(1, 6, 3, 1, rngs=rngs)
        self.conv2 = Conv2d(6, 16, 3, 1, rngs=rngs)
        self.fc1 = Linear(5 * 5 * 16, 100, rngs=rngs)
        self.fc2 = Linear(100, 10, rngs=rngs)

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        check_input(x_NHWC, (28, 28, 1), "ConvolutionalNetwork", NCHW_HINT)
        x = max_pool2d(jax.nn.relu(self.conv1(x_NHWC)), 2)
        x = max_pool2d(jax.nn.relu(self.conv2(x)), 2)
        x = jax.nn.relu(self.fc1(flatten(x)))
        return jax.nn.log_softmax(self.fc2(x), axis=-1)
