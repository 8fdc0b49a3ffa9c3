"""002/003's transfer learning, two ways.

**The notes' recipe on torchvision's backbones** (``--backbone``), on a folder of your images::

    alexnet = torchvision.models.alexnet(pretrained=True)
    for param in alexnet.features.parameters():
        param.requires_grad = False
    alexnet.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 256), nn.ReLU(),
                                       nn.Linear(256, num_classes))

    python -m experiments.transfer_learning --backbone alexnet --data-dir FOLDER --pretrained alexnet-owt-7be5be79.pth
    python -m experiments.transfer_learning --backbone resnet18 --data-dir FOLDER --pretrained-cache --cache-features

``FOLDER`` holds ``train/`` and ``test/`` (and optionally ``val/``: then every epoch is
validated and the best epoch tested), each torchvision's ``ImageFolder`` layout
``<class>/<image>`` with the same class folders. The backbone is ``jaxdl.models.vision``'s
(torchvision's names and state_dict keys); ``--pretrained PATH`` loads a torchvision
``.pth`` file, ``--pretrained-cache`` torchvision's ImageNet weights from the torch hub
cache (downloaded when missing and online). Without either the backbone is random:
the log and ``metrics.json`` (``backbone_weights: "random"``, ``random_backbone: true``)
say so, and the figure then measures random convolutional features, not an ImageNet
transfer result. A random AlexNet's features are small (torch's default init shrinks
them layer by layer: about 0.02 on Fashion-MNIST), so its head needs a larger ``--lr``
(0.1) than the tutorial's 0.001 for ImageNet features; a random ResNet's or Inception's
frozen BatchNorm statistics are their initial 0 and 1, which normalise nothing
(Inception's features reach 1e12): with random weights only AlexNet and VGG-16 make a
meaningful pipeline check.

The frozen part is chosen by parameter path (``jaxdl.optim.freeze``, the notes'
``requires_grad = False``) and only the new head trains (SGD, momentum 0.9, torchvision's
fine-tuning tutorial's optimizer). The heads:

* ``alexnet``: ``classifier`` <- the notes' ``Dropout(0.5), Linear(256*6*6, 256), ReLU,
  Linear(256, num_classes)``; frozen ``features``.
* ``vgg16``: the same head from ``512*7*7`` inputs; frozen ``features``.
* ``resnet18``: ``fc`` <- ``Linear(512, num_classes)``, as torchvision's fine-tuning
  tutorial does; frozen: everything else.
* ``inception_v3``: built with ``aux_logits=False`` (no ``InceptionOutputs`` in train
  mode: the loss sees plain logits; the tutorial's alternative, ``loss + 0.4 * aux_loss``,
  would train the aux head too); ``fc`` <- ``Linear(2048, num_classes)``, and Inception's
  own ``dropout`` (0.5, between the pooled features and ``fc``) is rebuilt with the head
  and counts as part of it; frozen: everything else.

Where this differs from the PyTorch recipe: the frozen part is a fixed function. ResNet's
and Inception's BatchNorm layers become ``FrozenBatchNorm`` (torchvision's
``FrozenBatchNorm2d``: running statistics in train mode too). In torch,
``requires_grad = False`` alone leaves them normalising with batch statistics and
updating their running statistics from the new images in ``model.train()``. AlexNet and
VGG-16 have no BatchNorm in ``features``, so for them the recipe is literal. The dense
layer that sees the flattened conv features carries ``torch_flatten``
(``{"classifier.1": (256, 6, 6)}``), so the fine-tuned model converts to a torchvision
state_dict: ``model.pth`` in the workdir loads into ``torchvision.models.alexnet()`` with
the notes' classifier (``load_state_dict(strict=True)``).

``--cache-features``: because the backbone is frozen and the images are preprocessed
deterministically (the backbone's ImageNet transform, no augmentation), each image's
features are computed once. The backbone with its head replaced by ``Identity`` (torch's
``model.fc = nn.Identity()``) runs over the folders in eval mode (``jaxdl.train.predictions``),
and the head alone is trained by the same ``train_and_evaluate`` on an ``ArrayDataset``
of those features: same batches, same dropout masks, the same head weights up to float
rounding, without decoding an image or running the backbone per epoch.

**Without ``--backbone``**, the small-CNN demonstration that needs no data folder:
pre-train the notes' MNIST CNN on digits 0-4, save it, load it, freeze the feature
extractor (the conv layers) by parameter path, replace the classifier (fc1, fc2) with new
layers for 5 classes as the notes replace ``alexnet.classifier``, fine-tune only those on
few examples of digits 5-9; compare with training the same network from scratch on them.

    python -m experiments.transfer_learning
    python -m experiments.transfer_learning --finetune-size 2000 --freeze 'conv.*'

Freezing is an optimizer matter in JAX (``jaxdl.optim.freeze``: zero updates, no weight
decay, for the parameters whose dotted path matches; their gradients are not computed);
both demonstrations check that every frozen weight is bit-identical after training.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np
import optax
from flax import nnx

from jaxdl import cli, data, extras, interop, losses, optim, runtime, tree
from jaxdl.checkpoint import Checkpointer
from jaxdl.data import ArrayDataset, Data, DataLoader, ImageFolder
from jaxdl.data.image_transforms import imagenet_transform
from jaxdl.config import RunConfig
from jaxdl.harness import RunResult, finish, train_and_evaluate
from jaxdl.layers import Dropout, Identity, Linear, freeze_batchnorm
from jaxdl.models import ConvolutionalNetwork, vision
from jaxdl.train import STEPS_PER_CALL, Learner, predictions


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A torchvision backbone and the notes' recipe for it."""

    factory: Callable[..., nnx.Module]  # jaxdl.models.vision's function (torchvision's name)
    frozen: tuple[str, ...]  # parameter paths frozen (re.match), the notes' requires_grad = False
    crop: int  # the ImageNet transform's CenterCrop (Resize: crop * resize / crop of torchvision)
    resize: int
    min_size: int  # smallest crop the network takes


BACKBONES = {
    "alexnet": Backbone(vision.alexnet, (r"features\.",), 224, 256, 63),
    "vgg16": Backbone(vision.vgg16, (r"features\.",), 224, 256, 32),
    "resnet18": Backbone(vision.resnet18, (r"conv1\.", r"bn1\.", r"layer[1-4]\."), 224, 256, 32),
    "inception_v3": Backbone(vision.inception_v3, (r"Conv2d_", r"Mixed_"), 299, 342, 75),
}


def _equal_leaves(before, after) -> dict[str, bool]:
    """{parameter path: whether it is bit-identical in ``before`` and ``after``}."""
    flat_a = dict(zip(tree.paths(after), jax.tree.leaves(after)))
    return {k: np.array_equal(np.asarray(v), np.asarray(flat_a[k]))
            for k, v in zip(tree.paths(before), jax.tree.leaves(before))}


def new_head(backbone: str, num_classes: int, seed: int) -> dict[str, nnx.Module]:
    """The new layers, by the attribute of the backbone they replace."""
    rngs = nnx.Rngs(seed)
    if backbone in ("alexnet", "vgg16"):  # the notes' classifier; VGG's features are 512 x 7 x 7
        flat = 256 * 6 * 6 if backbone == "alexnet" else 512 * 7 * 7
        return {"classifier": nnx.Sequential(Dropout(0.5, rngs=rngs), Linear(flat, 256, rngs=rngs), jax.nn.relu,
                                             Linear(256, num_classes, rngs=rngs))}
    if backbone == "resnet18":  # torchvision's fine-tuning tutorial: model.fc = nn.Linear(512, num_classes)
        return {"fc": Linear(512, num_classes, rngs=rngs)}
    return {"dropout": Dropout(0.5, rngs=rngs), "fc": Linear(2048, num_classes, rngs=rngs)}  # inception_v3


def build_backbone(args) -> tuple[nnx.Module, str]:
    """The torchvision backbone with its weights, and a sentence saying what they are."""
    b = BACKBONES[args.backbone]
    pretrained = args.pretrained or args.pretrained_cache
    extra = {"aux_logits": False} if args.backbone == "inception_v3" else {}
    model = b.factory(pretrained=pretrained, progress=not args.no_progress, rngs=nnx.Rngs(args.seed), **extra)
    freeze_batchnorm(model)  # resnet18 / inception_v3: the frozen part's statistics stay fixed
    if args.pretrained:
        weights = f"file {args.pretrained}"
    elif args.pretrained_cache:
        weights = "torchvision's ImageNet weights (IMAGENET1K_V1) from the torch hub cache"
    else:
        weights = "random"
    return model, weights


def image_folders(args) -> Data:
    """``FOLDER/train``, ``FOLDER/test`` (and ``FOLDER/val``) as ImageFolders with the
    backbone's ImageNet preprocessing."""
    b, root = BACKBONES[args.backbone], Path(args.data_dir)
    crop = args.image_size or b.crop
    transform = imagenet_transform(crop, int(crop * b.resize / b.crop))  # Resize(256), CenterCrop(224) scaled
    splits = {}
    for split in ("train", "test", "val"):
        if (root / split).is_dir():
            splits[split] = ImageFolder(root / split, transform=transform)
        elif split != "val":
            raise FileNotFoundError(f"--data-dir {root} has no {split}/ folder: put the images in "
                                    f"{root}/train/<class>/... and {root}/test/<class>/... (val/ optional)")
    classes = splits["train"].classes
    for split, folder in splits.items():
        if folder.classes != classes:
            raise ValueError(f"{root}/{split} has the classes {folder.classes}, {root}/train has {classes}: "
                             "every split needs the same class folders")
    return Data(f"ImageFolder {root}", splits["train"], splits["test"], classes, val=splits.get("val"),
                source=f"{root}/{{{','.join(splits)}}}, {transform}")


def backbone_transfer(args, config: RunConfig) -> RunResult:
    torch = extras.torch("the recipe on a torchvision backbone (--backbone; it reads and writes .pth files)")
    folders = image_folders(args)
    model, weights = build_backbone(args)
    say = f"backbone {args.backbone}, weights: {weights}"
    if weights == "random":
        say += (" (no --pretrained PATH or --pretrained-cache: the features are those of a random network, "
                "so this result is NOT an ImageNet transfer result)")
    print(say)
    head = new_head(args.backbone, len(folders.classes), args.seed + 1)
    for name, layer in head.items():  # alexnet.classifier = nn.Sequential(...)
        setattr(model, name, layer)
    if args.backbone == "vgg16":  # the head's Linear at index 1 sees VGG's flattened features
        model.torch_flatten = {"classifier.1": (512, 7, 7)}
    before = nnx.state(model, nnx.Param).to_pure_dict()
    frozen = optim.frozen_paths(before, BACKBONES[args.backbone].frozen)
    trained = [p for p in tree.paths(before) if p not in frozen]
    if sorted({p.split(".")[0] for p in trained}) != sorted(k for k in head if k != "dropout"):
        raise AssertionError(f"the trained parameters {trained} are not the new head's")
    name, sgd = f"transfer/{args.backbone}", optim.sgd(args.lr, momentum=0.9)
    extraction_s = None
    if not args.cache_features:  # through the frozen backbone: the notes' requires_grad = False
        res = train_and_evaluate(config, name=name, data=folders, model=model, loss_fn=losses.cross_entropy,
                                 optimizer=optim.freeze(sgd, BACKBONES[args.backbone].frozen),
                                 eval_batch_size=args.batch_size)
        final = res.learner.model(res.state)
    else:
        for attr in head:  # the frozen part alone: torch's model.fc = nn.Identity()
            setattr(model, attr, Identity())
        extractor = Learner(model, losses.cross_entropy, optax.set_to_zero(), precision=args.precision)  # predict only
        state, t0 = extractor.init_state(), time.perf_counter()

        def features(folder):
            loader = DataLoader(folder, args.batch_size, pad_last=True, num_workers=args.num_workers)
            return ArrayDataset(*predictions(extractor, state, loader))

        feats = dataclasses.replace(folders, name=f"{args.backbone} features of {folders.name}",
                                    train=features(folders.train), test=features(folders.test),
                                    val=features(folders.val) if folders.val is not None else None)
        extraction_s = time.perf_counter() - t0
        print(f"features computed once in {extraction_s:.1f} s: train {feats.train.arrays[0].shape}, "
              f"test {feats.test.arrays[0].shape}")
        head_model = next(iter(head.values())) if len(head) == 1 else nnx.Sequential(*head.values())
        res = train_and_evaluate(config, name=name + " (cached features)", data=feats, model=head_model,
                                 loss_fn=losses.cross_entropy, optimizer=sgd, eval_batch_size=args.batch_size)
        trained_head = res.learner.model(res.state)
        parts = [trained_head] if len(head) == 1 else list(trained_head.layers)
        for attr, part in zip(head, parts):  # the backbone with the trained head: the same model as above
            setattr(model, attr, part)
        model.eval()
        final = model
    after = nnx.state(final, nnx.Param).to_pure_dict()
    same = _equal_leaves(before, after)
    unchanged = all(same[k] for k in frozen)
    head_moved = all(not same[k] for k in trained)
    print(f"{len(frozen)} frozen parameter tensors bit-identical after training: {unchanged}; "
          f"head {', '.join(trained)} trained: {head_moved}")
    workdir = Path(args.workdir)
    torch_file = workdir / "model.pth"
    torch.save(interop.to_torch(final), torch_file)  # torchvision's keys, with the new head
    epoch_times = [r["epoch_time_s"] for r in res.history]
    out = dict(res.metrics)
    out.update({"backbone": args.backbone, "backbone_weights": weights,
                "random_backbone": weights == "random", "cache_features": args.cache_features,
                "feature_extraction_s": extraction_s, "epoch_time_s": epoch_times,
                "frozen": frozen, "trained": trained, "frozen_unchanged": unchanged, "head_trained": head_moved,
                "torch_state_dict": str(torch_file)})
    result = finish(config, out)
    result.metrics["head"] = {k: np.asarray(v) for k, v in zip(tree.paths(after), jax.tree.leaves(after))
                              if k in trained}  # not in metrics.json
    return result


def digits_transfer(args, config: RunConfig) -> RunResult:
    full = data.load(args.dataset, args.data_dir)
    task_a = full.map(keep=lambda y: y < 5, name=f"{full.name} classes 0-4", classes=full.classes[:5])
    task_b = full.map(keep=lambda y: y >= 5, y=lambda y: y - 5, name=f"{full.name} classes 5-9",
                      classes=full.classes[5:])
    pick = np.sort(np.random.default_rng(args.seed).permutation(len(task_b.train))[: args.finetune_size])
    task_b.train = ArrayDataset(*task_b.train[pick])
    workdir = Path(args.workdir)
    sub = lambda name, **kw: config.replace(workdir=str(workdir / name), **kw)  # noqa: E731

    # 1. pre-train on task A; the checkpoint is the notes' torch.save(model.state_dict())
    pre = train_and_evaluate(sub("pretrain"), name="transfer/pretrain", data=task_a,
                             model=ConvolutionalNetwork(rngs=nnx.Rngs(args.seed)), loss_fn=losses.nll_loss,
                             optimizer=optim.adam(args.lr)).metrics
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
    fine_run = train_and_evaluate(sub("finetune", epochs=args.finetune_epochs), name="transfer/finetune",
                                  data=task_b, model=model, loss_fn=losses.nll_loss, optimizer=tx)
    fine = fine_run.metrics
    frozen = optim.frozen_paths(before, args.freeze)
    trained = sorted({p.rsplit(".", 1)[0] for p in tree.paths(before) if p not in frozen})
    same = _equal_leaves(before, fine_run.state.params)
    unchanged = all(same[k] for k in frozen)
    head_moved = not same["fc2.kernel"]
    print(f"frozen parameters {frozen}: bit-identical after fine-tuning: {unchanged}; head trained: {head_moved}")
    # 4. the same network from scratch on the same few examples
    scratch_model = ConvolutionalNetwork(rngs=nnx.Rngs(args.seed + 3))
    new_head(scratch_model, args.seed + 2)
    scratch = train_and_evaluate(sub("scratch", epochs=args.finetune_epochs), name="transfer/scratch", data=task_b,
                                 model=scratch_model, loss_fn=losses.nll_loss, optimizer=optim.adam(args.lr)).metrics
    table = "\n".join([
        "| run | data | epochs | trained parameters | test accuracy |", "|---|---|---:|---|---:|",
        f"| pre-train | {task_a.name}, {len(task_a.train)} examples | {args.epochs} | all | {100 * pre['test_accuracy']:.2f}% |",
        f"| fine-tune classifier | {task_b.name}, {len(task_b.train)} examples | {args.finetune_epochs} | {', '.join(trained)} | {100 * fine['test_accuracy']:.2f}% |",
        f"| from scratch | {task_b.name}, {len(task_b.train)} examples | {args.finetune_epochs} | all | {100 * scratch['test_accuracy']:.2f}% |"])
    print(table)
    (workdir / "results.md").write_text(table + "\n")
    return finish(config, {"pretrain_accuracy": pre["test_accuracy"], "finetune_accuracy": fine["test_accuracy"],
                           "scratch_accuracy": scratch["test_accuracy"], "frozen": frozen,
                           "frozen_unchanged": unchanged, "head_trained": head_moved})


def main(argv=None) -> RunResult:
    p = cli.parser("transfer_learning: the notes' torchvision recipe on an image folder (--backbone), or "
                   "pre-train on digits 0-4 and fine-tune a new head on 5-9", epochs=3,
                   batch_size=32, lr=1e-3, seed=0, datasets=["mnist_5k", "mnist", "fashion_mnist"])
    tv = p.add_argument_group("torchvision backbone (--backbone; --data-dir is then the image folder)")
    tv.add_argument("--backbone", choices=sorted(BACKBONES), default=None,
                    help="the notes' recipe on this torchvision model; --data-dir holds train/ and test/ "
                         "(and val/) in ImageFolder layout")
    weights = tv.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", metavar="PATH", default=None,
                         help="the backbone's weights: a torchvision .pth state_dict file")
    weights.add_argument("--pretrained-cache", action="store_true",
                         help="torchvision's ImageNet weights from the torch hub cache (downloaded if missing)")
    tv.add_argument("--cache-features", action="store_true",
                    help="run the frozen backbone once over the images and train the head on the features")
    tv.add_argument("--image-size", type=cli.positive_int, default=None,
                    help="CenterCrop size (default 224, inception_v3 299); Resize scaled with it (256/224)")
    tv.add_argument("--num-workers", type=int, default=2, help="image decoding processes (0: in this process)")
    digits = p.add_argument_group("digits demonstration (without --backbone)")
    digits.add_argument("--finetune-size", type=cli.positive_int, default=100, help="training examples of task B")
    digits.add_argument("--finetune-epochs", type=cli.positive_int, default=10)
    digits.add_argument("--finetune-lr", type=cli.positive_float, default=1e-3)
    digits.add_argument("--freeze", nargs="+", default=[r"conv"],
                        help="regular expressions of the parameter paths to freeze")
    p.set_defaults(steps_per_call=None)  # resolved below: images are not stacked 32 batches deep
    args = p.parse_args(argv)
    if args.steps_per_call is None:  # 32 batches of 224x224 images would hold 600 MB at once
        args.steps_per_call = 1 if args.backbone and not args.cache_features else STEPS_PER_CALL
    if args.num_workers < 0:
        p.error(f"--num-workers must be >= 0, got {args.num_workers}")
    if not args.backbone and (args.pretrained or args.pretrained_cache or args.cache_features or args.image_size):
        p.error("--pretrained, --pretrained-cache, --cache-features and --image-size need --backbone")
    if args.backbone and not args.data_dir:
        p.error("--backbone needs --data-dir FOLDER with train/ and test/ image folders (see --help)")
    if args.backbone and args.val_size:
        p.error("--val-size carves a validation split out of arrays; with --backbone put the validation "
                "images in FOLDER/val/<class>/ instead")
    smallest = BACKBONES[args.backbone].min_size if args.backbone else 0
    if args.image_size and args.image_size < smallest:
        p.error(f"--image-size {args.image_size}: {args.backbone} takes images of at least {smallest}x{smallest}")
    config = cli.to_config(args)
    runtime.setup(config)
    return backbone_transfer(args, config) if args.backbone else digits_transfer(args, config)


if __name__ == "__main__":
    cli.run(main)
