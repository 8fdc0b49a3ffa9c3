"""A small ImageFolder training run for the kill tests (tests/e2e/test_faults.py):
the notes' MNIST CNN on a folder of digit PNGs, read by DataLoader worker processes.

    [KILL_AT=EPOCH:BATCH PIDS_FILE=F] python -m tests.e2e.imagefolder_run --data-dir FOLDER \\
        --workdir DIR --num-workers 2 --checkpoint-steps 4 --steps-per-call 2

``KILL_AT=E:B`` (an environment variable: not a setting of the run, which a resume
would compare): the process kills itself with SIGKILL once batch B of epoch E has
trained (after the checkpoint callback has seen that batch), first writing its child
processes (loader workers, resource tracker) and the shared-memory segments under
/dev/shm to ``PIDS_FILE``: a kill -9 at an exact point of an epoch.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from flax import nnx

from jaxdl import cli, losses, optim, runtime
from jaxdl.data import Data, ImageFolder
from jaxdl.data.image_transforms import ToTensor
from jaxdl.harness import RunResult, train_and_evaluate
from jaxdl.models import ConvolutionalNetwork


def gray(image):
    """The folder's RGB-converted PNG as the (28, 28, 1) float image the CNN takes."""
    return ToTensor()(image.convert("L"))


def children(pid: int) -> list[int]:
    """The child processes of ``pid``, read from each of its threads (a thread that
    ends between the listing and the read is skipped: its file is gone)."""
    out = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            out += [int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except FileNotFoundError:
            continue
    return out


class KillAt:
    """SIGKILL this process once batch ``batch`` of epoch ``epoch`` has trained;
    ``EPOCH:BATCH:sealed`` first waits until a mid-epoch position of that epoch has its
    manifest (it is then the one a resume must find)."""

    def __init__(self, where: str, pids_file: str, workdir: str):
        epoch, batch, *sealed = where.split(":")
        self.epoch, self.batch, self.sealed = int(epoch), int(batch), bool(sealed)
        self.pids_file, self.partial = pids_file, Path(workdir) / "checkpoints" / "partial"

    def _position_sealed(self, batches_per_epoch: int) -> bool:
        return any(d.name.isdigit() and int(d.name) > (self.epoch - 1) * batches_per_epoch
                   and (d / "jaxdl_manifest.json").exists() for d in self.partial.iterdir())

    def on_train_steps(self, epoch, batch, batches_per_epoch, state, batch_metrics):
        if (epoch, batch) >= (self.epoch, self.batch):
            deadline = time.monotonic() + 300
            while self.sealed and not self._position_sealed(batches_per_epoch) and time.monotonic() < deadline:
                time.sleep(0.05)
            Path(self.pids_file).write_text(json.dumps({"children": children(os.getpid()),
                                                        "shm": sorted(os.listdir("/dev/shm"))}))
            os.kill(os.getpid(), signal.SIGKILL)

    def on_epoch_end(self, epoch, state, logs):
        return False


def main(argv=None) -> RunResult:
    p = cli.parser("imagefolder_run: the MNIST CNN on a folder of PNGs", epochs=2, batch_size=4, lr=1e-3, seed=3)
    p.add_argument("--num-workers", type=int, default=2, help="DataLoader worker processes")
    config = cli.parse(p, argv)
    runtime.setup(config)
    folder = Path(config.data_dir)
    ds = Data("digits", ImageFolder(folder / "train", transform=gray), ImageFolder(folder / "test", transform=gray),
              ImageFolder(folder / "train").classes, source=str(folder))
    kill = os.environ.get("KILL_AT")
    return train_and_evaluate(config, name="imagefolder_run", data=ds,
                              model=ConvolutionalNetwork(rngs=nnx.Rngs(config.seed)),
                              loss_fn=losses.nll_loss, optimizer=optim.adam(config.lr),
                              callbacks=[KillAt(kill, os.environ["PIDS_FILE"], config.workdir)] if kill else ())


if __name__ == "__main__":
    cli.run(main)
