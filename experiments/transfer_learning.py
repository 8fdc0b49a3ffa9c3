"""002/003's transfer learning: pre-train the MNIST CNN on digits 0-4, save it, load it,
freeze the feature extractor (the conv layers) by parameter path (the notes'
``requires_grad = False`` loop), replace the classifier (fc1, fc2) with new layers for
5 classes as the notes replace ``alexnet.classifier``, fine-tune only those on few
examples of digits 5-9; compare with training the same network from scratch on them.

    python -m experiments.transfer_learning
    python -m experiments.transfer_learning --finetune-size 2000 --freeze 'conv.*'

Freezing is an optimizer matter in JAX (``jaxdl.optim.freeze``: zero updates, no weight
decay, for the parameters whose dotted path matches); the experiment checks that every
frozen weight is bit-identical after fine-tuning.
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
from flax import nnx

from jaxdl import cli, data, losses, optim, tree
from jaxdl.checkpoint import Checkpointer
from jaxdl.data import ArrayDataset
from jaxdl.experiment import finish, sub_args, train_and_evaluate
from jaxdl.layers import Linear
from jaxdl.models import ConvolutionalNetwork
from jaxdl.train import Learner


def main(argv=None) -> dict:
    p = cli.parser("transfer_learning: pre-train on digits 0-4, fine-tune a new head on 5-9", epochs=3,
                   batch_size=32, lr=1e-3, seed=0, datasets=["mnist_5k", "mnist", "fashion_mnist"])
    p.add_argument("--finetune-size", type=cli.positive_int, default=100, help="training examples of task B")
    p.add_argument("--finetune-epochs", type=cli.positive_int, default=10)
    p.add_argument("--finetune-lr", type=cli.positive_float, default=1e-3)
    p.add_argument("--freeze", nargs="+", default=[r"conv"],
                   help="regular expressions of the parameter paths to freeze")
    args = p.parse_args(argv)
    cli.setup(args)
    full = data.load(args.dataset, args.data_dir)
    task_a = full.map(keep=lambda y: y < 5, name=f"{full.name} classes 0-4", classes=full.classes[:5])
    task_b = full.map(keep=lambda y: y >= 5, y=lambda y: y - 5, name=f"{full.name} classes 5-9",
                      classes=full.classes[5:])
    pick = np.sort(np.random.default_rng(args.seed).permutation(len(task_b.train))[: args.finetune_size])
    task_b.train = ArrayDataset(*task_b.train[pick])
    workdir = Path(args.workdir)
    sub = lambda name, **kw: sub_args(args, workdir / name, **kw)

    # 1. pre-train on task A; the checkpoint is the notes' torch.save(model.state_dict())
    pre = train_and_evaluate(sub("pretrain"), name="transfer/pretrain", data=task_a,
                             model=ConvolutionalNetwork(rngs=nnx.Rngs(args.seed)), loss_fn=losses.nll_loss,
                             optimizer=optim.adam(args.lr))
    # 2. load it into a fresh model (torch.load + load_state_dict)
    loader = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(args.seed + 1)), losses.nll_loss, optim.adam(args.lr))
    with Checkpointer(workdir / "pretrain" / "checkpoints") as ckpt:
        loaded, _ = ckpt.restore(loader.init_state())
    model = loader.model(loaded)
    # 3. replace the classifier (alexnet.classifier = nn.Sequential(...)) and freeze the rest
    new_head = lambda m, seed: (setattr(m, "fc1", Linear(400, 100, rngs=nnx.Rngs(seed))),
                                setattr(m, "fc2", Linear(100, len(task_b.classes), rngs=nnx.Rngs(seed))))
    new_head(model, args.seed + 2)
    before = nnx.state(model, nnx.Param).to_pure_dict()
    tx = optim.freeze(optim.adam(args.finetune_lr), args.freeze)
    fine = train_and_evaluate(sub("finetune", epochs=args.finetune_epochs), name="transfer/finetune", data=task_b,
                              model=model, loss_fn=losses.nll_loss, optimizer=tx)
    after = fine["state"].params
    frozen = optim.frozen_paths(before, args.freeze)
    trained = sorted({p.rsplit(".", 1)[0] for p in tree.paths(before) if p not in frozen})
    flat_b, flat_a = dict(zip(tree.paths(before), jax.tree.leaves(before))), dict(zip(tree.paths(after), jax.tree.leaves(after)))
    unchanged = all(np.array_equal(np.asarray(flat_b[k]), np.asarray(flat_a[k])) for k in frozen)
    head_moved = not np.array_equal(np.asarray(flat_b["fc2.kernel"]), np.asarray(flat_a["fc2.kernel"]))
    print(f"frozen parameters {frozen}: bit-identical after fine-tuning: {unchanged}; head trained: {head_moved}")
    # 4. the same network from scratch on the same few examples
    scratch_model = ConvolutionalNetwork(rngs=nnx.Rngs(args.seed + 3))
    new_head(scratch_model, args.seed + 2)
    scratch = train_and_evaluate(sub("scratch", epochs=args.finetune_epochs), name="transfer/scratch", data=task_b,
                                 model=scratch_model, loss_fn=losses.nll_loss, optimizer=optim.adam(args.lr))
    table = "\n".join([
        "| run | data | epochs | trained parameters | test accuracy |", "|---|---|---:|---|---:|",
        f"| pre-train | {task_a.name}, {len(task_a.train)} examples | {args.epochs} | all | {100 * pre['test_accuracy']:.2f}% |",
        f"| fine-tune classifier | {task_b.name}, {len(task_b.train)} examples | {args.finetune_epochs} | {', '.join(trained)} | {100 * fine['test_accuracy']:.2f}% |",
        f"| from scratch | {task_b.name}, {len(task_b.train)} examples | {args.finetune_epochs} | all | {100 * scratch['test_accuracy']:.2f}% |"])
    print(table)
    (workdir / "results.md").write_text(table + "\n")
    return finish(args, {"pretrain_accuracy": pre["test_accuracy"], "finetune_accuracy": fine["test_accuracy"],
                         "scratch_accuracy": scratch["test_accuracy"], "frozen": frozen,
                         "frozen_unchanged": unchanged, "head_trained": head_moved})


if __name__ == "__main__":
    cli.run(main)
