"""The jaxdl.aten registry: every registered op has a test case, a name is registered
once, and each function's parameters are the ATen schema's names and defaults."""

import inspect
import keyword

import pytest
import torch

from jaxdl import aten
from jaxdl.aten import registry
from tests.aten import (
    test_activation,
    test_attention,
    test_conv,
    test_creation,
    test_elementwise,
    test_indexing,
    test_linalg,
    test_loss,
    test_normalization,
    test_pooling,
    test_recurrent,
    test_reduction,
    test_sampling,
    test_shape,
    test_stochastic,
)
from tests.aten.runner import IGNORED, overload, python_arg

FAMILIES = (test_activation, test_attention, test_conv, test_creation, test_elementwise, test_indexing, test_linalg,
            test_loss, test_normalization, test_pooling, test_recurrent, test_reduction, test_sampling, test_shape,
            test_stochastic)
ALL_CASES = [c for m in FAMILIES for c in m.CASES]
TESTED = {c.op for c in ALL_CASES} | set(test_stochastic.STATISTICAL)


def test_every_registered_op_has_a_test_case():
    missing = sorted(set(aten.names()) - TESTED)
    assert not missing, f"registered ops without a test case: {missing}"


def test_a_duplicate_registration_raises():
    before = aten.names()
    with pytest.raises(ValueError, match="registered twice"):
        registry.aten_op("relu")(lambda self: self)
    with pytest.raises(ValueError, match="TRIVIAL"):
        registry.aten_op("sym_size")(lambda self: self)
    assert aten.names() == before and aten.get("relu") is aten.relu


def test_lookup_by_aten_name():
    assert aten.get("relu_") is aten.get("relu") is aten.relu
    assert aten.get("__iand__") is aten.get("__and__")
    assert aten.get("add_") is aten.add and aten.python_name("add_") == "add"
    assert aten.get("nonzero") is None and "nonzero" in aten.TRIVIAL
    assert aten.python_name("max") == "max" and aten.max is aten.get("max")
    assert not set(aten.names()) & set(aten.TRIVIAL)
    assert aten.names() == sorted(aten.names())


def _same_default(schema_arg, ours):
    want = schema_arg.default_value
    if want == ours:
        return True
    if isinstance(want, (list, tuple)) or isinstance(ours, (list, tuple)):
        want_t = tuple(want) if isinstance(want, (list, tuple)) else (want,)
        ours_t = tuple(ours) if isinstance(ours, (list, tuple)) else (ours,)
        return want_t == ours_t or (len(set(want_t)) == 1 and ours_t == want_t[:1]) or (
            len(set(ours_t)) <= 1 and len(want_t) >= 1 and set(want_t) <= set(ours_t))
    return False


SERVED = {}
for _c in ALL_CASES:
    SERVED.setdefault(_c.op, set()).add(_c.overload)


@pytest.mark.parametrize("op", sorted(SERVED))
def test_parameters_are_the_schema_arguments(op):
    """The porter calls with keywords bound to the schema: every argument of every
    overload served must be a parameter, with a default the schema gives it (where
    overloads disagree, conv2d's padding=[0, 0] or 'valid', one of theirs)."""
    params = inspect.signature(aten.get(op)).parameters
    schemas = [overload(type("C", (), {"op": op, "overload": name})())._schema for name in sorted(SERVED[op])]
    defaults = {}
    for schema in schemas:
        for arg in schema.arguments:
            if arg.name == "out":
                continue
            assert python_arg(arg.name) in params, f"aten.{op} has no parameter {python_arg(arg.name)!r} ({schema})"
            if arg.has_default_value() and arg.name not in IGNORED and arg.name != "dtype":
                defaults.setdefault(arg.name, []).append(arg)
    for name, args in defaults.items():
        ours = params[python_arg(name)].default
        assert ours is not inspect.Parameter.empty, f"aten.{op}: {name} needs a default ({args[0].default_value!r})"
        assert any(_same_default(a, ours) for a in args), \
            f"aten.{op}: {name}={ours!r}, schema {[a.default_value for a in args]}"


def test_python_keywords_get_an_underscore():
    assert "from_" in inspect.signature(aten.uniform).parameters
    assert not any(keyword.iskeyword(p) for f in registry.table().values() for p in inspect.signature(f).parameters)


def test_no_torch_import_in_jaxdl_aten():
    import pathlib
    root = pathlib.Path(aten.__file__).parent
    offenders = [p.name for p in root.glob("*.py") if "import torch" in p.read_text()]
    assert not offenders, offenders
    assert torch  # the tests themselves compare with torch
