"""experiments.transfer_learning end to end: the notes' recipe on a torchvision backbone,
on a tiny ImageFolder of real Fashion-MNIST images.

* AlexNet at its smallest input (63x63), 3 classes x 4 training images, 1 epoch, through the
  backbone (DataLoader with a worker process) and with ``--cache-features``: the frozen
  ``features`` are bit-identical to the seeded backbone's, the head moved, both modes give
  the same head (measured: bit-identical; the bound allows XLA fusing the two programs
  differently), ``metrics.json`` has per-class metrics and says the backbone is random,
  and the saved ``model.pth`` loads into torchvision's alexnet with the notes' classifier
  (strict), where torch measures the test loss the experiment reported.
* ``--pretrained PATH`` with a torchvision-format file of a random torchvision alexnet: the
  features the cache path computes equal torchvision's on the same images.
* The flags' errors.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from flax import nnx

from experiments import transfer_learning
from jaxdl import data, interop, transfer
from jaxdl.data import ImageFolder, write_image_folder
from jaxdl.data.image_transforms import imagenet_transform
from jaxdl.models import vision
from torch_reference.vision import models as torchvision_models

SIZE = 63  # AlexNet's smallest input; the transform resizes to 72 and crops 63
CLASSES = 3


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """FOLDER/train (3 classes x 4) and FOLDER/test (3 x 2) of real Fashion-MNIST PNGs."""
    fm = data.load("fashion_mnist")
    fm = fm.map(keep=lambda y: y < CLASSES, classes=fm.classes[:CLASSES])
    root = tmp_path_factory.mktemp("images")
    write_image_folder(root / "train", fm, per_class=4)
    write_image_folder(root / "test", fm, split="test", per_class=2)
    return root


def run(folder, workdir, *flags) -> dict:
    return transfer_learning.main(["--backbone", "alexnet", "--data-dir", str(folder), "--image-size", str(SIZE),
                                   "--epochs", "1", "--batch-size", "4", "--workdir", str(workdir),
                                   "--no-progress", *flags]).metrics


def notes_alexnet(num_classes):
    """torchvision's alexnet with the notes' classifier."""
    nn = torch.nn
    model = torchvision_models().alexnet(weights=None)
    model.classifier = nn.Sequential(nn.Dropout(0.5), nn.Linear(256 * 6 * 6, 256), nn.ReLU(),
                                     nn.Linear(256, num_classes))
    return model


def test_alexnet_recipe_end_to_end_with_and_without_feature_cache(folder, tmp_path):
    through = run(folder, tmp_path / "through", "--num-workers", "1")
    cached = run(folder, tmp_path / "cached", "--num-workers", "0", "--cache-features")
    for out in (through, cached):
        assert out["frozen_unchanged"] and out["head_trained"]
        assert out["frozen"] == [f"features.layers.{i}.{p}" for i in (0, 3, 6, 8, 10) for p in ("bias", "kernel")]
        assert out["trained"] == [f"classifier.layers.{i}.{p}" for i in (1, 3) for p in ("bias", "kernel")]
    assert cached["feature_extraction_s"] > 0 and through["feature_extraction_s"] is None
    # the same head either way (measured: bit-identical), in the two torchvision files
    saved = {mode: torch.load(tmp_path / mode / "model.pth", weights_only=True) for mode in ("through", "cached")}
    head = [k for k in saved["through"] if k.startswith("classifier.")]
    assert len(head) == 4 and sorted(saved["cached"]) == sorted(saved["through"])
    for k in head:
        np.testing.assert_allclose(saved["cached"][k].numpy(), saved["through"][k].numpy(), rtol=1e-5, atol=1e-7,
                                   err_msg=k)
    assert cached["test_loss"] == pytest.approx(through["test_loss"], rel=1e-5)

    for mode in ("through", "cached"):
        metrics = json.loads((tmp_path / mode / "metrics.json").read_text())
        assert metrics["backbone_weights"] == "random" and metrics["random_backbone"] is True
        assert set(metrics["per_class"]) == {"Pullover", "T-shirt_top", "Trouser"}
        assert all(set(v) == {"precision", "recall", "f1", "support"} and v["support"] == 2
                   for v in metrics["per_class"].values())
        assert metrics["test_accuracy"] == pytest.approx(metrics["accuracy"])

    # independent of the experiment's own report: the saved torchvision state_dict
    seeded = interop.to_torch(vision.alexnet(rngs=nnx.Rngs(0)))  # the backbone --seed 0 builds
    features = [k for k in seeded if k.startswith("features.")]
    assert len(features) == 10 and all(torch.equal(saved["through"][k], seeded[k]) for k in features)
    head0 = nnx.Sequential(*transfer.new_head("alexnet", CLASSES, 1)["classifier"].layers)
    initial = interop.to_torch(head0)
    assert all(not torch.equal(saved["through"][f"classifier.{k}"], initial[k]) for k in initial)
    tv = notes_alexnet(CLASSES)
    tv.load_state_dict(saved["through"], strict=True)  # torch_flatten: classifier.1 rows in torch's (C, H, W) order
    tv.eval()
    test = ImageFolder(folder / "test", transform=imagenet_transform(SIZE, 72))
    x = torch.from_numpy(np.stack([test[i][0] for i in range(len(test))]).transpose(0, 3, 1, 2))
    y = torch.tensor(test.targets)
    with torch.no_grad():
        torch_loss = torch.nn.functional.cross_entropy(tv(x), y).item()
    assert torch_loss == pytest.approx(through["test_loss"], rel=1e-5)


def test_pretrained_file_gives_torchvisions_features(folder, tmp_path):
    torch.manual_seed(0)
    tv = torchvision_models().alexnet(weights=None)
    path = tmp_path / "alexnet-random.pth"
    torch.save(tv.state_dict(), path)
    # the cache path's features: the recipe's backbone, its head replaced by Identity, once over the images
    model = transfer.build_backbone("alexnet", pretrained=str(path), seed=1)
    head = transfer.new_head("alexnet", CLASSES, seed=2)
    transfer.replace_head(model, "alexnet", head)
    folders = transfer.image_folders(folder, "alexnet", SIZE)
    got = transfer.cached_features(model, head, folders, batch_size=5)  # 12 = 5+5+2
    train = folders.train
    assert got.train.arrays[0].shape == (12, 256 * 6 * 6) and list(got.train.arrays[1]) == train.targets
    x = torch.from_numpy(np.stack([train[i][0] for i in range(len(train))]).transpose(0, 3, 1, 2))
    tv.classifier = torch.nn.Identity()
    tv.eval()
    with torch.no_grad():
        want = tv(x).numpy().reshape(12, 256, 6, 6).transpose(0, 2, 3, 1).reshape(12, -1)  # torch flattens CHW
    assert np.abs(want).max() > 0.01
    np.testing.assert_allclose(got.train.arrays[0], want, atol=1e-5, rtol=0)
    # and the experiment runs on it, saying where the weights came from
    run(folder, tmp_path / "run", "--num-workers", "0", "--cache-features", "--pretrained", str(path))
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["backbone_weights"] == f"file {path}" and metrics["random_backbone"] is False


def test_bad_flags_are_explained(folder, tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        transfer_learning.main(["--backbone", "alexnet"])
    assert e.value.code == 2 and "--data-dir" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="train/"):
        run(folder / "train", tmp_path / "w")  # the class folders themselves, not FOLDER
    with pytest.raises(SystemExit) as e:
        transfer_learning.main(["--backbone", "alexnet", "--data-dir", str(folder), "--image-size", "32"])
    assert e.value.code == 2 and "at least 63x63" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        transfer_learning.main(["--backbone", "alexnet", "--data-dir", str(folder), "--val-size", "0.2"])
    assert e.value.code == 2 and "FOLDER/val" in capsys.readouterr().err
