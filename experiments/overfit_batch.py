"""003's first debugging step: overfit a single batch to loss ~0 and accuracy 1.0.

If loss and accuracy do not get there, the model, loss or labels have a bug.

    python -m experiments.overfit_batch                     # 8 digits, the MNIST CNN, Adam 1e-3
    python -m experiments.overfit_batch --batch-size 1      # the notes' single data point

The batch is one fixed set of training examples, fed ``--epochs`` times through ``fit``.
"""

from __future__ import annotations

from flax import nnx

from jaxdl import cli, data, losses, optim, runtime
from jaxdl.data import ArrayDataset, DataLoader
from jaxdl.harness import RunResult, finish
from jaxdl.models import ConvolutionalNetwork
from jaxdl.train import Learner, evaluate, fit


def main(argv=None) -> RunResult:
    p = cli.parser("overfit_batch: overfit one batch to loss ~0 and accuracy 1.0", epochs=200, batch_size=8,
                   lr=1e-3, seed=0, datasets=["mnist_5k", "mnist", "fashion_mnist"])
    config = cli.parse(p, argv)
    runtime.setup(config)
    ds = data.load(config.dataset, config.data_dir)
    batch = ArrayDataset(*ds.train[: config.batch_size])
    learner = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(config.seed)), losses.nll_loss, optim.adam(config.lr),
                      precision=config.precision)
    state, history = fit(learner, learner.init_state(), DataLoader(batch, config.batch_size), epochs=config.epochs,
                         progress=config.progress, log_every=max(1, config.epochs // 10))
    final = evaluate(learner, state, DataLoader(batch, config.batch_size))
    ok = final["accuracy"] == 1.0 and final["loss"] < 0.01
    print(f"after {config.epochs} steps on one batch of {config.batch_size}: loss {final['loss']:.2e}, "
          f"accuracy {final['accuracy']:.2f} -> {'the pipeline can learn' if ok else 'NOT overfitted: look for a bug'}")
    return finish(config, {"final_loss": final["loss"], "final_accuracy": final["accuracy"], "overfitted": ok},
                  name="overfit_batch", history=history.rows, state=state, learner=learner)


if __name__ == "__main__":
    cli.run(main)
