"""The one supervised-training run every experiment composes.

``train_and_evaluate(config, ...)``: loaders -> Learner -> (resume) -> fit with
checkpoints -> select -> final evaluation -> metrics JSON, report and plots in
``config.workdir``. Experiments only choose data, model, loss and optimizer (Flax
examples' ``train.py`` shape); none of them writes a loop. Each step is a function of
its own: :func:`with_validation`, :func:`start_or_resume`, :func:`train`,
:func:`select_state`, :func:`test_metrics`, :func:`write_outputs`.

Model selection never looks at the test set. A run either selects on a validation split
carved from the training data (``selected_on: "val"``: the ``best`` checkpoint is chosen
on it and is what the test set measures) or trains a fixed number of epochs and keeps the
last state (``selected_on: "last"``: no ``best`` checkpoint, no per-epoch evaluation).
The test set is evaluated once, at the end; ``metrics.json`` says which state it measured.

    config = RunConfig(epochs=1, batch_size=64, lr=1e-3, workdir="runs/cnn")
    runtime.setup(config)
    result = train_and_evaluate(config, name="cnn", data=data.load("mnist_5k"),
                                model=ConvolutionalNetwork(rngs=nnx.Rngs(config.seed)),
                                loss_fn=losses.nll_loss, optimizer=optim.adam(config.lr))
    result.metrics["test_accuracy"], result.history[-1], result.learner.predict(result.state, x)
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optax
from flax import nnx

from jaxdl import metrics, plots, runtime
from jaxdl.checkpoint import Checkpointer, CheckpointMismatchError, json_ready, state_bytes
from jaxdl.config import RunConfig, resume_conflicts
from jaxdl.data import Data, DataLoader
from jaxdl.data.datasets import check_values
from jaxdl.layers import count_params
from jaxdl.parallel import for_mode
from jaxdl.train import History, Learner, NonFiniteLossError, TrainState, evaluate, fit, steady_throughput
from jaxdl.workdir import WorkdirLock

Log = Callable[[str], None]


@dataclasses.dataclass
class RunResult:
    """What a run produced.

    Attributes:
        metrics: the JSON-ready numbers written to ``metrics.json`` (``test_accuracy``,
            ``selected_epoch``, ... and the run's ``config``).
        history: one dict of logs per epoch (what ``history.json`` holds).
        state: the train state the test set measured (None where nothing was trained).
        learner: the :class:`~jaxdl.train.Learner` whose steps trained it (None likewise).
    """

    metrics: dict[str, Any]
    history: list[dict] = dataclasses.field(default_factory=list)
    state: TrainState | None = None
    learner: Learner | None = None


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically (temp file + rename): a crash never leaves half a file. A
    NaN or infinite number is written as ``null`` (JSON has neither; see
    :func:`jaxdl.checkpoint.json_ready`)."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(json_ready(obj), indent=1, allow_nan=False, default=lambda o: json_ready(np.asarray(o))))
    tmp.replace(path)


def run_dir(config: RunConfig, min_free_mb: int = 50) -> Path:
    """``config.workdir``, created and checked before any training: writable, and with at
    least ``min_free_mb`` MB free (a clear error now instead of a failed checkpoint later)."""
    workdir = Path(config.workdir)
    try:
        workdir.mkdir(parents=True, exist_ok=True)
        probe = workdir / ".write_test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise OSError(f"workdir {workdir} is not writable ({e.strerror or e}); pass workdir=DIR "
                      "pointing to a writable folder") from None
    free_mb = shutil.disk_usage(workdir).free / 2 ** 20
    if free_mb < min_free_mb:
        raise OSError(f"workdir {workdir}: only {free_mb:.0f} MB free, checkpoints need more; "
                      "free some space or pass another workdir=DIR")
    return workdir


def check_space(workdir: Path, state: TrainState) -> int:
    """The bytes of one checkpoint of ``state`` (its arrays); an OSError before any
    training when ``workdir``'s disk has not that much free."""
    need, free = state_bytes(state), shutil.disk_usage(workdir).free
    if free < need:
        raise OSError(f"workdir {workdir}: {free / 2**20:.1f} MB free, but one checkpoint of this model takes about "
                      f"{need / 2**20:.1f} MB; free some space or pass another workdir=DIR")
    return need


def pick(result: dict, names: Sequence[str]) -> dict:
    """``{name: result[name]}`` for each of ``names``; a name the result does not have is
    an error listing the names it has (a misspelt metric is never silently dropped)."""
    unknown = [n for n in names if n not in result]
    if unknown:
        raise KeyError(f"unknown metric name(s) {unknown}; this result has {sorted(result)}")
    return {n: result[n] for n in names}


def finish(config: RunConfig, metrics: dict, log: Log = print, *, name: str | None = None,
           history: Sequence[dict] = (), state: TrainState | None = None, learner: Learner | None = None
           ) -> RunResult:
    """Write ``metrics`` and the configuration to ``config.workdir/metrics.json`` (for
    the experiments that are not one supervised run) and return them as a
    :class:`RunResult`. With a training ``history`` (``fit``'s rows), also
    ``history.json`` and ``curves.png`` (titled ``name``), as every run writes."""
    workdir = run_dir(config)
    write_json(workdir / "metrics.json", {**metrics, "config": config.to_dict()})
    if history:
        write_history(workdir, history, name or "")
    log(f"wrote {workdir / 'metrics.json'}" + (", history.json, curves.png" if history else ""))
    return RunResult(metrics, list(history), state, learner)


def write_history(workdir: Path, history: Sequence[dict], name: str) -> None:
    """``history.json`` and ``curves.png`` (the loss and accuracy curves, titled ``name``)."""
    write_json(workdir / "history.json", list(history))
    plots.curves(list(history), workdir / "curves.png", title=name)


def eval_loader(dataset, batch_size: int = 1000, num_workers: int = 0) -> DataLoader:
    """The loader every evaluation of an experiment uses: in order, this process's slice
    of each batch, the last batch padded and masked, so that every example counts
    exactly once in any number of processes (``DataLoader(..., pad_last=True)``).
    ``num_workers``: worker processes for a map-style dataset (an ImageFolder)."""
    return DataLoader(dataset, batch_size, pad_last=True, process_index=jax.process_index(),
                      process_count=jax.process_count(), num_workers=num_workers)


# ------------------------------------------------------------------ the steps of a run
def with_validation(data: Data, config: RunConfig, task: str, log: Log) -> Data:
    """``data`` with its validation split: ``data.val``, else ``config.val_size`` carved
    from ``data.train`` (seeded by ``config.seed``, stratified by class for
    classification), else none."""
    if data.val is not None or not config.val_size:
        return data
    out = data.split_validation(config.val_size, seed=config.seed)
    stratified = ", stratified" if data.classes and task != "regression" else ""
    log(f"validation: {len(out.val)} of the training examples (val_size={config.val_size}, seed {config.seed}"
        f"{stratified}), {len(out.train)} left to train on")
    return out


def _placed(learner: Learner, state: TrainState) -> TrainState:
    return learner.parallel.replicate(state) if learner.parallel else state


@dataclasses.dataclass
class StartPoint:
    """Where a run's training starts: ``state`` after ``epoch`` complete epochs (with
    their ``history``) and ``batch`` batches of the next one, whose metrics are
    ``batch_metrics`` (a mid-epoch checkpoint; 0 and none otherwise)."""

    state: TrainState
    epoch: int
    history: History
    batch: int = 0
    batch_metrics: list = dataclasses.field(default_factory=list)


def start_or_resume(config: RunConfig, ckpt: Checkpointer, learner: Learner, log: Log,
                    batches_per_epoch: int | None = None) -> StartPoint:
    """Where training starts: with ``config.resume``, the newest intact checkpoint's
    position (an epoch's end, or inside an epoch of ``batches_per_epoch`` batches;
    damaged newer ones are named and set aside, :meth:`Checkpointer.resume`), refused
    when the checkpoint's run had other settings unless ``config.resume_anyway``; else a
    fresh state. The checkpoints of an earlier run in the same folder stay until this
    run has written its first one (:meth:`Checkpointer.start_fresh`)."""
    if not (config.resume or config.resume_anyway):
        if ckpt.start_fresh():
            log(f"a new run: the checkpoints of an earlier run in {ckpt.directory} are replaced once this run has "
                "written its first one (resume=True continues that run instead)")
        return StartPoint(learner.init_state(), 0, History())

    def same_run(saved: dict) -> None:
        conflicts = resume_conflicts(saved["config"], config, saved["epoch"]) if "config" in saved else []
        if conflicts and not config.resume_anyway:
            raise CheckpointMismatchError(
                f"resume: the checkpoints in {ckpt.directory} were written by another run: {'; '.join(conflicts)}. "
                "Resume with the checkpoint's settings, pass resume_anyway=True to continue it with these, or pass "
                "another workdir=DIR.")
        if conflicts:
            log(f"resume_anyway: continuing with changed settings: {'; '.join(conflicts)}")

    found = ckpt.resume(learner.init_state(), batches_per_epoch=batches_per_epoch, check=same_run)
    if found is None:
        log(f"resume: no checkpoint in {ckpt.directory}, starting from scratch")
        return StartPoint(learner.init_state(), 0, History())
    where = f"batch {found.batch} of epoch {found.epoch + 1}" if found.batch else f"epoch {found.epoch}"
    log(f"resumed from {where} ({found.path}{'; ' + found.note if found.note else ''})")
    return StartPoint(_placed(learner, found.state), found.epoch, History.from_rows(found.meta["history"]),
                      found.batch, found.batch_metrics)


def train(config: RunConfig, learner: Learner, state: TrainState, train_loader, *, start: int,
          history: History, ckpt: Checkpointer, val_loader=None, callbacks: Sequence = (), log: Log = print,
          log_every: int = 1, start_batch: int = 0, start_metrics: Sequence[dict] = (),
          data_checked: str = "") -> tuple[TrainState, History]:
    """``fit`` from epoch ``start`` (and batch ``start_batch`` of the next) to
    ``config.epochs``, checkpointing every epoch; a NaN/Inf step ends it with the newest
    intact checkpoint named and what is known of the data (``data_checked``)."""
    if start >= config.epochs:
        return state, history
    try:
        return fit(learner, state, train_loader, epochs=config.epochs, val_loader=val_loader, start_epoch=start,
                   callbacks=[ckpt, *callbacks], history=history, progress=config.progress, log=log,
                   log_every=log_every, steps_per_call=config.steps_per_call, start_batch=start_batch,
                   start_metrics=start_metrics)
    except NonFiniteLossError as e:
        ckpt.wait()
        good = ckpt.newest_intact()
        where = (f"{good}; resume=True continues from it" if good else
                 "none yet" + (f" (an earlier run's checkpoints in {ckpt.directory} are untouched)"
                               if ckpt.replacing else ""))
        data = f" About the data: {data_checked}." if data_checked else ""
        raise NonFiniteLossError(f"{e}{data} Last good checkpoint: {where}.") from None


def select_state(ckpt: Checkpointer, learner: Learner, state: TrainState, history: History, selected_on: str,
                 start: int) -> tuple[TrainState, str, int]:
    """The state the test set measures, how it was chosen and its epoch: the best
    epoch's on validation (``selected_on="val"``; ``"last"`` when no epoch had a
    validation value), else the last."""
    ckpt.wait()
    selected_epoch, best = (history.rows[-1]["epoch"] if history.rows else start), ckpt.best_epoch()
    if selected_on == "val" and best is None:  # no epoch had a validation value
        selected_on = "last"
    if selected_on == "val" and best != selected_epoch:
        state, meta = ckpt.restore(learner.init_state(), which="best")
        state, selected_epoch = _placed(learner, state), meta["epoch"]
    return state, selected_on, selected_epoch


def test_metrics(learner: Learner, state: TrainState, test_loader, data: Data, history: History, *,
                 name: str, selected_on: str, selected_epoch: int, config: RunConfig) -> dict[str, Any]:
    """The one look at the test set, and the run's metrics: test loss and accuracy (and,
    for classification, the per-class figures and ``confusion_matrix``), the selected
    epoch's training and validation numbers, the run's throughput and configuration."""
    result = evaluate(learner, state, test_loader)
    out: dict[str, Any] = {"experiment": name, "dataset": data.name, "source": data.source,
                           "epochs": config.epochs, "selected_on": selected_on, "selected_epoch": selected_epoch,
                           "test_loss": result["loss"], "steady_examples_per_s": steady_throughput(history)}
    row = next((r for r in history.rows if r["epoch"] == selected_epoch), {})
    out.update({k: row[k] for k in ("train_loss", "train_accuracy", "val_loss", "val_accuracy") if k in row})
    if "accuracy" in result:
        out["test_accuracy"] = result["accuracy"]
    if "confusion" in result:
        out.update(metrics.summary(np.asarray(result["confusion"]), data.classes))
    return out


def write_outputs(workdir: Path, out: dict[str, Any], history: History, data: Data, *, name: str,
                  log: Log, primary: bool = True) -> None:
    """``metrics.json``, ``history.json``, ``report.txt``, ``curves.png`` and
    ``confusion_matrix.png`` (written by the first process only), and the summary lines
    of the log."""
    how = ("best on validation" if out["selected_on"] == "val" else "last") + f", epoch {out['selected_epoch']}"
    lines = [f"test loss {out['test_loss']:.4f}"]
    if "test_accuracy" in out:
        acc = out["test_accuracy"]
        lines[0] += f"  test accuracy {100 * acc:.2f}% ({int(round(acc * len(data.test)))}/{len(data.test)})"
    lines[0] += f"  (model: {how})"
    if "confusion_matrix" in out:
        cm = np.asarray(out["confusion_matrix"])
        report = metrics.classification_report(cm, data.classes)
        if primary:
            (workdir / "report.txt").write_text(report + "\n")
            plots.confusion_matrix(cm, data.classes, workdir / "confusion_matrix.png", title=f"{name}: test")
        lines.append("per-class accuracy: " + ", ".join(f"{c} {100 * a:.1f}%"
                                                        for c, a in zip(data.classes, metrics.recall(cm))))
        lines.append(report)
    if history.rows and primary:
        write_history(workdir, history.rows, name)
    if out["steady_examples_per_s"]:
        lines.append(f"steady-state training throughput: {out['steady_examples_per_s']:.0f} examples/s")
    if primary:
        write_json(workdir / "metrics.json", out)
    written = ["metrics.json"] + [f for f in ("history.json", "report.txt", "curves.png", "confusion_matrix.png")
                                  if (workdir / f).exists()] + ["checkpoints/"]
    lines.append(f"wrote {workdir}/: {', '.join(written)}")
    for line in lines:
        log(line)


def train_and_evaluate(config: RunConfig, *, name: str, data: Data, model: nnx.Module,
                       loss_fn: Callable, optimizer: optax.GradientTransformation,
                       task: str = "multiclass", eval_batch_size: int = 1000,
                       monitor: str | None = None, select: str | None = None, log: Log = print,
                       log_every: int = 1, checkpoint_every: int = 1, shuffle: bool = True,
                       callbacks: Sequence = (), augment=None) -> RunResult:
    """Train ``model`` on ``data.train``, checkpointing into ``config.workdir/checkpoints``
    (resuming with ``config.resume``), select the state to test, evaluate it on
    ``data.test`` once and write ``metrics.json``, ``history.json``, ``report.txt``,
    ``curves.png`` and ``confusion_matrix.png``.

    The validation split is ``data.val``, else ``config.val_size`` carved from
    ``data.train`` (:func:`with_validation`); with neither there is none. With one, every
    epoch is validated (``val_*`` logs), the ``best`` checkpoint keeps the best epoch by
    ``monitor``, and the test set measures that best state (``select="val"``, the
    default) or the last state (``select="last"``: validation curves only). Without one,
    the run trains its fixed number of epochs, keeps the last state, evaluates nothing
    per epoch and writes no ``best`` checkpoint. ``metrics.json`` records ``selected_on``
    (``"val"`` or ``"last"``) and ``selected_epoch`` next to the test metrics. Resuming
    refuses a checkpoint written with other settings (:func:`jaxdl.config.resume_conflicts`)
    unless ``config.resume_anyway``.

    Args:
        config: the run's settings (epochs, batch_size, seed, workdir, resume, val_size,
            precision, data_parallel, num_workers, ...).
        name: the run's name in the log, the plots and ``metrics.json``.
        data: train and test splits (and optionally ``val``), arrays or map-style datasets.
        model: the Flax NNX model to train (its initial weights are the run's start).
        loss_fn: ``loss_fn(outputs, targets) -> scalar`` (:mod:`jaxdl.losses`).
        optimizer: an optax transformation (:mod:`jaxdl.optim`).
        task: what accuracy means: ``'multiclass'``, ``'binary'``, ``'binary_probs'`` or
            ``'regression'`` (see :class:`~jaxdl.train.Learner`).
        eval_batch_size: batch size of the validation and test loaders.
        monitor: the validation number that chooses the best epoch (default
            ``val_accuracy``, ``val_loss`` for regression).
        select: ``'val'`` (needs a validation split) or ``'last'``; default ``'val'``
            when there is a validation split, else ``'last'``.
        log: where the run's lines go (default ``print``); only process 0 logs.
        log_every: log every this many epochs (and the first and last).
        checkpoint_every: save the ``last`` checkpoint every this many epochs.
        shuffle: shuffle the training set every epoch.
        callbacks: more ``fit`` callbacks (e.g. :class:`~jaxdl.train.EarlyStopping`).
        augment: on-device augmentation of training batches (:mod:`jaxdl.data.augment`).

    Returns:
        A :class:`RunResult`: ``metrics`` (as in ``metrics.json``), ``history``, the
        tested ``state`` and the ``learner``.
    """
    primary = jax.process_index() == 0
    if not primary:  # one process speaks and writes files; all of them train and checkpoint
        log = lambda *_: None  # noqa: E731
    # everything that can refuse the inputs does so before the workdir is touched
    data_checked = check_values(data, task)
    log(runtime.describe())
    log(f"{name}: {data}")
    data = with_validation(data, config, task, log)
    selected_on = select or ("val" if data.val is not None else "last")
    if selected_on not in ("val", "last") or (selected_on == "val" and data.val is None):
        raise ValueError(f"select must be 'val' (needs a validation split: data.val or val_size=) or 'last', "
                         f"got {select!r}")
    workdir = run_dir(config)
    with contextlib.ExitStack() as held:
        if primary:  # one run per workdir (the job's process 0 holds it): a second one is refused
            held.enter_context(WorkdirLock(workdir, log=log))
        parallel = for_mode(config.data_parallel)
        learner = Learner(model, loss_fn, optimizer, task=task,
                          num_classes=len(data.classes) if data.classes and task != "regression" else None,
                          skip_nonfinite=config.skip_nonfinite, parallel=parallel, precision=config.precision)
        if parallel:
            log(f"data parallel: {parallel}")
        log(f"model {type(model).__name__}: {count_params(model):,} parameters")
        train_loader = DataLoader(data.train, config.batch_size, shuffle=shuffle, seed=config.seed, augment=augment,
                                  num_workers=config.num_workers, process_index=jax.process_index(),
                                  process_count=jax.process_count())
        val_loader = eval_loader(data.val, eval_batch_size, config.num_workers) if data.val is not None else None
        test_loader = eval_loader(data.test, eval_batch_size, config.num_workers)
        monitor = (monitor or ("val_loss" if task == "regression" else "val_accuracy")) if val_loader else None
        with Checkpointer(workdir / "checkpoints", monitor=monitor,
                          mode="min" if monitor and monitor.endswith("loss") else "max",
                          meta={"experiment": name, "config": config.to_dict()}, every=checkpoint_every,
                          every_steps=config.checkpoint_steps, every_minutes=config.checkpoint_minutes,
                          log=log) as ckpt:
            start = start_or_resume(config, ckpt, learner, log, batches_per_epoch=len(train_loader))
            check_space(workdir, start.state)
            t0 = time.perf_counter()
            state, history = train(config, learner, start.state, train_loader, start=start.epoch,
                                   history=start.history, ckpt=ckpt, val_loader=val_loader, callbacks=callbacks,
                                   log=log, log_every=log_every, start_batch=start.batch,
                                   start_metrics=start.batch_metrics, data_checked=data_checked)
            wall = time.perf_counter() - t0
            state, selected_on, selected_epoch = select_state(ckpt, learner, state, history, selected_on, start.epoch)
        out = test_metrics(learner, state, test_loader, data, history, name=name, selected_on=selected_on,
                           selected_epoch=selected_epoch, config=config)
        out.update({"train_wall_s": wall, "parameters": count_params(model), "config": config.to_dict()})
        write_outputs(workdir, out, history, data, name=name, log=log, primary=primary)
        return RunResult(out, history.rows, state, learner)
