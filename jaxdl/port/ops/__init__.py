"""Op handlers by family, registered by ATen name in :data:`jaxdl.port.registry.OPS`.

Each handler is ``fn(g, node)``: it reads the op's arguments by their schema names
(``node.arg("dim")``), asks the generator for its inputs' expressions in the layout it
needs (``g.ref(x, want)``) and emits its value with the layout the result has
(``g.emit(node.name, expr, layout)``). Families: :mod:`.elementwise`, :mod:`.reduce`,
:mod:`.shape`, :mod:`.indexing`, :mod:`.creation`, :mod:`.nn`, :mod:`.attention`. An op
with no handler is a call of :mod:`jaxdl.aten` (``g.fallback``).
"""

from jaxdl.port.ops import (  # noqa: F401 - importing a family registers its handlers
    attention,
    creation,
    elementwise,
    indexing,
    nn,
    reduce,
    shape,
)
