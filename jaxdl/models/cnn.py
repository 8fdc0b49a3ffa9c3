"""Convolutional models of the notes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl.layers import Conv2d, Linear, check_input, flatten, max_pool2d

__all__ = ["ConvolutionalNetwork", "LeNet5", "TinyVGG", "CifarNet", "CNN"]

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


class LeNet5(nnx.Module):
    """torch: 002's ``LeNet5`` on 32x32 grey images: conv 1-6 k5, relu, pool; conv 6-16 k5,
    relu, pool; fc 400-120, tanh; fc 120-84, tanh; fc 84-10 (logits). MNIST is padded by
    2 pixels to 32x32 (the notes write ``F.reul``: relu is meant)."""

    torch_flatten = {"fc1": (16, 5, 5)}

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = Conv2d(1, 6, 5, rngs=rngs)
        self.conv2 = Conv2d(6, 16, 5, rngs=rngs)
        self.fc1 = Linear(5 * 5 * 16, 120, rngs=rngs)
        self.fc2 = Linear(120, 84, rngs=rngs)
        self.fc3 = Linear(84, 10, rngs=rngs)

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        check_input(x_NHWC, (32, 32, 1), "LeNet5", NCHW_HINT + " Pad 28x28 digits by 2 on each side.")
        x = max_pool2d(jax.nn.relu(self.conv1(x_NHWC)), 2)
        x = max_pool2d(jax.nn.relu(self.conv2(x)), 2)
        x = jnp.tanh(self.fc1(flatten(x)))
        return self.fc3(jnp.tanh(self.fc2(x)))


class TinyVGG(nnx.Module):
    """torch: the notes' ``FashionNISTCNN`` = learnpytorch's ``FashionMNISTModelV2``: two
    blocks of (conv k3 p1, relu, conv k3 p1, relu, max-pool 2) and a linear classifier on
    hidden*7*7 features; logits. Input (N, 28, 28, input_shape)."""

    def __init__(self, input_shape: int = 1, hidden_units: int = 10, output_shape: int = 10, *,
                 rngs: nnx.Rngs):
        h = hidden_units
        self.input_shape = input_shape
        self.block_1 = nnx.Sequential(Conv2d(input_shape, h, 3, 1, 1, rngs=rngs), jax.nn.relu,
                                      Conv2d(h, h, 3, 1, 1, rngs=rngs), jax.nn.relu, _pool2)
        self.block_2 = nnx.Sequential(Conv2d(h, h, 3, 1, 1, rngs=rngs), jax.nn.relu,
                                      Conv2d(h, h, 3, 1, 1, rngs=rngs), jax.nn.relu, _pool2)
        self.classifier = nnx.Sequential(flatten, Linear(h * 7 * 7, output_shape, rngs=rngs))
        self.torch_flatten = {"classifier.1": (h, 7, 7)}

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        check_input(x_NHWC, (28, 28, self.input_shape), "TinyVGG", NCHW_HINT)
        return self.classifier(self.block_2(self.block_1(x_NHWC)))


def _pool2(x):
    return max_pool2d(x, 2)


class CifarNet(nnx.Module):
    """torch: 004's CIFAR-10 ``Net``: conv 3-6 k5, pool; conv 6-16 k5, pool; fc 400-120-84-10
    with relu; logits. Input (N, 32, 32, 3)."""

    torch_flatten = {"fc1": (16, 5, 5)}

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = Conv2d(3, 6, 5, rngs=rngs)
        self.conv2 = Conv2d(6, 16, 5, rngs=rngs)
        self.fc1 = Linear(16 * 5 * 5, 120, rngs=rngs)
        self.fc2 = Linear(120, 84, rngs=rngs)
        self.fc3 = Linear(84, 10, rngs=rngs)

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        check_input(x_NHWC, (32, 32, 3), "CifarNet", NCHW_HINT)
        x = max_pool2d(jax.nn.relu(self.conv1(x_NHWC)), 2)
        x = max_pool2d(jax.nn.relu(self.conv2(x)), 2)
        x = jax.nn.relu(self.fc1(flatten(x)))
        return self.fc3(jax.nn.relu(self.fc2(x)))


class CNN(nnx.Module):
    """torch: 002's smaller ``CNN``: conv 3-5 k5, pool; conv 5-10 k5, pool; fc 250-32, fc
    32-10; logits. Input (N, 32, 32, 3)."""

    torch_flatten = {"fc1": (10, 5, 5)}

    def __init__(self, *, rngs: nnx.Rngs):
        self.conv1 = Conv2d(3, 5, 5, rngs=rngs)
        self.conv2 = Conv2d(5, 10, 5, rngs=rngs)
        self.fc1 = Linear(10 * 5 * 5, 32, rngs=rngs)
        self.fc2 = Linear(32, 10, rngs=rngs)

    def __call__(self, x_NHWC: jax.Array) -> jax.Array:
        check_input(x_NHWC, (32, 32, 3), "CNN", NCHW_HINT)
        x = max_pool2d(jax.nn.relu(self.conv1(x_NHWC)), 2)
        x = max_pool2d(jax.nn.relu(self.conv2(x)), 2)
        return self.fc2(jax.nn.relu(self.fc1(flatten(x))))
