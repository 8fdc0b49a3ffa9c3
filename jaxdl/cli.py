"""The flags every experiment shares, validated the argparse way (message + exit code 2).

``--epochs --batch-size --lr --seed --dataset --data-dir --workdir --resume
--resume-anyway --val-size``; each experiment sets its own defaults (the notes' recipe)
and may add flags, then calls :func:`setup` (compile cache, ``jax.distributed``,
allocator) right after ``parse_args``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import jax

from jaxdl import devices
from jaxdl.checkpoint import CheckpointMismatchError
from jaxdl.data.errors import CorruptDataError, DataNotFoundError
from jaxdl.precision import DEFAULT_MATMUL_PRECISION, MATMUL_PRECISIONS, POLICIES, set_matmul_precision
from jaxdl.train import STEPS_PER_CALL, NonFiniteLossError


def positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {v}")
    return v


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {v}")
    return v


def nonnegative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {v}")
    return v


def validation_size(text: str) -> float | int:
    """A fraction in [0, 1) of the training set, or a count of examples (0: none)."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction < 1 or a count, got {text!r}") from None
    if v < 0 or (v > 1 and not v.is_integer()):
        raise argparse.ArgumentTypeError(f"must be a fraction in [0, 1) or a whole count, got {text}")
    return int(v) if v.is_integer() else v


def existing_dir(text: str) -> str:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"data directory {text!r} does not exist")
    return text


def parser(description: str, *, epochs: int, batch_size: int, lr: float, seed: int = 0,
           datasets: Sequence[str] | None = None, dataset: str | None = None,
           workdir: str | None = None, val_size: float = 0) -> argparse.ArgumentParser:
    """An ArgumentParser with the shared flags and the given defaults. Parsing starts
    nothing: :func:`setup` makes the process-wide settings the flags ask for."""
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
    p.add_argument("--val-size", type=validation_size, default=val_size,
                   help="validation split carved from the training set (a fraction < 1 or a count; "
                        "seeded by --seed, stratified by class): per-epoch validation, and the test "
                        "set measures the best epoch on it; 0: none, the last epoch is tested")
    p.add_argument("--skip-nonfinite", action="store_true",
                   help="skip steps whose loss/gradients are NaN/Inf instead of stopping")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--steps-per-call", type=positive_int, default=STEPS_PER_CALL,
                   help="training steps per compiled call (lax.scan over stacked batches); 1: one per call")
    p.add_argument("--data-parallel", choices=["auto", "on", "off"], default="auto",
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
    multi.add_argument("--process-id", type=int, default=0)
    return p


def setup(args: argparse.Namespace) -> argparse.Namespace:
    """Make a run's process-wide settings, once, before any JAX computation; every
    experiment calls it right after ``parse_args`` (the one place such settings are made:
    importing jaxdl, parsing flags or building a ``Learner`` changes nothing process-wide).

    1. the persistent compilation cache (:func:`jaxdl.devices.enable_compilation_cache`);
    2. with ``--coordinator``: JAX's multi-process runtime (``jax.distributed.initialize``,
       CPU collectives over gloo), which must precede anything that asks for devices;
    3. ``--matmul-precision``: JAX's float32 matmul/conv precision
       (:func:`jaxdl.precision.set_matmul_precision`);
    4. on the CPU backend, glibc keeps freed memory mapped for XLA's per-step scratch
       (:func:`jaxdl.devices.keep_freed_host_memory`: the measured CPU speed-ups).

    Flags that change JAX's configuration (``jax.config.update(...)``) belong with 3,
    before the backend starts. Calling it again in the same process changes nothing.
    Returns ``args``.
    """
    devices.enable_compilation_cache()  # a config setting: does not start the backend
    if getattr(args, "coordinator", None) and not jax.distributed.is_initialized():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives
        jax.distributed.initialize(coordinator_address=args.coordinator,
                                   num_processes=args.num_processes, process_id=args.process_id)
    # settings of JAX's configuration from flags (before the backend starts below)
    set_matmul_precision(getattr(args, "matmul_precision", DEFAULT_MATMUL_PRECISION))
    if jax.default_backend() == "cpu":  # starts the backend
        devices.keep_freed_host_memory()
    return args


def run(main, argv: Sequence[str] | None = None) -> None:
    """Run an experiment's ``main(argv)`` as a command: the errors a user can fix (data
    not found, corrupt or mismatched files, NaN, an unusable workdir) end the process
    with their message and exit code 1 instead of a traceback."""
    try:
        main(sys.argv[1:] if argv is None else argv)
    except (DataNotFoundError, CorruptDataError, CheckpointMismatchError, NonFiniteLossError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
