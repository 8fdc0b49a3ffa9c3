"""002's binary ANN (is the digit < 3?): 784-30-1 with dropout, one image per step.

002's binary ANN: is the digit < 3? 784-30-1 with dropout 0.3, BCE-with-logits,
SGD lr 0.005 momentum 0.9, one image per step as the notes; error rate and accuracy.

    python -m experiments.mnist_binary
    python -m experiments.mnist_binary --batch-size 64 --epochs 3

The notes' error count tests ``label >= 0.3`` where ``label >= 3`` is meant; here the
threshold is 0.5 on sigmoid(logit) against ``label < 3``. Dropout also hits the output
logit, as in the notes' ``forward`` (train mode only).
"""

from __future__ import annotations

import numpy as np
from flax import nnx

from jaxdl import cli, data, losses, optim, runtime
from jaxdl.harness import RunResult, eval_loader, train_and_evaluate
from jaxdl.models import BinaryANN
from jaxdl.train import evaluate


def main(argv=None) -> RunResult:
    p = cli.parser("mnist_binary: digit < 3 with the notes' 784-30-1 dropout ANN",
                   epochs=1, batch_size=1, lr=0.005, seed=1, datasets=["mnist", "mnist_5k"])
    p.add_argument("--momentum", type=cli.nonnegative_float, default=0.9)
    config = cli.parse(p, argv)
    runtime.setup(config)
    ds = data.load(config.dataset, config.data_dir).map(
        y=lambda labels: (labels < 3).astype(np.float32)[:, None], name="digit < 3",
        classes=["3-9", "0-2"])
    result = train_and_evaluate(
        config, name="mnist_binary", data=ds,
        model=BinaryANN(rngs=nnx.Rngs(params=config.seed, dropout=config.seed + 1)),
        loss_fn=losses.bce_with_logits_loss, optimizer=optim.sgd(config.lr, momentum=config.extra["momentum"]),
        task="binary")
    train = evaluate(result.learner, result.state, eval_loader(ds.train))
    for split, acc in (("Training", train["accuracy"]), ("Test", result.metrics["test_accuracy"])):
        print(f"{split} Error Rate: {1 - acc:.4f}   {split} Accuracy: {acc:.4f}")
    result.metrics["train_accuracy"] = train["accuracy"]
    return result


if __name__ == "__main__":
    cli.run(main)
