"""The porter's two tables: op handlers by ATen name and layer handlers by torch class.

``@op("add", "sub")`` registers a handler ``fn(g, node)`` for the overload-free ATen
names (``aten.add.Tensor`` and ``aten.add_.Tensor`` both find ``add``); ``@layer("LSTM")``
registers how a torch layer with a jaxdl counterpart is called. A name registered twice
is refused at import. Handlers live by family in :mod:`jaxdl.port.ops` (one file each:
elementwise, reduce, shape, indexing, creation, nn, attention, recurrent, ...); a layer
without a handler of its own is called by the rule of its jaxdl record's
``torch_layout`` (:mod:`jaxdl.port.layers`).

An op without a handler is written as a call of its JAX implementation in
:mod:`jaxdl.aten` (torch's layout, converted at the edges): "unsupported" is left for
ops neither has, and for what ``torch.export`` cannot capture.

How to add an op family: write ``jaxdl/port/ops/<family>.py`` with handlers decorated
``@op(...)``, import it in ``jaxdl/port/ops/__init__.py``, and add a module per
construct to tests/port (the registry walk in tests/port/test_port_registry.py fails
for a registered op no test runs).
"""

from __future__ import annotations

from collections.abc import Callable


class Registry:
    """``name -> handler``; a name registered twice is refused."""

    def __init__(self, what: str):
        self.what = what
        self._table: dict[str, Callable] = {}

    def register(self, *names: str) -> Callable[[Callable], Callable]:
        if not names:
            raise ValueError(f"register a {self.what} handler under at least one name")

        def deco(fn: Callable) -> Callable:
            for name in names:
                if name in self._table:
                    old = self._table[name]
                    raise ValueError(f"jaxdl.port: {self.what} {name!r} registered twice ({old.__module__}."
                                     f"{old.__qualname__} and {fn.__module__}.{fn.__qualname__})")
                self._table[name] = fn
            return fn

        return deco

    def get(self, name: str) -> Callable | None:
        return self._table.get(name)

    def names(self) -> list[str]:
        return sorted(self._table)

    def __contains__(self, name: str) -> bool:
        return name in self._table


OPS = Registry("op")        # overload-free ATen name (or "namespace.name" of another library's op) -> fn(g, node)
LAYERS = Registry("layer")  # torch class name -> fn(g, call, module, attribute expression)
op = OPS.register
layer = LAYERS.register

# ops that compute no value of the generated code (checks and hints torch.export adds,
# sizes read from shapes: the code reads them from its arrays)
NO_VALUE = frozenset({
    "_assert_tensor_metadata", "_assert_scalar", "_assert_async", "sym_constrain_range_for_size",
    "sym_constrain_range", "_check_is_size", "sym_size", "sym_numel", "sym_stride", "sym_storage_offset",
    "_set_grad_enabled", "set_grad_enabled", "_enter_autocast", "_exit_autocast", "requires_grad_",
    "retain_grad", "record_stream", "_operator.mul", "_operator.add", "_operator.floordiv", "_operator.sub",
    "_operator.truediv", "_operator.neg", "_operator.mod", "_operator.pow", "_operator.eq", "_operator.ne",
    "_operator.lt", "_operator.le", "_operator.gt", "_operator.ge", "math.ceil", "math.floor", "math.trunc",
    "builtins.int", "builtins.float", "torch.sym_max", "torch.sym_min", "torch.sym_float", "torch.sym_int",
    "torch.sym_not", "torch.sym_sqrt",
})


def op_name(target: str) -> str:
    """``aten.relu_.default`` -> ``relu_``; another library's op keeps its namespace
    (``jaxdl_port.dropout.default`` -> ``jaxdl_port.dropout``); Python callables their
    dotted name."""
    parts = target.split(".")
    if parts[0] == "aten" and len(parts) >= 2:
        return parts[1]
    if len(parts) == 3 and parts[2] in ("default", "Tensor", "Scalar") or len(parts) == 3:
        return ".".join(parts[:2])
    return target
