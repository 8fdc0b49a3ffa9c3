"""002/003's transfer learning: the notes' recipe on a torchvision backbone and a folder of images.

    python -m experiments.transfer_learning --data-dir FOLDER --pretrained alexnet-owt-7be5be79.pth
    python -m experiments.transfer_learning --backbone resnet18 --data-dir FOLDER --pretrained-cache --cache-features

``FOLDER`` holds ``train/`` and ``test/`` (and optionally ``val/``: then every epoch is
validated and the best epoch tested) in torchvision's ``ImageFolder`` layout. The
backbone's weights: ``--pretrained PATH`` (a torchvision ``.pth`` file), or
``--pretrained-cache`` (torchvision's ImageNet weights from the torch hub cache); without
either it is random, and the log and ``metrics.json`` (``random_backbone: true``) say the
result is not an ImageNet transfer result (a random AlexNet's head needs ``--lr 0.1``).
The frozen part, the heads and where they differ from PyTorch: :mod:`jaxdl.transfer`.
Only the new head trains (SGD, momentum 0.9, torchvision's fine-tuning tutorial's
optimizer), through the frozen backbone, or with ``--cache-features`` on features
computed once. The frozen weights are checked bit-identical after training, and the
model is written as a torchvision state_dict, ``model.pth``.
"""

from __future__ import annotations

import time
from pathlib import Path

from flax import nnx

from jaxdl import cli, extras, losses, optim, runtime, transfer
from jaxdl.harness import RunResult, train_and_evaluate, write_json
from jaxdl.train import STEPS_PER_CALL


def main(argv=None) -> RunResult:
    p = cli.parser("transfer_learning: the notes' recipe on a torchvision backbone and a folder of images",
                   epochs=3, batch_size=32, lr=1e-3, seed=0)
    p.add_argument("--backbone", choices=sorted(transfer.BACKBONES), default="alexnet")
    weights = p.add_mutually_exclusive_group()
    weights.add_argument("--pretrained", metavar="PATH", default=None,
                         help="the backbone's weights: a torchvision .pth state_dict file")
    weights.add_argument("--pretrained-cache", action="store_true",
                         help="torchvision's ImageNet weights from the torch hub cache (downloaded if missing)")
    p.add_argument("--cache-features", action="store_true",
                   help="run the frozen backbone once over the images and train the head on the features")
    p.add_argument("--image-size", type=cli.positive_int, default=None,
                   help="CenterCrop size (default 224, inception_v3 299); Resize scaled with it (256/224)")
    p.add_argument("--num-workers", type=int, default=2, help="image decoding processes (0: in this process)")
    # stacks of 32 batches of 224x224 images would hold 600 MB at once: one step per call through the backbone
    p.set_defaults(steps_per_call=None)
    args = p.parse_args(argv)
    if args.steps_per_call is None:
        args.steps_per_call = STEPS_PER_CALL if args.cache_features else 1
    backbone = transfer.recipe(args.backbone)
    if not args.data_dir:
        p.error("--data-dir FOLDER is needed: the folder with train/ and test/ image folders (see --help)")
    if args.val_size:
        p.error("--val-size carves a validation split out of arrays; put the validation images in FOLDER/val/<class>/")
    if args.image_size and args.image_size < backbone.min_size:
        p.error(f"--image-size {args.image_size}: {args.backbone} takes images of at least "
                f"{backbone.min_size}x{backbone.min_size}")
    config = cli.to_config(args)
    extras.torch("the recipe on a torchvision backbone (it reads and writes .pth files)")  # before any work
    runtime.setup(config)

    folders = transfer.image_folders(config.data_dir, args.backbone, args.image_size)
    model = transfer.build_backbone(args.backbone, pretrained=args.pretrained or args.pretrained_cache,
                                    seed=config.seed, progress=config.progress is not False)
    weights = (f"file {args.pretrained}" if args.pretrained else "torchvision's ImageNet weights (IMAGENET1K_V1) "
               "from the torch hub cache" if args.pretrained_cache else "random")
    print(f"backbone {args.backbone}, weights: {weights}" + ("" if weights != "random" else (
        " (no --pretrained PATH or --pretrained-cache: the features are those of a random network, so this "
        "result is NOT an ImageNet transfer result)")))
    head = transfer.new_head(args.backbone, len(folders.classes), config.seed + 1)
    transfer.replace_head(model, args.backbone, head)
    before = nnx.state(model, nnx.Param).to_pure_dict()
    frozen, trained = transfer.frozen_and_trained(model, args.backbone, head)
    sgd, name, extraction_s = optim.sgd(config.lr, momentum=0.9), f"transfer/{args.backbone}", None
    if not args.cache_features:  # through the frozen backbone: the notes' requires_grad = False
        result = train_and_evaluate(config, name=name, data=folders, model=model, loss_fn=losses.cross_entropy,
                                    optimizer=optim.freeze(sgd, backbone.frozen), eval_batch_size=config.batch_size)
        final = result.learner.model(result.state)
    else:
        t0 = time.perf_counter()
        features = transfer.cached_features(model, head, folders, batch_size=config.batch_size,
                                            num_workers=config.num_workers, precision=config.precision)
        extraction_s = time.perf_counter() - t0
        print(f"features computed once in {extraction_s:.1f} s: train {features.train.arrays[0].shape}, "
              f"test {features.test.arrays[0].shape}")
        result = train_and_evaluate(config, name=name + " (cached features)", data=features,
                                    model=transfer.head_model(head), loss_fn=losses.cross_entropy, optimizer=sgd,
                                    eval_batch_size=config.batch_size)
        final = transfer.attach_head(model, head, result.learner.model(result.state))
    same = transfer.unchanged(before, nnx.state(final, nnx.Param).to_pure_dict())
    frozen_unchanged, head_trained = all(same[k] for k in frozen), not any(same[k] for k in trained)
    print(f"{len(frozen)} frozen parameter tensors bit-identical after training: {frozen_unchanged}; "
          f"head {', '.join(trained)} trained: {head_trained}")
    torch_file = transfer.save_torchvision(final, Path(config.workdir) / "model.pth")  # torchvision's keys
    metrics = {**result.metrics, "backbone": args.backbone, "backbone_weights": weights,
               "random_backbone": weights == "random", "cache_features": args.cache_features,
               "feature_extraction_s": extraction_s, "epoch_time_s": [r["epoch_time_s"] for r in result.history],
               "frozen": frozen, "trained": trained, "frozen_unchanged": frozen_unchanged,
               "head_trained": head_trained, "torch_state_dict": str(torch_file)}
    write_json(Path(config.workdir) / "metrics.json", metrics)
    return RunResult(metrics, result.history, result.state, result.learner)


if __name__ == "__main__":
    cli.run(main)
