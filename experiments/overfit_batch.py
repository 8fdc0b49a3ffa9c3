"""003's first debugging step: overfit a single batch. Loss should reach ~0 and accuracy
1.0; if it does not, the model, loss or labels have a bug.

    python -m experiments.overfit_batch                     # 8 digits, the MNIST CNN, Adam 1e-3
    python -m experiments.overfit_batch --batch-size 1      # the notes' single data point

The batch is one fixed set of training examples, fed ``--epochs`` times through ``fit``.
"""

from __future__ import annotations


from flax import nnx

from jaxdl import cli, data, losses, optim
from jaxdl.data import ArrayDataset, DataLoader
from jaxdl.experiment import finish
from jaxdl.models import ConvolutionalNetwork
from jaxdl.train import Learner, evaluate, fit


def main(argv=None) -> dict:
    p = cli.parser("overfit_batch: overfit one batch to loss ~0 and accuracy 1.0", epochs=200, batch_size=8,
                   lr=1e-3, seed=0, datasets=["mnist_5k", "mnist", "fashion_mnist"])
    args = p.parse_args(argv)
    cli.setup(args)
    ds = data.load(args.dataset, args.data_dir)
    batch = ArrayDataset(*ds.train[: args.batch_size])
    learner = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(args.seed)), losses.nll_loss, optim.adam(args.lr),
                      precision=args.precision)
    state, history = fit(learner, learner.init_state(), DataLoader(batch, args.batch_size), epochs=args.epochs,
                         progress=False if args.no_progress else None, log_every=max(1, args.epochs // 10))
    final = evaluate(learner, state, DataLoader(batch, args.batch_size))
    ok = final["accuracy"] == 1.0 and final["loss"] < 0.01
    print(f"after {args.epochs} steps on one batch of {args.batch_size}: loss {final['loss']:.2e}, "
          f"accuracy {final['accuracy']:.2f} -> {'the pipeline can learn' if ok else 'NOT overfitted: look for a bug'}")
    return finish(args, {"final_loss": final["loss"], "final_accuracy": final["accuracy"], "overfitted": ok,
                         "history": history.rows})


if __name__ == "__main__":
    cli.run(main)
