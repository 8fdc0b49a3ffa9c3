"""002's LeNet-5 on MNIST padded to 32x32 (relu convs, tanh dense layers).

    python -m experiments.lenet5

The notes give no training recipe: SGD lr 0.01 momentum 0.9, batch 64, 3 epochs.
"""

from __future__ import annotations

import numpy as np
from flax import nnx

from jaxdl import cli, data, losses, optim, runtime
from jaxdl.harness import RunResult, train_and_evaluate
from jaxdl.models import LeNet5


def pad_to_32(images_NHWC: np.ndarray) -> np.ndarray:
    """torchvision ``transforms.Pad(2)``: 28x28 -> 32x32 with zeros."""
    return np.pad(images_NHWC, ((0, 0), (2, 2), (2, 2), (0, 0)))


def main(argv=None) -> RunResult:
    p = cli.parser("lenet5: LeNet-5 on 32x32-padded digits", epochs=3, batch_size=64, lr=0.01, seed=0,
                   datasets=["mnist", "mnist_5k", "fashion_mnist"])
    p.add_argument("--momentum", type=cli.nonnegative_float, default=0.9)
    config = cli.parse(p, argv)
    runtime.setup(config)
    ds = data.load(config.dataset, config.data_dir).map(x=pad_to_32)
    return train_and_evaluate(config, name="lenet5", data=ds, model=LeNet5(rngs=nnx.Rngs(config.seed)),
                              loss_fn=losses.cross_entropy,
                              optimizer=optim.sgd(config.lr, momentum=config.extra["momentum"]))


if __name__ == "__main__":
    cli.run(main)
