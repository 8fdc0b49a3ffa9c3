"""Dynamic shapes: the capture is symbolic in every dim the model allows (batch, sequence
length, image size), the generated code takes any such size, and what the model fixes is
named (``InputSpec.dynamic``, ``Ported.summary()``, the generated class's docstring).

Each model is ported at one size and run at another, against torch."""

import dataclasses
import time

import pytest
import sympy
import torch
from torch import nn
from torch.utils._sympy.functions import CeilDiv, FloorDiv, PythonMod

from jaxdl.port import UnsupportedError, capture, codegen, port, verify
from jaxdl.port.__main__ import main
from tests.port import constructs as C
from tests.port import defects as D
from tests.port import registry_cases as R


def at(p, *shapes):
    """The port's input specs with other shapes."""
    return [dataclasses.replace(s, shape=tuple(shape)) for s, shape in zip(p.inputs, shapes)]


def same_at(tm, p, *shapes, tol=1e-5):
    """Eval outputs of the port at ``shapes`` (torch layout) against torch's."""
    return verify.check_eval_outputs(tm, p.module, at(p, *shapes), p.output_images, tol=tol)


def test_a_cnn_takes_any_image_size():
    torch.manual_seed(0)
    tm = C.Functional().eval()  # conv, pool, adaptive pool, flatten, linear
    p = port(tm, torch.randn(2, 1, 14, 14))
    assert p.inputs[0].dynamic == (0, 2, 3)
    assert p.summary() == "x: (N, 1, H, W): the model fixes channels at 1"
    assert "x: (N, H, W, 1) (torch's NCHW (N, 1, H, W)); the model fixes channels at 1." in p.source
    assert same_at(tm, p, (3, 1, 20, 17)) <= 1e-5


def test_sequence_ops_take_any_length():
    torch.manual_seed(0)
    tm = C.SequenceOps().eval()  # split(h, [1, t - 1]): a size that is an expression of the length
    p = port(tm, torch.randn(2, 5, 8))
    assert p.inputs[0].dynamic == (0, 1)
    assert "jnp.split(h, (1,), axis=1)" in p.source
    assert p.summary() == "x: (N, T, 8): the model fixes dim 2 at 8"
    assert same_at(tm, p, (3, 9, 8)) <= 1e-5


def test_an_lstm_takes_any_length():
    torch.manual_seed(0)
    tm = C.LastStep().eval()
    p = port(tm, torch.randn(4, 5, 3))
    assert p.inputs[0].dynamic == (0, 1)
    assert same_at(tm, p, (2, 11, 3)) <= 1e-5


class GRUTagger(nn.Module):
    """A GRU over embedded tokens, one label per step."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 6)
        self.gru = nn.GRU(6, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, tokens):
        out, _ = self.gru(self.embed(tokens))
        return self.head(out)


def test_a_gru_over_tokens_takes_any_length():
    torch.manual_seed(0)
    tm = GRUTagger().eval()
    p = port(tm, torch.randint(0, 20, (2, 7)))
    assert p.inputs[0].dynamic == (0, 1)
    assert p.summary() == "tokens: (N, T): any size of every dim"
    assert same_at(tm, p, (3, 12)) <= 1e-5


def test_a_channel_shuffle_takes_any_image_size():
    torch.manual_seed(0)
    tm = D.TinyShuffleNet().eval()  # x.view(b, groups, c // groups, h, w): sizes from several dims
    p = port(tm, torch.randn(2, 3, 16, 16))
    assert p.inputs[0].dynamic == (0, 2, 3)
    assert same_at(tm, p, (2, 3, 32, 19)) <= 1e-5


def test_a_causal_mask_follows_the_length():
    torch.manual_seed(0)
    tm = R.Attention().eval()  # ones(q.shape[-2], k.shape[-2]).tril() and is_causal=True
    p = port(tm, *(torch.randn(2, 2, 5, 4) for _ in range(3)))
    for spec in p.inputs:
        assert 2 in spec.dynamic, p.summary()
    assert "jnp.ones((5, 5)" not in p.source
    assert same_at(tm, p, *[(3, 2, 9, 4)] * 3) <= 1e-5


class FixedSize(nn.Module):
    """A Linear after the flatten of the image: the model fixes its height and width."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))


def test_a_dim_the_model_fixes_is_named():
    torch.manual_seed(0)
    tm = FixedSize().eval()
    p = port(tm, torch.randn(2, 3, 8, 8))
    assert p.inputs[0].dynamic == (0,)
    assert p.inputs[0].fixed() == (1, 2, 3)
    assert p.summary() == "x: (N, 3, 8, 8): the model fixes channels at 3, height and width at 8"
    assert "x: (N, 8, 8, 3) (torch's NCHW (N, 3, 8, 8)); the model fixes channels at 3, height and width at 8." \
        in p.source
    assert same_at(tm, p, (5, 3, 8, 8)) <= 1e-5  # the batch stays free
    assert "at_another_size" not in verify.parity_test_source(p, "m.py:FixedSize")


def test_the_parity_test_checks_a_second_size():
    torch.manual_seed(0)
    tm = C.Functional().eval()
    p = port(tm, torch.randn(2, 1, 14, 14))
    assert "def test_eval_outputs_at_another_size(pair):" in verify.parity_test_source(p, "m.py:Functional")
    specs = verify.resized(p.inputs)
    assert specs[0].shape == (2, 1, 28, 28)
    assert verify.check_eval_outputs(tm, p.module, specs, p.output_images) <= 1e-5


def test_the_command_line_says_what_the_model_fixes(tmp_path, capsys, monkeypatch):
    (tmp_path / "fixed.py").write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "class FixedSize(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(3, 4, 3)\n"
        "        self.fc = nn.Linear(4 * 6 * 6, 5)\n\n"
        "    def forward(self, x):\n"
        "        return self.fc(torch.flatten(torch.relu(self.conv(x)), 1))\n")
    args = [str(tmp_path / "fixed.py") + ":FixedSize", "--input-shape", "2,3,8,8", "--out", str(tmp_path / "o")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "input x: (N, 3, 8, 8): the model fixes channels at 3, height and width at 8" in out


def test_code_that_cannot_be_written_with_every_dim_symbolic_falls_back_to_the_batch(monkeypatch):
    generate = codegen.generate

    def batch_only(graph, *, partial=False):
        if any(d != 0 for dyn in graph.input_dynamic for d in dyn):
            raise UnsupportedError("a size that depends on the input (s1) and no value in scope has it", "", "M")
        return generate(graph, partial=partial)

    monkeypatch.setattr(codegen, "generate", batch_only)
    torch.manual_seed(0)
    tm = C.Functional().eval()
    p = port(tm, torch.randn(2, 1, 14, 14))
    assert p.inputs[0].dynamic == (0,)
    assert p.summary() == "x: (N, 1, 14, 14): the model fixes channels at 1, height and width at 14"
    assert same_at(tm, p, (3, 1, 14, 14)) <= 1e-5


def test_capture_modes():
    tm = C.Functional().eval()
    x = (torch.randn(2, 1, 14, 14),)
    assert capture.capture(tm, x).input_dynamic == [(0, 2, 3)]
    assert capture.capture(tm, x, dynamic="batch").input_dynamic == [(0,)]
    assert capture.capture(tm, x, dynamic=False).input_dynamic == [()]


def test_size_expressions_are_python():
    s0, s1 = sympy.symbols("s0 s1", integer=True, positive=True)
    dims = {"s0": "x.shape[1]", "s1": "x.shape[2]", str(FloorDiv(s0, 2)): "y.shape[1]"}

    def text(e):
        return codegen.sym_text(e, lambda sub: dims.get(str(sub)))

    def value(e, **sizes):
        return eval(text(e), {"x": type("X", (), {"shape": sizes["x"]}), "y": type("Y", (), {"shape": sizes["y"]})})

    sizes = {"x": (2, 13, 8), "y": (2, 6)}
    for e, want in [(s0 * s1, 104), (FloorDiv(s0, 2), 6), (4 * FloorDiv(s0, 2) + 1, 25), (PythonMod(s0, 4), 1),
                    (CeilDiv(s0, 2), 7), (sympy.ceiling(s0 / 3), 5), (sympy.floor(s0 / 3), 4), (s0 - s1, 5),
                    (FloorDiv(s0 - 1, 2) + 1, 7), (sympy.Max(s0, s1), 13), (s0 ** 2, 169)]:
        assert value(e, **sizes) == want, (e, text(e))
    assert "y.shape[1]" in text(3 * FloorDiv(s0, 2))  # a subexpression that a value in scope has
    with pytest.raises(codegen._NoDim, match="s2"):
        text(sympy.Symbol("s2", integer=True) + s0)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["resnet18", "shufflenet_v2_x0_5"])
def test_torchvision_ports_take_another_image_size(name):
    from jaxdl.port import zoo

    net, _ = zoo.build(name)
    # at the sweep's 32x32 the last stage is 1x1: torch.export guards on that size, the port fixes it
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    p = port(net, x)
    assert p.inputs[0].dynamic == (0, 2, 3), p.summary()
    size = x.shape[-1]
    # within 1e-5, or verify's float64 rule (no further from torch float64 than twice torch float32)
    same_at(net, p, (2, 3, 2 * size, size + 8))


class FlattenAnySize(nn.Module):
    """A flatten of an image whose size depends on the input, then no Linear: any size."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y = torch.flatten(self.conv(x), 1)
        return torch.softmax(y, dim=1) * y.shape[1], x.flatten(2).transpose(1, 2).mean(1)


def test_a_flatten_of_an_image_of_any_size():
    torch.manual_seed(0)
    tm = FlattenAnySize().eval()
    p = port(tm, torch.randn(2, 3, 6, 5))
    assert p.inputs[0].dynamic == (0, 2, 3)
    assert same_at(tm, p, (2, 3, 9, 7)) <= 1e-5


def test_a_symbolic_capture_that_takes_too_long_fixes_the_sizes(monkeypatch):
    # torch.export's shape reasoning ran over 30 minutes on maxvit_t with every dim symbolic
    real = torch.export.export

    def slow_when_sizes_are_symbolic(module, args, dynamic_shapes=None, **kw):
        if dynamic_shapes and any(s and set(s) != {0} for s in dynamic_shapes):
            time.sleep(5)  # interrupted by the time limit
        return real(module, args, dynamic_shapes=dynamic_shapes, **kw)

    port(C.Functional().eval(), torch.randn(2, 1, 14, 14))  # torch's imports done: the limit stops the sleep
    monkeypatch.setattr(torch.export, "export", slow_when_sizes_are_symbolic)
    monkeypatch.setattr(capture, "SYMBOLIC_CAPTURE_S", 0.2)
    torch.manual_seed(0)
    tm = C.Functional().eval()
    with pytest.warns(UserWarning, match=r"Functional: the symbolic capture took over 0.2 s"):
        p = port(tm, torch.randn(2, 1, 14, 14))
    assert p.inputs[0].dynamic == (0,)  # the batch-only capture
    assert same_at(tm, p, (3, 1, 14, 14)) <= 1e-5
