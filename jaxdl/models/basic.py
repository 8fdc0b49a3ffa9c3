"""The small models of the notes: linear and logistic regression, the iris and Pima MLPs."""

from __future__ import annotations

import jax
from flax import nnx

from jaxdl.layers import Linear, check_input

__all__ = ["LinearRegression", "LogisticRegression", "IrisModel", "WideDeep"]


class LinearRegression(nnx.Module):
    """torch: the notes' ``Model`` with ``self.linear = nn.Linear(1, 1)`` (000, 004)."""

    def __init__(self, in_features: int = 1, out_features: int = 1, *, rngs: nnx.Rngs, kernel_init=None):
        self.linear = Linear(in_features, out_features, kernel_init=kernel_init, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.linear(x)


class LogisticRegression(nnx.Module):
    """torch: 004's ``Model``: ``sigmoid(self.linear(x))``; returns probabilities (use BCE)."""

    def __init__(self, in_features: int = 1, *, rngs: nnx.Rngs):
        self.linear = Linear(in_features, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        return jax.nn.sigmoid(self.linear(x))


class IrisModel(nnx.Module):
    """torch: the notes' iris ``Model(in_features=4, h1=8, h2=9, out_features=3)`` (000).

    The notes apply ReLU to the output logits too (``output_relu=True``): units that die
    there never recover, so the recipe reaches 100% test accuracy in only 7 of 20 torch
    seeds (0.33 to 0.7 otherwise). ``output_relu=False`` returns plain logits.
    """

    def __init__(self, in_features: int = 4, h1: int = 8, h2: int = 9, out_features: int = 3, *,
                 output_relu: bool = True, rngs: nnx.Rngs):
        self.fc1 = Linear(in_features, h1, rngs=rngs)
        self.fc2 = Linear(h1, h2, rngs=rngs)
        self.out = Linear(h2, out_features, rngs=rngs)
        self.output_relu = output_relu

    def __call__(self, x: jax.Array) -> jax.Array:
        check_input(x, (self.fc1.in_features,), "IrisModel")
        x = jax.nn.relu(self.fc2(jax.nn.relu(self.fc1(x))))
        x = self.out(x)
        return jax.nn.relu(x) if self.output_relu else x


class WideDeep(nnx.Module):
    """torch: 004's wide & deep ``Model``: l1 8-6, l2 6-4, l3 4-1, sigmoid after each;
    returns probabilities (use :func:`jaxdl.losses.bce_loss`)."""

    def __init__(self, in_features: int = 8, *, rngs: nnx.Rngs):
        self.l1 = Linear(in_features, 6, rngs=rngs)
        self.l2 = Linear(6, 4, rngs=rngs)
        self.l3 = Linear(4, 1, rngs=rngs)

    def __call__(self, x: jax.Array) -> jax.Array:
        check_input(x, (self.l1.in_features,), "WideDeep")
        s = jax.nn.sigmoid
        return s(self.l3(s(self.l2(s(self.l1(x))))))
