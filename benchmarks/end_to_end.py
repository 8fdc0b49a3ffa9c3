"""Whole runs, wall clock, process start to exit: what a user waits for.

    python -m benchmarks.end_to_end                  # Fashion-MNIST, the notes' recipe (5 epochs, batch 10)
    python -m benchmarks.end_to_end --epochs 1       # shorter

Rows (each a fresh process, nothing else running):

* ``python -m experiments.mnist_cnn --dataset fashion_mnist`` with an empty compile
  cache (first run: compilation included), then again with the cache warm;
* the notes' PyTorch loop (notes 000: ``ConvolutionalNetwork``, ``torch.manual_seed(101)``,
  Adam 1e-3, ``DataLoader(batch_size=10, shuffle=True)``, an evaluation pass at the end)
  on the same IDX files. Its data are tensors in a ``TensorDataset`` (the notes use
  ``datasets.FashionMNIST(transform=ToTensor())``, which converts each image on every
  access and is slower): PyTorch is given the faster input pipeline.

jaxdl's run does more than the notes' loop: it also evaluates the test set after every
epoch, checkpoints every epoch, and writes the report and plots. Results go to
``benchmarks/results/end_to_end-<device>.md``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
FASHION = Path("/usr/share/datasets/fashion-mnist")


def _idx(path: Path):
    import numpy as np

    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def torch_notes_loop(data_dir: Path, epochs: int) -> dict:
    """The notes' training and test loops for the MNIST CNN (torch only, no jaxdl import)."""
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from torch_reference import ConvolutionalNetwork

    torch.set_num_threads(os.cpu_count())
    load = lambda name: torch.from_numpy(_idx(data_dir / name).copy())
    x_tr = load("train-images-idx3-ubyte.gz").float().div(255).unsqueeze(1)
    y_tr = load("train-labels-idx1-ubyte.gz").long()
    x_te = load("t10k-images-idx3-ubyte.gz").float().div(255).unsqueeze(1)
    y_te = load("t10k-labels-idx1-ubyte.gz").long()
    torch.manual_seed(101)
    train_loader = DataLoader(TensorDataset(x_tr, y_tr), batch_size=10, shuffle=True)
    test_loader = DataLoader(TensorDataset(x_te, y_te), batch_size=10, shuffle=False)
    model = ConvolutionalNetwork()
    criterion = nn.NLLLoss()
    optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
    for i in range(epochs):
        for X_train, y_train in train_loader:
            y_pred = model(X_train)
            loss = criterion(y_pred, y_train)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        print(f"{i + 1} of {epochs} epochs completed and loss: {loss}", flush=True)
    model.eval()
    with torch.no_grad():
        correct = 0
        for X_test, y_test in test_loader:
            correct += (torch.max(model(X_test), 1)[1] == y_test).sum()
    acc = correct.item() / len(y_te)
    print(f"Test accuracy: {correct.item()}/{len(y_te)} = {100 * acc:7.3f}%")
    return {"test_accuracy": acc}


def _timed(cmd, env) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    return time.perf_counter() - t0, out.stdout


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--data-dir", type=Path, default=FASHION, help="folder with Fashion-MNIST's IDX files")
    p.add_argument("--torch-loop", action="store_true", help=argparse.SUPPRESS)  # the child process
    p.add_argument("--out", default=None)
    args = p.parse_args(argv)
    if args.torch_loop:
        print(json.dumps(torch_notes_loop(args.data_dir, args.epochs)))
        return None
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "JAXDL_COMPILE_CACHE": f"{tmp}/xla"}
        jax_cmd = lambda run: [sys.executable, "-m", "experiments.mnist_cnn", "--dataset", "fashion_mnist",
                               "--data-dir", str(args.data_dir), "--epochs", str(args.epochs), "--no-progress",
                               "--workdir", f"{tmp}/{run}"]
        for run, label in (("cold", "jaxdl, compile cache empty"), ("warm", "jaxdl, compile cache warm")):
            wall, _ = _timed(jax_cmd(run), env)
            acc = json.loads(Path(tmp, run, "metrics.json").read_text())["test_accuracy"]
            rows.append({"run": label, "wall_s": wall, "test_accuracy": acc})
            print(f"{label:34s} {wall:6.1f} s  test accuracy {100 * acc:.2f}%", flush=True)
        wall, out = _timed([sys.executable, "-m", "benchmarks.end_to_end", "--torch-loop", "--epochs",
                            str(args.epochs), "--data-dir", str(args.data_dir)], env)
        acc = json.loads(out.strip().splitlines()[-1])["test_accuracy"]
        rows.append({"run": "PyTorch, the notes' loop", "wall_s": wall, "test_accuracy": acc})
        print(f"{'PyTorch, the notes loop':34s} {wall:6.1f} s  test accuracy {100 * acc:.2f}%", flush=True)
    import jax
    import torch

    device = jax.devices()[0]
    name = f"cpu-{os.cpu_count()}core" if device.platform == "cpu" else device.device_kind.lower().replace(" ", "-")
    lines = [f"# End to end: the notes' MNIST CNN on Fashion-MNIST ({name})", "",
             (f"{args.epochs} epochs, batch 10, Adam 1e-3, seed 101; jax {jax.__version__}, torch {torch.__version__}; "
             f"{time.strftime('%Y-%m-%d')}; `python -m benchmarks.end_to_end`"), "",
             ("Wall clock of a whole process (imports, data, compilation, training, evaluation, files). jaxdl's run "
             "also evaluates and checkpoints every epoch and writes plots; PyTorch gets pre-converted tensors."), "",
             "| run | wall s | test accuracy |", "|---|---:|---:|",
             *[f"| {r['run']} | {r['wall_s']:.1f} | {100 * r['test_accuracy']:.2f}% |" for r in rows], ""]
    stem = Path(args.out) if args.out else RESULTS / f"end_to_end-{name}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text("\n".join(lines))
    stem.with_suffix(".json").write_text(json.dumps(rows, indent=1))
    print(f"wrote {stem.with_suffix('.md')}")
    return rows


if __name__ == "__main__":
    main()
