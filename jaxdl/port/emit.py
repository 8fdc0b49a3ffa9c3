"""Rendered bodies -> the text of model.py: statements with the user's names, one class
per torch class, loops given back to ``nn.ModuleList``s.

:func:`finalize` turns a body's items into lines: one statement per source line of the
torch ``forward`` (the ops of a line nested into one expression), the user's variable
names, values read once inlined. :class:`Emitter` writes the classes: attributes in
torch's order and under torch's names, constructor arguments where instances differ,
an ``if`` on what tells their forwards apart, shared weights assigned once.
"""

from __future__ import annotations

import ast
import re

from jaxdl import layers as jaxdl_layers
from jaxdl.port import dims
from jaxdl.port import layers as port_layers
from jaxdl.port import layout as L
from jaxdl.port.body import Instance
from jaxdl.port.capture import ParamRef, Ref, attribute_names, children, named, single_leaf
from jaxdl.port.expr import (
    PREFIX,
    RESERVED,
    Subst,
    clean,
    const,
    copy,
    refs_in,
    unparse,
)
from jaxdl.port.specs import RNGS, Ctor, Raw, pretty, spec_text, unify

_MISSING = object()


def finalize(g, code) -> list[str]:
    """Choose statements, inlining and names for one rendered body; its lines of code."""
    items = [it for it in code.items]
    body = code.body
    src = code.source
    root = code.inst.path == "" and body.key == ""
    saved, g.code = g.code, code  # the body's own aliases (codegen's _alias)
    out_exprs = None if code.stopped else [(g.ref(o, g.root_layout(o)) if root else g.ref(o))
                                           if isinstance(o, (Ref, ParamRef)) else const(o) for o in body.outputs]
    g.code = saved

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
                subs[PREFIX + r] = expand(copy(items[producer[r]].expr))
        return Subst(subs).visit(e) if subs else e

    exprs = {i: expand(copy(items[i].expr)) if items[i].expr is not None else None for i in statements}
    final_out = [expand(copy(e)) for e in out_exprs] if out_exprs is not None else None
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
            return cand not in RESERVED and (held is None or held == value or last_read.get(held, -1) <= k)

        base = clean(hint) or "x"
        for cand in (base, clean(fallback) if fallback else None):
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
                e = Subst({PREFIX + r: ast.Name(id=names[r], ctx=ast.Load())
                           for r in set(refs_in(e)) if r in names}).visit(e)
                lines.append(f"raise NotImplementedError(f{msg + ' Input: {' + unparse(e.elts[0]) + '.shape}.'!r})")
            else:
                lines.append(f"raise NotImplementedError({it.raise_!r})")
            break
        st = stmt_of(it.line)
        targets = st[1][1] if st is not None and st[1][0] == "assign" else None
        line_items = [j for j in statements if stmt_of(items[j].line) == st] if st is not None else [i]
        is_root = line_items and line_items[-1] == i
        e = exprs[i]
        e = Subst({PREFIX + r: ast.Name(id=names[r], ctx=ast.Load()) for r in set(refs_in(e)) if r in names}).visit(e)
        if it.multi:
            tnames = []
            for idx, o in enumerate(it.outputs):
                if o is None or not uses.get(o):
                    tnames.append("_")
                    continue
                hint = (targets[idx] if targets and is_root and idx < len(targets) and targets[idx] else None) \
                    or f"{it.hint}_{idx}" if not (targets and is_root and idx < len(targets) and targets[idx]) \
                    else targets[idx]
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
        outs = [Subst({PREFIX + r: ast.Name(id=names.get(r, r), ctx=ast.Load()) for r in set(refs_in(e))}).visit(e)
                for e in final_out]
        if body.out_spec is None or len(outs) == 1 and single_leaf(body.out_spec):
            lines.append(f"return {unparse(outs[0])}")
        else:
            lines.append(f"return {_out_text(body.out_spec, iter(outs))}")
    if not lines:
        lines.append("pass")
    return lines


def _calls_module(e) -> bool:
    return e is not None and bool(re.search(r"\bself\.\w+", unparse(e)))


def _is_ref(e, name) -> bool:
    return isinstance(e, ast.Name) and e.id == PREFIX + name


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


class Emitter:
    def __init__(self, g):
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
            return port_layers.spec(m) if port_layers.record(m) is not None else None
        if inst.kind == "list":
            return Ctor("nnx.List", [[self.child_spec(inst, name) for name, _ in children(m)]], {})
        if inst.kind == "sequential" and type(m).__name__ == "Sequential" and named(m):
            return Ctor("NamedSequential",
                        [{name: self.child_spec(inst, name, element=True) for name, _ in children(m)}], {})
        if inst.kind == "sequential" and type(m).__name__ == "Sequential":
            return Ctor("nnx.Sequential", [self.child_spec(inst, name, element=True) for name, _ in children(m)], {})
        return self.user_ctor(inst)

    def child_spec(self, parent: Instance, name: str, element: bool = False):
        path = f"{parent.path}.{name}" if parent.path else name
        child = self.g.inst[path]
        m = child.module
        if child.kind == "leaf" and not port_layers.is_attribute(m):
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
            return Ctor(inst.cls, [layers] if named(inst.module) else list(layers.values()), {})
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
        return module_text(self.g, body)

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
        torch_names = {}
        for inst in insts:
            attrs = {}
            for name, attr in attribute_names(inst.module).items():
                s = self.child_spec(inst, name)
                if s is None:
                    continue
                attrs[attr] = s
                if attr != name and torch_names.setdefault(attr, name) != name:
                    self.g.fail(f"instances of {cls} whose children {name!r} and {torch_names[attr]!r} "
                                f"would both be the attribute {attr}", path=inst.path)
            for name, (_, s) in inst.attrs.items():
                attrs[name] = s
            attrs.update(inst.own_params)
            attrs.update(inst.constants)
            per_inst[inst.path] = attrs
        own_params = list(dict.fromkeys(n for i in insts for n in i.own_params))
        u = unify(per_inst)
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
            for name, _ in children(inst.module):
                self._ensure_classes(inst, name)
        lines = [f"class {cls}(nnx.Module):",
                 f'    """torch: ``{_qualname(insts[0].module)}`` (ported by jaxdl.port)."""', ""]
        if insts[0].path == "" and self.g.g.input_dynamic:
            lines[1:2] = [f'    """torch: ``{_qualname(insts[0].module)}`` (ported by jaxdl.port).', ""] \
                + [f"    {ln}" for ln in self._input_lines()] + ['    """']
        lines += self._torch_flatten_lines(cls)
        if torch_names:
            note = "# torch's names of the children that are not Python identifiers (jaxdl.interop maps them)"
            lines += [f"    torch_names: ClassVar[dict] = {torch_names!r}  {note}", ""]
        if own_params:
            note = "# its own nn.Parameters, mapped by name by jaxdl.interop"
            lines += [f"    torch_params: ClassVar[tuple] = {tuple(own_params)!r}  {note}", ""]
        sig = (["self"] + u["params"] + required + config_names + [f"{n}=None" for n in optional]
               + ["*", "rngs: nnx.Rngs"])
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
            why = cls + " was not called on the example inputs, so jaxdl.port did not see its forward"
            lines.append(f"        raise NotImplementedError({why!r})")
        elif branches is None:
            lines += ["        " + ln for ln in called[0].lines]
        else:
            lines += ["        " + ln for ln in branches]
        self.out.append("\n".join(lines))

    def _input_lines(self) -> list:
        """The root's inputs, named dims symbolic: ``x: (N, H, W, 3), torch's (N, 3, H, W); the
        model fixes channels at 3``."""
        graph, out = self.g.g, []
        for name, x, r, dyn in zip(graph.input_names, graph.input_values, graph.bodies[""].inputs,
                                   graph.input_dynamic):
            shape, image, integer = tuple(x.shape), self.g.lay(r) == L.IMAGE, not x.is_floating_point()
            text = dims.shape_text(shape, dyn, image, integer)
            if image:
                text = f"{dims.shape_text(shape, dyn, image, integer, (0, 2, 3, 1))} (torch's NCHW {text})"
            out.append(f"{name}: {text}; {dims.fixed_text(shape, dyn, image, integer)}.")
        return out

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
            for n, _ in children(child.module):
                self._ensure_classes(child, n)

    def _sequential_class(self, cls, insts):
        """A subclass of nn.Sequential (torchvision's Conv2dNormActivation): a subclass of
        nnx.Sequential under its name. Built from its constructor arguments when all
        instances have the same layers, else from the layers the parent passes."""
        per_inst = {}
        for inst in insts:
            for name, _ in children(inst.module):
                self._ensure_classes(inst, name)
            per_inst[inst.path] = {name: self.child_spec(inst, name, element=True)
                                   for name, _ in children(inst.module)}
        u = unify(per_inst)
        is_named = named(insts[0].module)
        base = "NamedSequential" if is_named else "nnx.Sequential"
        doc = f'    """torch: ``{_qualname(insts[0].module)}`` (an ``nn.Sequential``; ported by jaxdl.port)."""'
        if u["injected"] or any(named(i.module) != is_named for i in insts):
            self.class_params[cls] = {"names": [], "values": {i.path: [] for i in insts},
                                      "injected": {i.path: {} for i in insts}, "config": {}, "layers": per_inst}
            how = "{name: layer, ...}" if is_named else "layer, ..."
            self.out.append(f"class {cls}({base}):\n{doc[:-3]}\n\n"
                            f"    Built with its layers: ``{cls}({how})``.\n    \"\"\"" +
                            "".join("\n" + ln for ln in self._own_call(cls, insts)))
            return
        self.class_params[cls] = {"names": u["params"], "values": u["values"], "injected": {i.path: {} for i in insts},
                                  "config": {}}
        sig = ", ".join(["self"] + u["params"] + ["*", "rngs: nnx.Rngs"])
        lines = [f"class {cls}({base}):", doc, ""] + self._torch_flatten_lines(cls) + [f"    def __init__({sig}):"]
        if is_named:
            lines.append(f"        super().__init__("
                         f"{spec_text({n: u['template'][n] for n in u['order']}, '        ')})")
        else:
            lines.append("        super().__init__(")
            lines += [f"            {spec_text(u['template'][n], '            ')}," for n in u["order"]]
            lines.append("        )")
        self.out.append("\n".join(lines + self._own_call(cls, insts)))

    def _own_call(self, cls, insts) -> list[str]:
        """The ``__call__`` of an nn.Sequential subclass with a forward of its own."""
        called = [i for i in insts if i.lines is not None]
        if not called:
            return []
        bodies = {tuple(i.lines) for i in called}
        if len(bodies) > 1:
            self.g.fail(f"instances of {cls} (an nn.Sequential with a forward of its own) whose forwards differ",
                        path=called[0].path)
        args = ", ".join(["self"] + called[0].arg_names)
        return ["", f"    def __call__({args}):"] + ["        " + ln for ln in called[0].lines]

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
            cands.append(("present", n, {i.path: n in attribute_names(i.module).values() for i in called}))
        for name, v in sorted(vars(called[0].module).items()):
            if (name.startswith("_") or name == "training"
                    or not isinstance(v, (bool, int, float, str, tuple, type(None)))):
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
                key = repr(pretty(v))  # as the constructor argument prints it: (56, 56) is 56
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
                values[i.path] = {name: pretty(v)}
        # conditions per group
        conds = []
        for _gi, k in enumerate(keys):
            group_vals = sorted({repr(pretty(vals[i.path])) for i in groups[k]})
            if kind == "present":
                conds.append(f"self.{name} is not None" if vals[groups[k][0].path] else f"self.{name} is None")
            elif all(v in ("True", "False") for v in group_vals) and len(group_vals) == 1:
                conds.append(f"self.{name}" if group_vals[0] == "True" else f"not self.{name}")
            elif len(group_vals) == 1:
                conds.append(f"self.{name} == {group_vals[0]}")
            else:
                conds.append(f"self.{name} in ({', '.join(group_vals)})")
        return {"config": config, "values": values, "branches": _branches([list(k) for k in keys], conds)}


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


def reroll(lines: list[str], lists: dict[str, int]) -> list[str]:
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
                loop = _reroll_returning(lines[i:i + n], attr, var)  # x = self.layers[0](x); return self.layers[1](x)
                if loop is not None:
                    out += loop
                    i += n
                    continue
                out.append(lines[i])
                i += 1
        lines = out
    return lines


def _reroll_returning(block: list[str], attr: str, var: str) -> list[str] | None:
    """``x = self.layers[0](x)``, ..., ``return self.layers[n - 1](x)`` (the loop of a
    forward that returns its last value) as ``for layer in self.layers: x = layer(x)`` and
    ``return x``; None when ``block`` is not that."""
    if len(block) < 2 or f"self.{attr}[0]" not in block[0] or not block[-1].startswith("return "):
        return None
    m = re.fullmatch(r"(\w+) = (.*)", block[0])
    if m is None:
        return None
    target = m.group(1)
    assigned = block[:-1] + [f"{target} = {block[-1][len('return '):]}"]
    norm = {_normalise(b, attr, k) for k, b in enumerate(assigned)}
    if len(norm) != 1:
        return None
    text = norm.pop()
    taken = set(re.findall(r"\b\w+\b", text))
    while var in taken:
        var += "_"
    body = text.replace("__E__", var).replace("__I__", "i")
    return [f"for {_loop_source(attr, var, '__I__' in text)}:", "    " + body, f"return {target}"]


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
        return Raw(f"MaxPool2d({pretty(m.kernel_size)!r}, {pretty(m.stride)!r}, {pretty(m.padding)!r})")
    if name == "AdaptiveAvgPool2d":
        return Raw(f"AdaptiveAvgPool2d({pretty(m.output_size)!r})")
    if name == "AvgPool2d":
        return Raw(f"AvgPool2d({pretty(m.kernel_size)!r}, {pretty(m.stride)!r}, {pretty(m.padding)!r})")
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


def module_text(g, body: str) -> str:
    root = g.inst[""]
    layers = sorted(n for n in jaxdl_layers.__all__ if re.search(rf"(?<![\w.]){n}\(|(?<![\w.]){n}\b(?!\s*=)", body))
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
    if re.search(r"\baten\.", body):
        imports.append("from jaxdl import aten")
    if layers:  # one block with jax and flax: in the user's directory jaxdl is a third-party package
        line = f"from jaxdl.layers import {', '.join(layers)}"
        imports.append(line if len(line) <= 88
                       else "from jaxdl.layers import (\n" + "".join(f"    {n},\n" for n in layers) + ")")
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
