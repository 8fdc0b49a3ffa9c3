"""002's ``MNISTClassifier``: 784-50 + BatchNorm1d, 50-20 + LayerNorm, 20-10 logits.

    python -m experiments.mnist_bn_ln

BatchNorm as torch: batch statistics in training (biased variance), running averages
with momentum 0.1 of the unbiased variance for evaluation; LayerNorm eps 1e-5. The
notes give no optimizer: Adam 1e-3, batch 64, 3 epochs. The running statistics are
part of the checkpoint and are what the test accuracy uses.
"""

from __future__ import annotations

import numpy as np
from flax import nnx

from jaxdl import cli, data, losses, optim, runtime
from jaxdl.harness import RunResult, train_and_evaluate
from jaxdl.models import MNISTClassifier


def main(argv=None) -> RunResult:
    p = cli.parser("mnist_bn_ln: the notes' BatchNorm + LayerNorm MNIST classifier",
                   epochs=3, batch_size=64, lr=1e-3, seed=0, datasets=["mnist", "mnist_5k", "fashion_mnist"])
    config = cli.parse(p, argv)
    runtime.setup(config)
    ds = data.load(config.dataset, config.data_dir)
    result = train_and_evaluate(config, name="mnist_bn_ln", data=ds,
                                model=MNISTClassifier(rngs=nnx.Rngs(config.seed)), loss_fn=losses.cross_entropy,
                                optimizer=optim.adam(config.lr))
    bn = result.state.model_state["bn"]
    print(f"BatchNorm running statistics after {int(bn['num_batches_tracked'])} batches: "
          f"mean of running_mean {float(np.mean(bn['mean'])):.4f}, mean of running_var {float(np.mean(bn['var'])):.4f}")
    return result


if __name__ == "__main__":
    cli.run(main)
