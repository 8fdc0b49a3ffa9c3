"""Loader-bound rows: training whose step costs almost nothing, so that what is timed is
the input pipeline (``python -m benchmarks`` runs them; ``--only logreg_cifar_b128``).

Logistic regression (one ``Linear`` on the flattened image, cross-entropy, SGD) on
uint8 images stored as uint8 (``ArrayDataset(x_uint8, y, decode=(ByteToFloat.to_tensor(),
None))``, converted to float32 inside the step): CIFAR-10-shaped random images
(50,000 x 32x32x3) at batch 128, and the real Fashion-MNIST training set (60,000
x 28x28, Debian's ``dataset-fashion-mnist``) at batch 64; one epoch per ``fit`` call and
five (each repetition times five epochs: five one-epoch ``fit`` calls in a row, or one
call of five). Columns, interleaved in every repetition:

* steps alone: ``Learner.train_steps`` on device batches: a shuffled epoch gathered on
  the device beforehand, as stacks of 32 batches (uint8, converted in the step: the
  same compiled program as ``fit``'s host path), called back to back: what the device
  can do when the data costs nothing (every batch read once, as in an epoch, not the
  same few batches again from the cache);
* ``fit`` through ``DataLoader(..., shuffle=True)`` with ``device_resident=True`` (the
  default for data this size: the dataset on the device; on a CPU each call's rows
  gathered by NumPy beside the running step, ``arrays.gathers_in_step``) and with
  ``device_resident=False`` (each call's rows gathered on the host and copied): the goal
  is at least 90% of steps alone in both;
* ``fit`` with ``device_resident=True`` and the rows gathered inside the compiled step,
  as on a GPU or TPU (``arrays.GATHER_IN_STEP_ON_CPU``; on a GPU, the same as the
  resident column): what that path costs where XLA runs one program at a time;
* the notes' PyTorch loop over ``DataLoader(TensorDataset(uint8), shuffle=True)``,
  converting each batch with ``x.float() / 255`` (on the GPU when JAX runs on one: each
  batch copied there as the notes do).
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx
from torch import nn

from jaxdl import interop, losses, optim
from jaxdl.data import ArrayDataset, DataLoader, arrays, load
from jaxdl.data.arrays import ByteToFloat, DeviceBatch
from jaxdl.data.errors import DataNotFoundError
from jaxdl.layers import Linear
from jaxdl.train import STEPS_PER_CALL, Learner, fit

# interleaved repetitions (`--quick`: 2): the identical host-gather code of the resident and host columns
# differed by up to 0.05 of steps alone between 5-repetition medians here
REPS = 9
# epochs timed per repetition: one-epoch fit calls are timed five in a row, as long as
# the five-epoch calls (a single 0.1 s call swung 0.78-1.00 of steps alone between runs)
EPOCHS_TIMED = 5
# name: (data, batch, epochs per fit call)
WORKLOADS = {
    "logreg_cifar_b128": ("cifar10_shaped", 128, 1),
    "logreg_cifar_b128_x5": ("cifar10_shaped", 128, 5),
    "logreg_fashion_b64": ("fashion_mnist", 64, 1),
    "logreg_fashion_b64_x5": ("fashion_mnist", 64, 5),
}


class SoftmaxRegression(nnx.Module):
    """Multinomial logistic regression on an image: ``Linear(H*W*C, classes)`` of the
    flattened pixels (torch: ``nn.Linear(H*W*C, classes)(x.flatten(1))``)."""

    def __init__(self, features: int, classes: int = 10, *, rngs: nnx.Rngs):
        self.linear = Linear(features, classes, rngs=rngs)

    def __call__(self, x):
        return self.linear(x.reshape(x.shape[0], -1))


class TorchSoftmaxRegression(nn.Module):
    def __init__(self, features: int, classes: int = 10):
        super().__init__()
        self.linear = nn.Linear(features, classes)

    def forward(self, x):
        return self.linear(x.flatten(1))


_DATA: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _data(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 NHWC images, int32 labels)."""
    if name not in _DATA:
        if name == "cifar10_shaped":
            rng = np.random.default_rng(0)
            _DATA[name] = (rng.integers(0, 256, (50_000, 32, 32, 3), dtype=np.uint8),
                           rng.integers(0, 10, 50_000).astype(np.int32))
        else:
            try:
                ds = load(name).train
            except DataNotFoundError:
                ds = load("mnist_5k").train
            _DATA[name] = ds.stored
    return _DATA[name]


def _torch_epochs(model, opt, loader, epochs: int, device: str = "cpu") -> tuple[int, float]:
    crit = nn.CrossEntropyLoss()
    t0, n = time.perf_counter(), 0
    for _ in range(epochs):
        for x, y in loader:
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad()
            crit(model(x.float().div(255)), y).backward()
            opt.step()
            n += 1
    if device != "cpu":
        torch.cuda.synchronize()
    return n, time.perf_counter() - t0


def bench_loader_bound(name: str, reps: int, torch_device: str = "cpu") -> dict:
    data, batch, epochs = WORKLOADS[name]
    x8, y = _data(data)
    features = int(np.prod(x8.shape[1:]))
    torch.manual_seed(0)
    tmodel = TorchSoftmaxRegression(features)
    jmodel = SoftmaxRegression(features, rngs=nnx.Rngs(0))
    interop.from_torch(jmodel, tmodel.state_dict())  # the same start (pixels in the same NHWC order)
    tmodel.to(torch_device)
    topt = torch.optim.SGD(tmodel.parameters(), lr=0.01)
    tloader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x8),
                                                                         torch.from_numpy(y.astype(np.int64))),
                                          batch_size=batch, shuffle=True, generator=torch.Generator().manual_seed(0))
    learner = Learner(jmodel, losses.cross_entropy, optim.sgd(0.01))
    ds = ArrayDataset(x8, y, decode=(ByteToFloat.to_tensor(), None))
    loaders = {"resident": DataLoader(ds, batch, shuffle=True, seed=0, device_resident=True),
               "host": DataLoader(ds, batch, shuffle=True, seed=0, device_resident=False)}
    arrays.GATHER_IN_STEP_ON_CPU = True  # read when the loader is made
    loaders["in_step"] = DataLoader(ds, batch, shuffle=True, seed=0, device_resident=True)
    arrays.GATHER_IN_STEP_ON_CPU = False
    k = STEPS_PER_CALL
    order = np.random.default_rng(1).permutation(len(x8))
    stacks = [DeviceBatch((jnp.asarray(x8[rows].reshape(k, batch, *x8.shape[1:])),
                           jnp.asarray(y[rows].reshape(k, batch))),
                          decode=ds.decode, steps=k)
              for rows in order[:len(x8) // (k * batch) * k * batch].reshape(-1, k * batch)]
    fits = max(1, EPOCHS_TIMED // epochs)  # fit calls timed together in a repetition
    steps = len(loaders["host"]) * epochs * fits
    state, at = learner.init_state(), 0
    first = {}
    for mode, loader in loaders.items():  # compile (and the first epoch) untimed
        t0 = time.perf_counter()
        state, _ = fit(learner, state, loader, epochs=at + epochs, start_epoch=at, progress=False, log=None)
        first[mode], at = time.perf_counter() - t0, at + epochs
    state, _ = learner.train_steps(state, stacks[0])
    _torch_epochs(tmodel, topt, tloader, 1, torch_device)
    rates = {"alone": [], "resident": [], "host": [], "in_step": [], "torch": []}
    for _ in range(reps):
        calls = -(-steps // k)
        t0 = time.perf_counter()
        for i in range(calls):
            state, _m = learner.train_steps(state, stacks[i % len(stacks)])
        jax.block_until_ready(state)
        rates["alone"].append(calls * k / (time.perf_counter() - t0))
        for mode, loader in loaders.items():
            t0 = time.perf_counter()
            for _ in range(fits):
                state, _ = fit(learner, state, loader, epochs=at + epochs, start_epoch=at, progress=False, log=None)
                at += epochs
            rates[mode].append(steps / (time.perf_counter() - t0))
        n, dt = _torch_epochs(tmodel, topt, tloader, epochs * fits, torch_device)
        rates["torch"].append(n / dt)
    med = {m: statistics.median(r) for m, r in rates.items()}
    return {"workload": name, "data": data, "examples": len(x8), "batch": batch, "epochs_per_fit": epochs,
            "fit_calls_per_rep": fits, "torch_device": torch_device, "steps_per_epoch": len(loaders["host"]),
            "reps": reps,
            **{f"{m}_steps_s": v for m, v in med.items()},
            **{f"{m}_min": min(r) for m, r in rates.items()}, **{f"{m}_max": max(r) for m, r in rates.items()},
            "resident_ratio": med["resident"] / med["alone"], "host_ratio": med["host"] / med["alone"],
            "in_step_ratio": med["in_step"] / med["alone"],
            "torch_ratio": med["resident"] / med["torch"],
            "first_fit_s": first}


def render(rows) -> list[str]:
    if not rows:
        return []
    title = ("Loader-bound rows (logistic regression on uint8 images; steps/s, median (min-max) of interleaved "
             "repetitions; ratio = fit / steps alone):")
    head = ("| workload | data | batch | epochs per fit call | steps alone, device batches | fit, device_resident=True "
            "| fit, device_resident=False | fit, resident, gathered in the step (GPU/TPU path) | PyTorch loop "
            "| fit (resident) / PyTorch |")
    return ["", title, "", head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *[f"| {r['workload']} | {r['data']} | {r['batch']} | {r['epochs_per_fit']} | "
              f"{r['alone_steps_s']:.0f} ({r['alone_min']:.0f}-{r['alone_max']:.0f}) | "
              f"{r['resident_steps_s']:.0f} ({r['resident_min']:.0f}-{r['resident_max']:.0f}): "
              f"**{r['resident_ratio']:.2f}** | {r['host_steps_s']:.0f} ({r['host_min']:.0f}-{r['host_max']:.0f}): "
              f"**{r['host_ratio']:.2f}** | {r['in_step_steps_s']:.0f} "
              f"({r['in_step_min']:.0f}-{r['in_step_max']:.0f}): "
              f"{r['in_step_ratio']:.2f} | {r['torch_steps_s']:.0f} | {r['torch_ratio']:.2f}x |" for r in rows]]


def line(r) -> str:
    return (f"{r['workload']:22s} steps alone {r['alone_steps_s']:7.0f}  fit resident {r['resident_steps_s']:7.0f} "
            f"({r['resident_ratio']:.2f})  fit host {r['host_steps_s']:7.0f} ({r['host_ratio']:.2f})  "
            f"in step {r['in_step_steps_s']:7.0f} ({r['in_step_ratio']:.2f})  "
            f"PyTorch {r['torch_steps_s']:7.0f}")
