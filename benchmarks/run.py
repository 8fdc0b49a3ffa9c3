"""jaxdl against the notes' PyTorch code, same machine, same data, same steps.

    python -m benchmarks                    # all workloads, writes benchmarks/results/<device>.{md,json}
    python -m benchmarks --only cnn_b10     # one workload
    python -m benchmarks --quick            # fewer/shorter repetitions

For each workload both sides train the same model (PyTorch's weights copied into the
jaxdl model with jaxdl.interop) on the same pre-generated batches with the same loss and
optimizer. Repetitions interleave the two sides; each timed window follows a warm-up,
and the reported figure is the median (with min-max) of steady-state steps/s. jaxdl is
timed both ways ``fit`` can train: one ``train_step`` call per batch, and the 32 batches
stacked and trained in one ``train_steps`` call (a ``lax.scan``, fit's default); its
figure and the ratio are the faster of the two, both are in the table. Also reported:
JAX's compile time (the first step, traced and compiled) and the end-to-end time of
``steps`` steps including compilation, against PyTorch's end-to-end time. Both sides
use every CPU core (torch.set_num_threads(os.cpu_count()); XLA:CPU does by default).
The same process also runs with jaxdl's ``keep_freed_host_memory`` in effect (Learner
sets it): PyTorch's speed measured the same with and without it.
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
import torch.nn as nn
from flax import nnx

import jaxdl.models as M
from jaxdl import interop, losses, optim
from jaxdl.devices import keep_freed_host_memory
from jaxdl.train import Learner
import torch_reference as T

RESULTS = Path(__file__).parent / "results"


class TorchLSTMBatched(nn.Module):
    """000's LSTMnetwork for a batch of windows (batch_first), last output."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 100, batch_first=True)
        self.linear = nn.Linear(100, 1)

    def forward(self, x):
        return self.linear(self.lstm(x)[0][:, -1])


# name: (torch class, jaxdl factory, torch input shape per batch (N first), kind, optimizer, batch)
def _workloads():
    adam = ("adam", 1e-3, 0.0)
    sgd = lambda lr, m: ("sgd", lr, m)
    return {
        "cnn_b10": (T.ConvolutionalNetwork, M.ConvolutionalNetwork, (1, 28, 28), "nll", adam, 10),
        "cnn_b64": (T.ConvolutionalNetwork, M.ConvolutionalNetwork, (1, 28, 28), "nll", adam, 64),
        "cnn_b256": (T.ConvolutionalNetwork, M.ConvolutionalNetwork, (1, 28, 28), "nll", adam, 256),
        "mlp5_b64": (T.Net, M.Net, (1, 28, 28), "ce", sgd(0.01, 0.5), 64),
        "tinyvgg_b32": (T.TinyVGG, M.TinyVGG, (1, 28, 28), "ce", sgd(0.1, 0.0), 32),
        "lenet5_b64": (T.LeNet5, M.LeNet5, (1, 32, 32), "ce", sgd(0.01, 0.9), 64),
        "cifarnet_b4": (T.CifarNet, M.CifarNet, (3, 32, 32), "ce", sgd(0.001, 0.9), 4),
        "cifarnet_b128": (T.CifarNet, M.CifarNet, (3, 32, 32), "ce", sgd(0.001, 0.9), 128),
        "lstm_b1": (T.LSTMNetwork, M.LSTMNetwork, (12, 1), "mse1", adam, 1),
        "lstm_b32": (TorchLSTMBatched, M.LSTMNetwork, (12, 1), "mse", adam, 32),
        "iris_full": (T.IrisModel, M.IrisModel, (4,), "ce3", ("adam", 0.01, 0.0), 120),
    }


def _batches(shape, kind, batch, n, seed=0):
    rng = np.random.default_rng(seed)
    xs = rng.normal(size=(n, batch, *shape)).astype(np.float32)
    if kind.startswith("mse"):
        ys = rng.normal(size=(n, batch, 1)).astype(np.float32)
    else:
        ys = rng.integers(0, 3 if kind == "ce3" else 10, (n, batch)).astype(np.int64)
    return xs, ys


def _torch_side(cls, kind, opt):
    torch.manual_seed(0)
    model = cls()
    name, lr, mom = opt
    o = torch.optim.Adam(model.parameters(), lr=lr) if name == "adam" else \
        torch.optim.SGD(model.parameters(), lr=lr, momentum=mom)
    crit = {"nll": nn.NLLLoss(), "ce": nn.CrossEntropyLoss(), "ce3": nn.CrossEntropyLoss(),
            "mse": nn.MSELoss(), "mse1": nn.MSELoss()}[kind]

    def step(x, y):
        o.zero_grad()
        out = model(x)
        loss = crit(out.reshape(1, -1) if kind == "mse1" else out, y.reshape(1, -1) if kind == "mse1" else y)
        loss.backward()
        o.step()
        return loss
    return model, step


def _jax_side(factory, torch_model, kind, opt, image):
    jm = factory(rngs=nnx.Rngs(0))
    interop.from_torch(jm, torch_model.state_dict())
    name, lr, mom = opt
    tx = optim.adam(lr) if name == "adam" else optim.sgd(lr, momentum=mom)
    loss = {"nll": losses.nll_loss, "ce": losses.cross_entropy, "ce3": losses.cross_entropy,
            "mse": losses.mse_loss, "mse1": lambda o, y: losses.mse_loss(o.reshape(1, -1), y.reshape(1, -1))}[kind]
    return Learner(jm, loss, tx, task="regression" if kind.startswith("mse") else "multiclass")


def _time_torch(step, tx, ty, steps):
    t0 = time.perf_counter()
    for i in range(steps):
        step(tx[i % len(tx)], ty[i % len(ty)])
    return time.perf_counter() - t0


def _time_jax(learner, state, jx, jy, steps):
    """``steps`` steps, one ``train_step`` call each."""
    t0 = time.perf_counter()
    for i in range(steps):
        state, m = learner.train_step(state, (jx[i % len(jx)], jy[i % len(jy)]))
    jax.block_until_ready(state.params)
    return time.perf_counter() - t0, state


def _time_jax_fused(learner, state, stacked, steps):
    """At least ``steps`` steps as ``train_steps`` calls over the stacked batches (what
    ``fit`` does); returns (seconds, steps done, state)."""
    calls = max(1, -(-steps // len(stacked[0])))
    t0 = time.perf_counter()
    for _ in range(calls):
        state, m = learner.train_steps(state, stacked)
    jax.block_until_ready(state.params)
    return time.perf_counter() - t0, calls * len(stacked[0]), state


def bench(name, spec, reps, window_s):
    cls, factory, shape, kind, opt, batch = spec
    image = len(shape) == 3
    n_batches = 32
    xs, ys = _batches(shape, kind, batch, n_batches)
    torch_model, tstep = _torch_side(cls, kind, opt)
    if kind == "mse1":  # the notes' LSTM takes one (12, 1) sequence
        tx = [torch.from_numpy(x[0]) for x in xs]
        jx = [jnp.asarray(x) for x in xs]
    else:
        tx = [torch.from_numpy(x) for x in xs]
        jx = [jnp.asarray(x.transpose(0, 2, 3, 1) if image else x) for x in xs]
    ty = [torch.from_numpy(y) for y in ys]
    jy = [jnp.asarray(y.astype(np.int32) if y.dtype == np.int64 else y) for y in ys]
    learner = _jax_side(factory, torch_model, kind, opt, image)
    state = learner.init_state()
    t0 = time.perf_counter()
    state, _ = learner.train_step(state, (jx[0], jy[0]))
    jax.block_until_ready(state.params)
    compile_s = time.perf_counter() - t0
    # calibrate the number of steps so each window lasts about window_s on the slower side
    _time_torch(tstep, tx, ty, 5)
    per_step = max(_time_torch(tstep, tx, ty, 10) / 10, 1e-5)
    steps = max(20, int(window_s / per_step))
    stacked = (jnp.stack(jx), jnp.stack(jy))
    t0 = time.perf_counter()
    state, _ = learner.train_steps(state, stacked)
    jax.block_until_ready(state.params)
    fused_compile_s = time.perf_counter() - t0
    jt, ft, tt = [], [], []
    for _ in range(reps):
        tt.append(steps / _time_torch(tstep, tx, ty, steps))
        dt, state = _time_jax(learner, state, jx, jy, steps)
        jt.append(steps / dt)
        dt, done, state = _time_jax_fused(learner, state, stacked, steps)
        ft.append(done / dt)
    med_t, med_step, med_fused = statistics.median(tt), statistics.median(jt), statistics.median(ft)
    fused = med_fused > med_step  # report, and time end to end, the faster of the two modes
    best, med_j = (ft, med_fused) if fused else (jt, med_step)
    # end to end: a fresh learner (compile included) vs a fresh torch model, `steps` steps
    fresh = _jax_side(factory, torch_model, kind, opt, image)
    jax.clear_caches()
    t0 = time.perf_counter()
    if fused:
        _time_jax_fused(fresh, fresh.init_state(), stacked, steps)
    else:
        _time_jax(fresh, fresh.init_state(), jx, jy, steps)
    jax_e2e = time.perf_counter() - t0
    _, tstep2 = _torch_side(cls, kind, opt)
    torch_e2e = _time_torch(tstep2, tx, ty, steps)
    return {"workload": name, "batch": batch, "steps_per_window": steps, "reps": reps,
            "jax_steps_s": med_j, "jax_min": min(best), "jax_max": max(best),
            "jax_mode": "train_steps" if fused else "train_step",
            "jax_step_call_steps_s": med_step, "jax_fused_steps_s": med_fused,
            "jax_fused_compile_s": fused_compile_s,
            "torch_steps_s": med_t, "torch_min": min(tt), "torch_max": max(tt),
            "ratio": med_j / med_t, "jax_examples_s": med_j * batch, "torch_examples_s": med_t * batch,
            "jax_compile_s": compile_s, "jax_end_to_end_s": jax_e2e, "torch_end_to_end_s": torch_e2e}


def bench_loader(batch: int = 64) -> list[dict]:
    """Seconds per epoch of Fashion-MNIST's 60,000 training images at ``batch``, batches
    moved to the device (every batch waited for), jaxdl's two modes vs torch's DataLoader."""
    from jaxdl import data
    from jaxdl.data import DataLoader

    try:
        ds = data.load("fashion_mnist")
    except data.sources.DataNotFoundError:
        ds = data.load("mnist_5k")
    rows = []
    for mode, loader in [("jaxdl host arrays", DataLoader(ds.train, batch, shuffle=True)),
                         ("jaxdl device_resident", DataLoader(ds.train, batch, shuffle=True, device_resident=True))]:
        times = []
        for e in range(4):
            t0 = time.perf_counter()
            for b in loader.epoch(e):
                jax.block_until_ready(b)
            times.append(time.perf_counter() - t0)
        rows.append({"loader": mode, "dataset": ds.name, "examples": len(ds.train), "batch": batch,
                     "epoch_s": statistics.median(times[1:])})
    x, y = ds.train.arrays
    tl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                     batch_size=batch, shuffle=True)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        for _b in tl:
            pass
        times.append(time.perf_counter() - t0)
    rows.append({"loader": "torch DataLoader(TensorDataset)", "dataset": ds.name, "examples": len(ds.train),
                 "batch": batch, "epoch_s": statistics.median(times)})
    return rows


def device_name() -> str:
    d = jax.devices()[0]
    if d.platform == "cpu":
        return f"cpu-{os.cpu_count()}core"
    return d.device_kind.lower().replace(" ", "-")


def render(rows, meta, loader_rows=()) -> str:
    head = ["| workload | batch | jaxdl steps/s (min-max) | PyTorch steps/s (min-max) | ratio | jaxdl one step "
            "per call / k steps per call (steps/s) | jaxdl img/s | compile s | end-to-end jaxdl / PyTorch s |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    body = [f"| {r['workload']} | {r['batch']} | {r['jax_steps_s']:.0f} ({r['jax_min']:.0f}-{r['jax_max']:.0f}) | "
            f"{r['torch_steps_s']:.0f} ({r['torch_min']:.0f}-{r['torch_max']:.0f}) | **{r['ratio']:.2f}x** | "
            f"{r['jax_step_call_steps_s']:.0f} / {r['jax_fused_steps_s']:.0f} | "
            f"{r['jax_examples_s']:.0f} | {r['jax_compile_s']:.2f} | {r['jax_end_to_end_s']:.1f} / {r['torch_end_to_end_s']:.1f} |"
            for r in rows]
    info = (f"{meta['device']}: {meta['processor']}; jax {meta['jax']}, torch {meta['torch']} "
            f"({meta['torch_threads']} threads); {meta['date']}; `python -m benchmarks`")
    loader = ["", "One epoch of data loading (each batch on the device, waited for):", "",
              "| loader | data | examples | batch | seconds per epoch |", "|---|---|---:|---:|---:|",
              *[f"| {r['loader']} | {r['dataset']} | {r['examples']:,} | {r['batch']} | {r['epoch_s']:.3f} |"
                for r in loader_rows]] if loader_rows else []
    return "\n".join([f"# jaxdl vs PyTorch training steps ({meta['device']})", "", info, "", *head, *body,
                      *loader, ""])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", help="workload names (and/or 'loader')")
    p.add_argument("--quick", action="store_true", help="2 repetitions of ~0.5 s")
    p.add_argument("--out", default=None, help="results file stem (default: benchmarks/results/<device>)")
    args = p.parse_args(argv)
    if jax.default_backend() == "cpu":
        keep_freed_host_memory()  # as the experiments' cli.setup does: jaxdl at its CLI speed
    torch.set_num_threads(os.cpu_count())
    workloads = _workloads()
    names = args.only or [*workloads, "loader"]
    unknown = set(names) - set(workloads) - {"loader"}
    if unknown:
        p.error(f"unknown workload(s) {sorted(unknown)}; known: {', '.join(workloads)}")
    reps, window = (2, 0.5) if args.quick else (5, 1.5)
    rows = []
    loader_rows = bench_loader() if "loader" in names else []
    for r in loader_rows:
        print(f"loader: {r['loader']:32s} {r['epoch_s']:.3f} s/epoch ({r['examples']} examples, batch {r['batch']})")
    for name in (n for n in names if n != "loader"):
        r = bench(name, workloads[name], reps, window)
        rows.append(r)
        print(f"{name:14s} jaxdl {r['jax_steps_s']:8.0f} steps/s  PyTorch {r['torch_steps_s']:8.0f} steps/s  "
              f"ratio {r['ratio']:.2f}x  compile {r['jax_compile_s']:.2f}s", flush=True)
    meta = {"device": device_name(), "processor": platform.processor() or platform.machine(),
            "jax": jax.__version__, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0]}
    stem = Path(args.out) if args.out else RESULTS / meta["device"]
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(render(rows, meta, loader_rows))
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows, "loader": loader_rows}, indent=1))
    print(f"wrote {stem.with_suffix('.md')} and .json")
    return rows


if __name__ == "__main__":
    main()
