"""The one supervised-training run every experiment composes.

``train_and_evaluate(args, ...)``: loaders -> Learner -> (resume) -> fit with
checkpoints -> final evaluation -> metrics JSON, report and plots in ``args.workdir``.
Experiments only choose data, model, loss and optimizer (Flax examples' ``train.py``
shape); none of them writes a loop.

Model selection never looks at the test set. A run either selects on a validation split
carved from the training data (``selected_on: "val"``: the ``best`` checkpoint is chosen
on it and is what the test set measures) or trains a fixed number of epochs and keeps the
last state (``selected_on: "last"``: no ``best`` checkpoint, no per-epoch evaluation).
The test set is evaluated once, at the end; ``metrics.json`` says which state it measured.
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
from jaxdl.checkpoint import CheckpointMismatchError, Checkpointer
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


def pick(result: dict, names) -> dict:
    """``{name: result[name]}`` for each of ``names``; a name the result does not have is
    an error listing the names it has (a misspelt metric is never silently dropped)."""
    unknown = [n for n in names if n not in result]
    if unknown:
        raise KeyError(f"unknown metric name(s) {unknown}; this result has {sorted(result)}")
    return {n: result[n] for n in names}


# Flags that may differ between a checkpoint and the run that resumes it: they change
# where files go, how the steps are dispatched, what is printed, or how far training
# goes (a larger --epochs continues it), never the numbers of the epochs already run or
# to come. --skip-nonfinite is the documented way to get past a NaN step on resume;
# --download only fetches data that is missing. Every other flag (--lr, --batch-size,
# --seed, --val-size, --data-dir, model and data flags) defines the run.
RESUME_COMPATIBLE_FLAGS = frozenset({
    "resume", "resume_anyway", "workdir", "epochs", "no_progress", "steps_per_call", "data_parallel",
    "coordinator", "num_processes", "process_id", "skip_nonfinite", "download", "num_workers"})


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def resume_conflicts(saved_args: dict, args, checkpoint_epoch: int) -> list[str]:
    """The flags of ``args`` that would make resuming from a checkpoint written with
    ``saved_args`` continue a different run, as ``'--lr 0.001 -> 0.01'`` strings
    (``RESUME_COMPATIBLE_FLAGS`` may differ; a flag only one side has is a difference; a
    smaller ``--epochs`` than the checkpoint's epoch is one too)."""
    now = json.loads(json.dumps(vars(args), default=str))  # the types the checkpoint stored
    missing = "(not recorded)"
    out = [f"{_flag(k)} {saved_args.get(k, missing)} -> {now.get(k, missing)}"
           for k in sorted(set(saved_args) | set(now))
           if k not in RESUME_COMPATIBLE_FLAGS and saved_args.get(k, missing) != now.get(k, missing)]
    if getattr(args, "epochs", checkpoint_epoch) < checkpoint_epoch:
        out.append(f"--epochs {args.epochs} is before the checkpoint's epoch {checkpoint_epoch}")
    return out


def finish(args, result: dict, log: Callable[[str], None] = print) -> dict:
    """Write ``result`` to ``args.workdir/metrics.json`` (for the experiments that are
    not one supervised run) and return it."""
    path = run_dir(args) / "metrics.json"
    write_json(path, {**result, "args": vars(args)})
    log(f"wrote {path}")
    return result


def eval_loader(dataset, batch_size: int = 1000, num_workers: int = 0) -> DataLoader:
    """The loader every evaluation of an experiment uses: in order, this process's slice
    of each batch, the last batch padded and masked, so that every example counts
    exactly once in any number of processes (``DataLoader(..., pad_last=True)``).
    ``num_workers``: worker processes for a map-style dataset (an ImageFolder)."""
    return DataLoader(dataset, batch_size, pad_last=True, process_index=jax.process_index(),
                      process_count=jax.process_count(), num_workers=num_workers)


def train_and_evaluate(args, *, name: str, data: Data, model: nnx.Module,
                       loss_fn: Callable, optimizer: optax.GradientTransformation,
                       task: str = "multiclass", eval_batch_size: int = 1000,
                       monitor: str | None = None, select: str | None = None,
                       log: Callable[[str], None] = print,
                       log_every: int = 1, checkpoint_every: int = 1, shuffle: bool = True,
                       callbacks: tuple = (), augment=None) -> dict:
    """Train ``model`` on ``data.train`` for ``args.epochs``, checkpointing into
    ``args.workdir/checkpoints``, resuming with ``args.resume``; then evaluate on
    ``data.test`` once and write ``metrics.json``, ``history.json``, ``report.txt``,
    ``curves.png`` and ``confusion_matrix.png``. Returns the metrics dict, plus the
    tested ``state``, the ``learner`` and the ``history`` rows (not in metrics.json).

    The validation split is ``data.val``, else ``args.val_size`` (``--val-size``: a
    fraction or a count) carved from ``data.train`` by ``Data.split_validation``, seeded
    by ``args.seed`` and stratified by class for classification; with neither there is
    none. With one, every epoch is validated (``val_*`` logs), the ``best`` checkpoint
    keeps the best epoch by ``monitor`` (``val_accuracy``, ``val_loss`` for regression),
    and the test set measures that best state (``select="val"``, the default), or the
    last state (``select="last"``: validation curves only). Without one, the run trains
    its fixed number of epochs, keeps the last state, evaluates nothing per epoch and
    writes no ``best`` checkpoint. ``metrics.json`` records ``selected_on`` (``"val"`` or
    ``"last"``) and ``selected_epoch`` next to the test metrics.

    ``--resume`` refuses a checkpoint written with other flags (``resume_conflicts``)
    unless ``--resume-anyway``. ``args.num_workers`` (default 0): worker processes that
    read a map-style dataset (an ImageFolder) for every loader; arrays ignore it."""
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
    val_size = getattr(args, "val_size", 0)
    if data.val is None and val_size:
        data = data.split_validation(val_size, seed=args.seed)
        log(f"validation: {len(data.val)} of the training examples (--val-size {val_size}, seed {args.seed}"
            f"{', stratified' if data.classes and task != 'regression' else ''}), {len(data.train)} left to train on")
    selected_on = select or ("val" if data.val is not None else "last")
    if selected_on not in ("val", "last") or (selected_on == "val" and data.val is None):
        raise ValueError(f"select must be 'val' (needs a validation split: data.val or --val-size) or 'last', "
                         f"got {select!r}")
    hosts = {"process_index": jax.process_index(), "process_count": jax.process_count()}
    workers = getattr(args, "num_workers", 0)  # for map-style data (ImageFolder); arrays ignore it
    train_loader = DataLoader(data.train, args.batch_size, shuffle=shuffle, seed=args.seed, augment=augment,
                              num_workers=workers, **hosts)
    val_loader = eval_loader(data.val, eval_batch_size, workers) if data.val is not None else None
    test_loader = eval_loader(data.test, eval_batch_size, workers)
    monitor = (monitor or ("val_loss" if task == "regression" else "val_accuracy")) if val_loader else None
    ckpt = Checkpointer(workdir / "checkpoints", monitor=monitor,
                        mode="min" if monitor and monitor.endswith("loss") else "max",
                        meta={"experiment": name, "args": {k: v for k, v in vars(args).items()}},
                        every=checkpoint_every)
    state, start, history = learner.init_state(), 0, History()
    resume = getattr(args, "resume", False) or getattr(args, "resume_anyway", False)
    if not resume and (ckpt.latest_epoch() is not None or ckpt.best_epoch() is not None):
        log(f"a new run: deleting the checkpoints of an earlier run in {ckpt.directory} (--resume continues one)")
        ckpt.clear()
    if resume:
        if ckpt.latest_epoch() is None:
            log(f"--resume: no checkpoint in {ckpt.directory}, starting from scratch")
        else:
            saved = ckpt.read_meta()
            conflicts = resume_conflicts(saved["args"], args, saved["epoch"]) if "args" in saved else []
            if conflicts and not getattr(args, "resume_anyway", False):
                ckpt.close()
                raise CheckpointMismatchError(
                    f"--resume: {ckpt.directory / 'last' / str(saved['epoch'])} was written by another run: "
                    f"{'; '.join(conflicts)}. Resume with the checkpoint's flags, pass --resume-anyway to "
                    "continue it with these, or choose another --workdir.")
            if conflicts:
                log(f"--resume-anyway: continuing with changed flags: {'; '.join(conflicts)}")
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
        ckpt.wait()
        selected_epoch, best = (history.rows[-1]["epoch"] if history.rows else start), ckpt.best_epoch()
        if selected_on == "val" and best is None:  # no epoch had a validation value
            selected_on = "last"
        if selected_on == "val" and best != selected_epoch:
            state, meta = ckpt.restore(learner.init_state(), which="best")
            state = parallel.replicate(state) if parallel else state
            selected_epoch = meta["epoch"]
    result = evaluate(learner, state, test_loader)  # the only look at the test set
    out: dict[str, Any] = {"experiment": name, "dataset": data.name, "source": data.source,
                           "epochs": args.epochs, "selected_on": selected_on, "selected_epoch": selected_epoch,
                           "test_loss": result["loss"], "train_wall_s": wall,
                           "steady_examples_per_s": steady_throughput(history),
                           "parameters": count_params(model), "args": vars(args)}
    row = next((r for r in history.rows if r["epoch"] == selected_epoch), {})
    out.update({k: row[k] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy") if k in row})
    how = ("best on validation" if selected_on == "val" else "last") + f", epoch {selected_epoch}"
    lines = [f"test loss {result['loss']:.4f}"]
    if "accuracy" in result:
        out["test_accuracy"] = result["accuracy"]
        lines[0] += f"  test accuracy {100 * result['accuracy']:.2f}% ({int(round(result['accuracy'] * len(data.test)))}/{len(data.test)})"
    lines[0] += f"  (model: {how})"
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
