"""Training the torchvision backbones people fine-tune: jaxdl's hand-written model, the
same model through ``jaxdl.port``, and torchvision itself, same machine, same weights.

    # resnet18 and resnet50, writes results/backbones-<device>.md
    python -m benchmarks.backbones
    python -m benchmarks.backbones --only resnet18 --size 64 --batch 32 --steps 8

For each architecture: ``torchvision.models.<arch>(weights=None, num_classes=10)`` with
torch seed 0; its weights copied into ``jaxdl.models.vision.<arch>`` (``interop``) and
into the module ``jaxdl.port.port(torch_model, x)`` generates. One training step: the
model in train mode (BatchNorm batch statistics, running statistics updated),
cross-entropy, SGD with momentum 0.9, lr 0.01, on a fixed batch of random images
(``--size`` pixels square) and labels. jaxdl: ``Learner.train_steps`` over
``--steps`` stacked copies of the batch (``fit``'s call); torchvision: the notes' eager
loop (``zero_grad``, ``backward``, ``step``), NCHW. Rows: steady images/s (median
(min-max) of ``--reps`` interleaved repetitions of ``--steps`` steps each) and compile
time (jaxdl: the first call minus a steady one; torch: its first step minus a steady
one). The ratio of the ported model to the hand-written one is the porter's goal (within
5%).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx

import torch_reference.vision as tv
from benchmarks.run import default_torch_device, device_name
from jaxdl import interop, losses, optim
from jaxdl import port as jport
from jaxdl.models import vision
from jaxdl.runtime import keep_freed_host_memory
from jaxdl.train import Learner

RESULTS = Path(__file__).parent / "results"
ARCHS = ("resnet18", "resnet50")


def _torch_side(arch: str, classes: int):
    torch.manual_seed(0)
    model = getattr(tv.models(), arch)(weights=None, num_classes=classes)
    return model


def _learner(model) -> Learner:
    return Learner(model, losses.cross_entropy, optim.sgd(0.01, momentum=0.9))


def _time_jax(learner: Learner, state, stack, calls: int = 1):
    t0 = time.perf_counter()
    for _ in range(calls):
        state, _m = learner.train_steps(state, stack)
    jax.block_until_ready(state)
    return state, time.perf_counter() - t0


def _time_torch(model, opt, x, y, steps: int) -> float:
    crit = torch.nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        crit(model(x), y).backward()
        opt.step()
    if x.is_cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def bench(arch: str, size: int, batch: int, steps: int, reps: int, classes: int = 10,
          torch_device: str = "cpu") -> dict:
    tmodel = _torch_side(arch, classes)
    sd = {k: v.clone() for k, v in tmodel.state_dict().items()}
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, size, size, 3)).astype(np.float32)
    y = rng.integers(0, classes, batch).astype(np.int32)
    t0 = time.perf_counter()
    ported = jport.port(tmodel.eval(), torch.from_numpy(x[:2].transpose(0, 3, 1, 2).copy())).module
    port_s = time.perf_counter() - t0
    tmodel.train().to(torch_device)
    hand = getattr(vision, arch)(num_classes=classes, rngs=nnx.Rngs(0))
    interop.from_torch(hand, sd)
    sides = {"jaxdl.models.vision": _learner(hand), "jaxdl.port": _learner(ported)}
    stack = (jnp.asarray(np.broadcast_to(x, (steps, *x.shape))), jnp.asarray(np.broadcast_to(y, (steps, batch))))
    states, compile_s, rates = {}, {}, {name: [] for name in [*sides, "torchvision"]}
    for name, learner in sides.items():
        state, first = _time_jax(learner, learner.init_state(), stack)
        state, steady = _time_jax(learner, state, stack)
        states[name], compile_s[name] = state, max(first - steady, 0.0)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.01, momentum=0.9)
    tx = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).to(torch_device)
    ty = torch.from_numpy(y.astype(np.int64)).to(torch_device)
    first = _time_torch(tmodel, topt, tx, ty, 1)
    compile_s["torchvision"] = max(first - _time_torch(tmodel, topt, tx, ty, 1), 0.0)
    for _ in range(reps):
        for name, learner in sides.items():
            states[name], dt = _time_jax(learner, states[name], stack)
            rates[name].append(steps * batch / dt)
        rates["torchvision"].append(steps * batch / _time_torch(tmodel, topt, tx, ty, steps))
    med = {k: statistics.median(v) for k, v in rates.items()}
    return {"arch": arch, "torch_device": torch_device, "size": size, "batch": batch, "steps_per_rep": steps,
            "reps": reps, "classes": classes,
            "images_s": med, "min": {k: min(v) for k, v in rates.items()}, "max": {k: max(v) for k, v in rates.items()},
            "compile_s": compile_s, "port_s": port_s,
            "port_vs_hand": med["jaxdl.port"] / med["jaxdl.models.vision"],
            "hand_vs_torch": med["jaxdl.models.vision"] / med["torchvision"]}


def render(rows, meta) -> str:
    info = (f"{meta['device']}: {meta['processor']}; jax {meta['jax']}, torch {meta['torch']} on "
            f"{meta.get('torch_device', 'cpu')} ({meta['torch_threads']} threads); {meta['date']}; `{meta['command']}`")
    how = ("One training step: train-mode BatchNorm, cross-entropy, SGD momentum 0.9, random images; jaxdl "
           "`Learner.train_steps` over the stacked steps of a repetition, torchvision the eager loop (NCHW). "
           "Images/s: median (min-max) of interleaved repetitions. Compile: first call minus a steady one "
           "(torch: first step minus a steady one).")
    head = ("| model | image | batch | jaxdl.models.vision img/s | jaxdl.port img/s | torchvision img/s | "
            "port / hand-written | hand-written / torchvision | compile s (vision / port / torch) |")
    lines = [f"# Training torchvision backbones ({meta['device']})", "", info, "", how, "", head,
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        def cell(k, r=r):
            return f"{r['images_s'][k]:.1f} ({r['min'][k]:.1f}-{r['max'][k]:.1f})"
        c = r["compile_s"]
        lines.append(f"| {r['arch']} | {r['size']}x{r['size']} | {r['batch']} | {cell('jaxdl.models.vision')} | "
                     f"{cell('jaxdl.port')} | {cell('torchvision')} | **{r['port_vs_hand']:.2f}** | "
                     f"**{r['hand_vs_torch']:.2f}x** | {c['jaxdl.models.vision']:.1f} / {c['jaxdl.port']:.1f} / "
                     f"{c['torchvision']:.2f} |")
    return "\n".join([*lines, ""])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", choices=ARCHS, default=list(ARCHS))
    p.add_argument("--size", type=int, default=64, help="image side in pixels")
    p.add_argument("--batch", type=int, default=None, help="default: 32 (resnet18), 16 (resnet50)")
    p.add_argument("--steps", type=int, default=4, help="steps per timed repetition")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--out", default=None)
    p.add_argument("--torch-device", default=None,
                   help="where torchvision trains (default: cuda when JAX runs on a GPU and torch sees one, else cpu)")
    args = p.parse_args(argv)
    torch_device = args.torch_device or default_torch_device()
    if jax.default_backend() == "cpu":
        keep_freed_host_memory()
    torch.set_num_threads(os.cpu_count())
    rows = []
    for arch in args.only:
        batch = args.batch or (32 if arch == "resnet18" else 16)
        r = bench(arch, args.size, batch, args.steps, args.reps, torch_device=torch_device)
        rows.append(r)
        print(f"{arch}: " + "  ".join(f"{k} {v:.1f} img/s" for k, v in r["images_s"].items())
              + f"  port/hand {r['port_vs_hand']:.2f}  compile {r['compile_s']}", flush=True)
    device = device_name()
    meta = {"device": device, "processor": platform.processor() or platform.machine(), "jax": jax.__version__,
            "torch": torch.__version__, "torch_device": torch_device, "torch_threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d"),
            "command": "python -m " + " ".join(["benchmarks.backbones", *(argv if argv is not None else sys.argv[1:])])}
    stem = Path(args.out) if args.out else RESULTS / f"backbones-{device}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(render(rows, meta))
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(f"wrote {stem.with_suffix('.md')}")
    return rows


if __name__ == "__main__":
    main()
