"""Loading PyTorch files safely: state_dicts load, pickled objects are refused without
running any of their code, and the message says how to re-save the weights."""

import os
from typing import ClassVar

import numpy as np
import pytest
import torch
from flax import nnx

from jaxdl import interop
from jaxdl.layers import Linear
from jaxdl.models import IrisModel
from torch_reference import IrisModel as TorchIrisModel


class _Exploit:
    """A pickle payload: unpickling it would create the file ``path``."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (os.system, (f"touch {self.path}",))


def test_a_state_dict_file_loads(tmp_path):
    torch.manual_seed(0)
    tm = TorchIrisModel()
    torch.save(tm.state_dict(), tmp_path / "m.pt")
    jm = interop.from_torch(IrisModel(rngs=nnx.Rngs(0)), tmp_path / "m.pt")
    assert all(torch.equal(v, tm.state_dict()[k]) for k, v in interop.to_torch(jm).items())


def test_a_malicious_pickle_is_refused_and_does_not_run(tmp_path):
    evidence = tmp_path / "pwned"
    torch.save({"fc1.weight": _Exploit(evidence)}, tmp_path / "evil.pt")
    with pytest.raises(interop.UnsafeCheckpointError, match="pickled Python objects"):
        interop.from_torch(IrisModel(rngs=nnx.Rngs(0)), tmp_path / "evil.pt")
    assert not evidence.exists()


def test_a_whole_pickled_module_gets_the_state_dict_recipe(tmp_path):
    torch.save(TorchIrisModel(), tmp_path / "whole.pt")
    with pytest.raises(interop.UnsafeCheckpointError, match=r"torch.save\(.*state_dict\(\)"):
        interop.from_torch(IrisModel(rngs=nnx.Rngs(0)), tmp_path / "whole.pt")


# ---------------------------------------------------------------- damaged files and values
def _iris_state_dict():
    torch.manual_seed(0)
    return TorchIrisModel().state_dict()


def _safetensors(path, sd):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in sd.items()}, path)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_a_safetensors_or_pt_file_loads(tmp_path, suffix):
    sd = _iris_state_dict()
    path = tmp_path / f"m{suffix}"
    torch.save(sd, path) if suffix == ".pt" else _safetensors(path, sd)
    jm = interop.from_torch(IrisModel(rngs=nnx.Rngs(0)), path)
    assert all(torch.equal(v, sd[k]) for k, v in interop.to_torch(jm).items())


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
@pytest.mark.parametrize("keep", [0, 0.5, 0.999])
def test_an_empty_or_truncated_file_says_so_and_its_size(tmp_path, suffix, keep):
    whole = tmp_path / f"whole{suffix}"
    sd = _iris_state_dict()
    torch.save(sd, whole) if suffix == ".pt" else _safetensors(whole, sd)
    data = whole.read_bytes()
    cut = tmp_path / f"cut{suffix}"
    cut.write_bytes(data[: int(len(data) * keep)])
    size = cut.stat().st_size
    with pytest.raises(interop.WeightsFileError) as e:
        interop.from_torch(IrisModel(rngs=nnx.Rngs(0)), cut)
    msg = str(e.value)
    assert ("is empty (0 bytes)" if size == 0 else f"is truncated ({size:,} bytes") in msg, msg
    assert "\n" not in msg
    if suffix == ".safetensors" and size:
        assert f"{len(data):,} expected" in msg  # the header says how long the file must be


def test_a_legacy_pt_file_cut_in_the_middle_says_truncated(tmp_path):
    whole = tmp_path / "legacy.pt"
    torch.save(_iris_state_dict(), whole, _use_new_zipfile_serialization=False)
    (tmp_path / "cut.pt").write_bytes(whole.read_bytes()[:300])
    with pytest.raises(interop.WeightsFileError, match=r"is truncated \(300 bytes"):
        interop.load_torch_file(tmp_path / "cut.pt")


def test_integer_weights_stop_with_the_key_and_what_to_do():
    sd = _iris_state_dict()
    sd["fc2.weight"] = (sd["fc2.weight"] * 100).to(torch.int64)
    jm = IrisModel(rngs=nnx.Rngs(0))
    before = np.asarray(jm.fc1.kernel[...]).copy()
    with pytest.raises(interop.WeightValueError, match=r"^fc2.weight holds int64 values .*\.float\(\)"):
        interop.from_torch(jm, sd)
    np.testing.assert_array_equal(np.asarray(jm.fc1.kernel[...]), before)  # nothing loaded


def test_nan_weights_stop_unless_allowed():
    sd = _iris_state_dict()
    sd["out.bias"][1] = float("nan")
    with pytest.raises(interop.WeightValueError,
                       match=r"^out.bias holds 1 NaN or inf value of 3: .*allow_nonfinite=True"):
        interop.from_torch(IrisModel(rngs=nnx.Rngs(0)), sd)
    jm = interop.from_torch(IrisModel(rngs=nnx.Rngs(0)), sd, allow_nonfinite=True)
    assert np.isnan(np.asarray(jm.out.bias[...])[1])


@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16])
def test_other_float_dtypes_load_as_torch_casts_them(dtype):
    """A float32 model loading float64 / float16 / bfloat16 tensors gets what torch's
    load_state_dict gives a float32 torch model (a copy_ with rounding)."""
    sd = {k: v.to(dtype) for k, v in _iris_state_dict().items()}
    tm = TorchIrisModel()
    tm.load_state_dict(sd)
    jm = interop.from_torch(IrisModel(rngs=nnx.Rngs(0)), sd)
    for k, v in interop.to_torch(jm).items():
        assert v.dtype == torch.float32 and torch.equal(v, tm.state_dict()[k]), k


def test_a_bfloat16_model_round_trips_through_to_torch():
    import jax.numpy as jnp

    jm = interop.from_torch(IrisModel(rngs=nnx.Rngs(0)), _iris_state_dict())
    for _, var in nnx.iter_graph(jm):
        if isinstance(var, nnx.Param):
            var.set_value(var[...].astype(jnp.bfloat16))
    sd = interop.to_torch(jm)
    assert sd["fc1.weight"].dtype == torch.bfloat16
    back = interop.from_torch(IrisModel(rngs=nnx.Rngs(1)), sd)
    np.testing.assert_array_equal(np.asarray(back.fc1.kernel[...]), np.asarray(jm.fc1.kernel[...], np.float32))


def test_a_big_mismatch_is_counted_not_listed_in_full():
    sd = {f"block{i}.weight": torch.zeros(1) for i in range(1000)}
    with pytest.raises(interop.StateDictMismatchError) as e:
        interop.from_torch(IrisModel(rngs=nnx.Rngs(0)), sd)
    msg = str(e.value)
    assert msg.startswith("state_dict does not fit IrisModel (6 missing, 1000 unexpected): ")
    assert "and 995 more" in msg and len(msg) < 600, msg


def test_a_data_parallel_prefix_gets_the_fix():
    sd = {f"module.{k}": v for k, v in _iris_state_dict().items()}
    with pytest.raises(interop.StateDictMismatchError, match="starts with 'module.'.*removeprefix"):
        interop.from_torch(IrisModel(rngs=nnx.Rngs(0)), sd)


@pytest.mark.parametrize("path,match", [("fc1.bias", "'fc1.bias', which is not a submodule"),
                                        ("", "'', a M; it must name the Linear")])
def test_bad_names_in_torch_flatten_are_refused(path, match):
    class M(IrisModel):
        torch_flatten: ClassVar[dict] = {path: (1, 2, 2)}
    with pytest.raises(ValueError, match=match):
        interop.to_torch(M(rngs=nnx.Rngs(0)))


class _Named(nnx.Module):
    """A container whose children have torch names that are not identifiers, and a head tied
    to another layer's weight (as jaxdl.port generates them)."""

    torch_names: ClassVar[dict] = {"block1_0": "block1-0"}
    torch_aliases: ClassVar[dict] = {"head.weight": "block1-0.weight"}

    def __init__(self):
        self.block1_0 = Linear(3, 3, rngs=nnx.Rngs(0))


def test_torch_names_and_aliases_map_keys_both_ways():
    torch.manual_seed(0)
    tm = torch.nn.Module()
    tm.add_module("block1-0", torch.nn.Linear(3, 3))
    tm.head = torch.nn.Linear(3, 3, bias=False)
    tm.head.weight = tm.get_submodule("block1-0").weight  # tied
    sd = tm.state_dict()
    assert list(sd) == ["block1-0.weight", "block1-0.bias", "head.weight"]
    jm = interop.from_torch(_Named(), sd)
    np.testing.assert_array_equal(np.asarray(jm.block1_0.kernel[...]).T, sd["block1-0.weight"].numpy())
    back = interop.to_torch(jm)
    assert sorted(back) == sorted(sd) and back["head.weight"] is back["block1-0.weight"]
    tm.load_state_dict(back, strict=True)
    sd["head.weight"] = torch.zeros(2, 3)
    with pytest.raises(interop.StateDictMismatchError, match="head.weight is tied to block1-0.weight"):
        interop.from_torch(_Named(), sd)
