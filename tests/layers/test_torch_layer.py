"""The torch-layer registry (jaxdl.layers.torch_layer) on its own, without torch: duplicate
names refused, every unsupported setting named in one error, a user's class of a torch
name not taken for torch's."""

import pytest
from flax import nnx

from jaxdl.layers import TORCH_LAYERS, Conv2d, Linear, MaxPool2d, for_torch_module
from jaxdl.layers.torch_layer import (
    TORCH,
    UnsupportedSetting,
    collapse,
    constructor,
    torch_layer,
)


def _fake(name: str, module: str, **attrs):
    """An object whose class is called ``name`` and lives in ``module``, with ``attrs``."""
    return type(name, (), {"__module__": module, **attrs})()


def test_a_torch_name_is_registered_once():
    with pytest.raises(ValueError, match="Linear .*already registered"):
        @torch_layer("Linear", layout=TORCH)
        class Other(nnx.Module):
            torch_arguments = classmethod(lambda cls, m: {})

            def torch_state(self):
                return []
    assert TORCH_LAYERS["Linear"] is Linear


def test_a_record_needs_both_methods_and_a_known_layout():
    with pytest.raises(TypeError, match="torch_state"):
        torch_layer("NotALayer1", layout=TORCH)(type("X", (), {"torch_arguments": classmethod(lambda c, m: {})}))
    with pytest.raises(ValueError, match="layout"):
        torch_layer("NotALayer2", layout="NCHW")
    assert "NotALayer1" not in TORCH_LAYERS


def test_every_unsupported_setting_is_named_in_one_error():
    m = _fake("MaxPool2d", "torch.nn.modules.pooling", kernel_size=2, stride=2, padding=0, dilation=2,
              return_indices=True, ceil_mode=False)
    with pytest.raises(UnsupportedSetting) as e:
        MaxPool2d.torch_arguments(m)
    assert e.value.settings == ["dilation=2", "return_indices=True"]
    assert str(e.value).startswith("nn.MaxPool2d with dilation=2, return_indices=True: jaxdl.layers.MaxPool2d")


def test_arguments_read_from_the_torch_module_as_a_person_writes_them():
    m = _fake("Conv2d", "torch.nn.modules.conv", in_channels=3, out_channels=8, kernel_size=(3, 3), stride=(2, 1),
              padding=(1, 1), dilation=(1, 1), groups=1, bias=None, padding_mode="zeros")
    args = Conv2d.torch_arguments(m)
    assert args == {"in_channels": 3, "out_channels": 8, "kernel_size": 3, "stride": (2, 1), "padding": 1,
                    "dilation": 1, "groups": 1, "use_bias": False, "padding_mode": "zeros"}
    defaults = {k: p.default for k, p in constructor(Conv2d).parameters.items()}
    assert defaults["stride"] == 1 and defaults["use_bias"] is True and "rngs" in defaults
    assert collapse((None, 7)) == (None, 7) and collapse((2, 2, 2)) == 2


def test_a_users_class_with_a_torch_name_is_not_torchs():
    assert for_torch_module(_fake("Linear", "my_project.layers")) is None
    assert for_torch_module(_fake("Linear", "torch.nn.modules.linear")) is Linear
