"""Loading PyTorch files safely: state_dicts load, pickled objects are refused without
running any of their code, and the message says how to re-save the weights."""

import os

import pytest
import torch
from flax import nnx

from jaxdl import interop
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
