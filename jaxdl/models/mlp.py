"""The MNIST and Fashion-MNIST multilayer perceptrons of the notes."""

from __future__ import annotations

from collections.abc import Sequence

import jax
from flax import nnx

from jaxdl.layers import BatchNorm, Dropout, LayerNorm, Linear, flatten

__all__ = ["Net", "BinaryANN", "MNISTClassifier", "FashionMNISTModel", "MLP"]


class Net(nnx.Module):
    """torch: 004's 5-layer MNIST ``Net``: 784-520-320-240-120-10, relu; returns logits."""

    def __init__(self, *, rngs: nnx.Rngs):
        sizes = [784, 520, 320, 240, 120, 10]
        self.l1, self.l2, self.l3, self.l4, self.l5 = (Linear(a, b, rngs=rngs) for a, b in zip(sizes, sizes[1:]))

    def __call__(self, x: jax.Array) -> jax.Array:
        x = flatten(x)  # torch: x.view(-1, 784)
        for layer in (self.l1, self.l2, self.l3, self.l4):
            x = jax.nn.relu(layer(x))
        return self.l5(x)


class BinaryANN(nnx.Module):
    """torch: 002's ``ANN``: layer1 784-30, dropout 0.3, relu, layer2 30-1, dropout; one
    logit (use :func:`jaxdl.losses.bce_with_logits_loss`). Dropout on the output logit
    is the notes' choice, kept."""

    def __init__(self, p: float = 0.3, *, rngs: nnx.Rngs):
        self.layer1 = Linear(28 * 28, 30, rngs=rngs)
        self.drop = Dropout(p, rngs=rngs)
        self.layer2 = Linear(30, 1, rngs=rngs)

    def __call__(self, img: jax.Array) -> jax.Array:
        a1 = jax.nn.relu(self.drop(self.layer1(flatten(img))))
        return self.drop(self.layer2(a1))


class MNISTClassifier(nnx.Module):
    """torch: 002's ``MNISTClassifier``: bn(relu(784-50)), ln(relu(50-20)), 20-10; logits."""

    def __init__(self, *, rngs: nnx.Rngs):
        self.layer1 = Linear(28 * 28, 50, rngs=rngs)
        self.bn = BatchNorm(50)
        self.layer2 = Linear(50, 20, rngs=rngs)
        self.ln = LayerNorm(20, rngs=rngs)
        self.layer3 = Linear(20, 10, rngs=rngs)

    def __call__(self, img: jax.Array) -> jax.Array:
        a1 = self.bn(jax.nn.relu(self.layer1(flatten(img))))
        a2 = self.ln(jax.nn.relu(self.layer2(a1)))
        return self.layer3(a2)


class FashionMNISTModel(nnx.Module):
    """torch: learnpytorch's ``FashionMNISTModelV0`` (001): ``nn.Sequential(nn.Flatten(),
    nn.Linear(784, 10), nn.Linear(10, 10))`` as ``layer_stack``; no activation, logits."""

    def __init__(self, input_shape: int = 784, hidden_units: int = 10, output_shape: int = 10, *,
                 rngs: nnx.Rngs):
        self.layer_stack = nnx.Sequential(flatten, Linear(input_shape, hidden_units, rngs=rngs),
                                          Linear(hidden_units, output_shape, rngs=rngs))

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.layer_stack(x)


class MLP(nnx.Module):
    """torch: ``nn.Sequential(nn.Flatten(), nn.Linear(a, b), nn.ReLU(), nn.Dropout(p), ...,
    nn.Linear(y, z))``: the notes' ad-hoc MLPs (capacity, dropout, overfitting), sizes
    given as ``[in, hidden..., out]``; ``dropout=0`` leaves the Dropout layers out.
    Needs ``nnx.Rngs(params=..., dropout=...)`` when ``dropout > 0``."""

    def __init__(self, sizes: Sequence[int], *, dropout: float = 0.0, rngs: nnx.Rngs):
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least [in, out] sizes, got {list(sizes)}")
        parts: list = [flatten]
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            parts.append(Linear(a, b, rngs=rngs))
            if i < len(sizes) - 2:
                parts.append(jax.nn.relu)
                if dropout:
                    parts.append(Dropout(dropout, rngs=rngs))
        self.layers = nnx.Sequential(*parts)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self.layers(x)
