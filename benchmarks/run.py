"""jaxdl against the notes' PyTorch code, same machine, same data, same steps.

    python -m benchmarks                    # all workloads, writes benchmarks/results/<device>.{md,json}
    python -m benchmarks --only cnn_b10     # one workload
    python -m benchmarks --quick            # fewer/shorter repetitions
    python -m benchmarks.end_to_end         # whole runs: python -m experiments.mnist_cnn vs the notes' loop

For each workload both sides train the same model (PyTorch's weights copied into the
jaxdl model with jaxdl.interop) on the same data with the same loss and optimizer.

The headline figure is what a user runs: jaxdl's ``fit`` in its default mode, fed by
``jaxdl.data.DataLoader`` (shuffled host arrays, moved to the device as ``fit`` moves
them: 32 batches stacked per ``train_steps`` call, the rest one step per call), against
the notes' PyTorch loop fed by ``torch.utils.data.DataLoader(TensorDataset, shuffle=True)``.
Both are timed over whole epochs after a first, untimed epoch (for jaxdl that one
compiles; its time is shown separately). Two more jaxdl columns time the compiled steps
alone on batches already on the device: one ``train_step`` call per batch, and 32 steps
per ``train_steps`` call (a ``lax.scan``). Repetitions interleave the two sides; figures
are medians (min-max) of steps/s. Both sides use every CPU core
(torch.set_num_threads(os.cpu_count()); XLA:CPU does by default). The process calls
``jaxdl.runtime.keep_freed_host_memory()`` as the experiments' entry point does;
PyTorch's speed was measured the same with and without it.
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
from torch import nn

import jaxdl.models as M
import torch_reference as T
from benchmarks import loader_bound
from jaxdl import interop, losses, optim
from jaxdl.data import ArrayDataset, DataLoader
from jaxdl.precision import (
    DEFAULT_MATMUL_PRECISION,
    MATMUL_PRECISIONS,
    set_matmul_precision,
)
from jaxdl.runtime import keep_freed_host_memory
from jaxdl.train import Learner, fit

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


def _torch_side(cls, kind, opt, device="cpu", compiled=False):
    """The notes' model, optimizer and step on ``device``; ``compiled``: the model's
    forward (and so its backward) through ``torch.compile``."""
    torch.manual_seed(0)
    model = cls()
    cpu_state = {k: v.clone() for k, v in model.state_dict().items()}
    model = model.to(device)
    fwd = torch.compile(model) if compiled else model
    name, lr, mom = opt
    o = torch.optim.Adam(model.parameters(), lr=lr) if name == "adam" else \
        torch.optim.SGD(model.parameters(), lr=lr, momentum=mom)
    crit = {"nll": nn.NLLLoss(), "ce": nn.CrossEntropyLoss(), "ce3": nn.CrossEntropyLoss(),
            "mse": nn.MSELoss(), "mse1": nn.MSELoss()}[kind]

    def step(x, y):
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        o.zero_grad()
        out = fwd(x[0] if kind == "mse1" else x)  # the notes' LSTM takes one (12, 1) sequence
        loss = crit(out.reshape(1, -1) if kind == "mse1" else out, y.reshape(1, -1) if kind == "mse1" else y)
        loss.backward()
        o.step()
        return loss
    return cpu_state, step


def _jax_side(factory, torch_state, kind, opt, image, precision="f32"):
    jm = factory(rngs=nnx.Rngs(0))
    interop.from_torch(jm, torch_state)
    name, lr, mom = opt
    tx = optim.adam(lr) if name == "adam" else optim.sgd(lr, momentum=mom)
    loss = {"nll": losses.nll_loss, "ce": losses.cross_entropy, "ce3": losses.cross_entropy,
            "mse": losses.mse_loss, "mse1": lambda o, y: losses.mse_loss(o.reshape(1, -1), y.reshape(1, -1))}[kind]
    return Learner(jm, loss, tx, task="regression" if kind.startswith("mse") else "multiclass", precision=precision)


def _time_jax(learner, state, jx, jy, steps):
    """``steps`` steps, one ``train_step`` call each."""
    t0 = time.perf_counter()
    for i in range(steps):
        state, _m = learner.train_step(state, (jx[i % len(jx)], jy[i % len(jy)]))
    jax.block_until_ready(state.params)
    return time.perf_counter() - t0, state


def _time_jax_fused(learner, state, stacked, steps):
    """At least ``steps`` steps as ``train_steps`` calls over the stacked batches (what
    ``fit`` does); returns (seconds, steps done, state)."""
    calls = max(1, -(-steps // len(stacked[0])))
    t0 = time.perf_counter()
    for _ in range(calls):
        state, _m = learner.train_steps(state, stacked)
    jax.block_until_ready(state.params)
    return time.perf_counter() - t0, calls * len(stacked[0]), state


def _epoch_data(shape, kind, batch, n_batches, seed=0):
    """One epoch's examples (n_batches * batch), torch layout (NCHW)."""
    xs, ys = _batches(shape, kind, batch, n_batches, seed)
    return xs.reshape(n_batches * batch, *shape), ys.reshape(n_batches * batch, *ys.shape[2:])


def _torch_epoch(step, loader):
    """The notes' loop over a torch DataLoader: one optimizer step per batch (on a GPU,
    timed until the last one has run)."""
    t0 = time.perf_counter()
    n = 0
    for x, y in loader:
        step(x, y)
        n += 1
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return n, time.perf_counter() - t0


def _fit_epochs(learner, state, loader, start: int, epochs: int):
    """``fit`` as a user calls it (default steps per call, no validation, no bar)."""
    t0 = time.perf_counter()
    state, _ = fit(learner, state, loader, epochs=start + epochs, start_epoch=start, progress=False, log=None)
    return state, time.perf_counter() - t0


def bench(name, spec, reps, window_s, torch_device="cpu", torch_compile=False, precision="f32"):
    cls, factory, shape, kind, opt, batch = spec
    image = len(shape) == 3
    full_batch = kind == "ce3"  # iris: the notes train on the whole tensor, no DataLoader
    torch_state, tstep = _torch_side(cls, kind, opt, torch_device)
    # size one epoch so that PyTorch takes about window_s for it (whole stacks of 32 batches)
    xs, ys = _batches(shape, kind, batch, 8)
    warm = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in zip(xs, ys)]
    _torch_epoch(tstep, warm)
    n, dt = _torch_epoch(tstep, warm)
    per_step = max(dt / n, 1e-5)
    n_batches = 1 if full_batch else max(64, 32 * round(window_s / per_step / 32))
    x_nchw, y = _epoch_data(shape, kind, batch, n_batches)
    y_jax = y.astype(np.int32) if y.dtype == np.int64 else y
    x_nhwc = x_nchw.transpose(0, 2, 3, 1) if image else x_nchw
    epochs_per_rep = max(1, round(window_s / per_step / n_batches)) if full_batch else 1
    if full_batch:
        tx, ty = torch.from_numpy(x_nchw), torch.from_numpy(y)
        torch_loader = [(tx, ty)] * epochs_per_rep
    else:
        torch_loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x_nchw), torch.from_numpy(y)),
            batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(0))
    learner = _jax_side(factory, torch_state, kind, opt, image, precision)
    cstep = None
    if torch_compile:  # a second PyTorch row: the same loop with torch.compile(model)
        _, cstep = _torch_side(cls, kind, opt, torch_device, compiled=True)
        t0 = time.perf_counter()
        _torch_epoch(cstep, torch_loader)
        compile_s = time.perf_counter() - t0
    loader = DataLoader(ArrayDataset(x_nhwc, y_jax), batch, shuffle=True, seed=0)
    state, first_epoch_s = _fit_epochs(learner, learner.init_state(), loader, 0, epochs_per_rep)
    _torch_epoch(tstep, torch_loader)  # untimed first epoch on the torch side too
    # the compiled steps alone, on batches already on the device
    jx = [jnp.asarray(x_nhwc[i * batch:(i + 1) * batch]) for i in range(min(32, n_batches))]
    jy = [jnp.asarray(y_jax[i * batch:(i + 1) * batch]) for i in range(min(32, n_batches))]
    stacked = (jnp.stack(jx), jnp.stack(jy))
    steps = n_batches * epochs_per_rep
    state, _ = learner.train_step(state, (jx[0], jy[0]))
    state, _ = learner.train_steps(state, stacked)
    fit_rate, torch_rate, step_rate, fused_rate, compiled_rate = [], [], [], [], []
    epoch = epochs_per_rep
    for _ in range(reps):
        done, dt = _torch_epoch(tstep, torch_loader)
        torch_rate.append(done / dt)
        if cstep is not None:
            done, dt = _torch_epoch(cstep, torch_loader)
            compiled_rate.append(done / dt)
        state, dt = _fit_epochs(learner, state, loader, epoch, epochs_per_rep)
        epoch += epochs_per_rep
        fit_rate.append(steps / dt)
        dt, state = _time_jax(learner, state, jx, jy, steps)
        step_rate.append(steps / dt)
        dt, done, state = _time_jax_fused(learner, state, stacked, steps)
        fused_rate.append(done / dt)
    med = statistics.median
    steady_epoch_s = steps / med(fit_rate)
    compiled = {"torch_compile_steps_s": med(compiled_rate), "torch_compile_ratio": med(fit_rate) / med(compiled_rate),
                "torch_compile_s": compile_s} if cstep is not None else {}
    return {**compiled, "torch_device": torch_device, "workload": name, "batch": batch, "steps_per_epoch": n_batches,
            "epochs_per_rep": epochs_per_rep,
            "reps": reps, "jax_steps_s": med(fit_rate), "jax_min": min(fit_rate), "jax_max": max(fit_rate),
            "jax_step_call_steps_s": med(step_rate), "jax_fused_steps_s": med(fused_rate),
            "torch_steps_s": med(torch_rate), "torch_min": min(torch_rate), "torch_max": max(torch_rate),
            "ratio": med(fit_rate) / med(torch_rate), "jax_examples_s": med(fit_rate) * batch,
            "torch_examples_s": med(torch_rate) * batch,
            "jax_compile_s": max(first_epoch_s - steady_epoch_s, 0.0), "jax_first_epoch_s": first_epoch_s,
            "jax_epoch_s": steady_epoch_s, "torch_epoch_s": steps / med(torch_rate)}


def bench_loader(batch: int = 64) -> list[dict]:
    """Seconds per epoch of Fashion-MNIST's 60,000 training images at ``batch``, batches
    moved to the device (every batch waited for), jaxdl's two modes vs torch's DataLoader."""
    from jaxdl import data
    from jaxdl.data import DataLoader

    try:
        ds = data.load("fashion_mnist")
    except data.errors.DataNotFoundError:
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


def default_torch_device() -> str:
    """Where the PyTorch side runs unless ``--torch-device`` says: the GPU when JAX runs on one
    and torch sees one, else the CPU."""
    return "cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu"


WHAT_IS_COMPARED = {
    "iris_full": "full-batch epochs: jaxdl fit (one step per epoch, as the experiment trains) vs the notes' "
                 "eager loop on the whole tensor",
}


def render(rows, meta, loader_rows=(), bound_rows=()) -> str:
    head = [("| workload | batch | jaxdl fit steps/s (min-max) | PyTorch loop steps/s (min-max) | ratio | "
            "steps alone, device batches: one step per call / 32 per call (steps/s) | jaxdl img/s | "
            "compile s | epoch s jaxdl / PyTorch |"),
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    body = [f"| {r['workload']} | {r['batch']} | {r['jax_steps_s']:.0f} ({r['jax_min']:.0f}-{r['jax_max']:.0f}) | "
            f"{r['torch_steps_s']:.0f} ({r['torch_min']:.0f}-{r['torch_max']:.0f}) | **{r['ratio']:.2f}x** | "
            f"{r['jax_step_call_steps_s']:.0f} / {r['jax_fused_steps_s']:.0f} | "
            f"{r['jax_examples_s']:.0f} | {r['jax_compile_s']:.2f} | "
            f"{r['jax_epoch_s']:.2f} / {r['torch_epoch_s']:.2f} |"
            for r in rows]
    if any("torch_compile_steps_s" in r for r in rows):
        head += ["", "The same PyTorch loop with `torch.compile(model)` (compile: its first epoch):", "",
                 "| workload | jaxdl fit steps/s | torch.compile loop steps/s | ratio | torch.compile s |",
                 "|---|---:|---:|---:|---:|"]
        head += [f"| {r['workload']} | {r['jax_steps_s']:.0f} | {r['torch_compile_steps_s']:.0f} | "
                 f"**{r['torch_compile_ratio']:.2f}x** | {r['torch_compile_s']:.1f} |"
                 for r in rows if "torch_compile_steps_s" in r]
    notes = [f"- {r['workload']}: {WHAT_IS_COMPARED[r['workload']]}."
             for r in rows if r["workload"] in WHAT_IS_COMPARED]
    info = (f"{meta['device']}: {meta['processor']}; jaxdl precision {meta.get('precision', 'f32')}, "
            f"matmul precision {meta.get('matmul_precision', 'highest')}; jax {meta['jax']}, torch {meta['torch']} on "
            f"{meta.get('torch_device', 'cpu')} ({meta['torch_threads']} threads); {meta['date']}; "
            f"`{meta.get('command', 'python -m benchmarks')}`")
    how = ("jaxdl fit: `fit(learner, state, DataLoader(..., shuffle=True))` in its default mode (a dataset that "
           "fits kept on the device, 32 batches per `train_steps` call); PyTorch loop: the notes' loop over "
           "`DataLoader(TensorDataset, shuffle=True)`. Ratio = jaxdl fit / PyTorch loop. Steps alone: jaxdl's "
           "compiled steps on batches already on the device. Compile: jaxdl's first epoch minus a steady one.")
    loader = ["", "One epoch of data loading (each batch on the device, waited for):", "",
              "| loader | data | examples | batch | seconds per epoch |", "|---|---|---:|---:|---:|",
              *[f"| {r['loader']} | {r['dataset']} | {r['examples']:,} | {r['batch']} | {r['epoch_s']:.3f} |"
                for r in loader_rows]] if loader_rows else []
    table = ["", how, "", *head[:2], *body, *head[2:]] if rows else []
    return "\n".join([f"# jaxdl vs PyTorch training steps ({meta['device']})", "", info, *table,
                      *([""] + notes if notes else []), *loader_bound.render(bound_rows), *loader, ""])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--only", nargs="+", help="workload names (and/or 'loader')")
    p.add_argument("--quick", action="store_true", help="2 repetitions of ~0.5 s")
    p.add_argument("--out", default=None, help="results file stem (default: benchmarks/results/<device>)")
    p.add_argument("--torch-device", default=None,
                   help="where the PyTorch side runs (default: cuda when JAX runs on a GPU and torch sees one, "
                        "else cpu)")
    p.add_argument("--torch-compile", action="store_true",
                   help="also time the PyTorch loop with torch.compile(model) (a second PyTorch row)")
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32",
                   help="jaxdl's compute precision (Learner(precision=...)); PyTorch stays float32")
    p.add_argument("--matmul-precision", choices=MATMUL_PRECISIONS, default=DEFAULT_MATMUL_PRECISION,
                   help="JAX float32 matmul/conv precision, as the CLI's flag (GPU/TPU; the CPU computes float32)")
    args = p.parse_args(argv)
    set_matmul_precision(args.matmul_precision)
    torch_device = args.torch_device or default_torch_device()
    if jax.default_backend() == "cpu":
        keep_freed_host_memory()  # as the experiments' runtime.setup does: jaxdl at its CLI speed
    torch.set_num_threads(os.cpu_count())
    workloads = _workloads()
    names = args.only or [*workloads, *loader_bound.WORKLOADS, "loader"]
    unknown = set(names) - set(workloads) - set(loader_bound.WORKLOADS) - {"loader"}
    if unknown:
        p.error(f"unknown workload(s) {sorted(unknown)}; known: {', '.join([*workloads, *loader_bound.WORKLOADS])}")
    reps, window = (2, 0.5) if args.quick else (5, 1.5)
    rows = []
    loader_rows = bench_loader() if "loader" in names else []
    for r in loader_rows:
        print(f"loader: {r['loader']:32s} {r['epoch_s']:.3f} s/epoch ({r['examples']} examples, batch {r['batch']})")
    bound_rows = []
    for name in (n for n in names if n in loader_bound.WORKLOADS):
        bound_rows.append(loader_bound.bench_loader_bound(name, 2 if args.quick else loader_bound.REPS, torch_device))
        print(loader_bound.line(bound_rows[-1]), flush=True)
    for name in (n for n in names if n in workloads):
        r = bench(name, workloads[name], reps, window, torch_device, args.torch_compile, args.precision)
        rows.append(r)
        compiled = (f"  torch.compile {r['torch_compile_steps_s']:.0f} steps/s ({r['torch_compile_ratio']:.2f}x)"
                    if "torch_compile_steps_s" in r else "")
        print(f"{name:14s} jaxdl fit {r['jax_steps_s']:8.0f} steps/s  PyTorch {r['torch_steps_s']:8.0f} steps/s  "
              f"ratio {r['ratio']:.2f}x  (steps alone {r['jax_step_call_steps_s']:.0f} / "
              f"{r['jax_fused_steps_s']:.0f})  "
              f"compile {r['jax_compile_s']:.2f}s{compiled}", flush=True)
    meta = {"device": device_name(), "processor": platform.processor() or platform.machine(),
            "jax": jax.__version__, "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "date": time.strftime("%Y-%m-%d"), "python": sys.version.split()[0], "torch_device": torch_device,
            "precision": args.precision, "matmul_precision": args.matmul_precision,
            "command": "python -m " + " ".join(["benchmarks", *(argv if argv is not None else sys.argv[1:])])}
    stem = Path(args.out) if args.out else RESULTS / meta["device"]
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(render(rows, meta, loader_rows, bound_rows))
    stem.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows, "loader": loader_rows,
                                                     "loader_bound": bound_rows}, indent=1))
    print(f"wrote {stem.with_suffix('.md')} and .json")
    return rows


if __name__ == "__main__":
    main()
