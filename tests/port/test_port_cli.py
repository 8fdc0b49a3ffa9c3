"""``python -m jaxdl.port file.py:Class ...`` on a user's file, end to end: the generated
test_parity.py passes under pytest in a fresh process."""

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jaxdl.port.__main__ import main
from tests.port.test_port_unsupported import Misfit

ROOT = Path(__file__).resolve().parents[2]

USER_FILE = '''
import torch
from torch import nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F.relu(x + self.bn(self.conv(x)))


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True))
        self.blocks = nn.ModuleList([Block(8) for _ in range(2)])
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = F.max_pool2d(self.stem(x), 2)
        for block in self.blocks:
            x = block(x)
        x = F.max_pool2d(x, 2)
        x = x.view(x.size(0), -1)
        return self.fc(self.drop(x))


@torch.library.custom_op("user_model::spectrum", mutates_args=())
def spectrum(x: torch.Tensor) -> torch.Tensor:
    return torch.fft.rfft(x).abs()


@spectrum.register_fake
def _(x):
    return x.new_empty(x.shape[:-1] + (x.shape[-1] // 2 + 1,))


class WithFFT(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return spectrum(self.fc(x))
'''


def env():
    return {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def test_command_line_port_and_its_parity_test_pass(tmp_path):
    (tmp_path / "user_model.py").write_text(USER_FILE)
    out = tmp_path / "ported"
    cmd = [sys.executable, "-m", "jaxdl.port", "user_model.py:SmallNet", "--input-shape", "2,3,16,16",
           "--out", str(out)]
    run = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in out.iterdir()) == ["model.py", "test_parity.py", "weights.safetensors"]
    source = (out / "model.py").read_text()
    assert "class Block(nnx.Module)" in source and "for block in self.blocks:" in source
    assert "torch_flatten: ClassVar[dict] = {'fc': (8, 4, 4)}" in source
    test = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(out / "test_parity.py")],
                          cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=600, check=False)
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-2000:]
    assert "5 passed" in test.stdout


def test_command_line_reports_unsupported_and_writes_a_partial_port(tmp_path, capsys):
    (tmp_path / "user_model.py").write_text(USER_FILE)
    args = [str(tmp_path / "user_model.py") + ":WithFFT", "--input-shape", "3,8", "--out", str(tmp_path / "o")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "user_model.spectrum" in err and "--partial" in err
    assert main(args + ["--partial"]) == 0
    assert "stub: jaxdl.port: the op user_model.spectrum" in capsys.readouterr().out
    assert (tmp_path / "o" / "model.py").exists()


def test_command_line_errors_say_what_to_do(tmp_path, capsys):
    (tmp_path / "user_model.py").write_text(USER_FILE)
    model = str(tmp_path / "user_model.py") + ":Block"
    assert main([model, "--input-shape", "2,8,4,4", "--out", str(tmp_path / "o")]) == 2
    assert "must build with no arguments" in capsys.readouterr().err
    assert main([str(tmp_path / "nope.py:X"), "--input-shape", "2,3", "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


# the model of tests/port/test_port_unsupported.py (conv to 7x7 at 9x9 images, fc built for 6x6), as a user's file
MISFIT_FILE = "import torch.nn as nn\n\n\n" + inspect.getsource(Misfit)


@pytest.mark.parametrize("shape, layer, says, fixture", [
    # 9x9 images: conv gives 7x7, fc was built for 6x6 (torch's fake tensors log a traceback here)
    ("2,3,9,9", "module `fc` (Linear)", "mat1 and mat2 shapes cannot be multiplied (2x392 and 288x4)", "capfd"),
    ("2,3,9,9", "module `fc` (Linear)", "mat1 and mat2 shapes cannot be multiplied (2x392 and 288x4)", "capsys"),
    ("2,4,8,8", "module `c` (Conv2d)", "expected input[2, 4, 8, 8] to have 3 channels, but got 4 channels", "capsys"),
])
def test_a_wrong_input_shape_is_one_line_naming_the_layer(tmp_path, request, shape, layer, says, fixture):
    cap = request.getfixturevalue(fixture)  # capfd also sees what torch's log handlers write to fd 2
    (tmp_path / "net.py").write_text(MISFIT_FILE)
    assert main([str(tmp_path / "net.py") + ":Misfit", "--input-shape", shape, "--out", str(tmp_path / "o")]) == 2
    err = cap.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err[-3000:]
    assert "fake_tensor" not in err and "--partial" not in err and "Traceback" not in err
    assert f"the example input of shape {shape.replace(',', 'x')} does not fit the model" in err
    assert layer in err and says in err
    line = "return self.fc(self.c(x).flatten(1))"
    at = [ln.strip() for ln in MISFIT_FILE.splitlines()].index(line) + 1
    assert f"net.py:{at}: `{line}`" in err  # the user's line, not torch's
    assert "--input-shape" in err
    assert not (tmp_path / "o").exists()
