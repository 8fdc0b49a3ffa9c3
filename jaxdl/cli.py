"""The flags every experiment shares, validated the argparse way (message + exit code 2).

``--epochs --batch-size --lr --seed --dataset --data-dir --workdir --resume``; each
experiment sets its own defaults (the notes' recipe) and may add flags.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence


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


def existing_dir(text: str) -> str:
    if not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"data directory {text!r} does not exist")
    return text


class _Parser(argparse.ArgumentParser):
    """After parsing: turns on the persistent compilation cache, sets the float32
    matmul precision (``--matmul-precision``), and starts JAX's multi-process runtime
    when ``--coordinator`` is given, before any JAX computation (models are built after
    the flags)."""

    distributed = False

    def parse_args(self, args=None, namespace=None):
        ns = super().parse_args(args, namespace)
        from jaxdl.devices import enable_compilation_cache
        from jaxdl.precision import set_matmul_precision

        enable_compilation_cache()  # a config setting: does not start the backend
        set_matmul_precision(ns.matmul_precision)  # a config setting too (jax_default_matmul_precision)
        if getattr(ns, "coordinator", None):
            import jax

            if not _Parser.distributed:  # no jax.devices()/backend query before this call
                jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU collectives
                jax.distributed.initialize(coordinator_address=ns.coordinator,
                                           num_processes=ns.num_processes, process_id=ns.process_id)
                _Parser.distributed = True
        return ns


def parser(description: str, *, epochs: int, batch_size: int, lr: float, seed: int = 0,
           datasets: Sequence[str] | None = None, dataset: str | None = None,
           workdir: str | None = None) -> argparse.ArgumentParser:
    """An ArgumentParser with the shared flags and the given defaults."""
    from jaxdl.precision import DEFAULT_MATMUL_PRECISION, MATMUL_PRECISIONS, POLICIES
    from jaxdl.train import STEPS_PER_CALL

    p = _Parser(description=description, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
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


def run(main, argv: Sequence[str] | None = None) -> None:
    """Run an experiment's ``main(argv)`` as a command: the errors a user can fix (data
    not found, corrupt or mismatched files, NaN, an unusable workdir) end the process
    with their message and exit code 1 instead of a traceback."""
    import sys

    from jaxdl.checkpoint import CheckpointMismatchError
    from jaxdl.data.sources import CorruptDataError, DataNotFoundError
    from jaxdl.train import NonFiniteLossError

    try:
        main(sys.argv[1:] if argv is None else argv)
    except (DataNotFoundError, CorruptDataError, CheckpointMismatchError, NonFiniteLossError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
