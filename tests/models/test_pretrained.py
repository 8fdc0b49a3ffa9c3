"""Pretrained weights for jaxdl.models.vision, never from the network: a loopback server
serves a random-weights resnet18 state_dict under a torch hub name with the right hash
prefix. Cache hit, download with torch hub's SHA-256 check (resumed after a cut),
corrupt download refused, offline message, local paths, torchvision's URLs and cache
folder."""

import hashlib
import io
from pathlib import Path

import pytest
import torch
from flax import nnx

from jaxdl import interop
from jaxdl.data import download
from jaxdl.models import pretrained, vision
from torch_reference.vision import models as torchvision_models


@pytest.fixture(scope="module")
def weights():
    """(state_dict, file bytes, torch hub file name) of a random torchvision resnet18."""
    torch.manual_seed(0)
    state = torchvision_models().resnet18(weights=None).state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    body = buffer.getvalue()
    return state, body, f"resnet18-{hashlib.sha256(body).hexdigest()[:8]}.pth"


@pytest.fixture
def hub(tmp_path, monkeypatch, server, weights):
    """The torch hub cache in tmp_path; resnet18's URL points at the loopback server."""
    base, handler = server
    _, body, filename = weights
    handler.files[filename] = body
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setitem(pretrained.URLS["resnet18"], "IMAGENET1K_V1", base + filename)
    monkeypatch.setattr(download.time, "sleep", lambda s: None)  # no back-off between retries
    return tmp_path / "torch" / "hub" / "checkpoints", handler


def assert_loaded(model, state):
    got = interop.to_torch(model)
    assert set(got) == set(state) and all(torch.equal(got[k], state[k]) for k in state)


def test_download_is_checked_resumed_and_loaded(hub, weights):
    cache, handler = hub
    state, body, filename = weights
    handler.drop_after = len(body) // 2  # the first transfer is cut off halfway
    model = vision.resnet18(pretrained=True, progress=False, rngs=nnx.Rngs(0))
    assert_loaded(model, state)
    assert (cache / filename).read_bytes() == body and not (cache / (filename + ".part")).exists()
    ranges = [r for _, r in handler.log]
    assert ranges[0] is None and ranges[-1] == f"bytes={len(body) // 2}-"  # resumed, not restarted


def test_a_cached_file_is_used_without_a_request(hub, weights):
    cache, handler = hub
    state, body, filename = weights
    cache.mkdir(parents=True)
    (cache / filename).write_bytes(body)
    assert_loaded(vision.resnet18(weights="DEFAULT", progress=False, rngs=nnx.Rngs(0)), state)
    assert handler.log == []


def test_a_corrupt_download_is_refused_and_not_kept(hub, weights):
    cache, handler = hub
    _, body, filename = weights
    handler.files[filename] = body[:-1] + bytes([body[-1] ^ 1])
    with pytest.raises(pretrained.PretrainedWeightsNotFoundError, match="SHA-256") as e:
        vision.resnet18(pretrained=True, progress=False, rngs=nnx.Rngs(0))
    assert filename[len("resnet18-"):-len(".pth")] in str(e.value)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_a_corrupt_cached_file_is_reported(hub, weights):
    cache, _ = hub
    _, body, filename = weights
    cache.mkdir(parents=True)
    (cache / filename).write_bytes(body[: len(body) // 2])
    with pytest.raises(download.CorruptDataError, match="delete it"):
        vision.resnet18(pretrained=True, progress=False, rngs=nnx.Rngs(0))


def test_offline_says_which_file_to_place_where(hub, weights, monkeypatch):
    cache, _ = hub
    _, _, filename = weights
    monkeypatch.setitem(pretrained.URLS["resnet18"], "IMAGENET1K_V1", "http://127.0.0.1:1/" + filename)
    with pytest.raises(pretrained.PretrainedWeightsNotFoundError) as e:
        vision.resnet18(pretrained=True, progress=False, rngs=nnx.Rngs(0))
    message = str(e.value)
    assert "\n" not in message and message.count(". ") == 0  # one sentence
    assert f"put that file into {cache}" in message and filename in message and "pretrained=" in message


def test_a_local_file_loads_legacy_files_too(tmp_path):
    """pretrained=path: any num_classes; BatchNorm without num_batches_tracked (files saved
    before PyTorch 0.4.1, like torchvision's Inception weights) gets 0, as torch gives it."""
    torch.manual_seed(1)
    state = torchvision_models().resnet18(weights=None, num_classes=10).state_dict()
    legacy = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    torch.save(legacy, tmp_path / "mine.pth")
    model = vision.resnet18(pretrained=tmp_path / "mine.pth", num_classes=10, rngs=nnx.Rngs(0))
    assert_loaded(model, state)
    with pytest.raises(FileNotFoundError, match="no such file"):
        vision.resnet18(pretrained=tmp_path / "missing.pth", rngs=nnx.Rngs(0))


def test_inception_from_a_file_as_torchvision_loads_it(tmp_path):
    """With weights, inception_v3 defaults to transform_input=True and drops the aux head
    after loading when aux_logits=False (torchvision's inception_v3(weights=...))."""
    source = vision.inception_v3(rngs=nnx.Rngs(0))
    torch.save(interop.to_torch(source), tmp_path / "inception.pth")
    model = vision.inception_v3(pretrained=tmp_path / "inception.pth", aux_logits=False, rngs=nnx.Rngs(1))
    assert model.transform_input and not model.aux_logits and model.AuxLogits is None
    assert torch.equal(interop.to_torch(model)["fc.weight"], interop.to_torch(source)["fc.weight"])


def test_imagenet_weights_need_1000_classes_and_one_source():
    with pytest.raises(ValueError, match="num_classes"):
        vision.resnet18(pretrained=True, num_classes=10, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="either pretrained= or weights="):
        vision.alexnet(pretrained=True, weights="DEFAULT", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="IMAGENET1K_V1"):
        vision.vgg16(weights="IMAGENET1K_V2", rngs=nnx.Rngs(0))


def test_urls_and_defaults_are_torchvisions():
    tvm = torchvision_models()
    for arch, names in pretrained.URLS.items():
        enum = tvm.get_model_weights(arch)
        assert {n: enum[n].url for n in names} == names, arch
        assert enum.DEFAULT.name == pretrained.DEFAULT_WEIGHTS[arch], arch
        assert download.torch_hub_remote(names["IMAGENET1K_V1"]).sha256_prefix in names["IMAGENET1K_V1"]


@pytest.mark.parametrize("env", [{"TORCH_HOME": "th"}, {"XDG_CACHE_HOME": "xdg"}, {}])
def test_cache_folder_is_torch_hubs(env, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, str(tmp_path / value))
    assert pretrained.checkpoints_dir() == Path(torch.hub.get_dir()) / "checkpoints"


def test_torch_hub_remote_reads_the_hash_prefix():
    remote = download.torch_hub_remote("https://download.pytorch.org/models/alexnet-owt-7be5be79.pth")
    assert remote == download.Remote("alexnet-owt-7be5be79.pth", None, ("https://download.pytorch.org/models/",),
                                     sha256_prefix="7be5be79")
    with pytest.raises(ValueError, match="hash prefix"):
        download.torch_hub_remote("https://example.org/weights.pth")
