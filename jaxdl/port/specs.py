"""What builds each attribute in a generated ``__init__``: constructor specs and the
rule that turns the instances of one torch class into one NNX class.

A spec is a :class:`Ctor` (``Conv2d(3, 8, 3, padding=1, rngs=rngs)``), :class:`Raw`
source text, a :class:`Param` (a constructor argument of the class being written), a
list (``nnx.List``), a dict (a named ``nn.Sequential``) or a constant. Arguments equal
to the constructor's defaults (read from the jaxdl layer's signature) are not printed.
"""

from __future__ import annotations

import dataclasses
import functools

from jaxdl import layers as jaxdl_layers
from jaxdl.layers.torch_layer import constructor
from jaxdl.port.expr import RESERVED, clean


@dataclasses.dataclass
class Ctor:
    """A constructor call: ``fn(*args, **kwargs)``; leaves are constants, :class:`Raw`
    text, :class:`Param` or nested specs."""

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


class Shape(tuple):
    """An array shape in generated code: printed as a tuple, never collapsed to one number."""


RNGS = Raw("rngs")
_NO_DEFAULT = object()


@functools.cache
def defaults(fn: str) -> tuple[list, dict]:
    """(defaults of the positional parameters, of the keyword ones) of ``jaxdl.layers.<fn>``;
    ``_NO_DEFAULT`` where a parameter has none."""
    cls = getattr(jaxdl_layers, fn, None)
    if not isinstance(cls, type):
        return [], {}
    params = list(constructor(cls).parameters.values())
    pos = [p.default if p.default is not p.empty else _NO_DEFAULT for p in params
           if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    kw = {p.name: p.default for p in params if p.default is not p.empty}
    return pos, kw


def pruned(spec: Ctor) -> Ctor:
    """``spec`` without the arguments that equal the constructor's defaults (``Conv2d(1, 6, 3)``)."""
    pos, kw = defaults(spec.fn)
    args = list(spec.args)
    while args and len(args) <= len(pos) and pos[len(args) - 1] is not _NO_DEFAULT \
            and not isinstance(args[-1], (Param, Raw)) and _same(args[-1], pos[len(args) - 1]):
        args.pop()
    kwargs = {k: v for k, v in spec.kwargs.items()
              if not (k in kw and not isinstance(v, (Param, Raw)) and _same(v, kw[k]))}
    return dataclasses.replace(spec, args=args, kwargs=kwargs)


def _same(value, default) -> bool:
    return type(pretty(value)) is type(pretty(default)) and pretty(value) == pretty(default)


def spec_text(spec, indent: str = "") -> str:
    """Source text of a spec, wrapped at 100 columns."""
    if isinstance(spec, Ctor):
        spec = pruned(spec)
        parts = ([spec_text(a, indent) for a in spec.args]
                 + [f"{k}={spec_text(v, indent)}" for k, v in spec.kwargs.items()])
        one = f"{spec.fn}({', '.join(parts)})"
        if len(indent) + len(one) <= 100 or not parts:
            return one
        if len(spec.args) == 1 and not spec.kwargs and isinstance(spec.args[0], (dict, list)):
            return f"{spec.fn}({spec_text(spec.args[0], indent)})"  # Cls({...}) / Cls([...])
        inner = indent + "    "
        parts = ([spec_text(a, inner) for a in spec.args]
                 + [f"{k}={spec_text(v, inner)}" for k, v in spec.kwargs.items()])
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
    return repr(pretty(spec))


def pretty(v):
    """Constants as a person writes them: ``(3, 3)`` -> 3 (torch's pairs), shapes whole."""
    if isinstance(v, Shape):
        return v
    if isinstance(v, list):
        v = tuple(v)
    if isinstance(v, tuple) and len(v) >= 1 and all(isinstance(x, int) and not isinstance(x, bool) and x == v[0]
                                                   for x in v) and len(v) in (2, 3):
        return v[0]
    if isinstance(v, tuple):
        return tuple(pretty(x) for x in v)
    return v


def structure(spec):
    """The structure of a spec with its constants left out (what instances must share)."""
    if isinstance(spec, Ctor):
        return ("ctor", spec.fn, tuple(structure(a) for a in spec.args),
                tuple((k, structure(v)) for k, v in spec.kwargs.items()))
    if isinstance(spec, list):
        return ("list", tuple(structure(s) for s in spec))
    if isinstance(spec, dict):
        return ("dict", tuple((k, structure(v)) for k, v in spec.items()))
    if isinstance(spec, Raw):
        return ("raw", spec.text)
    return "const"


def slots(spec, path=(), hint=""):
    """(path, hint, value) of every constant inside a spec."""
    if isinstance(spec, Ctor):
        for i, a in enumerate(spec.args):
            yield from slots(a, path + (("a", i),), spec.hints[i] if i < len(spec.hints) else hint)
        for k, v in spec.kwargs.items():
            yield from slots(v, path + (("k", k),), k)
    elif isinstance(spec, list):
        for i, s in enumerate(spec):
            yield from slots(s, path + (("l", i),), hint)
    elif isinstance(spec, dict):
        for k, s in spec.items():
            yield from slots(s, path + (("l", k),), hint)
    elif not isinstance(spec, (Raw, Param)):
        yield path, hint, spec


def replace(spec, path, new):
    """``spec`` with the constant at ``path`` replaced by ``new``."""
    if not path:
        return new
    (kind, key), rest = path[0], path[1:]
    if isinstance(spec, Ctor):
        if kind == "a":
            args = list(spec.args)
            args[key] = replace(args[key], rest, new)
            return dataclasses.replace(spec, args=args)
        kwargs = dict(spec.kwargs)
        kwargs[key] = replace(kwargs[key], rest, new)
        return dataclasses.replace(spec, kwargs=kwargs)
    out = dict(spec) if isinstance(spec, dict) else list(spec)
    out[key] = replace(out[key], rest, new)
    return out


def unify(per_inst: dict) -> dict:
    """Attributes of several instances of one class -> one ``__init__``: attributes with the
    same structure everywhere are built inside (constants that differ become parameters,
    one per distinct vector of values); the others are ``injected`` (passed in)."""
    order = list(dict.fromkeys(n for a in per_inst.values() for n in a))
    internal, injected = [], []
    for name in order:
        shapes = {(structure(a[name]) if name in a else None) for a in per_inst.values()}
        (internal if len(shapes) == 1 and None not in shapes else injected).append(name)
    slot_values: dict = {}
    for name in internal:
        for path in per_inst:
            for spath, hint, value in slots(per_inst[path][name]):
                slot_values.setdefault((name, spath), (hint, {}))[1][path] = value
    params: list[str] = []
    by_vector: dict = {}
    values: dict[str, list] = {p: [] for p in per_inst}
    replaced = {p: dict(a) for p, a in per_inst.items()}
    if len(per_inst) > 1:
        for (name, spath), (hint, vals) in slot_values.items():
            vec = tuple(repr(pretty(vals[p])) for p in per_inst)
            if len(set(vec)) == 1:
                continue
            if vec not in by_vector:
                pname = clean(hint or name)
                if pname in params or pname in order or pname in RESERVED:
                    pname = clean(f"{name}_{hint}")
                while pname in params or pname in order or pname in RESERVED:
                    pname += "_"
                by_vector[vec] = pname
                params.append(pname)
                for p in per_inst:
                    values[p].append(pretty(vals[p]))
            pname = by_vector[vec]
            for p in per_inst:
                replaced[p][name] = replace(replaced[p][name], spath, Param(pname))
    first = next(iter(per_inst))
    return {"order": order, "injected": injected, "params": params, "values": values,
            "template": replaced[first]}
