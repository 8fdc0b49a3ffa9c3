"""jaxdl.transfer: each backbone's recipe trains exactly its new head and gives
``num_classes`` outputs at its smallest input (shapes only, no weights drawn); image
folders, the ImageNet transform, cached features, the head alone and attached again,
frozen BatchNorm, and the bit-for-bit check of the frozen part."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxdl import data, interop, losses, optim, transfer
from jaxdl.data import ArrayDataset, Data, write_image_folder
from jaxdl.layers import BatchNorm, Conv2d, Dropout, FrozenBatchNorm, Linear, flatten, freeze_batchnorm
from jaxdl.train import Learner


@pytest.mark.parametrize("name", sorted(transfer.BACKBONES))
def test_each_recipe_trains_exactly_its_new_head(name):
    model = nnx.eval_shape(lambda: transfer.build_backbone(name))  # the structure only: no weights drawn
    head = transfer.new_head(name, 3, seed=1)
    transfer.replace_head(model, name, head)
    frozen, trained = transfer.frozen_and_trained(model, name, head)
    assert frozen and {p.split(".")[0] for p in trained} == {k for k in head if k != "dropout"}
    model.eval()
    graphdef, state = nnx.split(model)
    size = transfer.BACKBONES[name].min_size
    out = jax.eval_shape(lambda s, x: nnx.merge(graphdef, s)(x), state,
                         jax.ShapeDtypeStruct((2, size, size, 3), jnp.float32))
    assert out.shape == (2, 3)


def test_a_recipe_that_would_train_part_of_the_backbone_is_refused(monkeypatch):
    model = nnx.eval_shape(lambda: transfer.build_backbone("alexnet"))
    head = transfer.new_head("alexnet", 3, seed=1)
    transfer.replace_head(model, "alexnet", head)
    partial = dataclasses.replace(transfer.BACKBONES["alexnet"], frozen=(r"features\.layers\.0\.",))
    monkeypatch.setitem(transfer.BACKBONES, "alexnet", partial)
    with pytest.raises(ValueError, match="would train.*features.layers.3.kernel.*not only the new head"):
        transfer.frozen_and_trained(model, "alexnet", head)


def test_an_unknown_backbone_lists_the_known_ones():
    with pytest.raises(ValueError, match="alexnet, inception_v3, resnet18, vgg16"):
        transfer.recipe("resnet50")


def test_the_transform_scales_the_resize_with_the_crop():
    assert repr(transfer.BACKBONES["alexnet"].transform()).startswith("Compose([Resize(256, bilinear), "
                                                                      "CenterCrop((224, 224))")
    assert repr(transfer.BACKBONES["alexnet"].transform(63)).startswith("Compose([Resize(72, bilinear), "
                                                                        "CenterCrop((63, 63))")
    assert repr(transfer.BACKBONES["inception_v3"].transform()).startswith("Compose([Resize(342, bilinear)")
    with pytest.raises(ValueError, match="at least 63x63"):
        transfer.BACKBONES["alexnet"].transform(32)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """train/ (3 classes x 2) and test/ (3 x 1) of real Fashion-MNIST PNGs."""
    fm = data.load("fashion_mnist")
    fm = fm.map(keep=lambda y: y < 3, classes=fm.classes[:3])
    root = tmp_path_factory.mktemp("images")
    write_image_folder(root / "train", fm, per_class=2)
    write_image_folder(root / "test", fm, split="test", per_class=1)
    return root


def test_image_folders_read_train_test_and_an_optional_val(folder, tmp_path):
    ds = transfer.image_folders(folder, "alexnet", 63)
    assert ds.classes == ["Pullover", "T-shirt_top", "Trouser"] and (len(ds.train), len(ds.test)) == (6, 3)
    assert ds.val is None and ds.train[0][0].shape == (63, 63, 3) and ds.train[0][0].dtype == np.float32
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "train").symlink_to(folder / "train")
    with pytest.raises(FileNotFoundError, match="has no test/ folder"):
        transfer.image_folders(tmp_path / "a", "alexnet")
    for split in ("train", "test"):
        (tmp_path / "b" / split).parent.mkdir(exist_ok=True)
        (tmp_path / "b" / split).symlink_to(folder / split)
    two = data.load("fashion_mnist").map(keep=lambda y: y < 2, classes=["a", "b"])
    write_image_folder(tmp_path / "b" / "val", two, per_class=1)
    with pytest.raises(ValueError, match="val has the classes .*every split needs the same class folders"):
        transfer.image_folders(tmp_path / "b", "alexnet", 63)


class Tiny(nnx.Module):
    """A frozen part (``features``) and a head (``classifier``), as AlexNet names them."""

    def __init__(self, rngs: nnx.Rngs):
        self.features = Linear(4, 3, rngs=rngs)
        self.classifier = Linear(3, 2, rngs=rngs)

    def __call__(self, x):
        return self.classifier(jax.nn.relu(self.features(x)))


def test_cached_features_are_the_frozen_parts_and_the_model_keeps_its_head():
    model = Tiny(nnx.Rngs(0))
    head = {"classifier": model.classifier}
    x = np.random.default_rng(0).normal(size=(7, 4)).astype(np.float32)
    y = np.arange(7, dtype=np.int32) % 2
    folders = Data("tiny", ArrayDataset(x, y), ArrayDataset(x[:3], y[:3]), ["a", "b"])
    got = transfer.cached_features(model, head, folders, batch_size=4)
    np.testing.assert_allclose(got.train.arrays[0], np.asarray(jax.nn.relu(model.features(x))), rtol=1e-6)
    assert got.test.arrays[0].shape == (3, 3) and got.val is None and list(got.train.arrays[1]) == list(y)
    assert model.classifier is head["classifier"]  # the head is back in place


def test_the_head_alone_and_attached_again():
    head = {"dropout": Dropout(0.5, rngs=nnx.Rngs(0)), "fc": Linear(3, 2, rngs=nnx.Rngs(1))}  # inception's
    alone = transfer.head_model(head)
    assert isinstance(alone, nnx.Sequential) and alone.layers[1] is head["fc"]
    assert transfer.head_model({"fc": head["fc"]}) is head["fc"]
    model = Tiny(nnx.Rngs(0))
    model.train()
    trained = nnx.Sequential(Dropout(0.5, rngs=nnx.Rngs(2)), Linear(3, 2, rngs=nnx.Rngs(3)))
    assert transfer.attach_head(model, head, trained) is model
    assert model.dropout is trained.layers[0] and model.fc is trained.layers[1]
    assert model.dropout.deterministic  # in eval mode


def test_unchanged_compares_bit_for_bit():
    before = {"a": {"kernel": np.ones(3, np.float32)}, "b": np.zeros(2, np.float32)}
    after = {"a": {"kernel": np.ones(3, np.float32)}, "b": np.array([0.0, 1e-30], np.float32)}
    assert transfer.unchanged(before, after) == {"a.kernel": True, "b": False}


def test_frozen_batchnorm_keeps_its_statistics_in_train_mode():
    rng = np.random.default_rng(0)
    model = nnx.Sequential(Conv2d(3, 4, 3, rngs=nnx.Rngs(0)), BatchNorm(4), jax.nn.relu, flatten,
                           Linear(4 * 6 * 6, 2, rngs=nnx.Rngs(1)))
    bn = model.layers[1]
    bn.mean.set_value(np.asarray(rng.normal(size=4), np.float32))
    bn.var.set_value(np.asarray(rng.uniform(0.5, 2, size=4), np.float32))
    x = rng.normal(size=(2, 8, 8, 3)).astype(np.float32)
    model.eval()
    want = np.asarray(model(x))
    sd = interop.to_torch(model)
    freeze_batchnorm(model)
    assert type(model.layers[1]) is FrozenBatchNorm and model.layers[1].mean is bn.mean  # same variables
    model.train()
    np.testing.assert_array_equal(np.asarray(model(x)), want)  # BatchNorm's eval arithmetic, bit for bit
    assert list(interop.to_torch(model)) == list(sd)  # converts as nn.BatchNorm2d
    learner = Learner(model, losses.cross_entropy, optim.sgd(0.1))
    state, _ = learner.train_step(learner.init_state(), (x, np.array([0, 1])))
    stats = state.model_state["layers"][1]
    np.testing.assert_array_equal(stats["mean"], bn.mean[...])
    np.testing.assert_array_equal(stats["var"], bn.var[...])
