"""The run configuration: every setting of a training run, one typed object.

A library user builds it directly; :mod:`jaxdl.cli` fills it from the flags every
experiment shares (``--epochs`` is ``epochs``, ``--no-progress`` is ``progress=False``);
:func:`jaxdl.harness.train_and_evaluate` and :func:`jaxdl.runtime.setup` read it. An
experiment's own settings (``--momentum``) travel in ``extra``. Each field says whether a
run may change it when it resumes from a checkpoint (``on_resume``): fields that only
say where files go, how steps are dispatched or what is printed may change; the others
define the run, and :func:`resume_conflicts` lists them when they differ.

    config = RunConfig(epochs=5, batch_size=10, lr=1e-3, seed=101, workdir="runs/cnn")
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from jaxdl.precision import DEFAULT_MATMUL_PRECISION, MATMUL_PRECISIONS, POLICIES
from jaxdl.train import STEPS_PER_CALL

DEFINES_RUN, MAY_CHANGE = "defines the run", "may change"


def _field(default: Any, on_resume: str = DEFINES_RUN) -> Any:
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata={"on_resume": on_resume})
    return dataclasses.field(default=default, metadata={"on_resume": on_resume})


DATA_PARALLEL_MODES = ("auto", "on", "off")


@dataclasses.dataclass
class RunConfig:
    """Every setting of a training run (torch: the ``argparse`` namespace of a training
    script, as a typed object). Settings are validated on construction; an error names
    the field.

    Args:
        epochs: passes over the training set; a resumed run may raise it to train on.
        batch_size: examples per training step.
        lr: learning rate.
        seed: seed of the initialisation, shuffling, dropout and validation split.
        dataset: the data set's name (``jaxdl.data.load``), where an experiment offers several.
        data_dir: folder holding the data files; None: ``$JAXDL_DATA`` and the usual places.
        download: fetch the data set when no local copy is found.
        workdir: where checkpoints, metrics and plots go.
        resume: continue from the newest checkpoint in ``workdir``.
        resume_anyway: resume even when the checkpoint's run had other settings.
        checkpoint_steps: inside an epoch, also checkpoint the position (epoch, batch)
            every this many batches, so that a killed run resumes mid-epoch; 0: at
            epoch ends only.
        checkpoint_minutes: likewise every this many minutes of training; 0: never.
        val_size: validation split carved from the training set: a fraction in [0, 1)
            or a count (0: none; the last epoch is then tested).
        skip_nonfinite: skip steps whose loss or gradients are NaN/Inf instead of stopping.
        progress: show a progress bar (None: when stderr is a terminal).
        steps_per_call: training steps per compiled call (1: one per call).
        data_parallel: 'auto' (shard batches over every device when there are several), 'on', 'off'.
        precision: 'f32', or 'bf16' mixed precision (:mod:`jaxdl.precision`).
        matmul_precision: float32 matmul/conv precision on GPUs and TPUs: 'highest',
            'high' or 'default'.
        num_workers: processes reading a map-style dataset (an ImageFolder); arrays ignore it.
        coordinator: ``HOST:PORT`` of process 0 for several processes (``jax.distributed``); None: one.
        num_processes: the number of processes with ``coordinator``.
        process_id: this process's index with ``coordinator``.
        extra: an experiment's own settings ({name: JSON value}); they define the run.
    """

    epochs: int = _field(1, MAY_CHANGE)  # passes over the training set (a resumed run may train on)
    batch_size: int = _field(32)  # examples per training step
    lr: float = _field(1e-3)  # learning rate
    seed: int = _field(0)  # init, shuffling, dropout and validation split
    dataset: str | None = _field(None)  # data set name, where an experiment offers several
    data_dir: str | None = _field(None)  # folder with the data files (None: $JAXDL_DATA, the usual places)
    download: bool = _field(False, MAY_CHANGE)  # fetch a data set that has no local copy
    workdir: str = _field("runs/run", MAY_CHANGE)  # checkpoints, metrics.json, plots
    resume: bool = _field(False, MAY_CHANGE)  # continue from workdir's newest checkpoint
    resume_anyway: bool = _field(False, MAY_CHANGE)  # ... even when other fields differ from its run's
    checkpoint_steps: int = _field(0, MAY_CHANGE)  # mid-epoch checkpoint every N batches (0: epoch ends only)
    checkpoint_minutes: float = _field(0.0, MAY_CHANGE)  # mid-epoch checkpoint every M minutes (0: never)
    val_size: float | int = _field(0)  # validation split of the training set: fraction < 1, or a count
    skip_nonfinite: bool = _field(False, MAY_CHANGE)  # skip NaN/Inf steps instead of stopping
    progress: bool | None = _field(None, MAY_CHANGE)  # progress bar (None: when stderr is a terminal)
    steps_per_call: int = _field(STEPS_PER_CALL, MAY_CHANGE)  # training steps per compiled call
    data_parallel: str = _field("auto", MAY_CHANGE)  # shard batches over the devices: auto, on, off
    precision: str = _field("f32")  # f32, or bf16 mixed precision
    matmul_precision: str = _field(DEFAULT_MATMUL_PRECISION)  # float32 matmuls on GPU/TPU: highest, high, default
    num_workers: int = _field(0, MAY_CHANGE)  # processes reading a map-style dataset (ImageFolder)
    coordinator: str | None = _field(None, MAY_CHANGE)  # HOST:PORT of process 0 (jax.distributed)
    num_processes: int = _field(1, MAY_CHANGE)  # processes, with coordinator
    process_id: int = _field(0, MAY_CHANGE)  # this process, with coordinator
    extra: dict[str, Any] = _field({})  # an experiment's own settings; they define the run

    def __post_init__(self):
        problems = []
        for name in ("epochs", "batch_size", "steps_per_call", "num_processes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name}={value!r} must be a positive integer")
        for name in ("seed", "num_workers", "process_id"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or (name != "seed" and value < 0):
                problems.append(f"{name}={value!r} must be an integer{'' if name == 'seed' else ' >= 0'}")
        if isinstance(self.checkpoint_steps, bool) or not isinstance(self.checkpoint_steps, int) \
                or self.checkpoint_steps < 0:
            problems.append(f"checkpoint_steps={self.checkpoint_steps!r} must be an integer >= 0")
        if not (isinstance(self.checkpoint_minutes, (int, float)) and self.checkpoint_minutes >= 0):
            problems.append(f"checkpoint_minutes={self.checkpoint_minutes!r} must be a number >= 0")
        if not self.lr > 0:
            problems.append(f"lr={self.lr!r} must be positive")
        try:
            self.val_size = validation_size(self.val_size)
        except ValueError as e:
            problems.append(f"val_size={self.val_size!r} {e}")
        for name, allowed in (("data_parallel", DATA_PARALLEL_MODES), ("precision", tuple(POLICIES)),
                              ("matmul_precision", MATMUL_PRECISIONS)):
            if getattr(self, name) not in allowed:
                problems.append(f"{name}={getattr(self, name)!r} must be one of {', '.join(allowed)}")
        clash = sorted(set(self.extra) & {f.name for f in dataclasses.fields(self)})
        if clash:
            problems.append(f"extra settings {clash} have the names of fields; set the fields themselves")
        if problems:
            raise ValueError("RunConfig: " + "; ".join(problems))

    def replace(self, **changes) -> RunConfig:
        """A copy with ``changes`` (fields, or keys of ``extra``): e.g. one of several
        trainings of an experiment in its own ``workdir``."""
        names = {f.name for f in dataclasses.fields(self)}
        extra = {**self.extra, **{k: v for k, v in changes.items() if k not in names}}
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if k in names}, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        """Every setting, ``extra`` ones included, as one flat JSON-ready dict (what
        ``metrics.json`` and the checkpoints record)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"}
        return json.loads(json.dumps({**fields, **self.extra}, default=str))


def validation_size(value: float | int | str) -> float | int:
    """A validation split as a fraction in [0, 1) of the training set or a whole count of
    examples (0: none); ``"0.1"`` -> 0.1, ``"500"`` / ``500.0`` -> 500."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a fraction < 1 or a count, got {value!r}") from None
    if v < 0 or (v >= 1 and not v.is_integer()):
        raise ValueError(f"must be a fraction in [0, 1) or a whole count, got {value}")
    return int(v) if v.is_integer() else v


def may_change_on_resume(name: str) -> bool:
    """Whether a resumed run may have another value of setting ``name`` than its
    checkpoint (fields marked so; ``extra`` settings define the run)."""
    field = {f.name: f for f in dataclasses.fields(RunConfig)}.get(name)
    return field is not None and field.metadata["on_resume"] == MAY_CHANGE


def resume_conflicts(saved: dict[str, Any], config: RunConfig, checkpoint_epoch: int) -> list[str]:
    """The settings of ``config`` that would make resuming from a checkpoint written with
    ``saved`` (its run's :meth:`RunConfig.to_dict`) continue a different run, as
    ``'lr=0.001 -> 0.01'`` strings: every setting that defines the run and differs (one
    only a side has included), and ``epochs`` below the checkpoint's epoch."""
    now, missing = config.to_dict(), "(not recorded)"
    out = [f"{k}={saved.get(k, missing)} -> {now.get(k, missing)}" for k in sorted(set(saved) | set(now))
           if not may_change_on_resume(k) and saved.get(k, missing) != now.get(k, missing)]
    if config.epochs < checkpoint_epoch:
        out.append(f"epochs={config.epochs} is before the checkpoint's epoch {checkpoint_epoch}")
    return out
