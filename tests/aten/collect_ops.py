"""Collect the ops that ``torch.export.export`` (non-strict, no decompositions run) puts in
the graphs of torchvision's classification and segmentation builders and of the
constructs in tests/aten/modules.py, in eval and in train mode; write them to
tests/aten/zoo_ops.json, which tests/aten/test_coverage.py checks against jaxdl.aten.

    PYTHONPATH=. python -m tests.aten.collect_ops            # everything (about 5 minutes)
    PYTHONPATH=. python -m tests.aten.collect_ops resnet18 sdpa   # only these, merged in
    PYTHONPATH=. python -m tests.aten.collect_ops --missing       # what the file does not have yet

torchvision's models are built on the ``meta`` device (no weights drawn: the op graph is
the same and the 600M-parameter builders take a second), at their canonical input size
and at a small one where the builder accepts it (swin pads at 64 px, not at 224). Each
graph is exported three ways: eval, train, and eval with a dynamic batch dimension
(``Dim.AUTO``, what the porter captures with), so ``sym_size`` and friends show up.
"""

from __future__ import annotations

import contextlib
import json
import pathlib
import sys
import time

import torch

from tests.aten.modules import CONSTRUCTS
from torch_reference.vision import models

OUT = pathlib.Path(__file__).with_name("zoo_ops.json")
CANONICAL = {"inception_v3": 299}
SMALL = 64  # the small input; builders that refuse it are recorded at their canonical size only


def graph_ops(module, args, dynamic_batch=False):
    """Sorted ``str(target)`` of every call_function node: ``aten.conv2d.default``, ..."""
    shapes = None
    if dynamic_batch:
        shapes = tuple({0: torch.export.Dim.AUTO} if isinstance(a, torch.Tensor) and a.dim() else None
                       for a in args)
    ep = torch.export.export(module, args, dynamic_shapes=shapes, strict=False)
    return sorted({str(n.target) for n in ep.graph.nodes if n.op == "call_function"})


def export_all(module, args):
    """{mode: ops} for eval, train and eval with a dynamic batch; a failure is recorded
    as ``{"error": message}`` instead of ops."""
    found = {}
    for mode, train, dynamic in (("eval", False, False), ("train", True, False), ("eval_dynamic_batch", False, True)):
        module.train(train)
        try:
            found[mode] = graph_ops(module, args, dynamic)
        except Exception as e:  # noqa: BLE001 - recorded in the data file, with its reason
            found[mode] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"}
    return found


@contextlib.contextmanager
def _no_init():
    """Skip weight initialisation while building (the op graph does not depend on it)."""
    saved = {n: getattr(torch.nn.init, n) for n in ("kaiming_normal_", "kaiming_uniform_", "normal_", "uniform_",
                                                    "zeros_", "ones_", "constant_", "trunc_normal_",
                                                    "xavier_uniform_")}
    for n in saved:
        setattr(torch.nn.init, n, lambda t, *a, **k: t)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


def zoo_entries(names):
    tv = models()
    builders = {n: "classification" for n in tv.list_models(module=tv)}
    builders.update({n: "segmentation" for n in tv.list_models(module=tv.segmentation)})
    for name, kind in builders.items():
        if names and name not in names:
            continue
        t0 = time.time()
        kw = {"weights_backbone": None} if kind == "segmentation" else {}
        try:
            with torch.device("meta"):
                model = tv.get_model(name, weights=None, **kw)
            device = "meta"
        except NotImplementedError:  # regnet computes its widths with tensors: build on the CPU
            with _no_init():
                model = tv.get_model(name, weights=None, **kw)
            device = "cpu"
        entry = {"kind": kind}
        for size in sorted({CANONICAL.get(name, 224), SMALL}):
            x = torch.empty(2, 3, size, size, device=device)
            entry[str(size)] = export_all(model, (x,))
        print(f"{name}: {time.time() - t0:.1f}s", file=sys.stderr, flush=True)
        yield name, entry


def construct_entries(names):
    for name, (build, inputs) in CONSTRUCTS.items():
        if names and name not in names:
            continue
        torch.manual_seed(0)
        module = build()
        args = inputs(torch.Generator().manual_seed(0))
        yield name, export_all(module, args)
        print(f"{name}: done", file=sys.stderr, flush=True)


def main(names):
    data = json.loads(OUT.read_text()) if OUT.exists() and names else {"zoo": {}, "constructs": {}}
    data["versions"] = {"torch": torch.__version__, "torchvision": models().__name__ and
                        sys.modules["torchvision"].__version__}
    for name, entry in construct_entries(names):
        data["constructs"][name] = entry
    for name, entry in zoo_entries(names):
        data["zoo"][name] = entry
        OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    wanted = set(sys.argv[1:])
    if wanted == {"--missing"}:
        have = json.loads(OUT.read_text())
        tv = models()
        every = set(tv.list_models(module=tv)) | set(tv.list_models(module=tv.segmentation)) | set(CONSTRUCTS)
        wanted = every - set(have["zoo"]) - set(have["constructs"])
    main(wanted)
