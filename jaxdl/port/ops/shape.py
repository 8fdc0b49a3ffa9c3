"""Shape ops: reshape, flatten, permute, cat, split, ... A permute or transpose changes
only the layout where it can (``x.permute(0, 2, 3, 1)`` of an NHWC image is the array
as it is; ``x.permute(0, 3, 1, 2)`` back to NCHW before a convolution is nothing either);
a reshape keeps the layout when its groups of dims are contiguous in the JAX array (a
channel shuffle on an NHWC image stays NHWC); otherwise the value is converted to
torch's order first."""

from __future__ import annotations

import ast
import itertools

from jaxdl.port import layout as L
from jaxdl.port.capture import Ref
from jaxdl.port.expr import X, call, const, is_symint, static
from jaxdl.port.registry import op, op_name


def size_args(g, src, dims) -> list[ast.expr]:
    """Reshape sizes as expressions; a literal leading size equal to the input's leading
    size (a specialised batch) becomes ``x.shape[0]``."""
    out = []
    in_shape = g.shape(src)
    for i, d in enumerate(dims):
        if is_symint(d) or isinstance(d, (Ref, ast.AST)):
            out.append(d if isinstance(d, ast.AST) else g.ref(d))
        elif i == 0 and isinstance(d, int) and d > 1 and in_shape and static(in_shape[0]) == d and g.ndim(src) > 0 \
                and not L.is_perm(g.lay(src)):
            out.append(X("A.shape[0]", A=g.ref(src)))
        else:
            out.append(const(d))
    return out


def reshape(g, n, a, dims):
    """``a.reshape(dims)`` (torch order) for the value ``n``, keeping ``a``'s layout
    where the reshape allows."""
    out_shape, in_shape, lay = g.shape(Ref(n.name)), g.shape(a), g.lay(a)
    if lay == L.IMAGE and L.is_flatten(in_shape, out_shape) and all(static(v) is not None for v in in_shape[1:]):
        # (a flatten of an image whose size depends on the input: in torch's order, below)
        return g.emit(n.name, X("flatten(A)", A=g.ref(a)), L.flat_layout(in_shape))
    if [str(s) for s in out_shape] == [str(s) for s in in_shape] and not isinstance(lay, L.Flat):
        return g.emit_alias(n.name, g.ref(a), lay)
    if L.is_perm(lay):
        found, have = L.regroup(lay, in_shape, out_shape), lay
        if found is None:
            have = L.regroup_target(lay, in_shape, out_shape)
            found = L.regroup(have, in_shape, out_shape) if have is not None else None
        if found is not None:
            jax_dims, new = found
            sizes = size_args(g, a, dims)
            args = [sizes[d] for d in jax_dims]
            return g.emit(n.name, ast.Call(func=ast.Attribute(value=g.ref(a, have), attr="reshape", ctx=ast.Load()),
                                           args=args, keywords=[]), new)
    g.emit(n.name, ast.Call(func=ast.Attribute(value=g.ref(a, L.PLAIN), attr="reshape", ctx=ast.Load()),
                            args=size_args(g, a, dims), keywords=[]), L.PLAIN)


@op("view", "reshape", "_unsafe_view", "view_copy", "_reshape_alias")
def view(g, n):
    a = n.arg("self")
    dims = n.arg("size") if n.arg("size") is not None else n.arg("shape")
    reshape(g, n, a, list(dims))


def _permute(g, n, a, q):
    ndim = g.ndim(a)
    q = [d % ndim for d in q]
    lay = g.lay(a)
    if isinstance(lay, L.Flat):
        lay = L.PLAIN
    new = L.permuted(lay, q, ndim)
    if L.is_perm(lay) or new in (L.PLAIN, L.channels_last(ndim)):
        # only the layout changes: the JAX array stays as it is
        return g.emit_alias(n.name, g.ref(a, lay), new)
    if ndim == 2:
        return g.emit(n.name, X("A.T", A=g.ref(a, L.PLAIN)), L.PLAIN)
    swapped = [i for i in range(ndim) if q[i] != i]
    if len(swapped) == 2:
        return g.emit(n.name, call("jnp.swapaxes", g.ref(a, L.PLAIN), *swapped), L.PLAIN)
    g.emit(n.name, X("A.transpose(q)", A=g.ref(a, L.PLAIN), q=tuple(q)), L.PLAIN)


@op("permute")
def permute(g, n):
    _permute(g, n, n.arg("self"), list(n.arg("dims")))


@op("transpose", "swapaxes", "swapdims")
def transpose(g, n):
    a = n.arg("self")
    ndim = g.ndim(a)
    d0, d1 = n.arg("dim0", n.arg("axis0")) % ndim, n.arg("dim1", n.arg("axis1")) % ndim
    q = list(range(ndim))
    q[d0], q[d1] = q[d1], q[d0]
    _permute(g, n, a, q)


@op("t", "numpy_T")
def t(g, n):
    a = n.arg("self")
    _permute(g, n, a, list(range(g.ndim(a)))[::-1])


@op("unsqueeze")
def unsqueeze(g, n):
    a = n.arg("self")
    d = n.arg("dim") % (g.ndim(a) + 1)
    idx = ", ".join([":"] * d + ["None"])
    g.emit(n.name, X(f"A[{idx}]", A=g.ref(a, L.PLAIN)), L.PLAIN)


@op("squeeze")
def squeeze(g, n):
    a = n.arg("self")
    shape, ndim, lay = g.shape(a), g.ndim(a), g.lay(a)
    dims = n.arg("dim")
    dims = [i for i, s in enumerate(shape) if static(s) == 1] if dims is None else [dims] if isinstance(dims, int) \
        else list(dims)
    dims = [d % ndim for d in dims if static(shape[d % ndim]) == 1]
    if not dims:
        return g.emit_alias(n.name, g.ref(a), lay)
    lay = lay if L.is_perm(lay) else L.PLAIN
    axes = sorted(L.axis(lay, d, ndim) for d in dims)
    g.emit(n.name, X("A.squeeze(d)", A=g.ref(a, lay), d=axes[0] if len(axes) == 1 else tuple(axes)),
           L.reduced(lay, dims, ndim, False))


@op("expand", "expand_copy")
def expand(g, n):
    a, sizes = n.arg("self"), list(n.arg("size"))
    off = len(sizes) - g.ndim(a)
    dims = [X("A.shape[i]", A=g.ref(a, L.PLAIN), i=i - off) if not is_symint(s) and s == -1 else g.ref(s)
            for i, s in enumerate(sizes)]
    g.emit(n.name, X("jnp.broadcast_to(A, S)", A=g.ref(a, L.PLAIN), S=ast.Tuple(elts=dims, ctx=ast.Load())), L.PLAIN)


@op("repeat")
def repeat(g, n):
    g.emit(n.name, X("jnp.tile(A, r)", A=g.ref(n.arg("self"), L.PLAIN), r=tuple(n.arg("repeats"))), L.PLAIN)


@op("cat", "concat", "concatenate")
def cat(g, n):
    tensors = [t for t in n.arg("tensors") if not (isinstance(t, Ref) and tuple(g.shape(t)) == (0,))]
    lay, elts = g.common(tensors, same_rank=True)
    ndim = g.ndim(tensors[0])
    g.emit(n.name, call("jnp.concatenate", whole_list(g, elts), axis=L.last(L.axis(lay, n.arg("dim", 0), ndim), ndim)),
           lay)


def whole_list(g, elts: list) -> ast.expr:
    """``[input[0], input[1], input[2]]`` is ``input`` when ``input`` is a list argument
    of three tensors (``torch.cat(input, 1)``)."""
    names = {e.value.id for e in elts if isinstance(e, ast.Subscript) and isinstance(e.value, ast.Name)}
    if len(names) == 1 and all(isinstance(e, ast.Subscript) and isinstance(e.slice, ast.Constant)
                               and e.slice.value == i for i, e in enumerate(elts)):
        name = names.pop()
        size = sum(1 for e in g.local_alias.values() if isinstance(e, ast.Subscript)
                   and isinstance(e.value, ast.Name) and e.value.id == name)
        if size == len(elts):
            return ast.Name(id=name, ctx=ast.Load())
    return ast.List(elts=elts, ctx=ast.Load())


@op("stack")
def stack(g, n):
    elts = [g.ref(t, L.PLAIN) for t in n.arg("tensors")]
    g.emit(n.name, call("jnp.stack", whole_list(g, elts), axis=n.arg("dim", 0)), L.PLAIN)


@op("split", "split_with_sizes", "chunk", "unbind", "tensor_split", "unsafe_split", "unsafe_chunk")
def split(g, n):
    """``a, b = x.split(...)``: one statement, a name per part."""
    name = op_name(n.target)
    a = n.arg("self")
    shape, ndim = g.shape(a), g.ndim(a)
    lay = g.lay(a) if not isinstance(g.lay(a), L.Flat) else L.PLAIN
    d = n.arg("dim", 0) % ndim
    ax = L.last(L.axis(lay, d, ndim), ndim)
    if name == "unbind":
        k = static(shape[d])
        expr, out = X("jnp.unstack(A, axis=d)", A=g.ref(a, lay), d=ax), L.removed(lay, d, ndim)
    else:
        size = static(shape[d])
        if size is None and name not in ("split_with_sizes",) and not (
                name in ("split", "unsafe_split") and not isinstance(n.arg("split_size"), int)):
            return g.fallback(n)  # parts of a size that depends on the input: jaxdl.aten's
        if name in ("chunk", "unsafe_chunk"):
            k = n.arg("chunks")
            sections = k if size % k == 0 else list(range(-(-size // k), size, -(-size // k)))
            k = len(sections) + 1 if isinstance(sections, list) else k
        elif name in ("split", "unsafe_split") and isinstance(n.arg("split_size"), int):
            step = n.arg("split_size")
            k = -(-size // step)
            sections = k if size % step == 0 else list(range(step, size, step))
        elif name == "tensor_split":
            return g.fallback(n)
        else:
            sizes = list(n.arg("split_sizes") if n.arg("split_sizes") is not None else n.arg("split_size"))
            k = len(sizes)
            if all(static(z) is not None for z in sizes):
                sections = list(itertools.accumulate(static(z) for z in sizes))[:-1]
            else:  # sizes that depend on the input (``[1, t - 1]``): the offsets as expressions
                sections, at = [], 0
                for z in sizes[:-1]:
                    at = at + static(z) if isinstance(at, int) and static(z) is not None \
                        else X("A + B", A=const(at), B=g.ref(z) if static(z) is None else const(static(z)))
                    sections.append(at)
                sections = ast.Tuple(elts=[const(x) for x in sections], ctx=ast.Load())
                size = 0  # the sections are known: no fallback for a symbolic dim
        if k is None or size is None:
            return g.fallback(n)
        expr, out = X("jnp.split(A, s, axis=d)", A=g.ref(a, lay), s=sections, d=ax), lay
    g.emit_tuple([None] * int(k), expr, list(range(int(k))), hint="part", tuple_of=n.name, slot_layout=out)
