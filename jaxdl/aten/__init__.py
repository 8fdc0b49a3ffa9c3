"""JAX implementations of PyTorch's ATen ops, by ATen name, with torch's semantics in
torch's layout (NCHW, (N, C, L), ...): what jaxdl.port emits for an op that has no more
idiomatic form, and what a person can call to get exactly torch's numbers.

    from jaxdl import aten
    y = aten.upsample_bilinear2d(x_NCHW, output_size=[64, 64], align_corners=False)

Calling convention (the porter's, and anyone's):

* One function per overload-free ATen name (``upsample_bilinear2d`` serves
  ``upsample_bilinear2d.default`` and ``.vec``); ``aten.get(name)`` finds it, also for an
  in-place name (``relu_``, ``__iand__``), ``aten.names()`` lists them. The attribute is
  the ATen name (``aten.max``, ``aten.slice``); ``aten.python_name(name)`` says so.
* Parameters are the schema's argument names (``torch.ops.aten.<name>.<overload>._schema``),
  the union over the overloads, with the schema's defaults; call with keywords from the
  bound schema, defaults included. A name that is a Python keyword gets a trailing
  underscore (``uniform``'s ``from`` is ``from_``).
* Tensors in, JAX arrays out; SymInts and scalars as Python numbers; dtypes as JAX/numpy
  dtypes, names or ``torch.dtype`` objects. ``layout``, ``device``, ``pin_memory``,
  ``memory_format``, ``generator`` are accepted and ignored.
* Ops with several outputs return a tuple as ATen does (``max(dim=...)`` -> (values,
  indices)); list outputs (``split``, ``unbind``) are lists.
* In-place ops are functions: the result is the value ``self`` holds afterwards. A write
  into a view is written back with the view's ``*_scatter`` (``slice_scatter``,
  ``select_scatter``, ``index_put``, ...).
* An op that updates buffers in place in torch returns ATen's outputs followed by the
  buffers' new values: ``batch_norm(...) -> (output, running_mean, running_var)``,
  ``native_batch_norm(...) -> (output, save_mean, save_invstd, running_mean,
  running_var)``, ``instance_norm(...) -> (output, running_mean, running_var)`` (None for
  a buffer passed as None; unchanged outside training).
* Random ops (dropout variants, bernoulli, rand*, attention and RNN dropout) take a JAX
  PRNG key as the keyword ``rng``; in eval they need none.

Dtypes follow torch: type promotion (integer tensors + Python floats -> float32, 0-d
tensors do not widen dimensioned ones), integer division with ``rounding_mode``,
``remainder``'s sign, exact integer powers, ``round`` half to even, integer sums as
int64, ``mean`` on integers refused. JAX runs without x64 here (jaxdl never enables it):
torch's int64 results are int32 arrays and float64 ones float32.

Every function is jax.jit-compatible with static shapes: no Python control flow on
array values. Ops whose output shape depends on data (``nonzero``, ``unique``,
``masked_select``, ``x[bool_mask]`` reads) are refused: torch.export refuses them too.
``registry.TRIVIAL`` lists the graph ops the porter handles without a function.
"""

from jaxdl.aten import (  # noqa: F401 - importing a family registers its ops
    activation,
    attention,
    conv,
    creation,
    elementwise,
    indexing,
    linalg,
    loss,
    normalization,
    pooling,
    recurrent,
    reduction,
    sampling,
    shape,
    sorting,
    stochastic,
)
from jaxdl.aten.registry import TRIVIAL, functional_name, get, names, python_name, table

_OPS = table()
globals().update(_OPS)

__all__ = ["TRIVIAL", "functional_name", "get", "names", "python_name"]
__all__.extend(sorted(_OPS))
