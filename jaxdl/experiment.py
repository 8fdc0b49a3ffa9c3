"""The one supervised-training run every experiment composes.

``train_and_evaluate(args, ...)``: loaders -> Learner -> (resume) -> fit with
checkpoints -> final evaluation -> metrics JSON, report and plots in ``args.workdir``.
Experiments only choose data, model, loss and optimizer (Flax examples' ``train.py``
shape); none of them writes a loop.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import optax
from flax import nnx

from jaxdl import devices, metrics, plots
from jaxdl.checkpoint import Checkpointer
from jaxdl.data import Data, DataLoader
from jaxdl.layers import count_params
from jaxdl.train import History, Learner, evaluate, fit, steady_throughput


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (temp file + rename): a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=lambda o: np.asarray(o).tolist()))
    tmp.replace(path)


def run_dir(args) -> Path:
    """``args.workdir``, created."""
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    return workdir


def finish(args, result: dict, log: Callable[[str], None] = print) -> dict:
    """Write ``result`` to ``args.workdir/metrics.json`` (for the experiments that are
    not one supervised run) and return it."""
    path = run_dir(args) / "metrics.json"
    write_json(path, {**result, "args": vars(args)})
    log(f"wrote {path}")
    return result


def train_and_evaluate(args, *, name: str, data: Data, model: nnx.Module,
                       loss_fn: Callable, optimizer: optax.GradientTransformation,
                       task: str = "multiclass", eval_batch_size: int = 1000,
                       monitor: str | None = None, log: Callable[[str], None] = print,
                       log_every: int = 1, checkpoint_every: int = 1, shuffle: bool = True,
                       callbacks: tuple = (), augment=None) -> dict:
    """Train ``model`` on ``data.train`` for ``args.epochs``, validating on ``data.val``
    (else ``data.test``, as the course does), checkpointing every epoch into
    ``args.workdir/checkpoints``, resuming with ``args.resume``; then evaluate on
    ``data.test`` and write ``metrics.json``, ``history.json``, ``report.txt``,
    ``curves.png`` and ``confusion_matrix.png``. Returns the metrics dict, plus the final
    ``state`` and the ``learner`` (not written to JSON)."""
    workdir = run_dir(args)
    log(devices.describe())
    log(f"{name}: {data}")
    num_classes = len(data.classes) if data.classes and task != "regression" else None
    learner = Learner(model, loss_fn, optimizer, task=task, num_classes=num_classes,
                      skip_nonfinite=getattr(args, "skip_nonfinite", False))
    log(f"model {type(model).__name__}: {count_params(model):,} parameters")
    train_loader = DataLoader(data.train, args.batch_size, shuffle=shuffle, seed=args.seed, augment=augment)
    val_loader = DataLoader(data.val if data.val is not None else data.test, eval_batch_size)
    test_loader = DataLoader(data.test, eval_batch_size)
    monitor = monitor or ("val_loss" if task == "regression" else "val_accuracy")
    ckpt = Checkpointer(workdir / "checkpoints", monitor=monitor,
                        mode="min" if monitor.endswith("loss") else "max",
                        meta={"experiment": name, "args": {k: v for k, v in vars(args).items()}},
                        every=checkpoint_every)
    state, start, history = learner.init_state(), 0, History()
    if getattr(args, "resume", False):
        if ckpt.latest_epoch() is None:
            log(f"--resume: no checkpoint in {ckpt.directory}, starting from scratch")
        else:
            state, meta = ckpt.restore(state)
            start, history = meta["epoch"], History.from_rows(meta["history"])
            log(f"resumed from epoch {start} ({ckpt.directory / 'last' / str(start)})")
    t0 = time.perf_counter()
    with ckpt:
        if start < args.epochs:
            state, history = fit(learner, state, train_loader, epochs=args.epochs, val_loader=val_loader,
                                 start_epoch=start, callbacks=[ckpt, *callbacks], history=history,
                                 progress=None if not getattr(args, "no_progress", False) else False,
                                 log=log, log_every=log_every)
    wall = time.perf_counter() - t0
    result = evaluate(learner, state, test_loader)
    out: dict[str, Any] = {"experiment": name, "dataset": data.name, "source": data.source,
                           "epochs": args.epochs, "test_loss": result["loss"], "train_wall_s": wall,
                           "steady_examples_per_s": steady_throughput(history),
                           "parameters": count_params(model), "args": vars(args)}
    lines = [f"test loss {result['loss']:.4f}"]
    if "accuracy" in result:
        out["test_accuracy"] = result["accuracy"]
        lines[0] += f"  test accuracy {100 * result['accuracy']:.2f}% ({int(round(result['accuracy'] * len(data.test)))}/{len(data.test)})"
    if "confusion" in result:
        cm = np.asarray(result["confusion"])
        out.update(metrics.summary(cm, data.classes))
        report = metrics.classification_report(cm, data.classes)
        (workdir / "report.txt").write_text(report + "\n")
        plots.confusion_matrix(cm, data.classes, workdir / "confusion_matrix.png", title=f"{name}: test")
        per_class = metrics.recall(cm)
        lines.append("per-class accuracy: " + ", ".join(f"{c} {100 * a:.1f}%" for c, a in zip(data.classes, per_class)))
        lines.append(report)
    if history.rows:
        plots.curves(history.rows, workdir / "curves.png", title=name)
        write_json(workdir / "history.json", history.rows)
    if out["steady_examples_per_s"]:
        lines.append(f"steady-state training throughput: {out['steady_examples_per_s']:.0f} examples/s")
    write_json(workdir / "metrics.json", out)
    written = ["metrics.json"] + [f for f in ("history.json", "report.txt", "curves.png", "confusion_matrix.png")
                                  if (workdir / f).exists()] + ["checkpoints/"]
    lines.append(f"wrote {workdir}/: {', '.join(written)}")
    for line in lines:
        log(line)
    out["state"], out["learner"] = state, learner
    return out
