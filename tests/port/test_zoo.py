"""The torchvision sweep (jaxdl.port.zoo): one builder per family through the sweep's own
code path (build, calibrate, port, compare with torch and torch float64), and the sweep's
bookkeeping (rows, table, resume, time and memory limits).

The full proof is the committed table: ``python -m jaxdl.port.zoo`` writes
benchmarks/results/port-zoo-cpu.{json,md}.
"""

import json

import pytest

from jaxdl.port import zoo

# One builder per torchvision family that the sweep covers, small enough for CI; each must
# pass (the sweep passes all 86).
REPRESENTATIVES = (
    "resnet18",
    "mobilenet_v3_small",
    "efficientnet_b0",
    "regnet_x_400mf",
    "densenet121",
    "shufflenet_v2_x0_5",
    "squeezenet1_0",
    "mnasnet0_5",
    "googlenet",
    "convnext_tiny",
    "swin_t",
    "swin_v2_t",  # a layer called on a buffer, cosine attention
    "fcn_resnet50",
    "deeplabv3_mobilenet_v3_large",  # ASPP (an nn.Sequential with its own forward), children named '0', ...
    "lraspp_mobilenet_v3_large",  # IntermediateLayerGetter: children named '0', '1', ...
)


@pytest.mark.slow
@pytest.mark.parametrize("name", REPRESENTATIVES)
def test_representative_ports_within_float32_rounding(name):
    row = zoo.check(name)
    print(f"\n{name} ({row.family}, {row.size}x{row.size}): {row.status}, diff {row.diff}, torch f32 vs f64 "
          f"{row.torch_vs_f64}, port {row.port_s} s")
    assert row.status == "pass", f"{name}: {row.stage}: {row.reason}\n{row.traceback}"
    assert row.params_port == row.params_torch


def test_every_builder_has_a_family_and_an_input_size():
    names = zoo.builders()
    assert len(names) == 86 and len(set(names)) == 86
    assert set(zoo.MIN_SIZE) <= set(names), set(zoo.MIN_SIZE) - set(names)
    assert set(REPRESENTATIVES) <= set(names)
    assert zoo.input_size("resnet18") == zoo.FLOOR and zoo.input_size("inception_v3") == 75
    assert zoo.family("resnext50_32x4d") == "resnet" and zoo.family("fcn_resnet50") == "segmentation.fcn"


@pytest.mark.parametrize("diff,jax_vs_f64,torch_vs_f64,passed", [
    (1e-4, 1.0, 1e-9, True),  # within 1e-4 of torch
    (3e-4, 4e-4, 2e-4, True),  # beyond, but float32 rounding: no further from float64 than 2x torch's
    (3e-4, 5e-4, 2e-4, False),
])
def test_pass_rule(diff, jax_vs_f64, torch_vs_f64, passed):
    assert zoo.within_rule(diff, jax_vs_f64, torch_vs_f64) is passed


def test_a_failure_is_a_row_with_its_stage_and_reason(monkeypatch):
    def build(name):
        raise RuntimeError("no JAX mapping for aten.frobnicate\nsecond line " + "x" * 300)

    monkeypatch.setattr(zoo, "build", build)
    row = zoo.check("resnet18")
    assert (row.status, row.stage, row.passed) == ("error", "build", False)
    assert row.reason.startswith("RuntimeError: no JAX mapping for aten.frobnicate second line")
    assert len(row.reason) == 200
    assert "frobnicate" in row.traceback


def _rows():
    return {"a": zoo.Row("a", "resnet", 1, 32, 10, 10, 1.5, 2e-6, 1e-6, 1e-6, True, "pass", wall_s=30, load=3.0),
            "b": zoo.Row("b", "vgg", 32, 32, 20, None, None, status="error", stage="port",
                         reason="UnsupportedError: aten.x | y", wall_s=20, load=5.0),
            "c": zoo.Row("c", "swin_transformer", 4, 32, 5, 5, 9.0, 3e-3, 1e-6, 3e-3, False, "fail", wall_s=70,
                         load=4.0)}


def test_table_summary_and_resume(tmp_path):
    out = tmp_path / "zoo"
    zoo.write(_rows(), out)
    assert zoo.load_rows(out) == _rows()
    md = (tmp_path / "zoo.md").read_text()
    assert ("**1/86 pass**; worst difference of a passing model 2.00e-06 (a); worst difference 3.00e-03 (c); "
            "slowest port 9 s (c); sweep time 2 min; load average 3-5 (median 4)") in md
    assert "| b | vgg | 32 | 32 | 20 |  |  |  |  |  |  | error | 5 | port: UnsupportedError: aten.x \\| y |" in md
    assert json.loads((tmp_path / "zoo.json").read_text())["rows"][0]["name"] == "a"
    ran = []
    rows = zoo.sweep(["a", "c"], out, resume=True, log=ran.append)  # both have rows: nothing runs
    assert ran == [] and rows == _rows()


@pytest.mark.parametrize("limits,status,reason", [
    ({"timeout_s": 1}, "timeout", "timeout (1 s)"),
    ({"memory_gb": 0.03}, "killed", "killed: resident memory > 0.03 GB"),
])
def test_a_model_past_its_limit_is_killed_and_recorded(tmp_path, limits, status, reason):
    out = tmp_path / "zoo"
    zoo.write(_rows(), out)
    rows = zoo.sweep(["squeezenet1_1"], out, log=lambda _: None, **limits)
    row = rows["squeezenet1_1"]
    assert (row.status, row.reason, row.passed, row.family, row.size) == (status, reason, False, "squeezenet", 32)
    assert set(rows) == {"a", "b", "c", "squeezenet1_1"}  # the other rows are kept
    assert "| squeezenet1_1 | squeezenet | 17 | 32 |" in (tmp_path / "zoo.md").read_text()


def test_a_sweep_keeps_the_rows_another_sweep_wrote_meanwhile(tmp_path, monkeypatch):
    out = tmp_path / "zoo"
    zoo.write({"a": _rows()["a"]}, out)

    def run_one(name, *limits):  # while "c" runs, another sweep writes row "b"
        zoo.write({**zoo.load_rows(out), "b": _rows()["b"]}, out)
        return _rows()[name]

    monkeypatch.setattr(zoo, "run_one", run_one)
    zoo.sweep(["c"], out, log=lambda *_: None)
    assert set(zoo.load_rows(out)) == {"a", "b", "c"}


def test_the_float64_check_runs_the_same_port_without_float32_rounding():
    """A port whose float32 output is far from torch's (a chaotic random net) passes only if
    the same generated program in float64 equals torch float64: here a small conv net."""
    torch = pytest.importorskip("torch")
    from jaxdl.port import port

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                              torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3))
    zoo.calibrate(net, 8)
    x = torch.randn(2, 3, 8, 8)
    ported = port(net, x)
    with torch.no_grad():
        exact = net.double()(x.double()).numpy()
    assert zoo._rel(zoo.run_float64(ported, [x.numpy()]), exact) < 1e-12


def test_zero_initialised_classifiers_get_random_weights():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 2))
    torch.nn.init.zeros_(net[1].weight)
    torch.nn.init.zeros_(net[1].bias)
    before = net[0].weight.clone()
    zoo.randomize_zero_linears(net)
    assert net[1].weight.abs().min() > 0 and torch.equal(net[0].weight, before)
