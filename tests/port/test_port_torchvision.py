"""jaxdl.port on torchvision's backbones (weights=None, small inputs): eval logits within
1e-4 of their scale, one NNX class per torchvision class, NHWC throughout.

Random-init torchvision nets have pathological eval-mode scales (running statistics 0
and 1), so BatchNorm statistics are first calibrated with a few training-mode forwards
(``momentum=None``: a plain average), as PORTING.md recommends.
"""

import numpy as np
import pytest
import torch

from jaxdl.port import port, verify
from tests.port.generated import code_of, ruff_check
from torch_reference.vision import models

NETS = {  # name: (input size, slow)
    "alexnet": (64, False),
    "resnet18": (64, False),
    "mobilenet_v2": (64, False),
    "vgg16": (64, True),
    "resnet50": (64, True),
    "inception_v3": (75, True),  # the smallest size its stride-2 stages accept
}


def calibrated(name: str):
    torch.manual_seed(0)
    net = getattr(models(), name)(weights=None)
    size = NETS[name][0]
    x = torch.randn(2, 3, size, size)
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    aux = getattr(net, "AuxLogits", None)
    net.AuxLogits = None if aux is not None else getattr(net, "AuxLogits", None)  # not for 75x75 inputs
    net.train()
    with torch.no_grad():
        for _ in range(3):
            net(x + 0.5 * torch.randn_like(x))
    for bn in bns:
        bn.momentum = 0.1
    if aux is not None:
        net.AuxLogits = aux
    return net.eval(), x


def relative_logit_error(net, ported, x) -> float:
    xs = [x.numpy()]
    want = verify.run_torch(net, xs).numpy()
    got = np.asarray(verify.run_jax(ported.module, verify.to_jax_inputs(xs, ported.inputs)))
    return float(np.max(np.abs(got - want)) / np.max(np.abs(want)))


PARAMS = [pytest.param(n, marks=pytest.mark.slow) if slow else n for n, (_, slow) in NETS.items()]


@pytest.mark.parametrize("name", PARAMS)
def test_torchvision_backbone_ports_within_1e4(name, tmp_path):
    net, x = calibrated(name)
    p = port(net, x)
    err = relative_logit_error(net, p, x)
    print(f"{name}: max |jax - torch| / max |torch| = {err:.2e}")
    assert err <= 1e-4
    assert "transpose" not in code_of(p.source)
    (tmp_path / "model.py").write_text(p.source)
    ruff_check(tmp_path)
    classes = {type(m).__name__ for m in net.modules() if type(m).__module__.startswith("torchvision")}
    for cls in classes:
        assert p.source.count(f"class {cls}(") == 1, cls


def test_resnet_blocks_read_like_torchvision():
    net, x = calibrated("resnet18")
    src = port(net, x).source
    assert "def __init__(self, in_channels, out_channels, stride, downsample=None, *, rngs: nnx.Rngs):" in src
    assert "        if self.downsample is not None:\n            identity = self.downsample(x)" in src
    assert "BasicBlock(64, 128, 2, downsample=nnx.Sequential(" in src.replace("\n", "").replace("    ", "") \
        or "downsample=nnx.Sequential(" in src


HAND_WRITTEN = ["alexnet", "resnet18", pytest.param("vgg16", marks=pytest.mark.slow),
                pytest.param("resnet50", marks=pytest.mark.slow), pytest.param("inception_v3", marks=pytest.mark.slow)]


@pytest.mark.parametrize("name", HAND_WRITTEN)
def test_ported_backbone_has_the_hand_written_parameter_tree(name):
    """The port of a torchvision net and jaxdl.models.vision's hand-written twin hold the
    same parameters and BatchNorm statistics under the same paths and shapes."""
    from flax import nnx

    from jaxdl.models import vision
    from tests.port.test_port_notes import state_shapes

    net, x = calibrated(name)
    ported = port(net, x).module
    hand = getattr(vision, name)(rngs=nnx.Rngs(0))
    assert state_shapes(ported) == state_shapes(hand)
