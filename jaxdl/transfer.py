"""Transfer learning on a torchvision backbone: the notes' recipe (002/003) as a library.

The notes, in PyTorch::

    alexnet = torchvision.models.alexnet(pretrained=True)
    for param in alexnet.features.parameters():
        param.requires_grad = False
    alexnet.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 256), nn.ReLU(),
                                       nn.Linear(256, num_classes))

here::

    model = build_backbone("alexnet", pretrained="alexnet-owt-7be5be79.pth")
    head = new_head("alexnet", num_classes, seed=1)
    replace_head(model, "alexnet", head)
    optimizer = optim.freeze(optim.sgd(lr, momentum=0.9), BACKBONES["alexnet"].frozen)

:data:`BACKBONES` holds each backbone's recipe: which parameters stay frozen (by path,
:func:`jaxdl.optim.freeze`, the notes' ``requires_grad = False``) and its ImageNet
preprocessing. The heads (:func:`new_head`):

* ``alexnet``: ``classifier`` <- the notes' ``Dropout(0.5), Linear(256*6*6, 256), ReLU,
  Linear(256, num_classes)``; frozen ``features``.
* ``vgg16``: the same head from ``512*7*7`` inputs; frozen ``features``.
* ``resnet18``: ``fc`` <- ``Linear(512, num_classes)``, as torchvision's fine-tuning
  tutorial does; frozen: everything else.
* ``inception_v3``: built with ``aux_logits=False`` (the loss sees plain logits; the
  tutorial's alternative, ``loss + 0.4 * aux_loss``, would train the aux head too);
  ``fc`` <- ``Linear(2048, num_classes)``, and Inception's own ``dropout`` (0.5, between
  the pooled features and ``fc``) is rebuilt with the head and counts as part of it.

Where this differs from the PyTorch recipe: the frozen part is a fixed function. ResNet's
and Inception's BatchNorm layers become ``FrozenBatchNorm`` (torchvision's
``FrozenBatchNorm2d``: running statistics in train mode too); in torch,
``requires_grad = False`` alone leaves them normalising with batch statistics and
updating their running statistics in ``model.train()``. AlexNet and VGG-16 have no
BatchNorm in ``features``, so for them the recipe is literal. The dense layer that sees
the flattened conv features carries ``torch_flatten``, so the fine-tuned model converts
to a torchvision state_dict (:func:`save_torchvision`) that loads with ``strict=True``.

Because the backbone is frozen and the preprocessing deterministic, each image's
features can be computed once (:func:`cached_features`, torch's ``model.fc =
nn.Identity()`` under ``torch.no_grad()``) and the head trained alone on them
(:func:`head_model`, then :func:`attach_head`): same batches, same dropout masks, the
same head weights up to float rounding. A random backbone (no ``pretrained``) measures
random convolutional features, not an ImageNet transfer: a random AlexNet's features are
small (torch's default init shrinks them layer by layer), so its head needs a larger
learning rate; a random ResNet's or Inception's frozen BatchNorm statistics (0 and 1)
normalise nothing, so with random weights only AlexNet and VGG-16 make a meaningful check.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path

import jax
import numpy as np
import optax
from flax import nnx

from jaxdl import extras, interop, losses, optim, tree
from jaxdl.data import ArrayDataset, Data, DataLoader, ImageFolder
from jaxdl.data.image_transforms import Compose, imagenet_transform
from jaxdl.layers import Dropout, Identity, Linear, freeze_batchnorm
from jaxdl.models import vision
from jaxdl.train import Learner, predictions


@dataclasses.dataclass(frozen=True)
class Backbone:
    """A torchvision backbone and the notes' recipe for it."""

    factory: Callable[..., nnx.Module]  # jaxdl.models.vision's builder (torchvision's name)
    frozen: tuple[str, ...]  # parameter paths frozen (re.match), the notes' requires_grad = False
    crop: int  # the ImageNet transform's CenterCrop
    resize: int  # its Resize (the shorter side)
    min_size: int  # the smallest crop the network takes
    features: int  # inputs of the new head's first Linear
    build: Mapping = dataclasses.field(default_factory=dict)  # more arguments of the builder

    def transform(self, crop: int | None = None) -> Compose:
        """The backbone's ImageNet preprocessing (torchvision's ``Resize(256)``,
        ``CenterCrop(224)``, ``ToTensor()``, ``Normalize``), with ``crop`` instead of the
        usual crop and the resize scaled with it."""
        crop = crop or self.crop
        if crop < self.min_size:
            raise ValueError(f"crop {crop}: this backbone takes images of at least {self.min_size}x{self.min_size}")
        return imagenet_transform(crop, int(crop * self.resize / self.crop))


BACKBONES: dict[str, Backbone] = {
    "alexnet": Backbone(vision.alexnet, (r"features\.",), 224, 256, 63, 256 * 6 * 6),
    "vgg16": Backbone(vision.vgg16, (r"features\.",), 224, 256, 32, 512 * 7 * 7),
    "resnet18": Backbone(vision.resnet18, (r"conv1\.", r"bn1\.", r"layer[1-4]\."), 224, 256, 32, 512),
    "inception_v3": Backbone(vision.inception_v3, (r"Conv2d_", r"Mixed_"), 299, 342, 75, 2048,
                             {"aux_logits": False}),
}


def recipe(name: str) -> Backbone:
    """``BACKBONES[name]``, or an error listing the backbones there are."""
    if name not in BACKBONES:
        raise ValueError(f"no transfer recipe for backbone {name!r}; there are {', '.join(sorted(BACKBONES))}")
    return BACKBONES[name]


def build_backbone(name: str, *, pretrained: str | os.PathLike | bool = False, seed: int = 0,
                   progress: bool = True) -> nnx.Module:
    """torch: ``torchvision.models.<name>(pretrained=...)``: the backbone with its weights
    (``pretrained``: a torchvision ``.pth`` file, True for torchvision's ImageNet weights
    from the torch hub cache, False for a random backbone seeded by ``seed``), its
    BatchNorm layers frozen (:func:`jaxdl.layers.freeze_batchnorm`)."""
    model = recipe(name).factory(pretrained=pretrained, progress=progress, rngs=nnx.Rngs(seed),
                                 **recipe(name).build)
    freeze_batchnorm(model)  # resnet18 / inception_v3: the frozen part's statistics stay fixed
    return model


def new_head(name: str, num_classes: int, seed: int) -> dict[str, nnx.Module]:
    """The new layers of the recipe, by the attribute of the backbone each replaces."""
    rngs, features = nnx.Rngs(seed), recipe(name).features
    if name in ("alexnet", "vgg16"):  # the notes' classifier
        return {"classifier": nnx.Sequential(Dropout(0.5, rngs=rngs), Linear(features, 256, rngs=rngs), jax.nn.relu,
                                             Linear(256, num_classes, rngs=rngs))}
    if name == "resnet18":  # torchvision's fine-tuning tutorial: model.fc = nn.Linear(512, num_classes)
        return {"fc": Linear(features, num_classes, rngs=rngs)}
    return {"dropout": Dropout(0.5, rngs=rngs), "fc": Linear(features, num_classes, rngs=rngs)}  # inception_v3


def replace_head(model: nnx.Module, name: str, head: Mapping[str, nnx.Module]) -> nnx.Module:
    """torch: ``alexnet.classifier = nn.Sequential(...)``: each layer of ``head`` set on
    ``model`` (in place; returned too). VGG's head records the shape of the features it
    flattens, so the model converts to a torchvision state_dict."""
    for attr, layer in head.items():
        setattr(model, attr, layer)
    if name == "vgg16":  # the head's Linear at index 1 sees VGG's flattened (512, 7, 7) features
        model.torch_flatten = {"classifier.1": (512, 7, 7)}
    return model


def frozen_and_trained(model: nnx.Module, name: str, head: Mapping[str, nnx.Module]) -> tuple[list[str], list[str]]:
    """The parameter paths the recipe freezes and those it trains; an error unless the
    trained ones are exactly the new head's."""
    paths = tree.paths(nnx.state(model, nnx.Param).to_pure_dict())
    frozen = optim.frozen_paths(nnx.state(model, nnx.Param).to_pure_dict(), recipe(name).frozen)
    trained = [p for p in paths if p not in frozen]
    if sorted({p.split(".")[0] for p in trained}) != sorted(k for k, m in head.items() if nnx.state(m, nnx.Param)):
        raise ValueError(f"{name}'s recipe would train {trained}, not only the new head {sorted(head)}")
    return frozen, trained


def unchanged(before, after) -> dict[str, bool]:
    """{parameter path: whether it is bit-identical in the parameter trees ``before`` and
    ``after``}: how a recipe shows that its frozen part did not move."""
    flat_after = dict(zip(tree.paths(after), jax.tree.leaves(after)))
    return {k: np.array_equal(np.asarray(v), np.asarray(flat_after[k]))
            for k, v in zip(tree.paths(before), jax.tree.leaves(before))}


def image_folders(root: str | os.PathLike, name: str, crop: int | None = None) -> Data:
    """``root/train``, ``root/test`` (and ``root/val``, optional), each torchvision's
    ``ImageFolder`` layout ``<class>/<image>`` with the same class folders, as
    :class:`~jaxdl.data.ImageFolder` s with the backbone's ImageNet preprocessing
    (:meth:`Backbone.transform`)."""
    root, transform = Path(root), recipe(name).transform(crop)
    splits = {}
    for split in ("train", "test", "val"):
        if (root / split).is_dir():
            splits[split] = ImageFolder(root / split, transform=transform)
        elif split != "val":
            raise FileNotFoundError(f"{root} has no {split}/ folder: put the images in {root}/train/<class>/... "
                                    f"and {root}/test/<class>/... (val/ optional)")
    classes = splits["train"].classes
    for split, folder in splits.items():
        if folder.classes != classes:
            raise ValueError(f"{root}/{split} has the classes {folder.classes}, {root}/train has {classes}: "
                             "every split needs the same class folders")
    return Data(f"ImageFolder {root}", splits["train"], splits["test"], classes, val=splits.get("val"),
                source=f"{root}/{{{','.join(splits)}}}, {transform}")


def cached_features(model: nnx.Module, head: Mapping[str, nnx.Module], folders: Data, *, batch_size: int,
                    num_workers: int = 0, precision: str = "f32") -> Data:
    """The frozen part's features of every image, computed once: ``model`` with its
    ``head`` layers replaced by ``Identity`` (torch: ``model.fc = nn.Identity()``) in
    eval mode over each split (:func:`jaxdl.train.predictions`), as a :class:`Data` of
    ``ArrayDataset`` s in the folders' order. ``model`` keeps its head."""
    for attr in head:
        setattr(model, attr, Identity())
    try:
        extractor = Learner(model, losses.cross_entropy, optax.set_to_zero(), precision=precision)  # predicts only
        state = extractor.init_state()

        def features(folder):
            loader = DataLoader(folder, batch_size, pad_last=True, num_workers=num_workers)
            return ArrayDataset(*predictions(extractor, state, loader))

        return dataclasses.replace(folders, name=f"features of {folders.name}", train=features(folders.train),
                                   test=features(folders.test),
                                   val=features(folders.val) if folders.val is not None else None)
    finally:
        for attr, layer in head.items():
            setattr(model, attr, layer)


def head_model(head: Mapping[str, nnx.Module]) -> nnx.Module:
    """The head alone, to train on :func:`cached_features`: its one layer, or its layers
    in order in an ``nnx.Sequential``."""
    return next(iter(head.values())) if len(head) == 1 else nnx.Sequential(*head.values())


def attach_head(model: nnx.Module, head: Mapping[str, nnx.Module], trained: nnx.Module) -> nnx.Module:
    """``model`` with the ``trained`` :func:`head_model` in its head's places, in eval
    mode: the backbone and head trained on cached features, as one model."""
    parts = [trained] if len(head) == 1 else list(trained.layers)
    for attr, part in zip(head, parts, strict=True):
        setattr(model, attr, part)
    model.eval()
    return model


def save_torchvision(model: nnx.Module, path: str | os.PathLike) -> Path:
    """torch: ``torch.save(model.state_dict(), path)``: the model as a state_dict with
    torchvision's keys, new head included (needs PyTorch: ``jaxdl[torch]``)."""
    torch = extras.torch("saving a torchvision state_dict (jaxdl.transfer.save_torchvision)")
    torch.save(interop.to_torch(model), path)
    return Path(path)
