"""The records of one generated body: the statement candidates of a ``__call__``
(:class:`Item`), a body being written (:class:`BodyCode`) and the module instance it belongs
to (:class:`Instance`). The generator (:mod:`jaxdl.port.codegen`) fills them and the
emitter (:mod:`jaxdl.port.emit`) renders them; both import them from here.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any


@dataclasses.dataclass
class Item:
    """One statement candidate of a body: its outputs and expression (with V refs)."""

    outputs: list            # value names (None for an unused tuple slot)
    expr: ast.expr | None
    line: int | None
    multi: bool = False      # the expression returns a tuple (one name per output)
    raise_: str = ""         # a stub: raise NotImplementedError(raise_)
    hint: str = ""           # a name to use when the source line gives none
    tuple_shape: Any = None  # nested structure of the targets, e.g. [0, [1, 2]]
    rebinds: str = ""        # the value it is the new version of (``x[:, :2] = v`` rebinds x)
    tuple_of: tuple = ()     # the graph value whose items it names (split, chunk, unbind)
    slot_layout: Any = None  # the layout of those items


class BodyCode:
    def __init__(self, inst: Instance, body, source):
        self.inst, self.body, self.source = inst, body, source
        self.items: list[Item] = []
        self.stopped = False
        self.element_error = ""  # an nn.Sequential element that could not be ported (partial=True)


@dataclasses.dataclass
class Instance:
    path: str
    module: Any
    cls: str
    kind: str
    code: BodyCode | None = None
    lines: list[str] | None = None     # the rendered __call__ body
    attrs: dict = dataclasses.field(default_factory=dict)        # extra attributes (functional dropout)
    elements: dict = dataclasses.field(default_factory=dict)     # Sequential: index -> element spec
    own_params: dict = dataclasses.field(default_factory=dict)   # its own nn.Parameters / buffers
    arg_names: list = dataclasses.field(default_factory=list)
    in_layouts: list | None = None     # the layouts its __call__ takes and returns
    out_layouts: list | None = None
    functional: bool = False           # a torch layer computed from its own weights (no jaxdl layer)
    stub: str = ""                     # a layer that cannot be ported (partial=True: its __call__ raises)
    constants: dict = dataclasses.field(default_factory=dict)  # non-persistent buffers
