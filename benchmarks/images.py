"""Images per second: jaxdl's ImageFolder pipeline against torch's
``DataLoader(torchvision.datasets.ImageFolder, num_workers=2)``, same folder, same transform.

    python -m benchmarks.images                       # writes benchmarks/results/images-<device>.md
    python -m benchmarks.images --images 1000 --rounds 2 --out /tmp/images

The folder: ``--images`` real Fashion-MNIST training images written by
``jaxdl.data.write_image_folder`` as 320x320 RGB PNGs (resized up from 28x28), so
that the ImageNet evaluation transform (Resize(256): a real antialiased downscale,
CenterCrop(224), ToTensor, Normalize) does the work it does on photos. Both sides decode
with Pillow in ``--workers`` processes, shuffle, batch ``--batch`` and hand out every
batch: torch as CPU tensors (NCHW), jaxdl as device arrays (NHWC), waited for.

The two sides take turns (``--rounds``), each turn ``--epochs`` timed epochs: torch
starts its workers in every epoch (its default ``persistent_workers=False``; fork,
milliseconds). jaxdl's grain workers are started by spawn (seconds: each imports jax and
grain) and persist across epochs, running ahead into the next one as in training; each
jaxdl turn builds a new loader, spends one untimed epoch starting its workers (that
epoch's rate is its own row), times ``--epochs`` epochs back to back, and drops the
loader, so that no jaxdl worker runs during torch's turn. Rows: median (min-max) of the
timed turns; the ratio compares the medians. A row for jaxdl in one process
(``num_workers=0``) shows what the workers buy. About 1.5 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import datetime
import multiprocessing
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def _torch_epoch(loader) -> int:
    n = 0
    for _x, y in loader:
        n += len(y)
    return n


def _jax_epoch(loader, epoch: int) -> int:
    n = 0
    for x, y in loader.epoch(epoch):
        x.block_until_ready()
        n += len(y)
    return n


def _jax_epochs(loader, epochs: int) -> int:
    return sum(_jax_epoch(loader, e) for e in range(1, epochs + 1))


def cpu_seconds() -> float:
    """CPU time of this process, its finished children and its live ones (Linux ``/proc``):
    worker processes included, so that a busy machine does not hide the work done."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime
    for p in multiprocessing.active_children():
        try:
            fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _timed(fn, *args) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, fn's result)."""
    t, c = time.perf_counter(), cpu_seconds()
    n = fn(*args)
    return time.perf_counter() - t, cpu_seconds() - c, n


def run(root: str, batch: int, workers: int, rounds: int, epochs: int, serial: bool) -> dict:
    import torch

    import torch_reference.vision as tv

    tv.models()  # the import shim, then torchvision's own transforms and ImageFolder
    import torchvision.datasets as tdatasets
    import torchvision.transforms as T

    from jaxdl.data import DataLoader, ImageFolder
    from jaxdl.data.image_transforms import IMAGENET_MEAN, IMAGENET_STD, imagenet_transform

    ttf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])
    torch_loader = torch.utils.data.DataLoader(tdatasets.ImageFolder(root, transform=ttf), batch_size=batch,
                                               shuffle=True, num_workers=workers)
    jax_ds = ImageFolder(root, transform=imagenet_transform())
    n = len(jax_ds)
    res = {"images": n, "torch": [], "jaxdl": [], "start": [], "serial": []}  # (images/s, CPU ms/image)
    for r in range(rounds):
        for _ in range(epochs):  # torch: each epoch forks its workers (its default)
            t, c, got = _timed(_torch_epoch, torch_loader)
            assert got == n, ("torch", got, n)
            res["torch"].append((n / t, 1e3 * c / n))
        # jaxdl: a fresh loader, its workers spawned during an untimed epoch; then `epochs`
        # epochs back to back (the workers persist and run ahead into the next epoch, as
        # in training), then the loader is dropped so that no worker runs during torch's turn
        loader = DataLoader(jax_ds, batch, shuffle=True, seed=r, num_workers=workers)
        t, c, got = _timed(_jax_epoch, loader, 0)
        res["start"].append((n / t, 1e3 * c / n))
        t, c, got = _timed(_jax_epochs, loader, epochs)
        assert got == n * epochs, ("jaxdl", got, n)
        res["jaxdl"].append((got / t, 1e3 * c / got))
        del loader  # stops its workers
    if serial:
        t, c, got = _timed(_jax_epoch, DataLoader(jax_ds, batch, shuffle=True, num_workers=0), 0)
        res["serial"].append((n / t, 1e3 * c / n))
    return res


def render(res: dict, meta: str, batch: int, workers: int, epochs: int) -> str:
    def row(name, runs, what):
        rates, cpu = [r for r, _ in runs], [c for _, c in runs]
        text = (f"| {name} | {statistics.median(rates):.0f} ({min(rates):.0f}-{max(rates):.0f}) | "
                f"{statistics.median(cpu):.1f} | {what} |")
        return text, statistics.median(rates), statistics.median(cpu)

    t_row, t_med, t_cpu = row(f"torch DataLoader(torchvision ImageFolder, num_workers={workers})", res["torch"],
                       f"{len(res['torch'])} epochs, each starting its workers")
    j_row, j_med, j_cpu = row(f"jaxdl DataLoader(ImageFolder, num_workers={workers})", res["jaxdl"],
                       f"{len(res['jaxdl'])} x {epochs} epochs back to back, workers running")
    s_row, *_ = row(f"jaxdl, first epoch of a new loader (spawning {workers} workers)", res["start"],
                   f"{len(res['start'])} epochs")
    lines = [f"# ImageFolder loading: jaxdl vs PyTorch ({meta.split(':')[0]})", "", meta, "",
             (f"{res['images']} PNGs (Fashion-MNIST, 320x320 RGB), the ImageNet evaluation transform "
              f"(Resize 256, CenterCrop 224, ToTensor, Normalize), batch {batch}, shuffled; images/s, "
              "median (min-max); the two sides take turns."), "",
             "| pipeline | images/s | CPU ms per image (all processes) | timed |", "|---|---:|---:|---|",
             t_row, j_row, s_row]
    if res["serial"]:
        lines.append(row("jaxdl DataLoader(ImageFolder, num_workers=0), in one process", res["serial"], "1 epoch")[0])
    lines += ["", (f"jaxdl / torch: **{j_med / t_med:.2f}x** images/s (workers running); CPU per image "
                   f"{j_cpu / t_cpu:.2f}x torch's. On a shared machine images/s follows the CPU share the "
                   "processes get; CPU time per image does not."), ""]
    return "\n".join(lines)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=1000, help="images in the folder (a multiple of 10)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="turns per side")
    p.add_argument("--epochs", type=int, default=2, help="timed epochs per side and turn")
    p.add_argument("--root", default=None, help="an existing ImageFolder to read instead of writing one")
    p.add_argument("--no-serial", action="store_true", help="skip the one-process jaxdl epoch")
    p.add_argument("--out", default=None, help="results file stem (default: benchmarks/results/images-<device>)")
    args = p.parse_args(argv)

    import jax
    import torch

    from benchmarks.run import device_name
    from jaxdl.data import write_image_folder

    # torch forks its workers from this process, where JAX runs threads; the workers
    # never touch JAX, so JAX's fork warning is noise here
    warnings.filterwarnings("ignore", message=".*os.fork.*")
    with tempfile.TemporaryDirectory() as tmp:
        root = args.root
        if root is None:
            t = time.perf_counter()
            root = str(write_image_folder(tmp, "fashion_mnist", per_class=args.images // 10, size=320, rgb=True))
            print(f"wrote {args.images} PNGs in {time.perf_counter() - t:.1f}s", file=sys.stderr)
        res = run(root, args.batch, args.workers, args.rounds, args.epochs, serial=not args.no_serial)
    dev = device_name()
    meta = (f"{dev}: {platform.machine()}, {os.cpu_count()} cores; jax {jax.__version__}, torch {torch.__version__}; "
            f"{datetime.date.today()}; `python -m benchmarks.images`")
    text = render(res, meta, args.batch, args.workers, args.epochs)
    out = Path(args.out) if args.out else RESULTS / f"images-{dev}"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    print(text)
    return res


if __name__ == "__main__":
    main()
