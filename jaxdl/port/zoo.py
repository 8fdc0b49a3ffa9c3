"""The torchvision sweep: every classification and segmentation builder through
:func:`jaxdl.port.port`, compared with torch.

    python -m jaxdl.port.zoo                        # all 86, table in benchmarks/results/port-zoo-cpu.{json,md}
    python -m jaxdl.port.zoo --resume               # continue a stopped sweep (models with a row are skipped)
    python -m jaxdl.port.zoo --failed               # re-run only the models whose row did not pass
    python -m jaxdl.port.zoo --only resnet18 swin_t # these models; the other rows are kept

For each builder (``torchvision.models.list_models(module=torchvision.models)``, 80, and the
6 segmentation builders, whose ``out`` output is compared): random weights (``weights=None``,
``torch.manual_seed(0)``), BatchNorm statistics calibrated with a few training-mode forwards
(``momentum=None``: a plain average; random nets in eval mode with statistics 0/1 have
pathological scales, see PORTING.md; other normalisations as they are), then
``port(model, x)`` on ``x`` of shape (2, 3, S, S), the ported NNX module run in eval mode on
the same input (NHWC) and compared with torch's eval output:

* difference = max |JAX - torch| / max |torch| (relative to the logit scale);
* pass: difference <= 1e-4, or JAX no further from torch float64 (``model.double()``) than
  twice torch float32 is (float32 rounding of a deep random net, not a different computation:
  the rule of tests/parity/test_vision.py); and the port has torch's parameter count.

S is the smallest size the builder accepts (:data:`MIN_SIZE`, measured), but at least
:data:`FLOOR` = 32: at 1x1 every feature map of a stride-32 net is 1x1, where NHWC and NCHW
are the same order and a layout error cannot show.

Each model runs in its own subprocess (``--one NAME``, which prints the row as JSON) with a
time and memory limit, one at a time; its row is written to the ``.json`` and ``.md`` as soon
as it finishes, so a sweep can be stopped and continued with ``--resume``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from jaxdl import extras
from jaxdl.port import port, verify
from jaxdl.precision import cast_floating

SEGMENTATION = ("fcn_resnet50", "fcn_resnet101", "deeplabv3_resnet50", "deeplabv3_resnet101",
                "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")
# The smallest H = W each builder accepts (weights=None, batch 2): the first size in 1..256
# whose forward runs (meta device; regnet built on the CPU). Absent: 1.
MIN_SIZE = {
    "alexnet": 63, "densenet121": 29, "densenet161": 29, "densenet169": 29, "densenet201": 29,
    "googlenet": 15, "inception_v3": 75, "maxvit_t": 221, "squeezenet1_0": 21, "squeezenet1_1": 17,
    **{f"convnext_{v}": 32 for v in ("tiny", "small", "base", "large")},
    **{f"swin_{v}": 4 for v in ("t", "s", "b", "v2_t", "v2_s", "v2_b")},
    **{f"vgg{d}{bn}": 32 for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    **{f"vit_{v}": 224 for v in ("b_16", "b_32", "l_16", "l_32", "h_14")},  # image_size exactly
}
FLOOR = 32
BATCH = 2
TOL = 1e-4
TOL64 = 1e-9  # the port run in float64 vs torch float64: the same computation, float64 rounding only
CALIBRATION_BATCHES = 3  # training-mode forwards of 4 random images
TIMEOUT_S = 1800
MEMORY_GB = 14.0  # efficientnet_b6 with its float64 check peaks above 10
OUT = "benchmarks/results/port-zoo-cpu"
REPO = Path(__file__).resolve().parents[2]


def _torch():
    return extras.torch("jaxdl.port.zoo", extra="port")


def _tvm():
    from torch_reference.vision import models  # torchvision beside CPU torch (PORTING.md)

    return models()


def builders() -> list[str]:
    """The 80 classification builders of ``torchvision.models`` and the 6 segmentation ones."""
    return list(_tvm().list_models(module=_tvm())) + list(SEGMENTATION)


def builder(name: str):
    tvm = _tvm()
    return getattr(tvm.segmentation, name) if name in SEGMENTATION else getattr(tvm, name)


def family(name: str) -> str:
    """torchvision's module of the builder: ``resnet`` (resnet, resnext, wide_resnet),
    ``segmentation.fcn``, ..."""
    return builder(name).__module__.removeprefix("torchvision.models.")


def input_size(name: str) -> int:
    return max(MIN_SIZE.get(name, 1), FLOOR)


def calibrate(net, size: int, batches: int = CALIBRATION_BATCHES, seed: int = 1):
    """BatchNorm running statistics = the average over ``batches`` training-mode forwards of
    random (4, 3, size, size) inputs (``momentum=None``), each layer's own momentum restored
    afterwards; then eval mode. Inception's aux head (it needs 299x299 in training mode and is
    unused in eval) is left out of the calibration."""
    torch = _torch()
    bns = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in bns]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    aux = getattr(net, "AuxLogits", None)
    if aux is not None:
        net.AuxLogits = None
    gen = torch.Generator().manual_seed(seed)
    if bns:
        net.train()
        with torch.no_grad():
            for _ in range(batches):
                net(torch.randn(4, 3, size, size, generator=gen))
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    if aux is not None:
        net.AuxLogits = aux
    return net.eval()


def randomize_zero_linears(net, seed: int = 3):
    """Random weights (0.02 x normal) for every ``Linear`` initialised to zeros (vit's
    ``heads.head``): with a zero classifier both sides give zero logits whatever the body
    computes, and the comparison would prove nothing."""
    torch = _torch()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.Linear) and not m.weight.any():
                for t in (m.weight, m.bias) if m.bias is not None else (m.weight,):
                    t.copy_(0.02 * torch.randn(t.shape, generator=gen))
    return net


def build(name: str):
    """(calibrated torch model in eval mode, input (2, 3, S, S)) for builder ``name``."""
    torch = _torch()
    torch.manual_seed(0)
    kwargs = {"weights_backbone": None} if name in SEGMENTATION else {}  # else a download
    if name in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = True  # torchvision warns when it is left out
    net = builder(name)(weights=None, **kwargs)
    randomize_zero_linears(net)
    size = input_size(name)
    calibrate(net, size)
    return net, torch.randn(BATCH, 3, size, size, generator=torch.Generator().manual_seed(2))


def _main_output(out, images=()):
    """(the compared output, whether the JAX side gives it as an NHWC image): ``out`` of a
    segmentation dict, else the first (only) output."""
    image = bool(images and images[0])
    if isinstance(out, dict):
        return out["out"], image
    if isinstance(out, (tuple, list)):
        return out[0], image
    return out, image


def _rel(a, b) -> float:
    """max |a - b| / max |b|."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise AssertionError(f"output shapes differ: JAX {a.shape} (as NCHW) vs torch {b.shape}")
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-30))


def _reason(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}"[:200]


@dataclasses.dataclass
class Row:
    """One model's result; ``status`` is pass, fail (compared, beyond the rule or parameter
    count), error (an exception: ``stage`` and ``reason``), timeout or killed."""

    name: str
    family: str = ""
    min_size: int = 0
    size: int = 0
    params_torch: int | None = None
    params_port: int | None = None
    port_s: float | None = None
    diff: float | None = None  # max |JAX - torch f32| / max |torch f32|
    torch_vs_f64: float | None = None  # max |torch f32 - torch f64| / max |torch f64|
    jax_vs_f64: float | None = None  # max |JAX - torch f64| / max |torch f64|
    passed: bool = False
    status: str = "error"
    stage: str = ""
    reason: str = ""
    wall_s: float | None = None  # the subprocess, imports included
    cpu_s: float | None = None  # CPU time of check() (all threads): the cost without the machine's load
    peak_rss_gb: float | None = None
    porter: str = ""
    load: float | None = None
    when: str = ""
    traceback: str = ""
    jax64_vs_f64: float | None = None  # the port run in float64 vs torch f64 (only where the f32 rule fails)


def within_rule(diff: float, jax_vs_f64: float, torch_vs_f64: float) -> bool:
    """Within :data:`TOL` of torch float32, or no further from torch float64 than twice
    torch float32 is."""
    return diff <= TOL or jax_vs_f64 <= 2 * torch_vs_f64


def run_float64(ported, xs) -> np.ndarray:
    """The ported module's eval output with its floating variables and inputs in float64
    (``jax.enable_x64``): the same program as the float32 port, without float32 rounding.
    Run op by op (``jax.disable_jit``): compiling a large net a second time, in float64,
    took more than 10 GB (efficientnet_b6)."""
    with jax.enable_x64(True), jax.disable_jit():
        graphdef, state = nnx.split(ported.module)
        module64 = nnx.merge(graphdef, cast_floating(state, np.float64))
        inputs = cast_floating(verify.to_jax_inputs(xs, ported.inputs), np.float64)
        got, image = _main_output(verify.run_jax(module64, inputs), ported.output_images)
        return _torch_order(np.asarray(got), image)


def _torch_order(got: np.ndarray, image: bool) -> np.ndarray:
    """A JAX output as torch gives it: an NHWC image as NCHW."""
    return got.transpose(0, 3, 1, 2) if image and got.ndim == 4 else got


def check(name: str) -> Row:
    """Build, calibrate, port and compare one builder, in this process."""
    torch = _torch()
    row = Row(name, family(name), MIN_SIZE.get(name, 1), input_size(name))
    cpu = time.process_time()
    stage = "build"
    try:
        net, x = build(name)
        row.params_torch = sum(p.numel() for p in net.parameters())
        stage = "port"
        start = time.perf_counter()
        ported = port(net, x)
        row.port_s = round(time.perf_counter() - start, 2)
        row.params_port = sum(int(np.prod(a.shape)) for a in jax.tree.leaves(nnx.state(ported.module, nnx.Param)))
        stage = "forward"
        xs = [x.numpy()]
        want, _ = _main_output(verify.run_torch(net, xs))
        want = want.numpy()
        got, image = _main_output(verify.run_jax(ported.module, verify.to_jax_inputs(xs, ported.inputs)),
                                  ported.output_images)
        got = _torch_order(np.asarray(got), image)
        stage = "compare"
        row.diff = _rel(got, want)
        stage = "float64"
        with torch.no_grad():
            exact, _ = _main_output(net.double()(x.double()))
        exact = exact.numpy()
        row.torch_vs_f64, row.jax_vs_f64 = _rel(want, exact), _rel(got, exact)
        within = within_rule(row.diff, row.jax_vs_f64, row.torch_vs_f64)
        if not within:  # float32 rounding, or a different computation? the port in float64 says
            stage = "jax float64"
            row.jax64_vs_f64 = _rel(run_float64(ported, xs), exact)
            within = row.jax64_vs_f64 <= TOL64
        del ported
        stage = ""
        same_count = row.params_port == row.params_torch
        row.passed = within and same_count
        row.status = "pass" if row.passed else "fail"
        if not within:
            row.reason = (f"difference {row.diff:.3g} > {TOL:g}, JAX is {row.jax_vs_f64:.3g} from float64 "
                          f"where torch float32 is {row.torch_vs_f64:.3g}, and the port in float64 is "
                          f"{row.jax64_vs_f64:.3g} from torch float64 (> {TOL64:g})")
        elif not same_count:
            row.reason = f"the port has {row.params_port:,} parameters, torch {row.params_torch:,}"
    except Exception as e:  # noqa: BLE001 - every failure is a row
        row.status, row.stage, row.reason = "error", stage, _reason(e)
        row.traceback = traceback.format_exc()[-1500:]
    row.cpu_s = round(time.process_time() - cpu, 1)
    return row


# ----------------------------------------------------------------------------- the sweep
def _rss_gb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def run_one(name: str, timeout_s: float = TIMEOUT_S, memory_gb: float = MEMORY_GB) -> Row:
    """:func:`check` in a subprocess (``python -m jaxdl.port.zoo --one NAME``), killed past
    ``timeout_s`` or ``memory_gb`` of resident memory."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    start, peak, killed = time.perf_counter(), 0.0, ""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        child = subprocess.Popen([sys.executable, "-m", "jaxdl.port.zoo", "--one", name], cwd=REPO, env=env,
                                 stdout=out, stderr=err, start_new_session=True)
        while child.poll() is None:
            peak = max(peak, _rss_gb(child.pid))
            if peak > memory_gb:
                killed = f"killed: resident memory > {memory_gb:g} GB"
            elif time.perf_counter() - start > timeout_s:
                killed = f"timeout ({timeout_s:g} s)"
            if killed:
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
                break
            time.sleep(0.5)
        wall = round(time.perf_counter() - start, 1)
        out.seek(0)
        err.seek(0)
        lines = out.read().strip().splitlines()
        stderr = err.read()
    if killed:
        row = Row(name, status="timeout" if killed.startswith("timeout") else "killed", reason=killed)
    elif child.returncode == 0 and lines:
        row = Row(**json.loads(lines[-1]))
    else:
        why = f"killed by signal {-child.returncode}" if child.returncode < 0 else f"exit status {child.returncode}"
        last = stderr.strip().splitlines()[-1:] or ["no output"]
        row = Row(name, status="killed", reason=f"{why}: {last[0]}"[:200], traceback=stderr[-1500:])
    if not row.family:
        row.family, row.min_size, row.size = family(name), MIN_SIZE.get(name, 1), input_size(name)
    row.wall_s, row.peak_rss_gb = wall, round(peak, 2)
    return row


def _porter() -> str:
    def git(*args):
        return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()

    commit = git("rev-parse", "--short", "HEAD")
    return f"{git('rev-parse', '--abbrev-ref', 'HEAD')}@{commit}" + ("+dirty" if git("status", "--porcelain",
                                                                                        "jaxdl") else "")


def load_rows(out: str | os.PathLike) -> dict[str, Row]:
    path = Path(f"{out}.json")
    if not path.exists():
        return {}
    return {r["name"]: Row(**r) for r in json.loads(path.read_text())["rows"]}


def sweep(names: list[str], out: str | os.PathLike = OUT, *, resume: bool = False, timeout_s: float = TIMEOUT_S,
          memory_gb: float = MEMORY_GB, log=print) -> dict[str, Row]:
    """Run ``names`` one by one (smallest first), each in its own subprocess, writing the
    table after each. Rows of other models already in ``out``.json are kept; with
    ``resume`` the models that have a row are skipped."""
    rows = load_rows(out)
    todo = [n for n in names if not (resume and n in rows)]
    porter = _porter()
    for i, name in enumerate(todo):
        load = round(os.getloadavg()[0], 1)
        when = datetime.datetime.now().isoformat(timespec="seconds")
        log(f"[{i + 1}/{len(todo)}] {name} (load {load}) ...")
        row = run_one(name, timeout_s, memory_gb)
        row.porter, row.load, row.when = porter, load, when
        rows = {**load_rows(out), name: row}  # rows another sweep wrote meanwhile are kept
        write(rows, out)
        log(f"    {row.status} in {row.wall_s} s: diff {row.diff}, port {row.port_s} s {row.reason}")
    return rows


# ----------------------------------------------------------------------------- the table
def _fmt(v, spec=".2e"):
    return "" if v is None else format(v, spec)


def summary(rows: dict[str, Row], total: int | None = None) -> str:
    total = total or len(rows)
    passed = [r for r in rows.values() if r.passed]
    diffs = [r for r in rows.values() if r.diff is not None]
    ports = [r for r in rows.values() if r.port_s is not None]
    walls = [r.wall_s for r in rows.values() if r.wall_s]
    loads = sorted(r.load for r in rows.values() if r.load is not None)
    parts = [f"**{len(passed)}/{total} pass**"]
    if passed:
        worst = max((r for r in passed if r.diff is not None), key=lambda r: r.diff, default=None)
        if worst:
            parts.append(f"worst difference of a passing model {worst.diff:.2e} ({worst.name})")
    if diffs:
        worst = max(diffs, key=lambda r: r.diff)
        parts.append(f"worst difference {worst.diff:.2e} ({worst.name})")
    if ports:
        slow = max(ports, key=lambda r: r.port_s)
        parts.append(f"slowest port {slow.port_s:.0f} s ({slow.name})")
    if walls:
        parts.append(f"sweep time {sum(walls) / 60:.0f} min")
    if loads:
        parts.append(f"load average {loads[0]:g}-{loads[-1]:g} (median {loads[len(loads) // 2]:g}) on "
                     f"{os.cpu_count()} cores")
    counts: dict[str, int] = {}
    for r in rows.values():
        counts[r.status] = counts.get(r.status, 0) + 1
    parts.append(", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return "; ".join(parts) + "."


def markdown(rows: dict[str, Row], total: int | None = None) -> str:
    porters = sorted({r.porter for r in rows.values() if r.porter})
    lines = [
        "# jaxdl.port on torchvision's builders (CPU)",
        "",
        summary(rows, total),
        "",
        "Random weights (`weights=None`, seed 0), BatchNorm statistics calibrated with "
        f"{CALIBRATION_BATCHES} training-mode forwards (`momentum=None`), input (2, 3, S, S) with S the "
        f"smallest size the builder accepts (min), at least {FLOOR}. diff = max |JAX - torch| / max |torch| "
        f"of the eval output (segmentation: `out`); pass: diff <= {TOL:g}, or JAX no further from torch "
        "float64 than twice torch float32 is (f32 vs f64 = torch float32's distance), or, where neither "
        f"holds, the port run in float64 within {TOL64:g} of torch float64 (JAX64 vs f64: the same computation, "
        "its float32 difference rounding amplified by the random net), and the port has "
        "torch's parameter count. Times are wall seconds on a shared, loaded machine (the load column): "
        "compare them with each other, not with another machine.",
        "",
        f"Reproduce: `python -m jaxdl.port.zoo` (porter: {', '.join(porters) or '-'}).",
        "",
        "| model | family | min | S | params torch | params port | port s | diff | f32 vs f64 | JAX vs f64 "
        "| JAX64 vs f64 | pass | load | reason |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in sorted(rows.values(), key=lambda r: (r.family, r.name)):
        params = [f"{p:,}" if p is not None else "" for p in (r.params_torch, r.params_port)]
        verdict = "yes" if r.passed else r.status
        reason = (f"{r.stage}: " if r.stage else "") + r.reason.replace("|", "\\|")
        lines.append(f"| {r.name} | {r.family} | {r.min_size} | {r.size} | {params[0]} | {params[1]} | "
                     f"{_fmt(r.port_s, '.1f')} | {_fmt(r.diff)} | {_fmt(r.torch_vs_f64)} | {_fmt(r.jax_vs_f64)} | "
                     f"{_fmt(r.jax64_vs_f64)} | "
                     f"{verdict} | {_fmt(r.load, 'g')} | {reason} |")
    return "\n".join(lines) + "\n"


def write(rows: dict[str, Row], out: str | os.PathLike = OUT) -> None:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    ordered = sorted(rows.values(), key=lambda r: (r.family, r.name))
    meta = {"summary": summary(rows, 86), "tol": TOL, "floor": FLOOR, "batch": BATCH,
            "calibration_batches": CALIBRATION_BATCHES, "cores": os.cpu_count()}
    tmp = Path(f"{out}.json.tmp")
    tmp.write_text(json.dumps({"meta": meta, "rows": [dataclasses.asdict(r) for r in ordered]}, indent=1) + "\n")
    tmp.replace(f"{out}.json")
    Path(f"{out}.md").write_text(markdown(rows, 86))


# ----------------------------------------------------------------------------- command line
def _known_params(name: str) -> int:
    """Size order from torchvision's weights' metadata (no build needed)."""
    try:
        return next(iter(_tvm().get_model_weights(name))).meta["num_params"]
    except Exception:  # noqa: BLE001 - ordering only
        return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jaxdl.port.zoo", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="+", metavar="NAME", help="these builders (default: all 86)")
    p.add_argument("--failed", action="store_true", help="only the models whose row in --out did not pass")
    p.add_argument("--out", default=OUT, help=f"table path without extension (default {OUT})")
    p.add_argument("--resume", action="store_true", help="skip the models that already have a row")
    p.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds per model (default %(default)s)")
    p.add_argument("--memory-gb", type=float, default=MEMORY_GB, help="resident memory per model (default %(default)s)")
    p.add_argument("--one", metavar="NAME", help=argparse.SUPPRESS)  # the subprocess: print one row as JSON
    args = p.parse_args(argv)
    if args.one:
        row = check(args.one)
        print(json.dumps(dataclasses.asdict(row)))
        return 0
    names = builders()
    if args.only:
        unknown = [n for n in args.only if n not in names]
        if unknown:
            p.error(f"not a torchvision builder: {', '.join(unknown)} (see torchvision.models.list_models())")
        names = args.only
    if args.failed:
        rows = load_rows(args.out)
        names = [n for n in names if n in rows and not rows[n].passed]
    names.sort(key=_known_params)
    rows = sweep(names, args.out, resume=args.resume, timeout_s=args.timeout, memory_gb=args.memory_gb)
    print(summary(rows, 86))
    return 0


if __name__ == "__main__":
    sys.exit(main())
