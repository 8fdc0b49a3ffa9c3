"""Every op torch.export puts in the graphs of torchvision's classification and
segmentation builders and of the constructs in tests/aten/modules.py (collected in
zoo_ops.json by tests/aten/collect_ops.py) has a jaxdl.aten function or is listed as
TRIVIAL, and each function accepts the arguments of the overloads seen there."""

import inspect
import json
import pathlib

import pytest
import torch

from jaxdl import aten
from tests.aten.modules import CONSTRUCTS
from tests.aten.runner import python_arg
from torch_reference.vision import models

DATA = json.loads(pathlib.Path(__file__).with_name("zoo_ops.json").read_text())

# Python-level operations on symbolic sizes (``x.size(0) * 2``): the porter writes them as Python
PYTHON_OPS = {"<built-in function getitem>", "<built-in function mul>", "<built-in function add>",
              "<built-in function sub>", "<built-in function floordiv>", "<built-in function truediv>",
              "<built-in function mod>", "<built-in function neg>", "<built-in function eq>",
              "<built-in function ne>", "<built-in function lt>", "<built-in function le>",
              "<built-in function gt>", "<built-in function ge>", "<built-in function pow>"}

# graphs torch.export itself cannot capture, and why
EXPORT_FAILS = {
    ("inception_v3", "64"): "inception_v3 needs at least 75x75 input",
    ("maxvit_t", "64"): "maxvit_t's window partition needs 224x224 input",
    **{(f"vit_{v}", "64"): "ViT's position embedding fixes the input at 224x224"
       for v in ("b_16", "b_32", "h_14", "l_16", "l_32")},
    ("batch_norm_cumulative", None): "BatchNorm(momentum=None) in training: torch computes "
                                     "1 / float(num_batches_tracked), data-dependent",
}


def _graphs():
    """(source, size or None, mode, ops or error) for every graph in the data file."""
    for name, entry in DATA["zoo"].items():
        for size, modes in entry.items():
            if size != "kind":
                for mode, ops in modes.items():
                    yield name, size, mode, ops
    for name, modes in DATA["constructs"].items():
        for mode, ops in modes.items():
            yield name, None, mode, ops


GRAPHS = list(_graphs())
TARGETS = sorted({t for *_, ops in GRAPHS if isinstance(ops, list) for t in ops})
ATEN = [t for t in TARGETS if t.startswith("aten.")]


def _name(target):
    return target.split(".")[1]


def test_the_data_file_has_every_builder_and_construct():
    tv = models()
    assert set(DATA["zoo"]) == set(tv.list_models(module=tv)) | set(tv.list_models(module=tv.segmentation))
    assert len(DATA["zoo"]) == 86
    assert set(DATA["constructs"]) == set(CONSTRUCTS)


def test_only_known_export_failures():
    failed = {(name, size if name in DATA["zoo"] else None) for name, size, _, ops in GRAPHS if isinstance(ops, dict)}
    assert failed <= set(EXPORT_FAILS), sorted(failed - set(EXPORT_FAILS))
    for name, _size, _mode, _ops in GRAPHS:  # every builder exported at one size at least
        if name in DATA["zoo"]:
            assert any(isinstance(o, list) for s, m in DATA["zoo"][name].items() if s != "kind"
                       for o in m.values()), name


def test_every_op_is_implemented_or_trivial():
    missing = sorted({_name(t) for t in ATEN if aten.get(_name(t)) is None and _name(t) not in aten.TRIVIAL})
    assert not missing, f"ops in exported graphs with neither a jaxdl.aten function nor a TRIVIAL entry: {missing}"
    others = sorted(set(TARGETS) - set(ATEN) - PYTHON_OPS)
    assert not others, f"graph targets that are neither ATen ops nor Python size arithmetic: {others}"


@pytest.mark.parametrize("target", [t for t in ATEN if aten.get(_name(t)) is not None])
def test_the_function_takes_the_overloads_arguments(target):
    _, name, overload = target.split(".")
    schema = getattr(getattr(torch.ops.aten, name), overload)._schema
    params = inspect.signature(aten.get(name)).parameters
    absent = [a.name for a in schema.arguments if a.name != "out" and python_arg(a.name) not in params]
    assert not absent, f"aten.{aten.python_name(name)} lacks {absent} of {schema}"
