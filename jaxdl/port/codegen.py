"""IR -> readable Flax NNX source built from ``jaxdl.layers``.

One class per torch module class, under torch's class name; submodules under their torch
attribute names (``nn.Sequential`` -> ``nnx.Sequential``, ``nn.ModuleList`` ->
``nnx.List``) so that ``jaxdl.interop`` maps every state_dict key. ``__call__`` is
straight-line JAX code that follows the user's own statements (one statement per
source line of the torch ``forward``, the same variable names): the ops of one line are
nested into one expression, parameterless layers (``nn.ReLU``, ``nn.MaxPool2d``,
``nn.Flatten``) become function calls (``jax.nn.relu``, ``max_pool2d``, ``flatten``).

Several instances of one torch class become one NNX class: constants that differ
between instances (channels, strides) become constructor arguments, submodules whose
structure differs (``downsample`` present or not) are built by the parent and passed in,
as torchvision does, and forwards that differ are joined with an ``if`` on what tells
them apart (``if self.downsample is not None``, a torch attribute such as
``self.use_res_connect``).
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import keyword
import math
import re
from typing import Any

from jaxdl.port import layout as L
from jaxdl.port.capture import Call, Graph, Node, ParamRef, Ref, UnsupportedError, where

__all__ = ["Generated", "generate"]

_V = "_v__"  # prefix of value references inside expression templates


# ============================================================================ expressions
def V(name: str) -> ast.expr:
    return ast.Name(id=_V + name, ctx=ast.Load())


def const(v) -> ast.expr:
    if isinstance(v, ast.AST):
        return v
    if isinstance(v, (list, tuple)):
        return ast.Tuple(elts=[const(x) for x in v], ctx=ast.Load())
    if isinstance(v, float) and math.isnan(v):
        return ast.parse("jnp.nan", mode="eval").body
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return ast.parse("jnp.inf" if v > 0 else "-jnp.inf", mode="eval").body
    if isinstance(v, bool) or v is None or isinstance(v, (int, float, str)):
        return ast.Constant(value=v)
    return ast.parse(repr(v), mode="eval").body


class _Subst(ast.NodeTransformer):
    def __init__(self, subs: dict):
        self.subs = subs

    def visit_Name(self, node):
        if node.id in self.subs:
            return self.subs[node.id]
        return node


def X(template: str, **subs) -> ast.expr:
    """Parse ``template`` and put the given expressions (or constants) in for its names."""
    tree = ast.parse(template, mode="eval").body
    return _Subst({k: const(v) for k, v in subs.items()}).visit(tree)


def call(fn: str, *args, **kwargs) -> ast.expr:
    return ast.Call(func=ast.parse(fn, mode="eval").body, args=[const(a) for a in args],
                    keywords=[ast.keyword(arg=k, value=const(v)) for k, v in kwargs.items()])


def refs_in(tree) -> list[str]:
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and n.id.startswith(_V):
            out.append(n.id[len(_V):])
    return out


def unparse(tree) -> str:
    return ast.unparse(tree)


# ============================================================================ specs
@dataclasses.dataclass
class Ctor:
    """A constructor call in ``__init__``: ``fn(*args, **kwargs)``; leaves are constants,
    :class:`Raw` text or nested Ctors."""

    fn: str
    args: list
    kwargs: dict
    hints: tuple = ()  # names of the positional arguments (for constructor parameters)


@dataclasses.dataclass(frozen=True)
class Raw:
    text: str


@dataclasses.dataclass(frozen=True)
class Param:
    name: str


RNGS = Raw("rngs")


def _pruned(spec: Ctor) -> Ctor:
    """``spec`` without the arguments that equal the layer's defaults (``Conv2d(1, 6, 3)``)."""
    pos, kw = _DEFAULTS.get(spec.fn, ([], {}))
    args = list(spec.args)
    while args and len(args) <= len(pos) and pos[len(args) - 1] is not None \
            and not isinstance(args[-1], (Param, Raw)) and _pretty(args[-1]) == pos[len(args) - 1]:
        args.pop()
    kwargs = {k: v for k, v in spec.kwargs.items()
              if not (k in kw and not isinstance(v, (Param, Raw)) and _pretty(v) == kw[k] and type(v) is type(kw[k]))}
    return dataclasses.replace(spec, args=args, kwargs=kwargs)


def spec_text(spec, indent: str = "") -> str:
    if isinstance(spec, Ctor):
        spec = _pruned(spec)
        parts = [spec_text(a, indent) for a in spec.args] + [f"{k}={spec_text(v, indent)}" for k, v in spec.kwargs.items()]
        one = f"{spec.fn}({', '.join(parts)})"
        if len(indent) + len(one) <= 100 or not parts:
            return one
        if len(spec.args) == 1 and not spec.kwargs and isinstance(spec.args[0], (dict, list)):
            return f"{spec.fn}({spec_text(spec.args[0], indent)})"  # Cls({...}) / Cls([...])
        inner = indent + "    "
        parts = [spec_text(a, inner) for a in spec.args] + [f"{k}={spec_text(v, inner)}" for k, v in spec.kwargs.items()]
        return f"{spec.fn}(\n" + "".join(f"{inner}{p},\n" for p in parts) + f"{indent})"
    if isinstance(spec, Raw):
        return spec.text
    if isinstance(spec, Param):
        return spec.name
    if isinstance(spec, dict):  # a named nn.Sequential's layers
        inner = indent + "    "
        one = "{" + ", ".join(f"{k!r}: {spec_text(v, indent)}" for k, v in spec.items()) + "}"
        if len(indent) + len(one) <= 100:
            return one
        return "{\n" + "".join(f"{inner}{k!r}: {spec_text(v, inner)},\n" for k, v in spec.items()) + f"{indent}}}"
    if isinstance(spec, list):
        one = "[" + ", ".join(spec_text(s, indent) for s in spec) + "]"
        if len(indent) + len(one) <= 100:
            return one
        inner = indent + "    "
        return "[\n" + "".join(f"{inner}{spec_text(s, inner)},\n" for s in spec) + f"{indent}]"
    return repr(_pretty(spec))


def _pretty(v):
    if isinstance(v, Shape):
        return v
    if isinstance(v, tuple) and len(v) == 2 and v[0] == v[1] and isinstance(v[0], int):
        return v[0]
    if isinstance(v, tuple):
        return tuple(_pretty(x) for x in v)
    return v


def _shape(spec):
    """The structure of a spec with its constants left out (what instances must share)."""
    if isinstance(spec, Ctor):
        return ("ctor", spec.fn, tuple(_shape(a) for a in spec.args), tuple((k, _shape(v)) for k, v in spec.kwargs.items()))
    if isinstance(spec, list):
        return ("list", tuple(_shape(s) for s in spec))
    if isinstance(spec, dict):
        return ("dict", tuple((k, _shape(v)) for k, v in spec.items()))
    if isinstance(spec, Raw):
        return ("raw", spec.text)
    return "const"


def _slots(spec, path=(), hint=""):
    """(path, hint, value) of every constant inside a spec."""
    if isinstance(spec, Ctor):
        for i, a in enumerate(spec.args):
            yield from _slots(a, path + (("a", i),), spec.hints[i] if i < len(spec.hints) else hint)
        for k, v in spec.kwargs.items():
            yield from _slots(v, path + (("k", k),), k)
    elif isinstance(spec, list):
        for i, s in enumerate(spec):
            yield from _slots(s, path + (("l", i),), hint)
    elif isinstance(spec, dict):
        for k, s in spec.items():
            yield from _slots(s, path + (("l", k),), hint)
    elif not isinstance(spec, (Raw, Param)):
        yield path, hint, spec


def _replace(spec, path, new):
    if not path:
        return new
    (kind, key), rest = path[0], path[1:]
    if isinstance(spec, Ctor):
        if kind == "a":
            args = list(spec.args)
            args[key] = _replace(args[key], rest, new)
            return dataclasses.replace(spec, args=args)
        kwargs = dict(spec.kwargs)
        kwargs[key] = _replace(kwargs[key], rest, new)
        return dataclasses.replace(spec, kwargs=kwargs)
    out = dict(spec) if isinstance(spec, dict) else list(spec)
    out[key] = _replace(out[key], rest, new)
    return out


# ============================================================================ body code
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
    doc: str = ""
    in_layouts: list | None = None     # the layouts its __call__ takes and returns
    out_layouts: list | None = None
    functional: bool = False           # a torch layer computed from its own weights (no jaxdl layer)
    stub: str = ""                     # a layer that cannot be ported (partial=True: its __call__ raises)
    constants: dict = dataclasses.field(default_factory=dict)  # non-persistent buffers


_RESERVED = set(keyword.kwlist) | {"self", "jax", "jnp", "nnx", "lax", "partial", "np", "rngs", "print", "len",
                                   "list", "tuple", "dict", "range", "sum", "max", "min", "abs", "type", "id"}

LAYER_NAMES = ("Linear", "Conv2d", "BatchNorm", "LayerNorm", "Dropout", "Embedding", "LSTM", "RNN",
               "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "flatten", "max_pool2d", "avg_pool2d",
               "adaptive_avg_pool2d", "leaky_relu")
_RESERVED |= set(LAYER_NAMES)


# ============================================================================ generator
class Generator:
    def __init__(self, graph: Graph, partial: bool = False):
        self.g = graph
        self.partial = partial
        self.layout: dict[str, Any] = {}
        self.alias: dict[str, ast.expr] = {}
        self.inst: dict[str, Instance] = {}
        self.unsupported: list[UnsupportedError] = []
        self.torch_flatten: dict[str, tuple] = {}
        self.linear_calls: dict[str, int] = {}
        self.lazy_tuples: dict[str, dict[int, tuple[ast.expr, Any]]] = {}
        self.demands: dict[str, Any] = {}  # value -> the layout a layer in an nn.Sequential wants it in
        self.local_alias: dict[str, ast.expr] = {}  # inputs inside a structured argument: ``input[1]``
        for path, info in graph.modules.items():
            self.inst[path] = Instance(path, info.module, info.cls, info.kind)
        self.code: BodyCode | None = None
        self.ties: dict[str, list[tuple[str, str]]] = {}  # ancestor path -> [(variable, the variable it is)]
        self.buffers: dict[str, str] = {}  # non-persistent buffer key -> its NNX path (filled by port())
        _plan_weights(self)

    # ---------------------------------------------------------------- values
    def shape(self, r) -> tuple:
        if isinstance(r, ParamRef) and r.kind != "CONSTANT_TENSOR":
            return tuple(self.g.root.get_parameter(r.key).shape) if r.kind == "PARAMETER" \
                else tuple(self.g.root.get_buffer(r.key).shape)
        v = self.g.values.get(r.name) if isinstance(r, Ref) else None
        return tuple(v.shape) if hasattr(v, "shape") else ()

    def dtype(self, r):
        v = self.g.values.get(r.name) if isinstance(r, Ref) else None
        return getattr(v, "dtype", None)

    def lay(self, r):
        if isinstance(r, Ref):
            return self.layout.get(r.name, L.PLAIN)
        return L.PLAIN

    def ref(self, r, want=None) -> ast.expr:
        """An expression for a value (a Ref, ParamRef, SymInt or constant), converted to
        ``want`` (PLAIN / IMAGE) when given."""
        if isinstance(r, ParamRef):
            return self.param(r)
        if isinstance(r, Ref):
            val = self.g.values.get(r.name)
            if _is_symint(val):
                return self.sym(val)
            e = self.local_alias.get(r.name) or self.alias.get(r.name, V(r.name))
            have = self.lay(r)
            if want is None or want == have:
                return e
            if self.code is not None and self.code.inst.kind in ("sequential", "list"):
                # inside an nn.Sequential a layer cannot convert its input: the caller (or
                # the parameterless element before it) does, see render_sequential
                self.demands[r.name] = want
                return e
            if want == L.PLAIN:
                tmpl = L.to_plain(have)
                return X(tmpl, A=e) if tmpl else e
            if want == L.IMAGE:
                if have == L.PLAIN and len(self.shape(r)) == 4:
                    return X(L.TO_IMAGE, A=e)
                return self.ref(r, L.PLAIN)
            if isinstance(want, L.Flat):
                c, h, w = want.chw
                return X(f"A.reshape(-1, {c}, {h}, {w}).transpose(0, 2, 3, 1).reshape(-1, {c * h * w})",
                         A=self.ref(r, L.PLAIN))
            return e
        if isinstance(r, (list, tuple)):
            return ast.Tuple(elts=[self.ref(x, want) for x in r], ctx=ast.Load())
        if _is_symint(r):
            return self.sym(r)
        if _is_dtype(r):
            return X(_jnp_dtype(r))
        return const(r)

    def param(self, p: ParamRef) -> ast.expr:
        """A parameter or buffer used in a forward: the module's own attribute (torch's name
        and layout), or a variable of a submodule (in torch's layout)."""
        if p.kind == "CONSTANT_TENSOR":
            t = self.g.consts[p.key]
            if t.numel() > 256:
                self.fail(f"a tensor constant of {t.numel()} values created in forward ({p.key})",
                          hint="Register it as a buffer of a layer, or pass it as an input.")
                return X("None")
            return X(f"jnp.asarray({t.tolist()!r}, {_jnp_dtype(t.dtype)})")
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
                return e if perm is None else X("A.T", A=e) if perm == (1, 0) else X("A.transpose(p)", A=e, p=perm)
        self.fail(f"the parameter or buffer `{p.key}` of a module outside `{inst.path or 'the model'}`",
                  hint="A forward can use its own weights and its submodules'; pass other weights in as arguments.")
        return X("None")

    def variable(self, key: str, base: str) -> tuple[str, tuple | None]:
        """(``self.a.layers[0].kernel``, permutation to torch's layout or None): the NNX
        variable that holds state_dict entry ``key``, relative to the module at ``base``."""
        owner, _, name = key.rpartition(".")
        inst = self.inst[owner]
        expr = unparse(self.attr_expr(owner, base)) if owner != base else "self"
        if inst.kind == "leaf":
            attr, perm = _LAYER_VARS.get(inst.cls, {}).get(name, (name, None))
            return f"{expr}.{attr}", perm
        return f"{expr}.{name}", None

    def sym(self, val) -> ast.expr:
        """A SymInt (a size that depends on the batch) as an expression over values in scope."""
        import sympy

        expr = val.node.expr if hasattr(val, "node") else val
        expr = sympy.sympify(expr)
        if expr.is_number:
            return const(int(expr))
        subs = {}
        for s in expr.free_symbols:
            found = self._find_dim(s)
            if found is None:
                self.fail(f"a size that depends on the input ({s}) and no value in scope has it")
                return const(0)
            subs[s] = sympy.Symbol(found)
        return ast.parse(str(expr.xreplace(subs)), mode="eval").body

    def _find_dim(self, sym):
        code = self.code
        cands = [r for r in code.body.inputs if isinstance(r, Ref)]
        cands += [Ref(n) for it in code.items for n in it.outputs if n]
        for r in cands:
            shp = self.shape(r)
            for d, s in enumerate(shp):
                if hasattr(s, "node") and str(s.node.expr) == str(sym):
                    name = _V + r.name
                    axis = L.image_axis(d) if self.lay(r) == L.IMAGE else d
                    axis = axis if axis >= 0 else 3
                    return f"{name}.shape[{axis}]"
        return None

    # ---------------------------------------------------------------- items
    def emit(self, name: str, expr: ast.expr, layout, line=None, hint="", rebinds=None):
        self.layout[name] = layout
        base = rebinds.name if isinstance(rebinds, Ref) else ""
        while base in self.alias and isinstance(self.alias[base], ast.Name) and self.alias[base].id.startswith(_V):
            base = self.alias[base].id[len(_V):]  # x[:, :] is x
        self.code.items.append(Item([name], expr, line if line is not None else self.cur_line, hint=hint,
                                    rebinds=base))

    def emit_alias(self, name: str, expr: ast.expr, layout):
        self.layout[name] = layout
        self.alias[name] = expr

    def fail(self, what: str, hint: str = "", path: str | None = None):
        if path is None and getattr(self, "leaf_path", None):
            path = self.leaf_path  # an op of a parameterless layer: name the layer
        path = self.code.inst.path if path is None and self.code else (path or "")
        info = self.g.modules.get(path)
        src = self.code.source if self.code else None
        err = UnsupportedError(what, path, info.cls if info else "",
                               where(src.file if src else None, self.cur_line), hint)
        self.unsupported.append(err)
        if not self.partial:
            raise err
        if self.code and self.code.inst.kind in ("sequential", "list"):
            self.code.element_error = str(err)  # the element becomes a stub (render_sequential)
            return
        if self.code and not self.code.stopped:
            # the stub reads the inputs of what is missing, so the code up to it stays
            inputs = [r for r in getattr(self, "cur_inputs", []) if isinstance(r, Ref) and self.shape(r)][:1]
            reads = ast.Tuple(elts=[self.ref(r) for r in inputs], ctx=ast.Load())
            self.code.items.append(Item([], reads, self.cur_line, raise_=str(err)))
            self.code.stopped = True

    # ---------------------------------------------------------------- traversal
    def run(self):
        root = self.g.bodies[""]
        for r, x in zip(root.inputs, self.g.input_values):
            if isinstance(r, Ref):
                self.layout[r.name] = L.IMAGE if _is_image_input(x) else L.PLAIN
        self.render_body(root)
        # outputs: images stay NHWC (verify transposes); flattened images go back to torch order
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
        saved, saved_line, saved_local = self.code, getattr(self, "cur_line", None), self.local_alias
        self.local_alias = {}
        for name, _, tree in body.in_tree or []:
            for index, access in _tree_leaves(tree, ast.Name(id=name, ctx=ast.Load())):
                r = body.inputs[index]
                if access is not None and isinstance(r, Ref):
                    self.local_alias[r.name] = access
        self.code = code = BodyCode(inst, body, src)
        inst.code = code
        inst.arg_names = list(body.arg_names)
        if info.stub:
            self.cur_line = None
            code.items.append(Item([], None, None, raise_=info.stub))
            code.stopped = True
        elif info.kind in ("sequential", "list"):
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
        self.code, self.cur_line, self.local_alias = saved, saved_line, saved_local

    def render_sequential(self, body):
        inst = self.inst[body.path]
        inputs = {r.name for r in body.inputs if isinstance(r, Ref)}
        made_by: dict[str, tuple[str, str]] = {}  # value -> (element index, its input) of parameterless elements
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
                want = self.demands.pop(r.name, None) if isinstance(r, Ref) else None
                if want is None or r.name in inputs:
                    if want is not None:
                        self.demands[r.name] = want  # the caller converts (render_call)
                    continue
                if r.name not in made_by:
                    self.fail(f"a layout change inside an nn.Sequential (before `{it.path}`)", path=it.path,
                              hint="The layer before it returns its value in another layout than this layer takes.")
                    continue
                k, src, expr = made_by[r.name]  # the parameterless element before it converts
                self.demands.pop(r.name, None)
                converted = _Subst({_V + r.name: expr}).visit(_convert(self, r, want))
                inst.elements[k] = _element_form(converted, src)
                self.layout[r.name] = want
            if _has_state(child.module) or child.kind != "leaf":
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
        if child.kind != "leaf" or inst.functional:
            body = self.g.bodies.get(it.key) or (_leaf_body(it, inst.module) if inst.functional else None)
            if inst.code is None and body is not None:  # the first call: its layouts are the inputs'
                self.render_body(body)
                inst.in_layouts = [self.demands.pop(r.name, None) or self.lay(r) if isinstance(r, Ref) else None
                                   for r in body.inputs]
                inst.out_layouts = [self.lay(o) for o in body.outputs]
            # a later call: the values go in and come out in the layouts of the code written
            ins = inst.in_layouts or [None] * len(it.inputs)
            flat = [self.ref(r, want if isinstance(r, Ref) else None) for r, want in zip(it.inputs, ins)]
            if it.in_tree:  # forward(self, input: List[Tensor]): the list goes in as one argument
                expr = ast.Call(func=rel, args=[_tree_expr(t, flat) for _, kw, t in it.in_tree if not kw],
                                keywords=[ast.keyword(arg=n, value=_tree_expr(t, flat)) for n, kw, t in it.in_tree if kw])
            else:
                expr = ast.Call(func=rel, args=flat, keywords=[])
            outs = [o for o in it.outputs]
            spec = it.out_spec
            names = [o.name if isinstance(o, Ref) else None for o in outs]
            for o, lay in zip(outs, inst.out_layouts or [L.PLAIN] * len(outs)):
                if isinstance(o, Ref) and not (body is not None and o in body.outputs and o.name in self.layout):
                    self.layout[o.name] = lay
            if _single_leaf(spec) and len(outs) == 1:
                if isinstance(outs[0], Ref):
                    if any(isinstance(i, Ref) and i.name == outs[0].name for i in it.inputs):
                        return  # a module that returns its input unchanged
                    self.code.items.append(Item([outs[0].name], expr, self.cur_line, hint=_attr_hint(it.path)))
                return
            self.code.items.append(Item(names, expr, self.cur_line, multi=True, hint=_attr_hint(it.path),
                                        tuple_shape=_spec_shape(spec, iter(range(len(outs))))))
            return
        self.render_leaf(it, child, rel)

    def attr_expr(self, path: str, base: str | None = None) -> ast.expr:
        """``self.a.b`` / ``self.features.layers[0]`` / ``self.embeds[1]`` for a module path,
        relative to the current module (or to the module at ``base``)."""
        base = self.code.inst.path if base is None else base
        rel = path[len(base) + 1:] if base else path
        expr, cur = "self", base
        for part in rel.split("."):
            kind = self.g.modules[cur].kind if cur in self.g.modules else "user"
            if kind == "sequential" and _named(self.g.modules[cur].module):
                expr += f".{part}" if part.isidentifier() and not keyword.iskeyword(part) else f"[{part!r}]"
            elif kind == "sequential":
                expr += f".layers[{part}]"
            elif kind == "list":
                expr += f"[{part}]"
            else:
                expr += f".{part}"
            cur = f"{cur}.{part}" if cur else part
        return ast.parse(expr, mode="eval").body

    def render_leaf(self, it: Call, child, rel):
        m = child.module
        cls = type(m).__name__
        xin = it.inputs[0] if it.inputs else None
        out = it.outputs[0].name if it.outputs else None
        if not _has_state(m) and cls not in ("Dropout",):
            # parameterless: render its ops here (nn.ReLU -> jax.nn.relu(x), nn.Flatten -> flatten(x))
            if cls in _TRAIN_DEPENDENT:
                self.fail(f"the layer nn.{cls} (its training mode differs from the eval mode captured)",
                          path=it.path)
                return
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
            return
        handler = _LEAVES.get(cls)
        if handler is None:
            self.fail(f"the layer nn.{cls} (no mapping to jaxdl yet)", path=it.path,
                      hint="Supported layers with weights: " + ", ".join(f"nn.{k}" for k in sorted(_LEAVES)) + ".")
            return
        problem = _LEAF_CHECKS.get(cls, lambda m: None)(m)
        if problem:
            self.fail(f"nn.{cls} with {problem}", path=it.path)
            return
        handler(self, it, m, rel)

    # ---------------------------------------------------------------- ops
    def render_node(self, n: Node):
        self.cur_inputs = list(_tensor_refs(self, n.args))
        target = n.target
        if target == "getitem":
            return self.op_getitem(n)
        op = target.split(".")[1] if target.startswith("aten.") else target
        if target.startswith("aten.") and op not in _OPS:
            op = op.rstrip("_") if op.rstrip("_") in _OPS else op
        handler = _OPS.get(op)
        if handler is None:
            if _is_symint(self.g.values.get(n.name)) or op in _SKIP:
                return
            self.fail(f"the op {target} (no JAX mapping in jaxdl.port yet)",
                      hint="Write this step in JAX by hand in the generated code (or open an issue).")
            return
        handler(self, n)

    def op_getitem(self, n: Node):
        src, idx = n.args[0], n.args[1]
        if isinstance(src, Ref) and src.name in self.lazy_tuples:
            expr, lay = self.lazy_tuples[src.name][idx]
            return self.emit_alias(n.name, expr, lay)
        if isinstance(src, (list, tuple)):
            return self.emit_alias(n.name, self.ref(src[idx]), self.lay(src[idx]))
        # a tuple statement (split/chunk/unbind): name its slot
        for item in reversed(self.code.items):
            if item.multi and src.name in getattr(item, "tuple_of", ()):
                item.outputs[idx] = n.name
                self.layout[n.name] = item.slot_layout
                return
        self.emit(n.name, X("T[i]", T=self.ref(src), i=idx), L.PLAIN)


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


def _convert(g: Generator, r: Ref, want) -> ast.expr:
    """``r`` converted to ``want`` (outside the rule that an nn.Sequential's layers do not convert)."""
    saved, g.code = g.code, None
    try:
        return g.ref(r, want)
    finally:
        g.code = saved


def _leaf_body(it: Call, module):
    """The body of a torch layer computed from its own weights: the ops of its call."""
    import inspect

    from jaxdl.port.capture import Body

    names = [p for p in inspect.signature(type(module).forward).parameters][1:]
    names = [n for n in names if n not in ("args", "kwargs")]
    arg_names = names[:len(it.inputs)] + [f"arg{i}" for i in range(len(names), len(it.inputs))]
    spec = None
    if len(it.outputs) > 1:
        import torch

        spec = torch.utils._pytree.tree_flatten(tuple(range(len(it.outputs))))[1]
    return Body(it.key, it.path, list(it.inputs), arg_names, list(it.nodes), list(it.outputs), spec)


def _tensor_refs(g, args):
    for a in args:
        if isinstance(a, Ref) and not _is_symint(g.g.values.get(a.name)):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from _tensor_refs(g, a)


class Shape(tuple):
    """An array shape in generated code: printed as a tuple, never collapsed to one number."""


# torch layer -> {state_dict name: (jaxdl attribute, permutation that gives torch's layout)}
_LAYER_VARS = {
    "Linear": {"weight": ("kernel", (1, 0)), "bias": ("bias", None)},
    "Conv2d": {"weight": ("kernel", (3, 2, 0, 1)), "bias": ("bias", None)},
    "Embedding": {"weight": ("embedding", None)},
    "LayerNorm": {"weight": ("scale", None), "bias": ("bias", None)},
    "LSTM": {"weight_ih_l0": ("w_ih", (1, 0)), "weight_hh_l0": ("w_hh", (1, 0)), "bias_ih_l0": ("b_ih", None),
             "bias_hh_l0": ("b_hh", None)},
}
_LAYER_VARS["RNN"] = _LAYER_VARS["LSTM"]
_LAYER_VARS["BatchNorm1d"] = _LAYER_VARS["BatchNorm2d"] = {
    "weight": ("scale", None), "bias": ("bias", None), "running_mean": ("mean", None), "running_var": ("var", None),
    "num_batches_tracked": ("num_batches_tracked", None)}
# layers whose forward depends on train/eval mode: their eval-mode graph cannot stand for them
_TRAIN_DEPENDENT = {"BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "InstanceNorm1d", "InstanceNorm2d",
                    "InstanceNorm3d", "LSTM", "GRU", "RNN", "MultiheadAttention", "TransformerEncoderLayer",
                    "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder", "Transformer", "RReLU"}
_STATISTICS = ("running_mean", "running_var", "num_batches_tracked")


def _plan_weights(g: Generator):
    """Where every parameter and buffer lives in the generated code.

    * a layer with weights and no jaxdl layer becomes a class of its own that holds its
      weights under torch's names and layout and computes with them (a "functional" layer);
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
    g.persistent = persistent

    def functional(path):
        inst = g.inst[path]
        if inst.kind == "leaf":
            inst.kind = "user"
            inst.functional = True
            inst.cls = inst.cls if inst.cls not in _RESERVED else f"Torch{inst.cls}"

    for path, inst in g.inst.items():
        if inst.kind != "leaf" or not _has_state(inst.module):
            continue
        problem = _LEAF_CHECKS.get(inst.cls, lambda m: None)(inst.module) if inst.cls in _LEAVES else "no jaxdl layer"
        if problem:
            cls = inst.cls
            functional(path)
            if cls in _TRAIN_DEPENDENT:  # its eval-mode graph cannot stand for it: a stub (partial=True)
                inst.stub = f"nn.{cls} with {problem}" if cls in _LEAVES else \
                    f"the layer nn.{cls} (no mapping to jaxdl yet)"
    tied = [grp for grp in groups.values() if len(grp) > 1]
    for grp in tied:
        owners = [k.rpartition(".") for k in grp]
        same_layer = len({(g.inst[o].cls, n, g.inst[o].kind) for o, _, n in owners}) == 1 and g.inst[owners[0][0]].kind == "leaf"
        if not same_layer:
            for o, _, n in owners:
                if g.inst[o].kind == "leaf" and _LAYER_VARS.get(g.inst[o].cls, {}).get(n, (n, None))[1] is not None:
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
            dtype = Raw(_jnp_dtype(t.dtype))
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


def _named(m) -> bool:
    """An nn.Sequential whose children have names of their own (``OrderedDict``,
    ``add_module("block1-0", ...)``), not 0, 1, 2, ...: kept under them (NamedSequential)."""
    return [n for n, _ in _children(m)] != [str(i) for i in range(len(_children(m)))]


def _children(m) -> list:
    """(name, module) of every child, also one registered under two names (torch's
    ``named_children`` lists a module once)."""
    return [(n, c) for n, c in m._modules.items() if c is not None]


def _has_state(m) -> bool:
    return any(True for _ in m.parameters(recurse=True)) or any(True for _ in m.buffers(recurse=True))


def _single_leaf(spec) -> bool:
    return spec is None or getattr(spec, "type", None) is None or getattr(spec, "num_leaves", 1) == 1 and not (spec.children() if hasattr(spec, "children") else None)


def _spec_shape(spec, counter):
    """The nested structure of a call's outputs, as nested lists of output indices."""
    if spec is None or getattr(spec, "type", None) is None:
        return next(counter)
    return [_spec_shape(c, counter) for c in spec.children()]


def _attr_hint(path: str) -> str:
    last = path.rsplit(".", 1)[-1]
    return last if last.isidentifier() else "out"


def _compose(items: list[Item]) -> ast.expr | None:
    """Nest a chain of single-output items into one expression."""
    expr = None
    defined = {}
    for it in items:
        if it.multi or it.expr is None:
            return None
        e = _Subst({_V + k: v for k, v in defined.items()}).visit(_copy(it.expr))
        defined[it.outputs[0]] = e
        expr = e
    return expr


def _copy(tree):
    return ast.parse(ast.unparse(tree), mode="eval").body if isinstance(tree, ast.expr) else tree


def _element_form(expr: ast.expr, inp: str):
    """The Sequential element for ``expr`` applied to the value ``inp``: ``jax.nn.relu``,
    ``partial(jax.nn.softmax, axis=-1)``, ``MaxPool2d(3, 2)`` or a lambda."""
    if isinstance(expr, ast.Call) and expr.args and isinstance(expr.args[0], ast.Name) and expr.args[0].id == _V + inp \
            and inp not in refs_in(ast.Tuple(elts=expr.args[1:] + [k.value for k in expr.keywords], ctx=ast.Load())):
        fn = ast.unparse(expr.func)
        rest, kws = expr.args[1:], expr.keywords
        if fn in ("max_pool2d", "avg_pool2d", "adaptive_avg_pool2d"):
            cls = {"max_pool2d": "MaxPool2d", "avg_pool2d": "AvgPool2d", "adaptive_avg_pool2d": "AdaptiveAvgPool2d"}[fn]
            return Raw(ast.unparse(ast.Call(func=ast.Name(id=cls, ctx=ast.Load()), args=rest, keywords=kws)))
        if not rest and not kws:
            return Raw(fn)
        if not rest:
            return Raw(ast.unparse(ast.Call(func=ast.Name(id="partial", ctx=ast.Load()),
                                            args=[expr.func], keywords=kws)))
    body = _Subst({_V + inp: ast.Name(id="x", ctx=ast.Load())}).visit(_copy(expr))
    return Raw(f"lambda x: {ast.unparse(body)}")


def _static(v):
    """An int for a static size (a SymInt that export specialised included), else None."""
    if isinstance(v, int):
        return v
    try:
        expr = v.node.expr
        return int(expr) if expr.is_number else None
    except Exception:  # noqa: BLE001
        return None


def _is_symint(v) -> bool:
    return type(v).__name__ in ("SymInt", "SymFloat")


def _is_dtype(v) -> bool:
    return type(v).__name__ == "dtype" and type(v).__module__ == "torch"


def _jnp_dtype(dt) -> str:
    name = str(dt).replace("torch.", "")
    name = {"long": "int64", "int": "int32", "float": "float32", "double": "float64", "bool": "bool_",
            "half": "float16"}.get(name, name)
    if name == "int64":
        return "jnp.int32"  # JAX's default integer (x64 disabled); torch's int64 indices fit
    return f"jnp.{name}"


def _is_image_input(x) -> bool:
    return hasattr(x, "ndim") and x.ndim == 4 and x.is_floating_point()


# ============================================================================ op handlers
_OPS: dict = {}
_SKIP = {"_assert_tensor_metadata", "_assert_scalar", "sym_constrain_range_for_size", "sym_constrain_range",
         "_assert_async", "sym_size", "sym_numel", "sym_stride", "_operator.mul", "_operator.add",
         "_operator.floordiv", "_operator.sub", "_operator.truediv"}


def op(*names):
    def deco(fn):
        for n in names:
            _OPS[n] = fn
        return fn
    return deco


def _norm_dim(d, ndim):
    return d % ndim if ndim else d


UNARY = {
    "relu": "jax.nn.relu(A)", "sigmoid": "jax.nn.sigmoid(A)", "tanh": "jnp.tanh(A)", "exp": "jnp.exp(A)",
    "log": "jnp.log(A)", "log1p": "jnp.log1p(A)", "sqrt": "jnp.sqrt(A)", "rsqrt": "jax.lax.rsqrt(A)",
    "abs": "jnp.abs(A)", "neg": "-A", "sin": "jnp.sin(A)", "cos": "jnp.cos(A)", "silu": "jax.nn.silu(A)",
    "erf": "jax.lax.erf(A)", "square": "jnp.square(A)", "reciprocal": "1 / A", "sign": "jnp.sign(A)",
    "floor": "jnp.floor(A)", "ceil": "jnp.ceil(A)", "round": "jnp.round(A)", "logical_not": "jnp.logical_not(A)",
    "hardswish": "jax.nn.hard_swish(A)", "hardsigmoid": "jax.nn.hard_sigmoid(A)", "mish": "jax.nn.mish(A)",
    "exp2": "jnp.exp2(A)", "relu6": "jax.nn.relu6(A)", "logsigmoid": "jax.nn.log_sigmoid(A)",
    "selu": "jax.nn.selu(A)", "log_sigmoid": "jax.nn.log_sigmoid(A)", "expm1": "jnp.expm1(A)",
}


@op(*UNARY)
def _unary(g: Generator, n: Node):
    name = n.target.split(".")[1].rstrip("_")
    a = n.args[0]
    g.emit(n.name, X(UNARY[name], A=g.ref(a)), g.lay(a))


@op("gelu")
def _gelu(g, n):
    approx = n.kwargs.get("approximate", n.args[1] if len(n.args) > 1 else "none")
    g.emit(n.name, X("jax.nn.gelu(A, approximate=B)", A=g.ref(n.args[0]), B=approx == "tanh"), g.lay(n.args[0]))


@op("hardtanh")
def _hardtanh(g, n):
    lo = n.args[1] if len(n.args) > 1 else -1.0
    hi = n.args[2] if len(n.args) > 2 else 1.0
    a = n.args[0]
    if (lo, hi) == (0.0, 6.0):
        return g.emit(n.name, X("jax.nn.relu6(A)", A=g.ref(a)), g.lay(a))
    g.emit(n.name, X("jnp.clip(A, lo, hi)", A=g.ref(a), lo=lo, hi=hi), g.lay(a))


@op("leaky_relu")
def _leaky(g, n):
    s = n.args[1] if len(n.args) > 1 else 0.01
    g.emit(n.name, X("leaky_relu(A, s)", A=g.ref(n.args[0]), s=s), g.lay(n.args[0]))


@op("elu")
def _elu(g, n):
    alpha = n.args[1] if len(n.args) > 1 else 1.0
    if any(v != 1 for v in n.args[2:4]):
        return g.fail("elu with scale / input_scale")
    g.emit(n.name, X("jax.nn.elu(A, alpha)", A=g.ref(n.args[0]), alpha=alpha), g.lay(n.args[0]))


@op("softplus")
def _softplus(g, n):
    beta = n.args[1] if len(n.args) > 1 else 1
    a = g.ref(n.args[0])
    e = X("jax.nn.softplus(A)", A=a) if beta == 1 else X("jax.nn.softplus(b * A) / b", A=a, b=beta)
    g.emit(n.name, e, g.lay(n.args[0]))


@op("clamp", "clip")
def _clamp(g, n):
    lo = n.args[1] if len(n.args) > 1 else n.kwargs.get("min")
    hi = n.args[2] if len(n.args) > 2 else n.kwargs.get("max")
    a = n.args[0]
    g.emit(n.name, X("jnp.clip(A, lo, hi)", A=g.ref(a), lo=g.ref(lo), hi=g.ref(hi)), g.lay(a))


@op("clamp_min")
def _clamp_min(g, n):
    g.emit(n.name, X("jnp.maximum(A, lo)", A=g.ref(n.args[0]), lo=g.ref(n.args[1])), g.lay(n.args[0]))


_BIN = {"add": "A + B", "sub": "A - B", "mul": "A * B", "div": "A / B", "pow": "A ** B", "rsub": "B - A",
        "eq": "A == B", "ne": "A != B", "gt": "A > B", "lt": "A < B", "ge": "A >= B", "le": "A <= B",
        "maximum": "jnp.maximum(A, B)", "minimum": "jnp.minimum(A, B)", "remainder": "A % B",
        "floor_divide": "A // B", "logical_and": "jnp.logical_and(A, B)", "logical_or": "jnp.logical_or(A, B)",
        "bitwise_and": "A & B", "bitwise_or": "A | B", "atan2": "jnp.arctan2(A, B)"}


def _operands_layout(g: Generator, operands):
    """The layout elementwise ops on ``operands`` work in, and the operands converted to it."""
    tensors = [o for o in operands if isinstance(o, Ref) and not _is_symint(g.g.values.get(o.name))]
    lays = {g.lay(o) for o in tensors if len(g.shape(o)) > 0}
    if any(isinstance(o, ParamRef) and len(g.shape(o)) > 0 for o in operands):
        lays.add(L.PLAIN)
    if len(lays) <= 1:
        lay = lays.pop() if lays else L.PLAIN
        return lay, [g.ref(o) for o in operands]
    if L.IMAGE in lays and all(g.lay(o) in (L.IMAGE, L.PLAIN) for o in tensors):
        out = []
        for o in operands:
            if isinstance(o, (Ref, ParamRef)) and g.lay(o) == L.PLAIN and 0 < len(g.shape(o)):
                shp = g.shape(o)
                e = g.ref(o)
                if len(shp) < 4:
                    e = X(f"A.reshape({', '.join(['1'] * (4 - len(shp)) + [str(int(s)) for s in shp])})", A=e)
                out.append(X(L.TO_IMAGE, A=e))
            else:
                out.append(g.ref(o))
        return L.IMAGE, out
    return L.PLAIN, [g.ref(o, L.PLAIN) for o in operands]


@op(*_BIN, "true_divide", "multiply", "subtract")
def _binary(g, n):
    name = n.target.split(".")[1].rstrip("_")
    name = {"true_divide": "div", "multiply": "mul", "subtract": "sub"}.get(name, name)
    a, b = n.args[0], n.args[1]
    alpha = n.kwargs.get("alpha", n.args[2] if len(n.args) > 2 and name in ("add", "sub", "rsub") else 1)
    lay, (ea, eb) = _operands_layout(g, [a, b])
    if alpha != 1:
        eb = X("s * B", s=alpha, B=eb)
    mode = n.kwargs.get("rounding_mode")
    if name == "div" and mode == "floor":
        expr = X("A // B", A=ea, B=eb)
    elif name == "div" and mode == "trunc":
        expr = X("jnp.trunc(A / B)", A=ea, B=eb)
    else:
        expr = X(_BIN[name], A=ea, B=eb)
    g.emit(n.name, expr, lay)


@op("where")
def _where(g, n):
    lay, (c, a, b) = _operands_layout(g, list(n.args[:3]))
    g.emit(n.name, X("jnp.where(C, A, B)", C=c, A=a, B=b), lay)


@op("matmul", "mm", "bmm")
def _matmul(g, n):
    g.emit(n.name, X("A @ B", A=g.ref(n.args[0], L.PLAIN), B=g.ref(n.args[1], L.PLAIN)), L.PLAIN)


@op("linear")
def _linear_fn(g, n):
    """``F.linear(x, w, b)`` on a module's own parameters (nn.Linear layers are layers)."""
    x, w = n.args[0], n.args[1]
    b = n.args[2] if len(n.args) > 2 else None
    e = X("A @ W.T", A=g.ref(x, L.PLAIN), W=g.ref(w))
    g.emit(n.name, X("E + B", E=e, B=g.ref(b)) if b is not None else e, L.PLAIN)


@op("t")
def _t(g, n):
    g.emit(n.name, X("A.T", A=g.ref(n.args[0], L.PLAIN)), L.PLAIN)


@op("einsum")
def _einsum(g, n):
    ops = [g.ref(o, L.PLAIN) for o in n.args[1]]
    g.emit(n.name, call("jnp.einsum", n.args[0], *ops), L.PLAIN)


@op("addmm")
def _addmm(g, n):
    if n.kwargs.get("beta", 1) != 1 or n.kwargs.get("alpha", 1) != 1:
        return g.fail("addmm with alpha/beta")
    g.emit(n.name, X("C + A @ B", C=g.ref(n.args[0]), A=g.ref(n.args[1], L.PLAIN), B=g.ref(n.args[2], L.PLAIN)), L.PLAIN)


# identity-like
@op("contiguous", "clone", "alias", "lift_fresh_copy", "detach_", "view_as_real_copy", "dropout_identity")
def _identity(g, n):
    a = n.args[0]
    g.emit_alias(n.name, g.ref(a), g.lay(a))


@op("detach")
def _detach(g, n):
    a = n.args[0]
    if isinstance(a, ParamRef) or not isinstance(a, Ref):
        return g.emit_alias(n.name, g.ref(a), L.PLAIN)
    g.emit(n.name, X("jax.lax.stop_gradient(A)", A=g.ref(a)), g.lay(a))


@op("_to_copy", "to", "type_as")
def _to(g, n):
    a = n.args[0]
    dt = n.kwargs.get("dtype")
    if dt is None:
        dt = next((x for x in n.args[1:] if _is_dtype(x)), None)
    if n.target.split(".")[1] == "type_as":
        dt = g.dtype(n.args[1])
    if dt is None or dt == g.dtype(a):
        return g.emit_alias(n.name, g.ref(a), g.lay(a))
    g.emit(n.name, X(f"A.astype({_jnp_dtype(dt)})", A=g.ref(a)), g.lay(a))


@op("softmax", "_softmax", "log_softmax", "_log_softmax")
def _softmax(g, n):
    name = n.target.split(".")[1].lstrip("_")
    a, dim = n.args[0], n.args[1]
    fn = "jax.nn.softmax" if name == "softmax" else "jax.nn.log_softmax"
    if g.lay(a) == L.IMAGE:
        return g.emit(n.name, call(fn, g.ref(a), axis=L.image_axis(dim)), L.IMAGE)
    ndim = len(g.shape(a))
    axis = -1 if ndim and dim % ndim == ndim - 1 else dim
    g.emit(n.name, call(fn, g.ref(a, L.PLAIN), axis=axis), L.PLAIN)


def _reduce(g, n, method):
    a = n.args[0]
    dims = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim")
    keep = n.args[2] if len(n.args) > 2 else n.kwargs.get("keepdim", False)
    ndim = len(g.shape(a))
    if dims is None or dims == [] or dims == ():
        return g.emit(n.name, X(f"A.{method}()", A=g.ref(a, L.PLAIN)), L.PLAIN)
    dims = [dims] if isinstance(dims, int) else list(dims)
    kw = {"keepdims": True} if keep else {}
    if g.lay(a) == L.IMAGE:
        axes = L.image_axes(dims)
        axis = axes[0] if len(axes) == 1 else axes
        e = ast.Call(func=ast.Attribute(value=g.ref(a), attr=method, ctx=ast.Load()), args=[],
                     keywords=[ast.keyword(arg="axis", value=const(axis))] + [ast.keyword(arg=k, value=const(v)) for k, v in kw.items()])
        if keep:
            return g.emit(n.name, e, L.IMAGE)
        order = L.reduced_order(dims)
        if order is not None:
            e = X("A.transpose(p)", A=e, p=order)
        return g.emit(n.name, e, L.PLAIN)
    dims = [_norm_dim(d, ndim) for d in dims]
    axis = dims[0] if len(dims) == 1 else tuple(dims)
    e = ast.Call(func=ast.Attribute(value=g.ref(a, L.PLAIN), attr=method, ctx=ast.Load()), args=[],
                 keywords=[ast.keyword(arg="axis", value=const(axis))] + [ast.keyword(arg=k, value=const(v)) for k, v in kw.items()])
    g.emit(n.name, e, L.PLAIN)


for _aten, _method in (("mean", "mean"), ("sum", "sum"), ("amax", "max"), ("amin", "min"), ("prod", "prod")):
    op(_aten)(functools.partial(_reduce, method=_method))  # x.mean(dim) -> x.mean(axis=...), ...


@op("var", "std")
def _var(g, n):
    name = n.target.split(".")[1]
    a = n.args[0]
    dims = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim")
    correction = n.kwargs.get("correction", 1)
    keep = n.kwargs.get("keepdim", False)
    ndim = len(g.shape(a))
    if g.lay(a) == L.IMAGE:
        a_e, axes, lay = g.ref(a), (L.image_axes(dims) if dims is not None else None), L.IMAGE if keep else None
        if not keep and dims is not None and L.reduced_order(dims) is not None:
            a_e, axes, lay = g.ref(a, L.PLAIN), tuple(d % 4 for d in dims), L.PLAIN
        lay = lay or L.PLAIN
    else:
        a_e, axes, lay = g.ref(a, L.PLAIN), (tuple(d % ndim for d in dims) if dims is not None else None), L.PLAIN
    kw = {"axis": axes if axes is None or len(axes) > 1 else axes[0], "ddof": correction}
    if keep:
        kw["keepdims"] = True
    g.emit(n.name, call(f"jnp.{name}", a_e, **kw), lay)


@op("max", "min")
def _max(g, n):
    name = n.target.split(".")[1]
    overload = n.target.split(".")[2] if n.target.count(".") >= 2 else ""
    a = n.args[0]
    if overload == "other":
        return _binary(g, dataclasses.replace(n, target=f"aten.{'maximum' if name == 'max' else 'minimum'}.default"))
    if len(n.args) == 1:
        return g.emit(n.name, X(f"A.{name}()", A=g.ref(a, L.PLAIN)), L.PLAIN)
    dim = n.args[1]
    keep = n.args[2] if len(n.args) > 2 else False
    e = g.ref(a, L.PLAIN)
    kw = {"axis": _norm_dim(dim, len(g.shape(a)))}
    if keep:
        kw["keepdims"] = True
    vals = ast.Call(func=ast.Attribute(value=e, attr=name, ctx=ast.Load()), args=[],
                    keywords=[ast.keyword(arg=k, value=const(v)) for k, v in kw.items()])
    idx = ast.Call(func=ast.Attribute(value=_copy(e), attr="arg" + name, ctx=ast.Load()), args=[],
                   keywords=[ast.keyword(arg=k, value=const(v)) for k, v in kw.items()])
    g.lazy_tuples[n.name] = {0: (vals, L.PLAIN), 1: (idx, L.PLAIN)}


@op("argmax", "argmin")
def _argmax(g, n):
    name = n.target.split(".")[1]
    a = n.args[0]
    dim = n.args[1] if len(n.args) > 1 else None
    keep = n.args[2] if len(n.args) > 2 else False
    kw = {}
    if dim is not None:
        kw["axis"] = _norm_dim(dim, len(g.shape(a)))
    if keep:
        kw["keepdims"] = True
    g.emit(n.name, call(f"jnp.{name}", g.ref(a, L.PLAIN), **kw), L.PLAIN)


@op("cat", "concat", "concatenate")
def _cat(g, n):
    tensors = n.args[0]
    dim = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim", 0)
    tensors = [t for t in tensors if not (isinstance(t, Ref) and g.shape(t) == (0,))]
    lays = {g.lay(t) for t in tensors}
    if lays == {L.IMAGE}:
        elts = [g.ref(t) for t in tensors]
        return g.emit(n.name, call("jnp.concatenate", _whole_list(g, elts), axis=L.image_axis(dim)), L.IMAGE)
    ndim = len(g.shape(tensors[0]))
    axis = _norm_dim(dim, ndim)
    axis = -1 if axis == ndim - 1 and ndim > 1 else axis
    elts = [g.ref(t, L.PLAIN) for t in tensors]
    g.emit(n.name, call("jnp.concatenate", _whole_list(g, elts), axis=axis), L.PLAIN)


def _whole_list(g: Generator, elts: list) -> ast.expr:
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
def _stack(g, n):
    dim = n.args[1] if len(n.args) > 1 else n.kwargs.get("dim", 0)
    elts = [g.ref(t, L.PLAIN) for t in n.args[0]]
    g.emit(n.name, call("jnp.stack", ast.List(elts=elts, ctx=ast.Load()), axis=dim), L.PLAIN)


def _shape_args(g: Generator, src: Ref, dims) -> list[ast.expr]:
    """Reshape sizes as expressions; a literal leading size equal to the input's leading
    size (a specialised batch or sequence length) becomes ``x.shape[0]``."""
    out = []
    in_shape = g.shape(src)
    for i, d in enumerate(dims):
        if _is_symint(d) or isinstance(d, Ref):
            out.append(g.ref(d))
        elif i == 0 and isinstance(d, int) and d > 1 and in_shape and _static(in_shape[0]) == d:
            out.append(X("A.shape[0]", A=g.ref(src)))
        else:
            out.append(const(d))
    return out


@op("view", "reshape", "_unsafe_view", "view_copy", "_reshape_alias")
def _view(g, n):
    a, dims = n.args[0], list(n.args[1])
    out_shape = g.shape(Ref(n.name))
    in_shape = g.shape(a)
    if g.lay(a) == L.IMAGE and L.is_flatten(in_shape, out_shape):
        return g.emit(n.name, X("flatten(A)", A=g.ref(a)), L.flat_layout(in_shape))
    if tuple(str(s) for s in out_shape) == tuple(str(s) for s in in_shape) and g.lay(a) == L.PLAIN:
        return g.emit_alias(n.name, g.ref(a), g.lay(a))
    src = g.ref(a, L.PLAIN)
    g.emit(n.name, ast.Call(func=ast.Attribute(value=src, attr="reshape", ctx=ast.Load()),
                            args=_shape_args(g, a, dims), keywords=[]), L.PLAIN)


@op("flatten")
def _flatten(g, n):
    a = n.args[0]
    start = n.args[1] if len(n.args) > 1 else 0
    end = n.args[2] if len(n.args) > 2 else -1
    in_shape = g.shape(a)
    ndim = len(in_shape)
    start, end = _norm_dim(start, ndim), _norm_dim(end, ndim)
    if g.lay(a) == L.IMAGE and start == 1 and end == 3:
        return g.emit(n.name, X("flatten(A)", A=g.ref(a)), L.flat_layout(in_shape))
    if start == 1 and end == ndim - 1 and ndim >= 2:
        return g.emit(n.name, X("flatten(A)", A=g.ref(a, L.PLAIN)), L.PLAIN)
    if start == end:
        return g.emit_alias(n.name, g.ref(a), g.lay(a))
    dims = [X("A.shape[i]", A=g.ref(a, L.PLAIN), i=i) for i in range(start)] + [const(-1)]
    dims += [X("A.shape[i]", A=g.ref(a, L.PLAIN), i=i) for i in range(end + 1, ndim)]
    g.emit(n.name, ast.Call(func=ast.Attribute(value=g.ref(a, L.PLAIN), attr="reshape", ctx=ast.Load()),
                            args=dims, keywords=[]), L.PLAIN)


@op("unflatten")
def _unflatten(g, n):
    a, dim, sizes = n.args[0], n.args[1], list(n.args[2])
    ndim = len(g.shape(a))
    dim = _norm_dim(dim, ndim)
    e = g.ref(a, L.PLAIN)
    dims = [X("A.shape[i]", A=e, i=i) for i in range(dim)] + [g.ref(s) for s in sizes]
    dims += [X("A.shape[i]", A=e, i=i) for i in range(dim + 1, ndim)]
    g.emit(n.name, ast.Call(func=ast.Attribute(value=_copy(e), attr="reshape", ctx=ast.Load()), args=dims, keywords=[]), L.PLAIN)


@op("permute")
def _permute(g, n):
    a, perm = n.args[0], list(n.args[1])
    ndim = len(g.shape(a))
    perm = [_norm_dim(p, ndim) for p in perm]
    if g.lay(a) == L.IMAGE:
        q = L.permute_image(perm)
        if q == tuple(range(4)):
            return g.emit_alias(n.name, g.ref(a), L.PLAIN)
        return g.emit(n.name, X("A.transpose(q)", A=g.ref(a), q=q), L.PLAIN)
    if perm == list(range(ndim)):
        return g.emit_alias(n.name, g.ref(a, L.PLAIN), L.PLAIN)
    g.emit(n.name, X("A.transpose(q)", A=g.ref(a, L.PLAIN), q=tuple(perm)), L.PLAIN)


@op("transpose", "swapaxes")
def _transpose(g, n):
    a, d0, d1 = n.args[0], n.args[1], n.args[2]
    ndim = len(g.shape(a))
    d0, d1 = _norm_dim(d0, ndim), _norm_dim(d1, ndim)
    if g.lay(a) == L.IMAGE:
        perm = list(range(4))
        perm[d0], perm[d1] = perm[d1], perm[d0]
        return _permute(g, dataclasses.replace(n, args=(a, perm)))
    if ndim == 2:
        return g.emit(n.name, X("A.T", A=g.ref(a, L.PLAIN)), L.PLAIN)
    g.emit(n.name, X("jnp.swapaxes(A, i, j)", A=g.ref(a, L.PLAIN), i=d0, j=d1), L.PLAIN)


@op("unsqueeze")
def _unsqueeze(g, n):
    a, d = n.args[0], n.args[1]
    ndim = len(g.shape(a)) + 1
    d = _norm_dim(d, ndim)
    idx = ", ".join([":"] * d + ["None"])
    g.emit(n.name, X(f"A[{idx}]", A=g.ref(a, L.PLAIN)), L.PLAIN)


@op("squeeze")
def _squeeze(g, n):
    a = n.args[0]
    shape = g.shape(a)
    ndim = len(shape)
    dims = n.args[1] if len(n.args) > 1 else [i for i, s in enumerate(shape) if s == 1]
    dims = [dims] if isinstance(dims, int) else list(dims)
    dims = tuple(d for d in (_norm_dim(d, ndim) for d in dims) if shape[d] == 1)
    if not dims:
        return g.emit_alias(n.name, g.ref(a), g.lay(a))
    g.emit(n.name, X("A.squeeze(d)", A=g.ref(a, L.PLAIN), d=dims[0] if len(dims) == 1 else dims), L.PLAIN)


def _index_expr(base: ast.expr, axis: int, index: ast.expr) -> ast.expr:
    elts = [ast.Slice() for _ in range(axis)] + [index]
    sl = elts[0] if len(elts) == 1 else ast.Tuple(elts=elts, ctx=ast.Load())
    return ast.Subscript(value=base, slice=sl, ctx=ast.Load())


@op("select")
def _select(g, n):
    a, d, i = n.args[0], n.args[1], n.args[2]
    ndim = len(g.shape(a))
    d = _norm_dim(d, ndim)
    if g.lay(a) == L.IMAGE and d == 1:
        return g.emit(n.name, X("A[..., i]", A=g.ref(a), i=g.ref(i)), L.PLAIN)
    g.emit(n.name, _index_expr(g.ref(a, L.PLAIN), d, g.ref(i)), L.PLAIN)


@op("slice")
def _slice(g, n):
    a = n.args[0]
    d = n.args[1] if len(n.args) > 1 else 0
    start = n.args[2] if len(n.args) > 2 else None
    end = n.args[3] if len(n.args) > 3 else None
    step = n.args[4] if len(n.args) > 4 else 1
    shape = g.shape(a)
    ndim = len(shape)
    d = _norm_dim(d, ndim)
    if start in (0, None) and (end is None or (isinstance(end, int) and end >= 2 ** 62)
                               or str(end) == str(shape[d])) and step == 1:
        return g.emit_alias(n.name, g.ref(a), g.lay(a))
    lo = None if start in (0, None) else g.ref(start)
    hi = None if end is None or (isinstance(end, int) and end >= 2 ** 62) else g.ref(end)
    sl = ast.Slice(lower=lo, upper=hi, step=None if step == 1 else const(step))
    if g.lay(a) == L.IMAGE:
        axis = L.TORCH_TO_JAX[d]
        if axis == 3:
            return g.emit(n.name, ast.Subscript(value=g.ref(a), slice=ast.Tuple(elts=[ast.Constant(Ellipsis), sl], ctx=ast.Load()),
                                                ctx=ast.Load()), L.IMAGE)
        return g.emit(n.name, _index_expr(g.ref(a), axis, sl), L.IMAGE)
    g.emit(n.name, _index_expr(g.ref(a, L.PLAIN), d, sl), L.PLAIN)


@op("split", "split_with_sizes", "chunk", "unbind", "tensor_split")
def _split(g, n):
    name = n.target.split(".")[1]
    a = n.args[0]
    shape = g.shape(a)
    ndim = len(shape)
    if name == "unbind":
        d = _norm_dim(n.args[1] if len(n.args) > 1 else 0, ndim)
        k = int(shape[d])
        expr = X("jnp.unstack(A, axis=d)", A=g.ref(a, L.PLAIN), d=d)
        lay = L.PLAIN
    else:
        d = _norm_dim(n.args[2] if len(n.args) > 2 else n.kwargs.get("dim", 0), ndim)
        size = n.args[1]
        if name == "chunk":
            k = size
            sections = k
        elif isinstance(size, int):
            k = -(-int(shape[d]) // size)
            sections = [size * i for i in range(1, k)] if int(shape[d]) % size or k * size != int(shape[d]) else k
        else:
            k = len(size)
            import itertools
            sections = list(itertools.accumulate(size))[:-1]
        if g.lay(a) == L.IMAGE:
            expr, lay = X("jnp.split(A, s, axis=d)", A=g.ref(a), s=sections, d=L.image_axis(d)), L.IMAGE
        else:
            expr, lay = X("jnp.split(A, s, axis=d)", A=g.ref(a, L.PLAIN), s=sections, d=d), L.PLAIN
    item = Item([None] * int(k), expr, g.cur_line, multi=True, hint="part", tuple_shape=list(range(int(k))))
    item.tuple_of = (n.name,)
    item.slot_layout = lay
    g.code.items.append(item)


@op("expand", "expand_copy")
def _expand(g, n):
    a, sizes = n.args[0], list(n.args[1])
    shape = g.shape(a)
    off = len(sizes) - len(shape)
    dims = []
    for i, s in enumerate(sizes):
        if s == -1:
            dims.append(X("A.shape[i]", A=g.ref(a, L.PLAIN), i=i - off))
        else:
            dims.append(g.ref(s))
    g.emit(n.name, X("jnp.broadcast_to(A, S)", A=g.ref(a, L.PLAIN), S=ast.Tuple(elts=dims, ctx=ast.Load())), L.PLAIN)


@op("repeat")
def _repeat(g, n):
    g.emit(n.name, X("jnp.tile(A, r)", A=g.ref(n.args[0], L.PLAIN), r=tuple(n.args[1])), L.PLAIN)


def _creation(g, n, fn):
    size = n.args[0]
    dt = n.kwargs.get("dtype")
    dims = ast.Tuple(elts=[g.ref(s) for s in size], ctx=ast.Load())
    args = [dims] + ([X(_jnp_dtype(dt))] if dt is not None else [])
    g.emit(n.name, ast.Call(func=ast.parse(fn, mode="eval").body, args=args, keywords=[]), L.PLAIN)


@op("zeros")
def _zeros(g, n):
    _creation(g, n, "jnp.zeros")


@op("ones")
def _ones(g, n):
    _creation(g, n, "jnp.ones")


@op("full")
def _full(g, n):
    dt = n.kwargs.get("dtype")
    dims = ast.Tuple(elts=[g.ref(s) for s in n.args[0]], ctx=ast.Load())
    args = [dims, g.ref(n.args[1])] + ([X(_jnp_dtype(dt))] if dt is not None else [])
    g.emit(n.name, ast.Call(func=ast.parse("jnp.full", mode="eval").body, args=args, keywords=[]), L.PLAIN)


@op("zeros_like", "ones_like", "empty_like")
def _like(g, n):
    name = n.target.split(".")[1].replace("empty", "zeros")
    a = n.args[0]
    g.emit(n.name, call(f"jnp.{name}", g.ref(a)), g.lay(a))


@op("full_like")
def _full_like(g, n):
    a = n.args[0]
    g.emit(n.name, call("jnp.full_like", g.ref(a), g.ref(n.args[1])), g.lay(a))


@op("linspace")
def _linspace(g, n):
    dt = n.arg("dtype")
    kw = {"dtype": X(_jnp_dtype(dt))} if dt is not None else {}
    g.emit(n.name, call("jnp.linspace", g.ref(n.arg("start")), g.ref(n.arg("end")), g.ref(n.arg("steps")), **kw),
           L.PLAIN)


@op("arange")
def _arange(g, n):
    args = [g.ref(x) for x in n.args]
    dt = n.kwargs.get("dtype")
    kw = {"dtype": X(_jnp_dtype(dt))} if dt is not None else {}
    g.emit(n.name, call("jnp.arange", *args, **kw), L.PLAIN)


@op("constant_pad_nd", "pad")
def _pad(g, n):
    a, pad = n.args[0], list(n.args[1])
    value = n.args[2] if len(n.args) > 2 else n.kwargs.get("value", 0)
    mode = n.kwargs.get("mode", "constant")
    if mode != "constant":
        return g.fail(f"F.pad with mode={mode!r}")
    ndim = len(g.shape(a))
    pairs = [(0, 0)] * ndim
    for i in range(len(pad) // 2):
        pairs[ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    if g.lay(a) == L.IMAGE:
        pairs = [pairs[d] for d in L.JAX_TO_TORCH]
        lay, e = L.IMAGE, g.ref(a)
    else:
        lay, e = L.PLAIN, g.ref(a, L.PLAIN)
    kw = {"constant_values": value} if value else {}
    g.emit(n.name, call("jnp.pad", e, tuple(pairs), **kw), lay)


@op("masked_fill")
def _masked_fill(g, n):
    lay, (a, m, v) = _operands_layout(g, list(n.args[:3]))
    g.emit(n.name, X("jnp.where(M, V, A)", A=a, M=m, V=v), lay)


def _slices(g, n, dim, index) -> ast.expr:
    """``A[:, :, index]`` (``index`` on axis ``dim``) as a subscript slice."""
    elts = [ast.Slice() for _ in range(dim)] + [index]
    return elts[0] if len(elts) == 1 else ast.Tuple(elts=elts, ctx=ast.Load())


def _at(base: ast.expr, index: ast.expr, method: str, value: ast.expr) -> ast.expr:
    """``base.at[index].set(value)`` (the functional form of writing into a view)."""
    at = ast.Subscript(value=ast.Attribute(value=base, attr="at", ctx=ast.Load()), slice=index, ctx=ast.Load())
    return ast.Call(func=ast.Attribute(value=at, attr=method, ctx=ast.Load()), args=[value], keywords=[])


@op("slice_scatter")
def _slice_scatter(g, n):
    """``x[:, a:b] = src`` / ``x[:, a:b].fill_(v)``: ``x.at[:, a:b].set(src)``."""
    a, src = n.arg("self"), n.arg("src")
    ndim = len(g.shape(a))
    dim = _norm_dim(n.arg("dim", 0), ndim)
    start, end, step = n.arg("start"), n.arg("end"), n.arg("step", 1)
    lo = None if start in (0, None) else g.ref(start)
    hi = None if end is None or (isinstance(end, int) and end >= 2 ** 62) else g.ref(end)
    if lo is None and hi is None and step == 1:  # the whole axis: the new value is src
        return g.emit_alias(n.name, g.ref(src), g.lay(src))
    sl = ast.Slice(lower=lo, upper=hi, step=None if step == 1 else const(step))
    g.emit(n.name, _at(g.ref(a, L.PLAIN), _slices(g, n, dim, sl), "set", g.ref(src, L.PLAIN)), L.PLAIN, rebinds=a)


@op("select_scatter")
def _select_scatter(g, n):
    a, src = n.arg("self"), n.arg("src")
    dim = _norm_dim(n.arg("dim"), len(g.shape(a)))
    g.emit(n.name, _at(g.ref(a, L.PLAIN), _slices(g, n, dim, g.ref(n.arg("index"))), "set", g.ref(src, L.PLAIN)),
           L.PLAIN, rebinds=a)


@op("index_put")
def _index_put(g, n):
    """``x[idx] = v`` (``accumulate``: ``+=``): ``x.at[idx].set(v)`` / ``.add(v)``."""
    a, values = n.arg("self"), n.arg("values")
    idx = [ast.Slice() if i is None else g.ref(i, L.PLAIN) for i in n.arg("indices")]
    index = idx[0] if len(idx) == 1 else ast.Tuple(elts=idx, ctx=ast.Load())
    g.emit(n.name, _at(g.ref(a, L.PLAIN), index, "add" if n.arg("accumulate") else "set", g.ref(values, L.PLAIN)),
           L.PLAIN, rebinds=a)


@op("fill")
def _fill(g, n):
    a = n.arg("self")
    g.emit(n.name, call("jnp.full_like", g.ref(a), g.ref(n.arg("value"))), g.lay(a), rebinds=a)


@op("copy")
def _copy_op(g, n):
    """``x.copy_(src)``: ``src`` broadcast to ``x``'s shape and dtype."""
    a, src = n.arg("self"), n.arg("src")
    e = X("jnp.broadcast_to(S, A.shape)", S=g.ref(src, L.PLAIN), A=g.ref(a, L.PLAIN))
    if g.dtype(src) != g.dtype(a) and g.dtype(a) is not None:
        e = X(f"E.astype({_jnp_dtype(g.dtype(a))})", E=e)
    g.emit(n.name, e, L.PLAIN, rebinds=a)


@op("bitwise_not")
def _bitwise_not(g, n):
    a = n.arg("self")
    fn = "jnp.logical_not" if str(g.dtype(a)) == "torch.bool" else "jnp.invert"
    g.emit(n.name, call(fn, g.ref(a)), g.lay(a))


@op("triu", "tril")
def _triu(g, n):
    name = n.target.split(".")[1]
    d = n.arg("diagonal", 0)
    kw = {"k": d} if d else {}
    g.emit(n.name, call(f"jnp.{name}", g.ref(n.arg("self"), L.PLAIN), **kw), L.PLAIN)


@op("embedding")
def _embedding_fn(g, n):
    g.fail("F.embedding on a weight outside nn.Embedding", hint="Use nn.Embedding.")


@op("max_pool2d", "max_pool2d_with_indices")
def _max_pool(g, n):
    a = n.args[0]
    k = n.args[1]
    s = n.args[2] if len(n.args) > 2 and n.args[2] else None
    p = n.args[3] if len(n.args) > 3 else 0
    dil = n.args[4] if len(n.args) > 4 else 1
    ceil = n.args[5] if len(n.args) > 5 else False
    if _pretty(tuple(dil) if isinstance(dil, list) else dil) not in (1, (1, 1)):
        return g.fail("max_pool2d with dilation")
    args = [g.ref(a, L.IMAGE), _pretty(tuple(k))]
    s = _pretty(tuple(s)) if s else None
    p = _pretty(tuple(p)) if isinstance(p, list) else p
    if s is not None and s != args[1] or p or ceil:
        args.append(s if s is not None else args[1])
    if p or ceil:
        args.append(p)
    kw = {"ceil_mode": True} if ceil else {}
    expr = call("max_pool2d", *args, **kw)
    if n.target.split(".")[1] == "max_pool2d_with_indices":
        return g.fail("max_pool2d with return_indices=True")
    g.emit(n.name, expr, L.IMAGE)


@op("avg_pool2d")
def _avg_pool(g, n):
    a = n.args[0]
    k = _pretty(tuple(n.args[1]))
    s = _pretty(tuple(n.args[2])) if len(n.args) > 2 and n.args[2] else None
    p = n.args[3] if len(n.args) > 3 else 0
    p = _pretty(tuple(p)) if isinstance(p, list) else p
    ceil = n.args[4] if len(n.args) > 4 else False
    include = n.args[5] if len(n.args) > 5 else True
    if len(n.args) > 6 and n.args[6] is not None:
        return g.fail("avg_pool2d with divisor_override")
    args = [g.ref(a, L.IMAGE), k]
    if s is not None and s != k or p or ceil or not include:
        args.append(s if s is not None else k)
    if p or ceil or not include:
        args.append(p)
    kw = {}
    if ceil:
        kw["ceil_mode"] = True
    if not include:
        kw["count_include_pad"] = False
    g.emit(n.name, call("avg_pool2d", *args, **kw), L.IMAGE)


@op("adaptive_avg_pool2d", "_adaptive_avg_pool2d")
def _adaptive(g, n):
    size = n.args[1]
    size = _pretty(tuple(size)) if isinstance(size, (list, tuple)) else size
    g.emit(n.name, call("adaptive_avg_pool2d", g.ref(n.args[0], L.IMAGE), size), L.IMAGE)


@op("jaxdl_port.dropout.default")
def _dropout_fn(g, n):
    """``F.dropout(x, p, self.training)`` in a forward: an extra ``Dropout`` attribute (no
    weights, so the state_dict is unchanged) that follows ``model.train()``/``eval()``."""
    a, p, _, name = n.args
    if name != "dropout":
        return g.fail(f"F.{name}")
    inst = g.code.inst
    taken = set(inst.attrs) | {c for c, _ in _children(inst.module)}
    attr = "dropout"
    i = 1
    while attr in taken and inst.attrs.get(attr, (None,))[0] != p:
        attr, i = f"dropout{i}", i + 1
    inst.attrs[attr] = (p, Ctor("Dropout", [p], {"rngs": RNGS}))
    g.emit(n.name, X(f"self.{attr}(A)", A=g.ref(a)), g.lay(a))


@op("scaled_dot_product_attention")
def _sdpa(g, n):
    """``F.scaled_dot_product_attention`` on (B, heads, T, D): ``jax.nn.dot_product_attention``
    takes (B, T, heads, D). A boolean ``attn_mask`` keeps where True (as torch), a float
    one is added to the scores (``bias=``)."""
    q, k, v, mask = n.arg("query"), n.arg("key"), n.arg("value"), n.arg("attn_mask")
    if n.arg("dropout_p") or len(g.shape(q)) != 4 or n.arg("enable_gqa"):
        return g.fail("scaled_dot_product_attention with dropout, grouped queries or without 4-D "
                      "(B, heads, T, D) inputs")
    kw = {}
    if mask is not None:
        m = g.ref(mask, L.PLAIN)
        extra = 4 - len(g.shape(mask))
        if extra:
            m = X(f"A[{', '.join(['None'] * extra)}]", A=m)
        kw["mask" if str(g.dtype(mask)) == "torch.bool" else "bias"] = m
    if n.arg("is_causal"):
        kw["is_causal"] = True
    if n.arg("scale") is not None:
        kw["scale"] = n.arg("scale")
    e = call("jax.nn.dot_product_attention", X("jnp.swapaxes(Q, 1, 2)", Q=g.ref(q, L.PLAIN)),
             X("jnp.swapaxes(K, 1, 2)", K=g.ref(k, L.PLAIN)), X("jnp.swapaxes(V, 1, 2)", V=g.ref(v, L.PLAIN)), **kw)
    g.emit(n.name, X("jnp.swapaxes(E, 1, 2)", E=e), L.PLAIN)


# ============================================================================ leaf layers
_PARAMETERLESS = {"ReLU", "ReLU6", "Sigmoid", "Tanh", "GELU", "SiLU", "LeakyReLU", "ELU", "Softplus", "Hardtanh",
                  "Hardswish", "Hardsigmoid", "Mish", "Softmax", "LogSoftmax", "Flatten", "Unflatten", "Identity",
                  "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "Dropout", "LogSigmoid", "ZeroPad2d",
                  "ConstantPad2d"}
_LEAVES: dict = {}
_LEAF_CHECKS: dict = {}
_LEAF_SPECS: dict = {}


def leaf(name, check=None):
    def deco(fn):
        _LEAVES[name] = fn
        if check:
            _LEAF_CHECKS[name] = check
        return fn
    return deco


def _conv_check(m):
    if m.padding_mode != "zeros":
        return f"padding_mode={m.padding_mode!r}"
    return None


def conv_spec(m) -> Ctor:
    p = m.padding
    p = _pretty(tuple(p)) if isinstance(p, (tuple, list)) else p
    kw = {"dilation": _pretty(tuple(m.dilation)), "groups": m.groups, "use_bias": m.bias is not None, "rngs": RNGS}
    return Ctor("Conv2d", [m.in_channels, m.out_channels, _pretty(tuple(m.kernel_size)), _pretty(tuple(m.stride)), p],
                kw, ("in_channels", "out_channels", "kernel_size", "stride", "padding"))


def linear_spec(m) -> Ctor:
    return Ctor("Linear", [m.in_features, m.out_features], {"use_bias": m.bias is not None, "rngs": RNGS},
                ("in_features", "out_features"))


def bn_spec(m) -> Ctor:
    return Ctor("BatchNorm", [m.num_features], {"eps": m.eps, "momentum": m.momentum}, ("num_features",))


# defaults left out when printing: positional (trailing) and keyword arguments
_DEFAULTS = {
    "Conv2d": ([None, None, None, 1, 0], {"dilation": 1, "groups": 1, "use_bias": True}),
    "Linear": ([None, None], {"use_bias": True}),
    "BatchNorm": ([None], {"eps": 1e-5, "momentum": 0.1}),
    "LayerNorm": ([None], {"eps": 1e-5}),
    "LSTM": ([None, None], {"batch_first": False}),
    "RNN": ([None, None], {"batch_first": False}),
}


def _bn_check(m):
    if not m.affine:
        return "affine=False"
    if not m.track_running_stats:
        return "track_running_stats=False"
    if m.momentum is None:
        return "momentum=None (a cumulative average)"
    return None


def ln_spec(m) -> Ctor:
    return Ctor("LayerNorm", [m.normalized_shape[-1]], {"eps": m.eps, "rngs": RNGS}, ("num_features",))


def _ln_check(m):
    if len(m.normalized_shape) != 1:
        return f"normalized_shape={tuple(m.normalized_shape)} (jaxdl.layers.LayerNorm normalises the last axis)"
    if not m.elementwise_affine or getattr(m, "bias", True) is None:
        return "elementwise_affine=False or bias=False"
    return None


def emb_spec(m) -> Ctor:
    return Ctor("Embedding", [m.num_embeddings, m.embedding_dim], {"rngs": RNGS}, ("num_embeddings", "embedding_dim"))


def _emb_check(m):
    for attr in ("padding_idx", "max_norm"):
        if getattr(m, attr) is not None:
            return f"{attr}={getattr(m, attr)}"
    if m.scale_grad_by_freq or m.sparse:
        return "scale_grad_by_freq/sparse"
    return None


def rnn_spec(m) -> Ctor:
    cls = "LSTM" if type(m).__name__ == "LSTM" else "RNN"
    return Ctor(cls, [m.input_size, m.hidden_size], {"batch_first": m.batch_first, "rngs": RNGS},
                ("input_size", "hidden_size"))


def _rnn_check(m):
    if m.num_layers != 1:
        return f"num_layers={m.num_layers} (stack one-layer LSTMs, or open an issue)"
    if m.bidirectional:
        return "bidirectional=True"
    if not m.bias:
        return "bias=False"
    if getattr(m, "proj_size", 0):
        return "proj_size"
    if type(m).__name__ == "RNN" and m.nonlinearity != "tanh":
        return f"nonlinearity={m.nonlinearity!r}"
    return None


def dropout_spec(m) -> Ctor:
    return Ctor("Dropout", [m.p], {"rngs": RNGS}, ("p",))


_LEAF_SPECS.update({"Conv2d": conv_spec, "Linear": linear_spec, "BatchNorm1d": bn_spec, "BatchNorm2d": bn_spec,
                    "LayerNorm": ln_spec, "Embedding": emb_spec, "LSTM": rnn_spec, "RNN": rnn_spec,
                    "Dropout": dropout_spec})


def _call_leaf(g: Generator, it: Call, rel, x_expr, layout_out):
    out = it.outputs[0].name if it.outputs else None
    if out:
        g.emit(out, ast.Call(func=rel, args=[x_expr], keywords=[]), layout_out, hint=_attr_hint(it.path))


@leaf("Conv2d", _conv_check)
def _conv(g, it, m, rel):
    _call_leaf(g, it, rel, g.ref(it.inputs[0], L.IMAGE), L.IMAGE)


@leaf("Linear")
def _linear(g, it, m, rel):
    x = it.inputs[0]
    lay = g.lay(x)
    g.linear_calls[it.path] = g.linear_calls.get(it.path, 0) + 1
    if isinstance(lay, L.Flat) and g.linear_calls[it.path] == 1 and it.path not in g.torch_flatten:
        g.torch_flatten[it.path] = lay.chw
        return _call_leaf(g, it, rel, g.ref(x), L.PLAIN)
    if isinstance(lay, L.Flat) or it.path in g.torch_flatten:
        g.torch_flatten.pop(it.path, None)
        return g.fail("a Linear called on flattened images and on other inputs", path=it.path)
    _call_leaf(g, it, rel, g.ref(x, L.PLAIN), L.PLAIN)


@leaf("BatchNorm2d", _bn_check)
def _bn2d(g, it, m, rel):
    _call_leaf(g, it, rel, g.ref(it.inputs[0], L.IMAGE), L.IMAGE)


@leaf("BatchNorm1d", _bn_check)
def _bn1d(g, it, m, rel):
    x = it.inputs[0]
    if len(g.shape(x)) == 3:  # (N, C, L): jaxdl's BatchNorm normalises the last axis
        out = it.outputs[0].name
        e = X("jnp.swapaxes(BN(jnp.swapaxes(A, 1, 2)), 1, 2)", BN=rel, A=g.ref(x, L.PLAIN))
        return g.emit(out, e, L.PLAIN, hint=_attr_hint(it.path))
    _call_leaf(g, it, rel, g.ref(x, L.PLAIN), L.PLAIN)


@leaf("LayerNorm", _ln_check)
def _ln(g, it, m, rel):
    _call_leaf(g, it, rel, g.ref(it.inputs[0], L.PLAIN), L.PLAIN)


@leaf("Dropout")
def _dropout(g, it, m, rel):
    x = it.inputs[0]
    _call_leaf(g, it, rel, g.ref(x), g.lay(x))


@leaf("Embedding", _emb_check)
def _embedding(g, it, m, rel):
    _call_leaf(g, it, rel, g.ref(it.inputs[0], L.PLAIN), L.PLAIN)


@leaf("LSTM", _rnn_check)
@leaf("RNN", _rnn_check)
def _rnn(g, it, m, rel):
    lstm = type(m).__name__ == "LSTM"
    node = next(n for n in it.nodes if n.target.split(".")[1] in ("lstm", "rnn_tanh"))
    x, hx = node.args[0], node.args[1]
    hx = list(hx) if isinstance(hx, (list, tuple)) else [hx]
    args = [g.ref(x, L.PLAIN)]
    inside = {n.name: n for n in it.nodes}
    zeros_inside = all(isinstance(h, Ref) and h.name in inside and inside[h.name].target.split(".")[1] in
                       ("zeros", "new_zeros") for h in hx)
    if any(isinstance(h, Ref) and h.name in inside for h in hx) and not zeros_inside:
        return g.fail(f"nn.{type(m).__name__} with an initial state built inside the layer", path=it.path)
    if not zeros_inside and not all(_is_zeros(g, h) for h in hx):
        hs = [X("H[0]", H=g.ref(h, L.PLAIN)) for h in hx]
        args.append(ast.Tuple(elts=hs, ctx=ast.Load()) if lstm else hs[0])
    getitems = {n.args[1]: n.name for n in it.nodes if n.target == "getitem" and isinstance(n.args[0], Ref)
                and n.args[0].name == node.name}
    outs = {o.name for o in it.outputs}
    names = [getitems.get(i) if getitems.get(i) in outs else None for i in range(3 if lstm else 2)]
    # torch's h_n/c_n are (1, B, H); jaxdl's (B, H): readers see h[None]
    slot = [None] * len(names)
    for i, nm in enumerate(names):
        if nm is None:
            continue
        if i == 0:
            slot[0] = nm
            g.layout[nm] = L.PLAIN
        else:
            inner = f"{nm}__state"
            slot[i] = inner
            g.layout[inner] = L.PLAIN
            g.emit_alias(nm, X("H[None]", H=V(inner)), L.PLAIN)
    shape = [0, [1, 2]] if lstm else [0, 1]
    item = Item(slot, ast.Call(func=rel, args=args, keywords=[]), g.cur_line, multi=True, hint=_attr_hint(it.path),
                tuple_shape=shape)
    g.code.items.append(item)


def _is_zeros(g, r) -> bool:
    if not isinstance(r, Ref):
        return False
    e = g.alias.get(r.name)
    if e is not None:
        return False
    for it in g.code.items:
        if it.outputs == [r.name] and isinstance(it.expr, ast.Call) and ast.unparse(it.expr.func) == "jnp.zeros":
            return True
    return False


def supported() -> dict[str, list[str]]:
    """What jaxdl.port maps: torch layers with weights, parameterless layers, ATen ops."""
    return {"layers": sorted(f"nn.{k}" for k in _LEAVES),
            "parameterless layers": sorted(f"nn.{k}" for k in _PARAMETERLESS - set(_LEAVES)),
            "ops": sorted(set(_OPS))}


# ============================================================================ bodies -> text
def finalize(g: Generator, code: BodyCode) -> list[str]:
    """Choose statements, inlining and names for one rendered body; its lines of code."""
    items = [it for it in code.items]
    body = code.body
    src = code.source
    out_exprs = None if code.stopped else [g.ref(o) if isinstance(o, Ref) else const(o) for o in body.outputs]

    # a statement that calls a helper method (``return self._forward_impl(x)``) holds the
    # ops of many lines: treat its ops as if their lines were unknown
    opaque = set()
    if src is not None:
        own = set(code.inst.attrs)
        for it in items:
            st = src.statement(it.line)
            if st is None or it.expr is None:
                continue
            text = src.text.get(st[0], "")
            for attr in re.findall(r"\bself\.(\w+)", unparse(it.expr)):
                if attr not in own and not re.search(rf"\b{attr}\b", text):
                    opaque.add(st[0])

    def stmt_of(line):
        st = src.statement(line) if src is not None else None
        return None if st is None or st[0] in opaque else st

    # uses, with dead items dropped (a pure item nobody reads)
    while True:
        uses: dict[str, list[int]] = {}
        for i, it in enumerate(items):
            for r in (refs_in(it.expr) if it.expr is not None else []):
                uses.setdefault(r, []).append(i)
        for r in (refs_in(ast.Tuple(elts=out_exprs, ctx=ast.Load())) if out_exprs else []):
            uses.setdefault(r, []).append(len(items))
        keep = [it for it in items if it.raise_ or any(o and uses.get(o) for o in it.outputs)]
        if len(keep) == len(items):
            break
        items = keep
    producer = {o: i for i, it in enumerate(items) for o in it.outputs if o}

    # inline: a single-use value into its reader on the same source statement (or the next item)
    inline: dict[str, bool] = {}

    def has_call(i):  # the expression of item i, with what is inlined into it, calls a layer
        e = items[i].expr
        return _calls_module(e) or any(has_call(producer[r]) for r in refs_in(e) if inline.get(r) and r in producer)

    for i, it in enumerate(items):
        if it.multi or it.raise_ or len(it.outputs) != 1:
            continue
        name = it.outputs[0]
        u = uses.get(name, [])
        if len(u) != 1:
            continue
        j = u[0]
        if j == len(items):  # read by the return
            st = stmt_of(it.line)
            last_statement = all(inline.get(o) for k in range(i + 1, len(items)) for o in items[k].outputs if o)
            inline[name] = (st is not None and st[1][0] == "return") or last_statement
            continue
        reader = items[j]
        if reader.raise_:
            continue
        a, b = stmt_of(it.line), stmt_of(reader.line)
        if a is not None and b is not None:
            inline[name] = a[0] == b[0]
        elif a is None and b is None:
            # no source to follow: chain into the next op, one layer call per statement, and
            # nn.ModuleList elements on their own (the loop comes back in _reroll)
            if re.search(r"\bself\.\w+\[\d+\]\(", unparse(it.expr)):
                continue
            layered = has_call(i) and _calls_module(reader.expr)
            inline[name] = not layered and (j == i + 1 or all(inline.get(o) for k in range(i + 1, j)
                                                              for o in items[k].outputs if o))
    statements = [i for i, it in enumerate(items) if it.raise_ or not all(inline.get(o) for o in it.outputs if o)
                  or not any(o for o in it.outputs)]

    def expand(e):
        subs = {}
        for r in set(refs_in(e)):
            if inline.get(r):
                subs[_V + r] = expand(_copy(items[producer[r]].expr))
        return _Subst(subs).visit(e) if subs else e

    exprs = {i: expand(_copy(items[i].expr)) if items[i].expr is not None else None for i in statements}
    final_out = [expand(_copy(e)) for e in out_exprs] if out_exprs is not None else None
    # last read of every value, in statement order
    last_read: dict[str, int] = {}
    for k, i in enumerate(statements):
        for r in refs_in(exprs[i]) if exprs[i] is not None else []:
            last_read[r] = k
    for r in (refs_in(ast.Tuple(elts=final_out, ctx=ast.Load())) if final_out else []):
        last_read[r] = len(statements)

    names: dict[str, str] = {}
    holder: dict[str, str] = {}
    for an, _, tree in body.in_tree or [(an, False, i) for i, an in enumerate(body.arg_names)]:
        r = body.inputs[tree] if isinstance(tree, int) and tree < len(body.inputs) else None
        if isinstance(r, Ref):
            names.setdefault(r.name, an)
            holder[an] = r.name
        else:  # a structured argument (read as ``input[1]``): its name stays taken
            holder[an] = f"<argument {an}>"
            last_read[holder[an]] = 1 << 30
    def choose(hint: str, k: int, value: str, fallback: str = "") -> str:
        def free(cand):
            held = holder.get(cand)
            return cand not in _RESERVED and (held is None or held == value or last_read.get(held, -1) <= k)

        base = _clean(hint) or "x"
        for cand in (base, _clean(fallback) if fallback else None):
            if cand and free(cand):
                holder[cand] = value
                return cand
        n = 1
        while True:
            n += 1
            cand = f"{base}_{n}"
            if free(cand):
                holder[cand] = value
                return cand

    lines: list[str] = []
    for k, i in enumerate(statements):
        it = items[i]
        if it.raise_:
            msg = it.raise_.replace("{", "{{").replace("}", "}}")
            e = exprs[i]
            if e is not None and e.elts:
                e = _Subst({_V + r: ast.Name(id=names[r], ctx=ast.Load()) for r in set(refs_in(e)) if r in names}).visit(e)
                lines.append(f"raise NotImplementedError(f{msg + ' Input: {' + unparse(e.elts[0]) + '.shape}.'!r})")
            else:
                lines.append(f"raise NotImplementedError({it.raise_!r})")
            break
        st = stmt_of(it.line)
        targets = st[1][1] if st is not None and st[1][0] == "assign" else None
        line_items = [j for j in statements if stmt_of(items[j].line) == st] if st is not None else [i]
        is_root = line_items and line_items[-1] == i
        e = exprs[i]
        e = _Subst({_V + r: ast.Name(id=names[r], ctx=ast.Load()) for r in set(refs_in(e)) if r in names}).visit(e)
        if it.multi:
            tnames = []
            for idx, o in enumerate(it.outputs):
                if o is None or not uses.get(o):
                    tnames.append("_")
                    continue
                hint = (targets[idx] if targets and is_root and idx < len(targets) and targets[idx] else None) \
                    or f"{it.hint}_{idx}" if not (targets and is_root and idx < len(targets) and targets[idx]) else targets[idx]
                nm = choose(hint, k, o)
                names[o] = nm
                tnames.append(nm)
            target_text = _tuple_text(it.tuple_shape, tnames)
            lines.append(f"{target_text} = {unparse(e)}")
            continue
        o = it.outputs[0]
        hint = targets[0] if targets and len(targets) == 1 and is_root else (it.hint if st is not None else "x") or "x"
        if it.rebinds and it.rebinds in names and not (targets and len(targets) == 1 and is_root):
            hint = names[it.rebinds]
        if final_out is not None and k == len(statements) - 1 and len(final_out) == 1 and _is_ref(final_out[0], o) \
                and last_read.get(o) == len(statements) and len(uses.get(o, [])) == 1:
            lines.append(f"return {unparse(e)}")
            final_out = None
            break
        nm = choose(hint, k, o, fallback=it.hint if st is None else "")
        names[o] = nm
        lines.append(f"{nm} = {unparse(e)}")
    if final_out is not None and not code.stopped:
        outs = [_Subst({_V + r: ast.Name(id=names.get(r, r), ctx=ast.Load()) for r in set(refs_in(e))}).visit(e)
                for e in final_out]
        if body.out_spec is None or len(outs) == 1 and _single_leaf(body.out_spec):
            lines.append(f"return {unparse(outs[0])}")
        else:
            lines.append(f"return {_out_text(body.out_spec, iter(outs))}")
    if not lines:
        lines.append("pass")
    return lines


def _calls_module(e) -> bool:
    return e is not None and bool(re.search(r"\bself\.\w+", unparse(e)))


def _is_ref(e, name) -> bool:
    return isinstance(e, ast.Name) and e.id == _V + name


def _clean(hint: str) -> str:
    hint = re.sub(r"\W", "_", hint or "")
    if not hint or hint[0].isdigit():
        hint = "x" + hint
    return hint


def _tuple_text(shape, names, top: bool = True) -> str:
    if isinstance(shape, list):
        inner = [_tuple_text(s, names, False) for s in shape]
        if not top and all(p == "_" for p in inner):
            return "_"
        if len(inner) == 1:
            return f"({inner[0]},)"
        return ", ".join(f"({p})" if "," in p else p for p in inner)
    return names[shape]


def _out_text(spec, outs) -> str:
    if spec is None or getattr(spec, "type", None) is None:
        return unparse(next(outs))
    parts = [_out_text(c, outs) for c in spec.children()]
    if spec.type is tuple:
        return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"
    if spec.type is list:
        return "[" + ", ".join(parts) + "]"
    if spec.type is dict:
        return "{" + ", ".join(f"{k!r}: {p}" for k, p in zip(spec.context, parts)) + "}"
    # a NamedTuple, dataclass or model-output object: a tuple of its fields, in order
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


# ============================================================================ classes
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
        if inst.code is not None and inst.kind not in ("sequential", "list"):
            lists = {name: len(m) for name, m in _children(inst.module) if g.inst[_join(inst.path, name)].kind == "list"}
            inst.lines = _reroll(finalize(g, inst.code), lists)
    src = _Emitter(g).emit()
    root = graph.bodies[""]
    buffers = {k: g.variable(k, "")[0] for k in g.buffers}
    return Generated(src, _root_name(graph), dict(g.torch_flatten), g.unsupported,
                     [g.lay(r) for r in root.inputs], [g.lay(r) if isinstance(r, Ref) else L.PLAIN for r in root.outputs],
                     buffers)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _root_name(graph) -> str:
    return graph.modules[""].cls


class _Emitter:
    def __init__(self, g: Generator):
        self.g = g
        self.classes: dict[str, list[Instance]] = {}
        self.class_params: dict[str, dict] = {}
        self.out: list[str] = []
        self.order: list[str] = []

    # --------------------------------------------------------- per-instance specs
    def spec(self, inst: Instance):
        """The spec that builds ``inst`` in its parent's ``__init__``."""
        m = inst.module
        if inst.kind == "leaf":
            fn = _LEAF_SPECS.get(type(m).__name__)
            return fn(m) if fn else None
        if inst.kind == "list":
            return Ctor("nnx.List", [[self.child_spec(inst, name) for name, _ in _children(m)]], {})
        if inst.kind == "sequential" and type(m).__name__ == "Sequential" and _named(m):
            return Ctor("NamedSequential", [{name: self.child_spec(inst, name, element=True) for name, _ in _children(m)}],
                        {})
        if inst.kind == "sequential" and type(m).__name__ == "Sequential":
            return Ctor("nnx.Sequential", [self.child_spec(inst, name, element=True) for name, _ in _children(m)], {})
        return self.user_ctor(inst)

    def child_spec(self, parent: Instance, name: str, element: bool = False):
        path = f"{parent.path}.{name}" if parent.path else name
        child = self.g.inst[path]
        m = child.module
        if child.kind == "leaf" and not _has_state(m) and type(m).__name__ != "Dropout":
            if element:
                if name in parent.elements:
                    return parent.elements[name]
                return _default_element(m)
            return None
        return self.spec(child)

    def user_ctor(self, inst: Instance):
        params = self.class_params.get(inst.cls)
        if params is None:
            self.build_class(inst.cls)
            params = self.class_params[inst.cls]
        if "layers" in params:
            layers = params["layers"][inst.path]
            return Ctor(inst.cls, [layers] if _named(inst.module) else list(layers.values()), {})
        args = [v for v in params["values"][inst.path]]
        kw = dict(params["injected"][inst.path])
        kw.update(params["config"].get(inst.path, {}))
        kw["rngs"] = RNGS
        return Ctor(inst.cls, args, kw, tuple(params["names"]))

    # --------------------------------------------------------- classes
    def emit(self) -> str:
        root = self.g.inst[""]
        self.build_class(root.cls)
        body = "\n\n\n".join(self.out)
        return _module_text(self.g, body)

    def build_class(self, cls: str):
        if cls in self.class_params:
            return
        insts = [i for i in self.g.inst.values() if i.cls == cls and i.kind in ("user", "sequential") and
                 (i.kind == "user" or type(i.module).__name__ != "Sequential" or i.path == "")]
        self.class_params[cls] = None  # guards recursion
        if insts[0].kind == "sequential":
            self._sequential_class(cls, insts)
            return
        # children: attributes in torch order
        per_inst = {}
        for inst in insts:
            attrs = {}
            for name, _ in _children(inst.module):
                s = self.child_spec(inst, name)
                if s is not None:
                    attrs[name] = s
            for name, (_, s) in inst.attrs.items():
                attrs[name] = s
            attrs.update(inst.own_params)
            attrs.update(inst.constants)
            per_inst[inst.path] = attrs
        own_params = list(dict.fromkeys(n for i in insts for n in i.own_params))
        u = _unify(per_inst)
        injected = u["injected"]
        optional = [n for n in injected if any(n not in a for a in per_inst.values())]
        required = [n for n in injected if n not in optional]
        inj_values = {p: {n: per_inst[p][n] for n in injected if n in per_inst[p]} for p in per_inst}
        # forwards: group the instances' bodies, and find what tells the groups apart
        called = [i for i in insts if i.lines is not None]
        groups: dict[tuple, list[Instance]] = {}
        for i in called:
            groups.setdefault(tuple(i.lines), []).append(i)
        config_names, config_values, branches, kept_params = [], {}, None, []
        if len(groups) > 1:
            disc = self._discriminator(insts, groups, injected)
            config_names, branches = disc["config"], disc["branches"]
            config_values = disc["values"]
            for c in list(config_names):  # a discriminating attribute that is also a constructor argument
                if c in u["params"] or c in injected:
                    i = u["params"].index(c) if c in u["params"] else None
                    same = i is not None and all(u["values"][p][i] == config_values[p][c] for p in config_values)
                    if same:  # the argument it is: keep it as an attribute too
                        config_names.remove(c)
                        for p in config_values:
                            config_values[p] = {}
                        kept_params.append(c)
                        continue
                    new_name = c + "_"
                    while new_name in u["params"] or new_name in injected:
                        new_name += "_"
                    config_names[config_names.index(c)] = new_name
                    for p in config_values:
                        config_values[p] = {new_name: config_values[p][c]}
                    branches = [re.sub(rf"\bself\.{c}\b", f"self.{new_name}", ln) for ln in branches]
        self.class_params[cls] = {"names": u["params"], "values": u["values"], "injected": inj_values,
                                  "config": config_values}
        for inst in insts:  # children classes first
            for name, _ in _children(inst.module):
                self._ensure_classes(inst, name)
        lines = [f"class {cls}(nnx.Module):",
                 f'    """torch: ``{_qualname(insts[0].module)}`` (ported by jaxdl.port)."""', ""]
        lines += self._torch_flatten_lines(cls)
        if own_params:
            note = "# its own nn.Parameters, mapped by name by jaxdl.interop"
            lines += [f"    torch_params: ClassVar[tuple] = {tuple(own_params)!r}  {note}", ""]
        sig = ["self"] + u["params"] + required + config_names + [f"{n}=None" for n in optional] + ["*", "rngs: nnx.Rngs"]
        lines.append(f"    def __init__({', '.join(sig)}):")
        for name in u["order"]:
            if name in injected:
                lines.append(f"        self.{name} = {name}")
            else:
                lines.append(f"        self.{name} = {spec_text(u['template'][name], '        ')}")
        for c in config_names + kept_params:
            lines.append(f"        self.{c} = {c}")
        ties = {tuple(self.g.ties.get(i.path, [])) for i in insts}
        if len(ties) > 1:
            self.g.fail(f"instances of {cls} that share different weights", path=insts[0].path)
        for lhs, rhs in max(ties) if ties else []:
            lines.append(f"        {lhs} = {rhs}  # one tensor in torch (tied weights)")
        if lines[-1].endswith("):"):
            lines.append("        pass")
        lines.append("")
        args = ", ".join(["self"] + (called[0].arg_names if called else ["*args"]))
        lines.append(f"    def __call__({args}):")
        if not called:
            lines.append(f"        raise NotImplementedError({(cls + ' was not called on the example inputs, so jaxdl.port did not see its forward')!r})")
        elif branches is None:
            lines += ["        " + ln for ln in called[0].lines]
        else:
            lines += ["        " + ln for ln in branches]
        self.out.append("\n".join(lines))

    def _torch_flatten_lines(self, cls: str) -> list[str]:
        """The top-level class's ``torch_flatten`` (read by jaxdl.interop from the model)."""
        if cls != self.g.inst[""].cls or not self.g.torch_flatten:
            return []
        flat = ", ".join(f"{k!r}: {v}" for k, v in self.g.torch_flatten.items())
        return ["    # the Linear after a flatten sees (H, W, C) features, torch (C, H, W):",
                "    # jaxdl.interop permutes its rows when converting weights",
                f"    torch_flatten: ClassVar[dict] = {{{flat}}}", ""]

    def _ensure_classes(self, inst: Instance, name: str):
        path = f"{inst.path}.{name}" if inst.path else name
        child = self.g.inst[path]
        if child.kind == "user" or (child.kind == "sequential" and type(child.module).__name__ != "Sequential"):
            self.build_class(child.cls)
        if child.kind in ("sequential", "list"):
            for n, _ in _children(child.module):
                self._ensure_classes(child, n)

    def _sequential_class(self, cls, insts):
        """A subclass of nn.Sequential (torchvision's Conv2dNormActivation): a subclass of
        nnx.Sequential under its name. Built from its constructor arguments when all
        instances have the same layers, else from the layers the parent passes."""
        per_inst = {}
        for inst in insts:
            for name, _ in _children(inst.module):
                self._ensure_classes(inst, name)
            per_inst[inst.path] = {name: self.child_spec(inst, name, element=True)
                                   for name, _ in _children(inst.module)}
        u = _unify(per_inst)
        named = _named(insts[0].module)
        base = "NamedSequential" if named else "nnx.Sequential"
        doc = f'    """torch: ``{_qualname(insts[0].module)}`` (an ``nn.Sequential``; ported by jaxdl.port)."""'
        if u["injected"] or any(_named(i.module) != named for i in insts):
            self.class_params[cls] = {"names": [], "values": {i.path: [] for i in insts},
                                      "injected": {i.path: {} for i in insts}, "config": {}, "layers": per_inst}
            how = "{name: layer, ...}" if named else "layer, ..."
            self.out.append(f"class {cls}({base}):\n{doc[:-3]}\n\n    Built with its layers: ``{cls}({how})``.\n    \"\"\"")
            return
        self.class_params[cls] = {"names": u["params"], "values": u["values"], "injected": {i.path: {} for i in insts},
                                  "config": {}}
        sig = ", ".join(["self"] + u["params"] + ["*", "rngs: nnx.Rngs"])
        lines = [f"class {cls}({base}):", doc, ""] + self._torch_flatten_lines(cls) + [f"    def __init__({sig}):"]
        if named:
            lines.append(f"        super().__init__({spec_text({n: u['template'][n] for n in u['order']}, '        ')})")
        else:
            lines.append("        super().__init__(")
            lines += [f"            {spec_text(u['template'][n], '            ')}," for n in u["order"]]
            lines.append("        )")
        self.out.append("\n".join(lines))

    def _discriminator(self, insts, groups, injected):
        """What tells the instances' different forwards apart: a submodule that only some
        have, a torch attribute, or else a ``variant`` number."""
        group_of = {}
        keys = list(groups)
        for gi, k in enumerate(keys):
            for inst in groups[k]:
                group_of[inst.path] = gi
        called = [i for i in insts if i.path in group_of]
        cands = []
        for n in injected:
            cands.append(("present", n, {i.path: any(c == n for c, _ in _children(i.module)) for i in called}))
        for name, v in sorted(vars(called[0].module).items()):
            if name.startswith("_") or name == "training" or not isinstance(v, (bool, int, float, str, tuple, type(None))):
                continue
            vals = {i.path: getattr(i.module, name, _MISSING) for i in called}
            if _MISSING in vals.values():
                continue
            cands.append(("attr", name, vals))
        chosen = None
        for kind, name, vals in cands:
            mapping = {}
            ok = True
            for path, v in vals.items():
                key = repr(v)
                if mapping.setdefault(key, group_of[path]) != group_of[path]:
                    ok = False
                    break
            if ok:
                chosen = (kind, name, vals)
                break
        if chosen is None:
            vals = {i.path: group_of[i.path] for i in called}
            chosen = ("attr", "variant", vals)
            for i in insts:
                if i.path not in vals:
                    vals[i.path] = 0
        kind, name, vals = chosen
        values = {}
        config = []
        if kind == "attr":
            config = [name]
            for i in insts:
                v = vals.get(i.path, getattr(i.module, name, None) if name != "variant" else 0)
                values[i.path] = {name: v}
        # conditions per group
        conds = []
        for gi, k in enumerate(keys):
            group_vals = sorted({repr(vals[i.path]) for i in groups[k]})
            if kind == "present":
                conds.append(f"self.{name} is not None" if vals[groups[k][0].path] else f"self.{name} is None")
            elif all(v in ("True", "False") for v in group_vals) and len(group_vals) == 1:
                conds.append(f"self.{name}" if group_vals[0] == "True" else f"not self.{name}")
            elif len(group_vals) == 1:
                conds.append(f"self.{name} == {group_vals[0]}")
            else:
                conds.append(f"self.{name} in ({', '.join(group_vals)})")
        return {"config": config, "values": values, "branches": _branches([list(k) for k in keys], conds)}


_MISSING = object()


def _unify(per_inst: dict) -> dict:
    """Attributes of several instances of one class -> one ``__init__``: attributes with the
    same structure everywhere are built inside (constants that differ become parameters,
    one per distinct vector of values); the others are ``injected`` (passed in)."""
    order = list(dict.fromkeys(n for a in per_inst.values() for n in a))
    internal, injected = [], []
    for name in order:
        shapes = {(_shape(a[name]) if name in a else None) for a in per_inst.values()}
        (internal if len(shapes) == 1 and None not in shapes else injected).append(name)
    slot_values: dict = {}
    for name in internal:
        for path in per_inst:
            for spath, hint, value in _slots(per_inst[path][name]):
                slot_values.setdefault((name, spath), (hint, {}))[1][path] = value
    params: list[str] = []
    by_vector: dict = {}
    values: dict[str, list] = {p: [] for p in per_inst}
    replaced = {p: dict(a) for p, a in per_inst.items()}
    if len(per_inst) > 1:
        for (name, spath), (hint, vals) in slot_values.items():
            vec = tuple(repr(_pretty(vals[p])) for p in per_inst)
            if len(set(vec)) == 1:
                continue
            if vec not in by_vector:
                pname = _clean(hint or name)
                if pname in params or pname in order or pname in _RESERVED:
                    pname = _clean(f"{name}_{hint}")
                while pname in params or pname in order or pname in _RESERVED:
                    pname += "_"
                by_vector[vec] = pname
                params.append(pname)
                for p in per_inst:
                    values[p].append(_pretty(vals[p]))
            pname = by_vector[vec]
            for p in per_inst:
                replaced[p][name] = _replace(replaced[p][name], spath, Param(pname))
    first = next(iter(per_inst))
    return {"order": order, "injected": injected, "params": params, "values": values,
            "template": replaced[first]}


def _branches(bodies: list[list[str]], conds: list[str]) -> list[str]:
    """One body from several: the common first and last lines once, the rest under if/elif."""
    pre = 0
    while all(len(b) > pre for b in bodies) and len({b[pre] for b in bodies}) == 1:
        pre += 1
    post = 0
    while all(len(b) - pre > post for b in bodies) and len({b[len(b) - 1 - post] for b in bodies}) == 1:
        post += 1
    out = list(bodies[0][:pre])
    middles = [b[pre:len(b) - post] for b in bodies]
    order = sorted(range(len(bodies)), key=lambda i: (not middles[i], conds[i].startswith("not ") or
                                                      conds[i].endswith(" is None"), i))
    if len(bodies) == 2 and not middles[order[1]]:
        out.append(f"if {conds[order[0]]}:")
        out += ["    " + ln for ln in middles[order[0]]]
    else:
        for k, i in enumerate(order):
            if k == len(order) - 1 and k > 0:
                out.append("else:")
            else:
                out.append(f"{'if' if k == 0 else 'elif'} {conds[i]}:")
            out += ["    " + ln for ln in (middles[i] or ["pass"])]
    out += bodies[0][len(bodies[0]) - post:] if post else []
    return out


def _reroll(lines: list[str], lists: dict[str, int]) -> list[str]:
    """Give ``nn.ModuleList`` loops back their loop: n statements (or groups of statements)
    that differ only in ``self.blocks[k]`` become ``for block in self.blocks:``, and a list
    ``[self.embeds[0](x[:, 0]), ...]`` becomes a comprehension over ``enumerate``."""
    for attr, n in lists.items():
        if n < 2:
            continue
        var = _loop_var(attr)
        lines = [_reroll_list(ln, attr, n, var) for ln in lines]
        i = 0
        out = []
        while i < len(lines):
            done = False
            for p in (1, 2, 3, 4):
                blocks = [lines[i + k * p:i + (k + 1) * p] for k in range(n)]
                if len(blocks[-1]) < p or f"self.{attr}[0]" not in "\n".join(blocks[0]):
                    continue
                norm = [_normalise("\n".join(b), attr, k) for k, b in enumerate(blocks)]
                if len(set(norm)) == 1 and not any(ln.lstrip().startswith(("return", "raise")) for ln in blocks[0]):
                    text = norm[0]
                    taken = set(re.findall(r"\b\w+\b", text))
                    v = var
                    while v in taken:
                        v += "_"
                    head = f"for {_loop_source(attr, v, '__I__' in text)}:"
                    body = text.replace("__E__", v).replace("__I__", "i")
                    out.append(head)
                    out += ["    " + ln for ln in body.split("\n")]
                    i += n * p
                    done = True
                    break
            if not done:
                out.append(lines[i])
                i += 1
        lines = out
    return lines


def _loop_source(attr: str, var: str, indexed: bool) -> str:
    """The ``for`` clause over a ModuleList: ``i, v in enumerate(self.attr)`` or ``v in self.attr``."""
    return f"i, {var} in enumerate(self.{attr})" if indexed else f"{var} in self.{attr}"


def _normalise(text: str, attr: str, k: int) -> str:
    text = text.replace(f"self.{attr}[{k}]", "__E__")
    return re.sub(rf"(?<=[\[, ]){k}(?=\])", "__I__", text)


def _reroll_list(line: str, attr: str, n: int, var: str) -> str:
    if f"self.{attr}[0]" not in line:
        return line
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return line
    changed = False
    for node in ast.walk(tree):
        if isinstance(node, ast.List) and len(node.elts) == n:
            texts = [_normalise(ast.unparse(e), attr, k) for k, e in enumerate(node.elts)]
            if len(set(texts)) == 1 and "__E__" in texts[0]:
                t = texts[0]
                expr = t.replace("__E__", var).replace("__I__", "i")
                new = ast.parse(f"[{expr} for {_loop_source(attr, var, '__I__' in t)}]", mode="eval").body
                node.elts, node.__class__ = [], ast.ListComp
                node.elt, node.generators = new.elt, new.generators
                changed = True
    if not changed:
        return line
    indent = line[:len(line) - len(line.lstrip())]
    return indent + ast.unparse(tree)


def _loop_var(attr: str) -> str:
    if attr.endswith("es") and attr[:-2].endswith(("ch", "sh", "x")):
        return attr[:-2]
    if attr.endswith("s") and len(attr) > 2:
        return attr[:-1]
    return "layer"


def _default_element(m):
    name = type(m).__name__
    simple = {"ReLU": "jax.nn.relu", "ReLU6": "jax.nn.relu6", "Sigmoid": "jax.nn.sigmoid", "Tanh": "jnp.tanh",
              "Flatten": "flatten", "SiLU": "jax.nn.silu", "Identity": "lambda x: x"}
    if name in simple:
        return Raw(simple[name])
    if name == "GELU":
        return Raw(f"partial(jax.nn.gelu, approximate={m.approximate == 'tanh'})")
    if name == "MaxPool2d":
        return Raw(f"MaxPool2d({_pretty(m.kernel_size)!r}, {_pretty(m.stride)!r}, {_pretty(m.padding)!r})")
    if name == "AdaptiveAvgPool2d":
        return Raw(f"AdaptiveAvgPool2d({_pretty(m.output_size)!r})")
    if name == "AvgPool2d":
        return Raw(f"AvgPool2d({_pretty(m.kernel_size)!r}, {_pretty(m.stride)!r}, {_pretty(m.padding)!r})")
    return Raw(f"None  # nn.{name}: not seen on the example inputs")


def _qualname(m) -> str:
    t = type(m)
    if t.__module__.startswith("jaxdl_port_user_"):  # loaded from a file by the command line
        import inspect

        try:
            return f"{inspect.getsourcefile(t).rsplit('/', 1)[-1]}:{t.__qualname__}"
        except (TypeError, OSError):
            pass
    return f"{t.__module__}.{t.__qualname__}"


def _module_text(g: Generator, body: str) -> str:
    root = g.inst[""]
    layers = sorted(n for n in LAYER_NAMES if re.search(rf"(?<![\w.]){n}\(|(?<![\w.]){n}\b(?!\s*=)", body))
    imports = ["from __future__ import annotations", ""]
    std = (["from functools import partial"] if "partial(" in body else []) + \
        (["from typing import ClassVar"] if "ClassVar[" in body else [])
    if std:
        imports += std + [""]
    if re.search(r"\bjax\.", body):
        imports.append("import jax")
    if re.search(r"\bjax\.numpy|\bjnp\.", body):
        imports.append("import jax.numpy as jnp")
    imports.append("from flax import nnx")
    if layers:  # one block with jax and flax: in the user's directory jaxdl is a third-party package
        line = f"from jaxdl.layers import {', '.join(layers)}"
        imports.append(line if len(line) <= 88 else "from jaxdl.layers import (\n" + "".join(f"    {n},\n" for n in layers) + ")")
    images = any(lay == L.IMAGE for lay in (g.lay(r) for r in g.g.bodies[""].inputs))
    doc = [f'"""{root.cls} ported from PyTorch (``{_qualname(root.module)}``) by jaxdl.port.', ""]
    if images:
        doc.append("Images are NHWC: a PyTorch NCHW batch converts with ``x.transpose(0, 2, 3, 1)``.")
    doc.append("Weights: ``jaxdl.port.load_weights(model, 'weights.safetensors')``; PyTorch state_dicts load "
               "with ``jaxdl.interop.from_torch``.")
    doc.append('"""')
    if re.search(r"\bNamedSequential\b", body):
        body = _NAMED_SEQUENTIAL + "\n\n\n" + body
    if re.search(r"\bunsupported\(", body):
        body = _UNSUPPORTED + "\n\n\n" + body
    return "\n".join(doc) + "\n\n" + "\n".join(imports) + "\n\n\n" + body + "\n"


_UNSUPPORTED = '''def unsupported(message):
    """A stand-in for a layer that jaxdl.port could not port (partial=True): raises when called."""

    def stub(*args, **kwargs):
        raise NotImplementedError(message)

    return stub'''

_NAMED_SEQUENTIAL = '''class NamedSequential(nnx.Dict):
    """torch: ``nn.Sequential(OrderedDict(...))``: layers under their torch names (which
    jaxdl.interop maps as they are), called in torch's order (NNX keeps attributes sorted)."""

    def __init__(self, layers: dict):
        super().__init__(layers)
        self.torch_order = tuple(layers)

    def __iter__(self):
        return iter(self.torch_order)

    def __call__(self, x):
        for name in self.torch_order:
            x = self[name](x)
        return x'''
