"""002/003's regularisation: dropout and weight decay against overfitting a small subset.

002/003's regularisation: the same MLP with and without dropout and weight decay,
trained on a small subset so it overfits; training vs validation loss curves.

    python -m experiments.regularization
    python -m experiments.regularization --train-size 4000 --epochs 20

Variants: plain; ``Dropout(0.5)`` after each hidden layer; L2 weight decay 1e-3 coupled
into Adam's gradient as ``torch.optim.Adam(..., weight_decay=...)`` does; both. The gap
is validation loss minus training loss at the last epoch (training loss measured in
eval mode, without dropout, so the variants compare fairly).

The validation set (``--val-size``, 1,000 by default) is carved from the training set
first (seeded by ``--seed``, stratified by class), and the ``--train-size`` training
examples are then drawn from the rest, so the curves never look at the test set. Every
variant trains the fixed ``--epochs`` and keeps its last state (nothing is selected);
the test set is evaluated once per variant, at the end (``test_accuracy``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from flax import nnx

from jaxdl import cli, data, losses, optim, plots, runtime
from jaxdl.data import ArrayDataset
from jaxdl.harness import RunResult, eval_loader, finish, train_and_evaluate
from jaxdl.models import MLP
from jaxdl.train import evaluate


def main(argv=None) -> RunResult:
    p = cli.parser("regularization: dropout and weight decay against overfitting", epochs=40, batch_size=64,
                   lr=1e-3, seed=0, datasets=["mnist_5k", "mnist", "fashion_mnist"], val_size=1000)
    p.add_argument("--train-size", type=cli.positive_int, default=1000, help="training examples (small: overfit)")
    p.add_argument("--dropout", type=float, default=0.5)
    p.add_argument("--weight-decay", type=cli.nonnegative_float, default=1e-3)
    p.add_argument("--hidden", type=cli.positive_int, nargs="+", default=[512, 512])
    config = cli.parse(p, argv)
    runtime.setup(config)
    full = data.load(config.dataset, config.data_dir)
    if not config.val_size:
        p.error("--val-size must be > 0: the curves compare training with validation loss")
    train_size, dropout, weight_decay = (config.extra[k] for k in ("train_size", "dropout", "weight_decay"))
    ds = full.split_validation(config.val_size, seed=config.seed)  # before the subset: no overlap
    ds = ds.map(name=f"{full.name} ({train_size} random training examples)")
    if train_size > len(ds.train):
        p.error(f"--train-size {train_size}: only {len(ds.train)} training examples outside the validation set")
    pick = np.random.default_rng(config.seed).permutation(len(ds.train))[:train_size]  # a random subset
    ds.train = ArrayDataset(*ds.train[np.sort(pick)])
    variants = {"plain": (0.0, 0.0), "dropout": (dropout, 0.0), "weight_decay": (0.0, weight_decay),
                "dropout+weight_decay": (dropout, weight_decay)}
    sizes = [int(np.prod(ds.train.arrays[0].shape[1:])), *config.extra["hidden"], len(ds.classes)]
    rows, out, lines = [], {}, []
    for name, (p_drop, wd) in variants.items():
        run = train_and_evaluate(config.replace(workdir=str(Path(config.workdir) / name)),
                                 name=f"regularization/{name}", data=ds,
                                 model=MLP(sizes, dropout=p_drop, rngs=nnx.Rngs(params=config.seed,
                                                                                dropout=config.seed + 1)),
                                 loss_fn=losses.cross_entropy, optimizer=optim.adam(config.lr, weight_decay=wd),
                                 select="last", log_every=max(1, config.epochs // 4), checkpoint_every=config.epochs)
        r = run.metrics
        train_eval = evaluate(run.learner, run.state, eval_loader(ds.train))
        gap = r["val_loss"] - train_eval["loss"]
        out[name] = {"dropout": p_drop, "weight_decay": wd, "train_loss": train_eval["loss"], "val_loss": r["val_loss"],
                     "gap": gap, "val_accuracy": r["val_accuracy"], "selected_on": r["selected_on"],
                     "test_loss": r["test_loss"], "test_accuracy": r["test_accuracy"]}
        rows.append(f"| {name} | {p_drop} | {wd:g} | {train_eval['loss']:.4f} | {r['val_loss']:.4f} | {gap:.4f} "
                    f"| {100 * r['val_accuracy']:.2f}% | {100 * r['test_accuracy']:.2f}% |")
        h = run.history
        color = f"C{len(lines) // 2}"
        lines += [([row["epoch"] for row in h], [row["val_loss"] for row in h], f"{name} validation", {"color": color}),
                  ([row["epoch"] for row in h], [row["train_loss"] for row in h], f"{name} training",
                   {"color": color, "ls": "--"})]
    header = "| variant | dropout | weight decay | train loss | val loss | gap | val accuracy | test accuracy |"
    table = "\n".join([header, "|---|---:|---:|---:|---:|---:|---:|---:|", *rows])
    print(table)
    Path(config.workdir, "results.md").write_text(table + "\n")
    plots.series(Path(config.workdir) / "curves.png", *lines, title="training vs validation loss",
                 xlabel="epoch", ylabel="cross-entropy")
    return finish(config, out)


if __name__ == "__main__":
    cli.run(main)
