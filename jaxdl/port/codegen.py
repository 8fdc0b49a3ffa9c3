"""The generator: walks the captured graph module call by module call and turns each op
into an expression, each submodule call into a call of its NNX counterpart.

One class per torch module class, under torch's class name; submodules under their torch
attribute names (``nn.Sequential`` -> ``nnx.Sequential``, ``nn.ModuleList`` ->
``nnx.List``, a named ``nn.Sequential`` -> ``NamedSequential``) so that ``jaxdl.interop``
maps every state_dict key. A torch layer with a jaxdl counterpart is that layer
(:mod:`jaxdl.port.layers`); one without computes with its own weights, held in torch's
layout under torch's names. Ops are written by their handlers (:mod:`jaxdl.port.ops`,
by ATen name) or, without one, as a call of :mod:`jaxdl.aten`. Every value has a layout
(:mod:`jaxdl.port.layout`) and is converted exactly where a consumer needs another.
:mod:`jaxdl.port.emit` then writes the statements and the classes.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import inspect
import keyword
from typing import Any

from jaxdl import aten
from jaxdl.layers import TORCH_LAYERS
from jaxdl.port import (
    emit,
    ops,  # noqa: F401 - registers the op handlers
)
from jaxdl.port import layers as port_layers
from jaxdl.port import layout as L
from jaxdl.port.body import BodyCode, Instance, Item
from jaxdl.port.capture import (
    Body,
    Call,
    Graph,
    Node,
    ParamRef,
    Ref,
    UnsupportedError,
    attribute_names,
    children,
    has_state,
    named,
    own_forward,
    single_leaf,
    where,
)
from jaxdl.port.expr import (
    PREFIX,
    RESERVED,
    Subst,
    V,
    X,
    call,
    const,
    copy,
    is_dtype,
    is_symint,
    jnp_dtype,
    method,
    refs_in,
    static,
)
from jaxdl.port.expr import unparse as unparse_expr
from jaxdl.port.registry import NO_VALUE, OPS, op_name
from jaxdl.port.specs import Ctor, Raw, Shape

__all__ = ["Generated", "generate", "supported"]

_IGNORED_ARGS = frozenset({"device", "layout", "pin_memory", "memory_format", "generator", "non_blocking"})


# ============================================================================ generator
class Generator:
    def __init__(self, graph: Graph, partial: bool = False):
        self.g = graph
        self.partial = partial
        self.layout: dict[str, Any] = {}
        self.alias: dict[str, ast.expr] = {}
        self.alias_owner: dict[str, Any] = {}  # value -> the body whose code made the alias
        self.inst: dict[str, Instance] = {}
        self.unsupported: list[UnsupportedError] = []
        self.torch_flatten: dict[str, tuple] = {}
        self.linear_calls: dict[str, int] = {}
        self.lazy_tuples: dict[str, dict[int, tuple[ast.expr, Any]]] = {}
        self.demands: dict[str, Any] = {}  # value -> the layout a layer in an nn.Sequential wants it in
        self.local_alias: dict[str, ast.expr] = {}  # inputs inside a structured argument: ``input[1]``
        self.param_args: dict[str, ast.expr] = {}  # a parameter or buffer passed in as an argument -> its name
        self.leaf_path = None
        self.cur_line = None
        self.cur_inputs: list = []
        for path, info in graph.modules.items():
            self.inst[path] = Instance(path, info.module, info.cls, info.kind)
        self.code: BodyCode | None = None
        self.ties: dict[str, list[tuple[str, str]]] = {}  # ancestor path -> [(variable, the variable it is)]
        self.buffers: dict[str, str] = {}  # non-persistent buffer key -> its NNX path (filled by port())
        plan_weights(self)

    @staticmethod
    def chain(inst) -> bool:
        """An nn.Sequential or nn.ModuleList whose call is the chain of its layers (no
        forward of its own): its layers are elements, its values converted by its caller."""
        return inst.kind in ("sequential", "list") and not own_forward(inst.module)

    # ---------------------------------------------------------------- values
    def shape(self, r) -> tuple:
        if isinstance(r, ParamRef):
            if r.kind == "CONSTANT_TENSOR":
                return tuple(self.g.consts[r.key].shape)
            return tuple(self.g.root.get_parameter(r.key).shape) if r.kind == "PARAMETER" \
                else tuple(self.g.root.get_buffer(r.key).shape)
        v = self.g.values.get(r.name) if isinstance(r, Ref) else None
        return tuple(v.shape) if hasattr(v, "shape") else ()

    def ndim(self, r) -> int:
        return len(self.shape(r))

    def dtype(self, r):
        if isinstance(r, ParamRef):
            return self.g.consts[r.key].dtype if r.kind == "CONSTANT_TENSOR" else self._tensor(r.key).dtype
        v = self.g.values.get(r.name) if isinstance(r, Ref) else None
        return getattr(v, "dtype", None)

    def _tensor(self, key):
        owner, _, name = key.rpartition(".")
        return getattr(self.g.root.get_submodule(owner) if owner else self.g.root, name)

    def lay(self, r):
        if isinstance(r, Ref):
            return self.layout.get(r.name, L.PLAIN)
        return L.PLAIN

    def root_layout(self, r):
        """The layout the model returns a value in: NHWC images stay so, the rest is torch's order."""
        return L.IMAGE if self.lay(r) == L.IMAGE else L.PLAIN

    def size(self, r, dim: int):
        """Torch dim ``dim`` of ``r``: an int when static, else ``x.shape[axis]``."""
        n = self.shape(r)[dim]
        if static(n) is not None:
            return static(n)
        lay = self.lay(r)
        return X("A.shape[i]", A=self.ref(r), i=L.axis(lay if L.is_perm(lay) else L.PLAIN, dim, self.ndim(r)))

    def ref(self, r, want=L.KEEP) -> ast.expr:
        """An expression for a value (a Ref, ParamRef, SymInt or constant), converted to
        layout ``want`` when given (``L.PLAIN`` is torch's order)."""
        if isinstance(r, ParamRef):  # in torch's layout
            e = self.param(r)
            if want is L.KEEP or want is L.PLAIN:
                return e
            if r.key in self.param_args and self.code is not None and self.chain(self.code.inst):
                self.demands[_value_key(r)] = want  # passed in: the caller converts, as for a value
                return e
            return self.convert(e, L.PLAIN, want, self.ndim(r), self.shape(r))
        if isinstance(r, Ref):
            val = self.g.values.get(r.name)
            if is_symint(val):
                return self.sym(val)
            e = self.local_alias.get(r.name) or self._alias(r.name)
            have = self.lay(r)
            if want is L.KEEP or want == have:
                return e
            if self.code is not None and self.chain(self.code.inst):
                # inside an nn.Sequential a layer cannot convert its input: the caller (or
                # the parameterless element before it) does, see render_sequential
                self.demands[r.name] = want
                return e
            return self.convert(e, have, want, self.ndim(r), self.shape(r))
        if isinstance(r, (list, tuple)):
            return ast.Tuple(elts=[self.ref(x, want) for x in r], ctx=ast.Load())
        if is_symint(r):
            return self.sym(r)
        if is_dtype(r):
            return X(jnp_dtype(r))
        return const(r)

    @staticmethod
    def convert(e, have, want, ndim, shape=None) -> ast.expr:
        """``e`` from layout ``have`` to ``want`` (a reshape when only size-1 axes move)."""
        if isinstance(have, L.Flat):
            c, h, w = have.chw
            e, have = X(f"A.reshape(-1, {h}, {w}, {c}).transpose(0, 3, 1, 2).reshape(-1, {c * h * w})", A=e), L.PLAIN
        if isinstance(want, L.Flat):
            c, h, w = want.chw
            return X(f"A.reshape(-1, {c}, {h}, {w}).transpose(0, 2, 3, 1).reshape(-1, {c * h * w})",
                     A=Generator.convert(e, have, L.PLAIN, ndim))
        q = L.transpose(have, want, ndim)
        if q is None:
            return e
        jax_shape = [static(s) for s in L.apply(have, shape)] if shape is not None else None
        if jax_shape and None not in jax_shape and jax_shape.count(1) >= ndim - 1:
            return method(e, "reshape", *[jax_shape[i] for i in q])  # a (1, C, 1, 1) tensor
        return ast.Call(func=ast.Attribute(value=e, attr="transpose", ctx=ast.Load()), args=[const(i) for i in q],
                        keywords=[])

    def common(self, operands, same_rank: bool = False):
        """(layout, expressions) for an elementwise op: the operands in one layout, the
        one most full-rank operands are in (an NHWC image keeps the op NHWC); operands of
        lower rank broadcast into it (a (C, 1, 1) tensor against an NHWC image: (C,))."""
        def tensor(o):
            return isinstance(o, ParamRef) or isinstance(o, Ref) and not is_symint(self.g.values.get(o.name))

        tensors = [o for o in operands if tensor(o) and self.ndim(o) > 0]
        if not tensors:
            return L.PLAIN, [self.ref(o) for o in operands]
        n = max(self.ndim(o) for o in tensors)
        full = [o for o in tensors if self.ndim(o) == n]
        lays = [self.lay(o) for o in full]
        flats = {lay for lay in lays if isinstance(lay, L.Flat)}
        if flats:
            chosen = lays[0] if len(set(lays)) == 1 and len(full) == len(tensors) else L.PLAIN
        else:
            counts = collections.Counter(lays)
            chosen = max(counts, key=lambda lay: (counts[lay], lay is not L.PLAIN))
        out = []
        for o in operands:
            if not tensor(o) or self.ndim(o) == 0:
                out.append(self.ref(o))
            elif self.ndim(o) == n or not L.is_perm(chosen):
                out.append(self.ref(o, chosen if self.ndim(o) == n else L.PLAIN))
            else:
                out.append(self.broadcast(o, chosen, n))
        return chosen, out

    def broadcast(self, o, perm, n) -> ast.expr:
        """A lower-rank operand, broadcast as torch broadcasts it, in layout ``perm`` of rank ``n``."""
        shape = [1] * (n - self.ndim(o)) + [static(s) for s in self.shape(o)]
        e = self.ref(o, L.PLAIN)
        if None in shape:
            return X("A.reshape(s).transpose(p)", A=e, s=tuple(shape), p=perm)
        jax_shape = [shape[d] for d in perm]
        kept = [d for d in range(n) if shape[d] != 1]
        if [d for d in perm if d in kept] == kept:  # only size-1 axes move: a reshape
            while len(jax_shape) > 1 and jax_shape[0] == 1:
                jax_shape = jax_shape[1:]
            if tuple(jax_shape) == tuple(s for s in self.shape(o)):
                return e
            return method(e, "reshape", *jax_shape)
        return X("A.reshape(s).transpose(p)", A=e, s=tuple(shape), p=perm)

    def param(self, p: ParamRef) -> ast.expr:
        """A parameter or buffer used in a forward: the module's own attribute (torch's name
        and layout), or a variable of a submodule (in torch's layout)."""
        if p.key in self.param_args:  # passed in: ``self.cpb_mlp(self.relative_coords_table)``
            return self.param_args[p.key]
        if p.kind == "CONSTANT_TENSOR":
            t = self.g.consts[p.key]
            if t.numel() > 256:
                self.fail(f"a tensor constant of {t.numel()} values created in forward ({p.key})",
                          hint="Register it as a buffer of a layer, or pass it as an input.")
                return X("None")
            return X(f"jnp.asarray({t.tolist()!r}, {jnp_dtype(t.dtype)})")
        inst = self.code.inst
        keys = self.group.get(p.key, [p.key])
        for k in keys:  # its own
            owner, _, name = k.rpartition(".")
            if owner == inst.path and inst.kind == "user":
                return X(f"self.{name}[...]")
        for k in keys:  # a submodule's
            owner, _, name = k.rpartition(".")
            if inst.path == "" or owner == inst.path or owner.startswith(inst.path + "."):
                expr, perm = self.variable(k, inst.path)
                e = X(f"{expr}[...]")
                if perm == "other":
                    break
                return e if perm is None else X("A.T", A=e) if perm == (1, 0) else X("A.transpose(p)", A=e, p=perm)
        self.fail(f"the parameter or buffer `{p.key}` of a module outside `{inst.path or 'the model'}`",
                  hint="A forward can use its own weights and its submodules'; pass other weights in as arguments.")
        return X("None")

    def param_owner(self, p: ParamRef) -> str | None:
        """The path of the module that holds parameter ``p`` (its first name)."""
        keys = self.group.get(p.key, [p.key])
        return keys[0].rpartition(".")[0] if keys else None

    def variable(self, key: str, base: str) -> tuple[str, Any]:
        """(``self.a.layers[0].kernel``, permutation to torch's layout or None): the NNX
        variable that holds state_dict entry ``key``, relative to the module at ``base``."""
        owner, _, name = key.rpartition(".")
        inst = self.inst[owner]
        expr = unparse_expr(self.attr_expr(owner, base)) if owner != base else "self"
        if inst.kind == "leaf":
            attr, perm = port_layers.variables(inst.module).get(name, (name, None))
            parts = "".join(f"[{p}]" if p.isdigit() else f".{p}" for p in attr.split("."))
            return f"{expr}{parts}", perm
        return f"{expr}.{name}", None

    def sym(self, val) -> ast.expr:
        """A SymInt (a size that depends on the input) as an expression over values in scope:
        the dim of a value in scope that is this very size (``x.shape[1]``), else built from
        its parts (``x.shape[1] * x.shape[2]``, ``(x.shape[2] - 1) // 2 + 1``)."""
        import sympy

        expr = val.node.expr if hasattr(val, "node") else val
        expr = sympy.sympify(expr)
        if expr.is_number:
            return const(int(expr))
        dims = self._scope_dims()
        try:
            text = sym_text(expr, lambda e: dims.get(str(e)))
        except _NoDim as e:
            self.fail(f"a size that depends on the input ({e}) and no value in scope has it")
            return const(0)
        return ast.parse(text, mode="eval").body

    def _scope_dims(self) -> dict:
        """str(size expression) -> ``x.shape[axis]`` for every symbolic dim of the values in scope."""
        code = self.code
        cands = [r for r in code.body.inputs if isinstance(r, Ref)]
        cands += [Ref(n) for it in code.items for n in it.outputs if n]
        found: dict = {}
        for r in cands:
            for d, s in enumerate(self.shape(r)):
                if hasattr(s, "node") and static(s) is None and str(s.node.expr) not in found:
                    lay = self.lay(r)
                    ax = L.axis(lay if L.is_perm(lay) else L.PLAIN, d, self.ndim(r))
                    local = self.local_alias.get(r.name)
                    base = unparse_expr(local) if local is not None else PREFIX + r.name
                    found[str(s.node.expr)] = f"{base}.shape[{ax}]"
        return found

    def _find_dim(self, sym):
        """``x.shape[axis]`` of a value in scope whose dim is the size ``sym``, else None."""
        return self._scope_dims().get(str(sym))

    def is_zeros(self, r) -> bool:
        """Whether ``r`` is a ``jnp.zeros(...)`` of this body (an RNN's default state)."""
        if not isinstance(r, Ref) or r.name in self.alias:
            return False
        return any(it.outputs == [r.name] and isinstance(it.expr, ast.Call)
                   and unparse_expr(it.expr.func) == "jnp.zeros" for it in self.code.items)

    # ---------------------------------------------------------------- items
    def emit(self, name: str, expr: ast.expr, layout, line=None, hint="", rebinds=None):
        self.layout[name] = layout
        base = rebinds.name if isinstance(rebinds, Ref) else ""
        while base in self.alias and isinstance(self.alias[base], ast.Name) and self.alias[base].id.startswith(PREFIX):
            base = self.alias[base].id[len(PREFIX):]  # x[:, :] is x
        self.code.items.append(Item([name], expr, line if line is not None else self.cur_line, hint=hint,
                                    rebinds=base))

    def emit_alias(self, name: str, expr: ast.expr, layout):
        self.layout[name] = layout
        self.alias[name] = expr
        self.alias_owner[name] = self.code

    def _alias(self, name: str) -> ast.expr:
        """The expression of value ``name``: its alias when this body made it; a value a
        submodule's code wrote as an alias of its own local is, in its caller, what the
        call returns (using the alias there would read the submodule's local and drop the call)."""
        owner = self.alias_owner.get(name)
        if name in self.alias and (owner is None or owner is self.code or self.code is None):
            return self.alias[name]
        return V(name)

    def emit_tuple(self, names: list, expr: ast.expr, shape, hint: str = "", tuple_of: str = "", slot_layout=None):
        """A statement that unpacks a tuple (``a, b = x.split(...)``, ``out, (h, c) = self.lstm(x)``);
        with ``tuple_of`` its slots are named when the graph reads them (getitem)."""
        item = Item(list(names), expr, self.cur_line, multi=True, hint=hint, tuple_shape=shape)
        item.tuple_of = (tuple_of,) if tuple_of else ()
        item.slot_layout = slot_layout
        self.code.items.append(item)

    def lazy_tuple(self, name: str, slots: dict):
        """A tuple value whose items are separate expressions (``x.max(dim)``: ``x.max(axis)``
        and ``x.argmax(axis)``), written where they are read."""
        self.lazy_tuples[name] = slots

    def fail(self, what: str, hint: str = "", path: str | None = None):
        if path is None and self.leaf_path:
            path = self.leaf_path  # an op of a parameterless layer: name the layer
        path = self.code.inst.path if path is None and self.code else (path or "")
        info = self.g.modules.get(path)
        src = self.code.source if self.code else None
        err = UnsupportedError(what, path, info.cls if info else "",
                               where(src.file if src else None, self.cur_line), hint)
        self.unsupported.append(err)
        if not self.partial:
            raise err
        if self.code and self.chain(self.code.inst):
            self.code.element_error = str(err)  # the element becomes a stub (render_sequential)
            return
        if self.code and not self.code.stopped:
            # the stub reads the inputs of what is missing, so the code up to it stays
            inputs = [r for r in self.cur_inputs if isinstance(r, Ref) and self.shape(r)][:1]
            reads = ast.Tuple(elts=[self.ref(r) for r in inputs], ctx=ast.Load())
            self.code.items.append(Item([], reads, self.cur_line, raise_=str(err)))
            self.code.stopped = True

    def fallback(self, n: Node):
        """An op without a handler of its own: a call of its JAX implementation in
        ``jaxdl.aten`` (torch's layout, the arguments by their schema names)."""
        name = op_name(n.target)
        fn = aten.get(name) if n.target.startswith("aten.") else None
        if fn is None:
            return self.fail(f"the op {n.target} (no JAX mapping in jaxdl.port or jaxdl.aten yet)",
                             hint="Write this step in JAX by hand in the generated code (or open an issue).")
        params = inspect.signature(fn).parameters
        if "rng" in params:
            return self.fail(f"the random op {n.target} in a forward in eval mode",
                             hint="Random ops other than dropout have no port yet.")
        args, kwargs = [], {}
        for i, (arg, value) in enumerate(n.kw.items()):
            if arg in _IGNORED_ARGS or arg not in n.given:
                continue
            py = arg + "_" if keyword.iskeyword(arg) else arg
            e = self._aten_arg(value)
            if i == 0:
                args.append(e)
            elif py in params:
                kwargs[py] = e
        expr = call(f"aten.{aten.python_name(name)}", *args, **kwargs)
        val = self.g.values.get(n.name)
        if isinstance(val, (tuple, list)):
            return self.emit_tuple([None] * len(val), expr, list(range(len(val))), hint=name, tuple_of=n.name,
                                   slot_layout=L.PLAIN)
        self.emit(n.name, expr, L.PLAIN)

    def _aten_arg(self, v):
        if isinstance(v, (Ref, ParamRef)):
            return self.ref(v, L.PLAIN)
        if isinstance(v, (list, tuple)):
            return ast.List(elts=[self._aten_arg(x) for x in v], ctx=ast.Load())
        return self.ref(v)

    # ---------------------------------------------------------------- traversal
    def run(self):
        root = self.g.bodies[""]
        for r, x in zip(root.inputs, self.g.input_values):
            if isinstance(r, Ref):
                self.layout[r.name] = L.IMAGE if _is_image_input(x) else L.PLAIN
        self.render_body(root)
        return self

    def render_body(self, body):
        inst = self.inst[body.path]
        if inst.code is not None:  # an instance called again: its code exists
            return
        info = self.g.modules[body.path]
        if inst.functional:  # a torch layer's own forward: no lines of the user's to follow
            stub = ""
            if inst.stub:
                err = UnsupportedError(inst.stub, body.path, type(inst.module).__name__)
                self.unsupported.append(err)
                if not self.partial:
                    raise err
                stub = str(err)
            info = dataclasses.replace(info, kind="user", stub=stub)
        src = self.g.sources.get(type(info.module)) if type(info.module) in self.g.sources else None
        saved, saved_line, saved_local, saved_params = self.code, self.cur_line, self.local_alias, self.param_args
        self.local_alias, self.param_args = {}, {}
        for name, _, tree in body.in_tree or [(an, False, i) for i, an in enumerate(body.arg_names)]:
            for index, access in _tree_leaves(tree, ast.Name(id=name, ctx=ast.Load())):
                r = body.inputs[index] if index < len(body.inputs) else None
                if access is not None and isinstance(r, Ref):
                    self.local_alias[r.name] = access
                elif isinstance(r, ParamRef) and r.kind != "CONSTANT_TENSOR":
                    self.param_args.setdefault(r.key, access if access is not None else ast.Name(id=name,
                                                                                                 ctx=ast.Load()))
        self.code = code = BodyCode(inst, body, src)
        inst.code = code
        inst.arg_names = list(body.arg_names)
        if info.stub:
            self.cur_line = None
            code.items.append(Item([], None, None, raise_=info.stub))
            code.stopped = True
        elif self.chain(inst):
            self.render_sequential(body)
        else:
            for it in body.items:
                if code.stopped:
                    break
                self.cur_line = it.line
                if isinstance(it, Node):
                    self.render_node(it)
                else:
                    self.render_call(it)
        self.code, self.cur_line, self.local_alias, self.param_args = saved, saved_line, saved_local, saved_params

    def render_sequential(self, body):
        inst = self.inst[body.path]
        inputs = {_value_key(r) for r in body.inputs if isinstance(r, (Ref, ParamRef))}
        made_by: dict[str, tuple] = {}  # value -> (element index, its input, expression) of parameterless elements
        for it in body.items:
            if not isinstance(it, Call):
                continue
            index = (it.path[len(body.path) + 1:] if body.path else it.path).split(".")[0]
            child = self.g.modules[it.path]
            before = len(self.code.items)
            self.cur_line = None
            self.render_call(it)
            new = self.code.items[before:]
            if self.code.element_error:  # partial=True: a stub that raises in its place
                inst.elements[index] = Raw(f"unsupported({self.code.element_error!r})")
                self.code.element_error = ""
                for o in it.outputs:
                    if isinstance(o, Ref):
                        self.layout.setdefault(o.name, L.PLAIN)
                continue
            for r in it.inputs:
                want = self.demands.pop(_value_key(r), L.KEEP) if isinstance(r, (Ref, ParamRef)) else L.KEEP
                if want is L.KEEP or _value_key(r) in inputs:
                    if want is not L.KEEP:
                        self.demands[_value_key(r)] = want  # the caller converts (render_call)
                    continue
                if r.name not in made_by:
                    self.fail(f"a layout change inside an nn.Sequential (before `{it.path}`)", path=it.path,
                              hint="The layer before it returns its value in another layout than this layer takes.")
                    continue
                k, src, expr = made_by[r.name]  # the parameterless element before it converts
                converted = Subst({PREFIX + r.name: expr}).visit(self.convert(V(r.name), self.lay(r), want,
                                                                              self.ndim(r)))
                inst.elements[k] = _element_form(converted, src)
                self.layout[r.name] = want
            if child.kind != "leaf" or port_layers.is_attribute(child.module) or self.inst[it.path].functional:
                continue
            # a parameterless layer: its element form from the expression it produced
            inp = next((r for r in it.inputs if isinstance(r, Ref)), None)
            out = it.outputs[0].name if it.outputs else None
            expr = None
            if out in self.alias:
                expr = self.alias[out]
            elif new and new[-1].outputs == [out]:
                expr = _compose(new)
            if expr is None or inp is None:
                if out and inp is not None and out == inp.name:
                    inst.elements[index] = Raw("lambda x: x")  # it returned its input (nn.Identity)
                    continue
                self.fail(f"the layer nn.{type(child.module).__name__} inside an nn.Sequential (no element form)",
                          path=it.path)
                continue
            inst.elements[index] = _element_form(expr, inp.name)
            if out:
                made_by[out] = (index, inp.name, expr)

    # ---------------------------------------------------------------- calls
    def render_call(self, it: Call):
        self.cur_inputs = [r for r in it.inputs if isinstance(r, Ref)]
        child = self.g.modules[it.path]
        rel = self.attr_expr(it.path)
        inst = self.inst[it.path]
        if child.kind == "leaf" and not inst.functional:
            return self.render_leaf(it, child, rel)
        body = self.g.bodies.get(it.key) or (_leaf_body(it, inst.module) if inst.functional else None)
        if inst.code is None and body is not None:  # the first call: its layouts are the inputs'
            self.render_body(body)
            inst.in_layouts = [self.demands.pop(_value_key(r), self.lay(r)) if isinstance(r, (Ref, ParamRef))
                               else L.KEEP for r in body.inputs]
            inst.out_layouts = [self.lay(o) for o in body.outputs]
        # a later call: the values go in and come out in the layouts of the code written
        ins = inst.in_layouts or [L.KEEP] * len(it.inputs)
        flat = [self.ref(r, want if isinstance(r, (Ref, ParamRef)) else L.KEEP) for r, want in zip(it.inputs, ins)]
        if it.in_tree:  # forward(self, input: List[Tensor]): the list goes in as one argument
            expr = ast.Call(func=rel, args=[_tree_expr(t, flat) for _, kw, t in it.in_tree if not kw],
                            keywords=[ast.keyword(arg=n, value=_tree_expr(t, flat)) for n, kw, t in it.in_tree if kw])
        else:
            expr = ast.Call(func=rel, args=flat, keywords=[])
        outs = list(it.outputs)
        names = [o.name if isinstance(o, Ref) else None for o in outs]
        for o, lay in zip(outs, inst.out_layouts or [L.PLAIN] * len(outs)):
            if isinstance(o, Ref) and not (body is not None and o in body.outputs and o.name in self.layout):
                self.layout[o.name] = lay
        spec = it.out_spec if it.out_spec is not None or len(outs) == 1 else _tuple_spec(len(outs))
        if single_leaf(spec) and len(outs) == 1:
            if isinstance(outs[0], Ref):
                if any(isinstance(i, Ref) and i.name == outs[0].name for i in it.inputs):
                    return  # a module that returns its input unchanged
                self.code.items.append(Item([outs[0].name], expr, self.cur_line, hint=port_layers.attr_hint(it.path)))
            return
        self.code.items.append(Item(names, expr, self.cur_line, multi=True, hint=port_layers.attr_hint(it.path),
                                    tuple_shape=_spec_shape(spec, iter(range(len(outs))))))

    def attr_expr(self, path: str, base: str | None = None) -> ast.expr:
        """``self.a.b`` / ``self.features.layers[0]`` / ``self.embeds[1]`` for a module path,
        relative to the current module (or to the module at ``base``)."""
        base = self.code.inst.path if base is None else base
        rel = path[len(base) + 1:] if base else path
        expr, cur = "self", base
        for part in rel.split("."):
            kind = self.g.modules[cur].kind if cur in self.g.modules else "user"
            if kind == "sequential" and named(self.g.modules[cur].module):
                expr += f".{part}" if part.isidentifier() and not keyword.iskeyword(part) else f"[{part!r}]"
            elif kind == "sequential":
                expr += f".layers[{part}]"
            elif kind == "list":
                expr += f"[{part}]"
            elif not part.isidentifier() or keyword.iskeyword(part):
                # a module of the user's (an nn.ModuleDict such as torchvision's
                # IntermediateLayerGetter) with a child named '0': an attribute named after it
                expr += f".{attribute_names(self.g.modules[cur].module)[part]}"
            else:
                expr += f".{part}"
            cur = f"{cur}.{part}" if cur else part
        return ast.parse(expr, mode="eval").body

    def render_leaf(self, it: Call, child, rel):
        m = child.module
        cls = type(m).__name__
        xin = it.inputs[0] if it.inputs else None
        out = it.outputs[0].name if it.outputs else None
        if port_layers.is_attribute(m):
            return port_layers.call(self, it, m, rel)
        # parameterless: its ops written here (nn.ReLU -> jax.nn.relu(x), nn.Flatten -> flatten(x))
        if cls in port_layers.TRAIN_DEPENDENT:
            return self.fail(f"the layer nn.{cls} (no jaxdl layer, and its training mode differs from the "
                             "eval mode captured)", path=it.path)
        if cls == "Identity" or not it.nodes:
            if out and xin is not None:
                self.emit_alias(out, self.ref(xin), self.lay(xin))
            return
        self.leaf_path = it.path
        try:
            for n in it.nodes:
                self.render_node(n)
        finally:
            self.leaf_path = None

    # ---------------------------------------------------------------- ops
    def render_node(self, n: Node):
        self.cur_inputs = list(_tensor_refs(self, n.args))
        if n.target == "getitem":
            return self.op_getitem(n)
        name = op_name(n.target)
        handler = OPS.get(name) or (OPS.get(name.rstrip("_")) if n.target.startswith("aten.") else None)
        if handler is not None:
            return handler(self, n)
        if is_symint(self.g.values.get(n.name)) or name in NO_VALUE:
            return
        self.fallback(n)

    def op_getitem(self, n: Node):
        src, idx = n.args[0], n.args[1]
        if isinstance(src, Ref) and src.name in self.lazy_tuples:
            expr, lay = self.lazy_tuples[src.name][idx]
            return self.emit_alias(n.name, expr, lay)
        if isinstance(src, (list, tuple)):
            return self.emit_alias(n.name, self.ref(src[idx]), self.lay(src[idx]))
        # a tuple statement (split/chunk/unbind, an aten op's outputs): name its slot
        for item in reversed(self.code.items):
            if item.multi and src.name in item.tuple_of:
                item.outputs[idx] = n.name
                self.layout[n.name] = item.slot_layout
                return
        self.emit(n.name, X("T[i]", T=self.ref(src), i=idx), L.PLAIN)


def _value_key(r) -> str:
    """The key of a value or of a parameter passed as an argument (layouts asked for)."""
    return r.name if isinstance(r, Ref) else f"<param {r.key}>"


def _tuple_spec(n: int):
    import torch

    return torch.utils._pytree.tree_flatten(tuple(range(n)))[1]


def _tree_leaves(tree, base: ast.expr, top: bool = True):
    """(flat input index, expression that reads it from ``base`` or None at the top)."""
    if isinstance(tree, int):
        yield tree, (None if top else base)
        return
    kind, kids = tree
    items = kids.items() if kind == "dict" else enumerate(kids)
    for key, sub in items:
        yield from _tree_leaves(sub, ast.Subscript(value=base, slice=const(key), ctx=ast.Load()), False)


def _tree_expr(tree, flat: list) -> ast.expr:
    """The argument expression of a structured argument (``[x0, x1]``) from flat inputs."""
    if isinstance(tree, int):
        return flat[tree]
    kind, kids = tree
    if kind == "dict":
        return ast.Dict(keys=[const(k) for k in kids], values=[_tree_expr(v, flat) for v in kids.values()])
    elts = [_tree_expr(k, flat) for k in kids]
    return ast.List(elts=elts, ctx=ast.Load()) if kind == "list" else ast.Tuple(elts=elts, ctx=ast.Load())


def _leaf_body(it: Call, module):
    """The body of a torch layer computed from its own weights: the ops of its call."""
    names = [p for p in inspect.signature(type(module).forward).parameters][1:]
    names = [n for n in names if n not in ("args", "kwargs")]
    arg_names = names[:len(it.inputs)] + [f"arg{i}" for i in range(len(names), len(it.inputs))]
    spec = _tuple_spec(len(it.outputs)) if len(it.outputs) > 1 else None
    return Body(it.key, it.path, list(it.inputs), arg_names, list(it.nodes), list(it.outputs), spec)


def _tensor_refs(g, args):
    for a in args:
        if isinstance(a, Ref) and not is_symint(g.g.values.get(a.name)):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from _tensor_refs(g, a)


def _spec_shape(spec, counter):
    """The nested structure of a call's outputs, as nested lists of output indices."""
    if spec is None or getattr(spec, "type", None) is None:
        return next(counter)
    return [_spec_shape(c, counter) for c in spec.children()]


def _compose(items: list[Item]) -> ast.expr | None:
    """Nest a chain of single-output items into one expression."""
    expr = None
    defined = {}
    for it in items:
        if it.multi or it.expr is None:
            return None
        e = Subst({PREFIX + k: v for k, v in defined.items()}).visit(copy(it.expr))
        defined[it.outputs[0]] = e
        expr = e
    return expr


def _element_form(expr: ast.expr, inp: str):
    """The Sequential element for ``expr`` applied to the value ``inp``: ``jax.nn.relu``,
    ``partial(jax.nn.softmax, axis=-1)``, ``MaxPool2d(3, 2)`` or a lambda."""
    refs_rest = ast.Tuple(elts=expr.args[1:] + [k.value for k in expr.keywords], ctx=ast.Load()) \
        if isinstance(expr, ast.Call) else None
    if isinstance(expr, ast.Call) and expr.args and isinstance(expr.args[0], ast.Name) \
            and expr.args[0].id == PREFIX + inp and inp not in refs_in(refs_rest):
        fn = unparse_expr(expr.func)
        rest, kws = expr.args[1:], expr.keywords
        classes = {"max_pool2d": "MaxPool2d", "avg_pool2d": "AvgPool2d", "adaptive_avg_pool2d": "AdaptiveAvgPool2d",
                   "max_pool1d": "MaxPool1d", "avg_pool1d": "AvgPool1d", "adaptive_avg_pool1d": "AdaptiveAvgPool1d"}
        if fn in classes:
            return Raw(unparse_expr(ast.Call(func=ast.Name(id=classes[fn], ctx=ast.Load()), args=rest, keywords=kws)))
        if not rest and not kws:
            return Raw(fn)
        if not rest:
            return Raw(unparse_expr(ast.Call(func=ast.Name(id="partial", ctx=ast.Load()), args=[expr.func],
                                             keywords=kws)))
    body = Subst({PREFIX + inp: ast.Name(id="x", ctx=ast.Load())}).visit(copy(expr))
    return Raw(f"lambda x: {unparse_expr(body)}")


def _is_image_input(x) -> bool:
    return hasattr(x, "ndim") and x.ndim == 4 and x.is_floating_point()


# ============================================================================ weights
_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def plan_weights(g: Generator):
    """Where every parameter and buffer lives in the generated code.

    * a layer with weights and no jaxdl layer becomes a class of its own that holds its
      weights under torch's names and layout and computes with them (a "functional" layer);
      one whose training mode differs from its eval graph is a stub (``partial=True``);
    * one tensor registered under several names (weight tying, one module under two
      names) becomes one NNX variable: the second owner's attribute is assigned the
      first's (``self.head.weight = self.emb.embedding``) in the nearest module that holds
      both; owners that keep it in different layouts are made functional first;
    * a module's own parameters and buffers are declared under their names (parameters
      ``nnx.Param``, running statistics ``nnx.BatchStat``, other buffers ``nnx.Variable``);
      non-persistent buffers are not in torch's state_dict: port() fills them.
    """
    root = g.g.root
    persistent = set(root.state_dict(keep_vars=True))
    tensors = dict(root.named_parameters(remove_duplicate=False))
    tensors.update(root.named_buffers(remove_duplicate=False))
    groups: dict[int, list[str]] = {}
    for k, t in tensors.items():
        groups.setdefault(id(t), []).append(k)
    g.group = {k: grp for grp in groups.values() for k in grp}

    def functional(path):
        inst = g.inst[path]
        if inst.kind == "leaf":
            inst.kind = "user"
            inst.functional = True
            inst.cls = inst.cls if inst.cls not in RESERVED else f"Torch{inst.cls}"

    for path, inst in g.inst.items():
        if inst.kind != "leaf" or not has_state(inst.module):
            continue
        problem = port_layers.problem(inst.module)
        if problem:
            cls = inst.cls
            functional(path)
            if cls in port_layers.TRAIN_DEPENDENT:  # its eval-mode graph cannot stand for it: a stub
                inst.stub = f"nn.{cls} with {problem}" if problem != "no jaxdl layer" else \
                    f"the layer nn.{cls} (no jaxdl layer, and its training mode differs from the eval mode captured)"
    tied = [grp for grp in groups.values() if len(grp) > 1]
    for grp in tied:
        owners = [k.rpartition(".") for k in grp]
        same_layer = len({(g.inst[o].cls, n, g.inst[o].kind) for o, _, n in owners}) == 1 \
            and g.inst[owners[0][0]].kind == "leaf"
        if not same_layer:
            for o, _, n in owners:
                if (g.inst[o].kind == "leaf"
                        and port_layers.variables(g.inst[o].module).get(n, (n, None))[1] is not None):
                    functional(o)
    for path, inst in g.inst.items():
        if inst.kind != "user":
            continue
        for name, t in list(inst.module._parameters.items()) + list(inst.module._buffers.items()):
            if t is None:
                continue
            key = f"{path}.{name}" if path else name
            if name in inst.module._parameters:
                kind = "nnx.Param"
            else:
                kind = "nnx.BatchStat" if name in _STATISTICS else "nnx.Variable"
            dtype = Raw(jnp_dtype(t.dtype))
            if key in persistent:
                init = Ctor("jnp.zeros", [Shape(tuple(int(v) for v in t.shape)), dtype], {}, ("shape",))
                inst.own_params[name] = Ctor(kind, [init], {})
            else:  # not in the state_dict: its value is part of the code (small) or filled by port()
                g.buffers[key] = name
                init = Raw(f"jnp.asarray({t.tolist()!r}, {dtype.text})") if t.numel() <= 64 else \
                    Ctor("jnp.zeros", [Shape(tuple(int(v) for v in t.shape)), dtype], {}, ("shape",))
                inst.constants[name] = Ctor(kind, [init], {})
    for grp in tied:
        owners = [k.rpartition(".")[0] for k in grp]
        anc = _common_ancestor(owners)
        while anc and g.inst[anc].kind != "user":
            anc = anc.rpartition(".")[0]
        if g.inst[anc].kind != "user":
            g.fail(f"one tensor under several names ({', '.join(grp)}) in a bare nn.Sequential", path=anc)
            continue
        first = grp[0]
        for k in grp[1:]:
            g.ties.setdefault(anc, []).append((g.variable(k, anc)[0], g.variable(first, anc)[0]))


def _common_ancestor(paths: list[str]) -> str:
    parts = [p.split(".") if p else [] for p in paths]
    out = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        out.append(level[0])
    common = ".".join(out)
    return common if common not in paths or len(set(paths)) == 1 else common.rpartition(".")[0]


# ============================================================================ the model
@dataclasses.dataclass
class Generated:
    source: str
    class_name: str
    torch_flatten: dict
    unsupported: list
    input_layouts: list
    output_layouts: list
    buffers: dict = dataclasses.field(default_factory=dict)  # non-persistent buffer -> ``self.a.b.name``


def generate(graph: Graph, *, partial: bool = False) -> Generated:
    g = Generator(graph, partial).run()
    for inst in g.inst.values():
        if inst.code is not None and not g.chain(inst):
            attrs = attribute_names(inst.module)
            lists = {attrs[name]: len(m) for name, m in children(inst.module)
                     if g.inst[_join(inst.path, name)].kind == "list"}
            if inst.kind == "sequential" and not named(inst.module):  # its own forward: ``for mod in self``
                lists["layers"] = len(children(inst.module))
            inst.lines = emit.reroll(emit.finalize(g, inst.code), lists)
    src = emit.Emitter(g).emit()
    root = graph.bodies[""]
    buffers = {k: g.variable(k, "")[0] for k in g.buffers}
    return Generated(src, graph.modules[""].cls, dict(g.torch_flatten), g.unsupported,
                     [g.lay(r) for r in root.inputs], [g.root_layout(r) for r in root.outputs], buffers)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def supported() -> dict[str, list[str]]:
    """What jaxdl.port maps: torch layers (jaxdl.layers' records), op handlers, and the ops
    of jaxdl.aten that any other op falls back to."""
    return {"layers": sorted(f"nn.{k}" for k in TORCH_LAYERS), "ops": OPS.names(), "jaxdl.aten ops": aten.names()}


class _NoDim(Exception):
    """A symbol of a size expression that no value in scope has as a dim."""


def sym_text(expr, lookup) -> str:
    """Python source for a sympy size expression (torch's shape symbols): each subexpression
    that ``lookup`` knows (a dim of a value in scope) is that dim, sums, products and
    powers are Python's, torch's ``FloorDiv``/``CeilDiv``/``Mod``/``Max``/``Min`` and sympy's
    ``floor``/``ceiling`` are ``//``, ``%``, ``max``, ``min``. Raises :class:`_NoDim` naming
    a symbol that neither ``lookup`` nor any expression around it has."""
    import sympy
    from torch.utils._sympy import functions as F

    def go(e) -> str:
        if e.is_Integer:
            return str(int(e))
        if e.is_Rational:
            return f"({e.p} / {e.q})"
        if e in (sympy.true, sympy.false):
            return str(bool(e))
        known = lookup(e)
        if known is not None:
            return known
        if e.is_Symbol:
            raise _NoDim(str(e))
        if e.is_Add:
            terms = list(e.as_ordered_terms())
            terms.sort(key=lambda t: bool(t.as_coeff_Mul()[0] < 0))  # a positive term first
            out = go(terms[0])
            for t in terms[1:]:
                c, _ = t.as_coeff_Mul()
                out = f"{out} - {go(-t)}" if bool(c < 0) else f"{out} + {go(t)}"
            return f"({out})"
        if e.is_Mul:
            c, rest = e.as_coeff_Mul()
            if c.is_Rational and not c.is_Integer:  # p/q * rest: an integer size, so exact
                return f"({go(c.p * rest)} // {c.q})"
            if c == -1:
                return f"(-{go(rest)})"
            return "(" + " * ".join(go(a) for a in e.as_ordered_factors()) + ")"
        if e.is_Pow and e.exp.is_Integer and e.exp > 0:
            return f"({go(e.base)} ** {int(e.exp)})"
        if isinstance(e, F.PowByNatural):
            return f"({go(e.args[0])} ** {go(e.args[1])})"
        if isinstance(e, (F.FloorDiv, F.CleanDiv)):
            return f"({go(e.args[0])} // {go(e.args[1])})"
        if isinstance(e, F.CeilDiv):
            return f"(-(-{go(e.args[0])} // {go(e.args[1])}))"
        if isinstance(e, (F.Mod, F.PythonMod, sympy.Mod)):
            return f"({go(e.args[0])} % {go(e.args[1])})"
        if isinstance(e, F.ModularIndexing):
            return f"(({go(e.args[0])} // {go(e.args[1])}) % {go(e.args[2])})"
        if isinstance(e, (F.Max, sympy.Max)):
            return "max(" + ", ".join(go(a) for a in e.args) + ")"
        if isinstance(e, (F.Min, sympy.Min)):
            return "min(" + ", ".join(go(a) for a in e.args) + ")"
        if isinstance(e, (sympy.floor, F.FloorToInt, sympy.ceiling, F.CeilToInt)):
            num, den = sympy.fraction(sympy.together(e.args[0]))
            up = isinstance(e, (sympy.ceiling, F.CeilToInt))
            if den == 1:
                return go(num)
            return f"(-(-{go(num)} // {go(den)}))" if up else f"({go(num)} // {go(den)})"
        if isinstance(e, (F.TruncToInt, F.RoundToInt)):
            return f"{'int' if isinstance(e, F.TruncToInt) else 'round'}({go(e.args[0])})"
        if isinstance(e, F.IntTrueDiv):
            return f"({go(e.args[0])} / {go(e.args[1])})"
        if isinstance(e, F.ToFloat):
            return f"float({go(e.args[0])})"
        free = sorted(map(str, e.free_symbols))
        raise _NoDim(f"{e}" if not free else ", ".join(free) + f" in {e}")

    return go(expr)
