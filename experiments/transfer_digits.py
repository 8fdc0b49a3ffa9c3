"""002/003's transfer learning without an image folder: pre-train on digits 0-4, fine-tune a new head on 5-9.

    python -m experiments.transfer_digits
    python -m experiments.transfer_digits --finetune-size 2000 --freeze 'conv.*'

The notes' MNIST CNN is pre-trained on digits 0-4 and saved; loaded into a fresh model,
its feature extractor (the conv layers) is frozen by parameter path
(:func:`jaxdl.optim.freeze`, the notes' ``requires_grad = False``: zero updates, no weight
decay, their gradients not computed) and its classifier (fc1, fc2) replaced with new
layers for 5 classes, as the notes replace ``alexnet.classifier``; only those are
fine-tuned on a few examples of digits 5-9, and compared with the same network trained
from scratch on them. The frozen weights are checked bit-identical after fine-tuning.
The same recipe on torchvision's backbones: ``experiments.transfer_learning``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from flax import nnx

from jaxdl import cli, data, losses, optim, runtime, transfer, tree
from jaxdl.checkpoint import Checkpointer
from jaxdl.data import ArrayDataset
from jaxdl.harness import RunResult, finish, train_and_evaluate
from jaxdl.layers import Linear
from jaxdl.models import ConvolutionalNetwork
from jaxdl.train import Learner


def new_classifier(model: ConvolutionalNetwork, num_classes: int, seed: int) -> ConvolutionalNetwork:
    """torch: ``model.fc1, model.fc2 = nn.Linear(400, 100), nn.Linear(100, num_classes)``."""
    model.fc1 = Linear(400, 100, rngs=nnx.Rngs(seed))
    model.fc2 = Linear(100, num_classes, rngs=nnx.Rngs(seed))
    return model


def main(argv=None) -> RunResult:
    p = cli.parser("transfer_digits: pre-train on digits 0-4, fine-tune a new head on 5-9", epochs=3,
                   batch_size=32, lr=1e-3, seed=0, datasets=["mnist_5k", "mnist", "fashion_mnist"])
    p.add_argument("--finetune-size", type=cli.positive_int, default=100, help="training examples of task B")
    p.add_argument("--finetune-epochs", type=cli.positive_int, default=10)
    p.add_argument("--finetune-lr", type=cli.positive_float, default=1e-3)
    p.add_argument("--freeze", nargs="+", default=[r"conv"], help="regular expressions of the parameter paths to freeze")
    config = cli.parse(p, argv)
    runtime.setup(config)
    seed, freeze, finetune_epochs = config.seed, config.extra["freeze"], config.extra["finetune_epochs"]
    full = data.load(config.dataset, config.data_dir)
    task_a = full.map(keep=lambda y: y < 5, name=f"{full.name} classes 0-4", classes=full.classes[:5])
    task_b = full.map(keep=lambda y: y >= 5, y=lambda y: y - 5, name=f"{full.name} classes 5-9",
                      classes=full.classes[5:])
    pick = np.sort(np.random.default_rng(seed).permutation(len(task_b.train))[: config.extra["finetune_size"]])
    task_b.train = ArrayDataset(*task_b.train[pick])
    workdir = Path(config.workdir)
    sub = lambda name, **changes: config.replace(workdir=str(workdir / name), **changes)  # noqa: E731

    # 1. pre-train on task A; the checkpoint is the notes' torch.save(model.state_dict())
    pre = train_and_evaluate(sub("pretrain"), name="transfer/pretrain", data=task_a,
                             model=ConvolutionalNetwork(rngs=nnx.Rngs(seed)), loss_fn=losses.nll_loss,
                             optimizer=optim.adam(config.lr)).metrics
    # 2. load it into a fresh model (torch.load + load_state_dict)
    loader = Learner(ConvolutionalNetwork(rngs=nnx.Rngs(seed + 1)), losses.nll_loss, optim.adam(config.lr))
    with Checkpointer(workdir / "pretrain" / "checkpoints") as ckpt:
        loaded, _ = ckpt.restore(loader.init_state())
    # 3. replace the classifier (alexnet.classifier = nn.Sequential(...)) and freeze the rest
    model = new_classifier(loader.model(loaded), len(task_b.classes), seed + 2)
    before = nnx.state(model, nnx.Param).to_pure_dict()
    fine = train_and_evaluate(sub("finetune", epochs=finetune_epochs), name="transfer/finetune", data=task_b,
                              model=model, loss_fn=losses.nll_loss,
                              optimizer=optim.freeze(optim.adam(config.extra["finetune_lr"]), freeze))
    frozen = optim.frozen_paths(before, freeze)
    trained = sorted({p.rsplit(".", 1)[0] for p in tree.paths(before) if p not in frozen})
    same = transfer.unchanged(before, fine.state.params)
    unchanged, head_moved = all(same[k] for k in frozen), not same["fc2.kernel"]
    print(f"frozen parameters {frozen}: bit-identical after fine-tuning: {unchanged}; head trained: {head_moved}")
    # 4. the same network from scratch on the same few examples
    scratch_model = new_classifier(ConvolutionalNetwork(rngs=nnx.Rngs(seed + 3)), len(task_b.classes), seed + 2)
    scratch = train_and_evaluate(sub("scratch", epochs=finetune_epochs), name="transfer/scratch", data=task_b,
                                 model=scratch_model, loss_fn=losses.nll_loss, optimizer=optim.adam(config.lr))
    accuracy = {"pretrain": pre["test_accuracy"], "finetune": fine.metrics["test_accuracy"],
                "scratch": scratch.metrics["test_accuracy"]}
    b = f"{task_b.name}, {len(task_b.train)} examples | {finetune_epochs}"
    table = "\n".join([
        "| run | data | epochs | trained parameters | test accuracy |", "|---|---|---:|---|---:|",
        f"| pre-train | {task_a.name}, {len(task_a.train)} examples | {config.epochs} | all "
        f"| {100 * accuracy['pretrain']:.2f}% |",
        f"| fine-tune classifier | {b} | {', '.join(trained)} | {100 * accuracy['finetune']:.2f}% |",
        f"| from scratch | {b} | all | {100 * accuracy['scratch']:.2f}% |"])
    print(table)
    (workdir / "results.md").write_text(table + "\n")
    return finish(config, {f"{k}_accuracy": v for k, v in accuracy.items()} | {
        "frozen": frozen, "frozen_unchanged": unchanged, "head_trained": head_moved})


if __name__ == "__main__":
    cli.run(main)
