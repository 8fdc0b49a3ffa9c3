"""The one supervised-training run every experiment composes.

``train_and_evaluate(args, ...)``: loaders -> Learner -> (resume) -> fit with
checkpoints -> final evaluation -> metrics JSON, report and plots in ``args.workdir``.
Experiments only choose data, model, loss and optimizer (Flax examples' ``train.py``
shape); none of them writes a loop.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Callable

import jax
import numpy as np
import optax
from flax import nnx

from jaxdl import devices, metrics, plots
from jaxdl.checkpoint import Checkpointer
from jaxdl.data import Data, DataLoader
from jaxdl.layers import count_params
from jaxdl.parallel import for_mode
from jaxdl.train import STEPS_PER_CALL, History, Learner, NonFiniteLossError, evaluate, fit, steady_throughput


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (temp file + rename): a crash never leaves half a file."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=lambda o: np.asarray(o).tolist()))
    tmp.replace(path)


def run_dir(args, min_free_mb: int = 50) -> Path:
    """``args.workdir``, created and checked before any training: writable, and with at
    least ``min_free_mb`` MB free (a clear error now instead of a failed checkpoint later)."""
    workdir = Path(args.workdir)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise OSError(f"workdir {workdir} is not writable ({e.strerror or e}); pass --workdir DIR "
                      "pointing to a writable folder") from None
    free_mb = shutil.disk_usage(workdir).free / 2 ** 20
    if free_mb < min_free_mb:
        raise OSError(f"workdir {workdir}: only {free_mb:.0f} MB free, checkpoints need more; "
                      "free some space or pass another --workdir")
    return workdir


def sub_args(args, workdir, **changes):
    """``args`` for one of several trainings in an experiment: its own ``workdir`` (and
    any flag in ``changes``)."""
    return argparse.Namespace(**{**vars(args), "workdir": str(workdir), **changes})


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
    ``state``, the ``learner`` and the ``history`` rows (not in metrics.json)."""
    workdir = run_dir(args)
    primary = jax.process_index() == 0
    if not primary:  # one process speaks and writes files; all of them train and checkpoint
        log = lambda *_: None
    log(devices.describe())
    log(f"{name}: {data}")
    num_classes = len(data.classes) if data.classes and task != "regression" else None
    parallel = for_mode(getattr(args, "data_parallel", "auto"))
    learner = Learner(model, loss_fn, optimizer, task=task, num_classes=num_classes,
                      skip_nonfinite=getattr(args, "skip_nonfinite", False), parallel=parallel,
                      precision=getattr(args, "precision", "f32"))
    if parallel:
        log(f"data parallel: {parallel}")
    log(f"model {type(model).__name__}: {count_params(model):,} parameters")
    hosts = {"process_index": jax.process_index(), "process_count": jax.process_count()}
    train_loader = DataLoader(data.train, args.batch_size, shuffle=shuffle, seed=args.seed, augment=augment, **hosts)
    val_loader = DataLoader(data.val if data.val is not None else data.test, eval_batch_size, **hosts)
    test_loader = DataLoader(data.test, eval_batch_size, **hosts)
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
            state = parallel.replicate(state) if parallel else state
            start, history = meta["epoch"], History.from_rows(meta["history"])
            log(f"resumed from epoch {start} ({ckpt.directory / 'last' / str(start)})")
    t0 = time.perf_counter()
    with ckpt:
        if start < args.epochs:
            try:
                state, history = fit(learner, state, train_loader, epochs=args.epochs, val_loader=val_loader,
                                     start_epoch=start, callbacks=[ckpt, *callbacks], history=history,
                                     progress=None if not getattr(args, "no_progress", False) else False,
                                     log=log, log_every=log_every,
                                     steps_per_call=getattr(args, "steps_per_call", STEPS_PER_CALL))
            except NonFiniteLossError as e:
                ckpt.wait()
                last = ckpt.latest_epoch()
                where = f"{ckpt.directory / 'last' / str(last)} (epoch {last})" if last else "none yet"
                raise NonFiniteLossError(f"{e} Last good checkpoint: {where}; --resume continues from it.") from None
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
        if primary:
            (workdir / "report.txt").write_text(report + "\n")
            plots.confusion_matrix(cm, data.classes, workdir / "confusion_matrix.png", title=f"{name}: test")
        per_class = metrics.recall(cm)
        lines.append("per-class accuracy: " + ", ".join(f"{c} {100 * a:.1f}%" for c, a in zip(data.classes, per_class)))
        lines.append(report)
    if history.rows and primary:
        plots.curves(history.rows, workdir / "curves.png", title=name)
        write_json(workdir / "history.json", history.rows)
    if out["steady_examples_per_s"]:
        lines.append(f"steady-state training throughput: {out['steady_examples_per_s']:.0f} examples/s")
    if primary:
        write_json(workdir / "metrics.json", out)
    written = ["metrics.json"] + [f for f in ("history.json", "report.txt", "curves.png", "confusion_matrix.png")
                                  if (workdir / f).exists()] + ["checkpoints/"]
    lines.append(f"wrote {workdir}/: {', '.join(written)}")
    for line in lines:
        log(line)
    out["state"], out["learner"], out["history"] = state, learner, history.rows
    return out
