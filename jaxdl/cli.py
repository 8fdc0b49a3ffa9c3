"""The command line of every experiment: the shared flags, filled into a
:class:`~jaxdl.config.RunConfig`, and the errors a user can fix printed as one message.

``--epochs --batch-size --lr --seed --dataset --data-dir --workdir --resume
--resume-anyway --val-size ...``, one flag per RunConfig field (``--no-progress`` is
``progress=False``), validated the argparse way (message + exit code 2). Each experiment
sets its own defaults (the notes' recipe) and may add flags, which land in
``RunConfig.extra``::

    p = cli.parser("mnist_cnn: ...", epochs=5, batch_size=10, lr=1e-3, seed=101)
    config = cli.parse(p, argv)
    runtime.setup(config)

Library messages name a setting the way a library user sets it, ``name=VALUE``;
:func:`run` prints them with the flag instead (:func:`as_flags`).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from jaxdl import config
from jaxdl.checkpoint import CheckpointDamagedError, CheckpointMismatchError
from jaxdl.config import DATA_PARALLEL_MODES, RunConfig
from jaxdl.data.errors import CorruptDataError, DataNotFoundError
from jaxdl.extras import MissingExtraError
from jaxdl.precision import DEFAULT_MATMUL_PRECISION, MATMUL_PRECISIONS, POLICIES
from jaxdl.train import STEPS_PER_CALL, NonFiniteLossError


def _number(text: str, kind: type, ok: Callable[[float], bool], expected: str, must: str):
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if not ok(v):
        raise argparse.ArgumentTypeError(f"must be {must}, got {v}")
    return v


def positive_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer", "a positive integer")


def positive_float(text: str) -> float:
    return _number(text, float, lambda v: v > 0, "a positive number", "positive")


def nonnegative_float(text: str) -> float:
    return _number(text, float, lambda v: v >= 0, "a number >= 0", ">= 0")


def nonnegative_int(text: str) -> int:
    return _number(text, int, lambda v: v >= 0, "an integer >= 0", ">= 0")


def validation_size(text: str) -> float | int:
    """A fraction in [0, 1) of the training set, or a count of examples (0: none)."""
    try:
        return config.validation_size(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def existing_dir(text: str) -> str:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"data directory {text!r} does not exist")
    return text


def parser(description: str, *, epochs: int, batch_size: int, lr: float, seed: int = 0,
           datasets: Sequence[str] | None = None, dataset: str | None = None,
           workdir: str | None = None, val_size: float = 0) -> argparse.ArgumentParser:
    """An ArgumentParser with the shared flags (one per :class:`~jaxdl.config.RunConfig`
    field) and the given defaults; an experiment adds its own. Parsing starts nothing:
    :func:`jaxdl.runtime.setup` makes the process-wide settings the flags ask for."""
    p = argparse.ArgumentParser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--epochs", type=positive_int, default=epochs, help="passes over the training set")
    p.add_argument("--batch-size", type=positive_int, default=batch_size, help="examples per step")
    p.add_argument("--lr", type=positive_float, default=lr, help="learning rate")
    p.add_argument("--seed", type=int, default=seed, help="seed of init, shuffling and dropout")
    if datasets:
        p.add_argument("--dataset", choices=list(datasets), default=dataset or datasets[0])
    p.add_argument("--data-dir", type=existing_dir, default=None,
                   help="folder with the data files (else $JAXDL_DATA and the usual places)")
    p.add_argument("--workdir", default=workdir or os.path.join("runs", description.split(":")[0].strip()),
                   help="where checkpoints, metrics and plots go")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --workdir")
    p.add_argument("--resume-anyway", action="store_true",
                   help="--resume even when flags that change the run (--lr, --batch-size, --seed, ...) "
                        "differ from the checkpoint's")
    p.add_argument("--checkpoint-steps", type=nonnegative_int, default=0,
                   help="inside an epoch, also checkpoint the position every N batches (a killed run resumes "
                        "mid-epoch with --resume, bit-identical); 0: at epoch ends only")
    p.add_argument("--checkpoint-minutes", type=nonnegative_float, default=0.0,
                   help="inside an epoch, also checkpoint the position every M minutes; 0: never")
    p.add_argument("--val-size", type=validation_size, default=val_size,
                   help="validation split carved from the training set (a fraction < 1 or a count; "
                        "seeded by --seed, stratified by class): per-epoch validation, and the test "
                        "set measures the best epoch on it; 0: none, the last epoch is tested")
    p.add_argument("--skip-nonfinite", action="store_true",
                   help="skip steps whose loss/gradients are NaN/Inf instead of stopping")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--steps-per-call", type=positive_int, default=STEPS_PER_CALL,
                   help="training steps per compiled call (lax.scan over stacked batches); 1: one per call")
    p.add_argument("--data-parallel", choices=list(DATA_PARALLEL_MODES), default="auto",
                   help="shard batches over all devices (auto: when there is more than one)")
    p.add_argument("--precision", choices=list(POLICIES), default="f32",
                   help="bf16: mixed precision (bfloat16 convs/matmuls, float32 parameters, optimizer "
                        "state, losses and BatchNorm statistics); for GPUs and TPUs, slower on CPUs")
    p.add_argument("--matmul-precision", choices=MATMUL_PRECISIONS, default=DEFAULT_MATMUL_PRECISION,
                   help="float32 matmul/conv precision on GPUs and TPUs (highest: float32, as torch's "
                        "matmuls; high/default: TensorFloat-32 on recent GPUs, 3/1 bfloat16 passes on "
                        "TPU); no effect on CPUs")
    multi = p.add_argument_group("multi-host (jax.distributed; one process per host or GPU)")
    multi.add_argument("--coordinator", default=None, help="HOST:PORT of process 0, e.g. 10.0.0.1:1234")
    multi.add_argument("--num-processes", type=positive_int, default=1)
    multi.add_argument("--process-id", type=nonnegative_int, default=0)
    return p


FIELDS = tuple(f.name for f in dataclasses.fields(RunConfig) if f.name != "extra")


def to_config(args: argparse.Namespace) -> RunConfig:
    """The :class:`RunConfig` of parsed flags: each shared flag to its field
    (``--no-progress``: ``progress=False``), every flag the experiment added to
    ``extra``."""
    flags = dict(vars(args))
    progress = None if not flags.pop("no_progress", False) else False
    fields = {k: v for k, v in flags.items() if k in FIELDS}
    return RunConfig(**fields, progress=progress, extra={k: v for k, v in flags.items() if k not in FIELDS})


def parse(p: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> RunConfig:
    """``p.parse_args(argv)`` as a :class:`RunConfig`; a setting the configuration refuses
    ends the program as a bad flag does (message naming the flag, exit code 2)."""
    args = p.parse_args(argv)
    try:
        return to_config(args)
    except ValueError as e:
        p.error(as_flags(str(e)))


def flag(name: str) -> str:
    """The command-line flag of setting ``name``: ``resume_anyway`` -> ``--resume-anyway``."""
    return "--" + name.replace("_", "-")


# a setting in a library message: a RunConfig field ``name=VALUE``, or any setting in a
# resume diff ``name=OLD -> NEW``; not a keyword argument in code (``load('x', download=True)``)
_SETTING = re.compile(rf"(?<![\w.(])(?<!, )(?:(?P<diff>[a-z][a-z0-9_]*)=(?=[^;\n]*? -> )"
                      rf"|(?P<name>{'|'.join(sorted(FIELDS, key=len, reverse=True))})=(?P<value>True\b|[^\s,;)]*))")


def as_flags(message: str) -> str:
    """A library message as a command-line user reads it: ``name=VALUE`` becomes
    ``--name VALUE``, ``name=True`` (or a bare ``name=``) becomes ``--name``."""
    def replace(m: re.Match) -> str:
        if m["diff"]:
            return flag(m["diff"]) + " "
        return flag(m["name"]) if m["value"] in ("", "True") else f"{flag(m['name'])} {m['value']}"

    return _SETTING.sub(replace, message)


class _FlagsFilter(logging.Filter):
    """The ``jaxdl`` logger's notes with settings named by their flags (:func:`as_flags`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = as_flags(record.getMessage()), ()
        return True


def run(main: Callable[[Sequence[str]], object], argv: Sequence[str] | None = None) -> None:
    """Run an experiment's ``main(argv)`` as a command: the errors a user can fix (data
    not found, corrupt or mismatched files, NaN, an unusable workdir, a missing optional
    dependency) end the process with their message, settings named by their flags, and
    exit code 1 instead of a traceback."""
    notes = logging.getLogger("jaxdl")  # the library's one-line notes, settings named by their flags
    flags = _FlagsFilter()
    notes.addFilter(flags)
    try:
        main(sys.argv[1:] if argv is None else argv)
    except (DataNotFoundError, CorruptDataError, CheckpointMismatchError, CheckpointDamagedError, NonFiniteLossError,
            OSError, MissingExtraError) as e:
        print(f"error: {as_flags(str(e))}", file=sys.stderr)
        sys.exit(1)
    finally:
        notes.removeFilter(flags)
