"""Graph capture: a ``torch.nn.Module`` and example inputs -> a small IR of module calls
that keeps torch's module paths and class names.

The capture is ``torch.export.export`` (non-strict, no decompositions run), not
``torch.fx.symbolic_trace``. Measured on the notes' classes and torchvision's models
(torch 2.13):

* export traces every one of them; ``symbolic_trace`` stops on the notes' own
  ``LSTMnetwork`` (``len(seq)`` on a proxy), and its graph has no shapes (a separate
  propagation pass would be needed to know what is an image);
* export keeps the high-level ATen ops (``aten.conv2d``, ``aten.linear``,
  ``aten.batch_norm``, ``aten.max_pool2d``, ``aten.flatten``, ``aten.cat``, ...), and every
  node's ``meta["nn_module_stack"]`` names the module call it belongs to (with ``@n`` for
  the n-th call of the same module), so the flat graph regroups into one body per
  module call; ``preserve_module_call_signature`` records each call's inputs and
  outputs, i.e. the arguments and results of every ``forward``;
* shapes are known for every value (fake tensors), with every dim of the inputs symbolic
  (``Dim.AUTO``) where the model allows it (export specialises the dims the model fixes: a
  ViT's image size, the width that feeds a Linear), so ``x.view(x.size(0), -1)`` comes
  back as ``x.shape[0]`` and a causal mask's ``x.size(1)`` as ``x.shape[1]``, not literals;
  nn.LSTM/GRU/RNN are captured as one opaque op (:func:`_rnn_op`: the ATen op's shape
  rule unrolls the time steps, which would fix the length), and a dim that a guard ties to
  a number through an expression export does not solve (a Linear after the flatten of an
  image: ``4*(H - 2)*(W - 2) == 144``) is captured at the example's size;
* ``meta["stack_trace"]`` points at the user's source line of every op, which gives the
  generated code the user's own statement structure and variable names;
* data-dependent control flow (``if x.sum() > 0``) fails loudly with the line that
  needs the value (``symbolic_trace`` fails too, with less to go on).

In-place ops (``relu_``, ``+=``, ``inplace=True``) are turned pure here: later readers of
a mutated value read the result of the in-place op instead.

The forward is captured in eval mode; training-mode behaviour comes from the layers
(``Dropout``, ``BatchNorm``). A forward that takes another path when ``self.training``
(torchvision's inception_v3 auxiliary head) is ported as it runs in eval mode.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import inspect
import io
import linecache
import os
import re
import signal
import textwrap
import threading
import warnings
from typing import Any

from jaxdl.layers import for_torch_module
from jaxdl.port.expr import static

__all__ = ["Body", "Call", "Graph", "InputMismatchError", "ModuleInfo", "Node", "UnsupportedError", "capture"]


def _module_words(path: str, cls: str) -> str:
    """``module `enc.0` (Linear)``, or ``the top-level module``."""
    module = f"module `{path}`" if path else "the top-level module"
    return module + (f" ({cls})" if cls else "")


class UnsupportedError(ValueError):
    """Something in the model has no mapping to jaxdl: an op, a layer configuration or
    control flow that graph capture cannot see. ``what`` names it, ``path`` is the module
    path (``''`` for the top-level module) and ``where`` the user's source line."""

    def __init__(self, what: str, path: str, cls: str = "", where: str = "", hint: str = ""):
        self.what, self.path, self.cls, self.where, self.hint = what, path, cls, where, hint
        msg = f"jaxdl.port: {what} in {_module_words(path, cls)}"
        if where:
            msg += f", at {where}"
        msg += "." + (f" {hint}" if hint else "")
        super().__init__(msg)

    #: whether ``partial=True`` (``--partial``) gets past it: not for a wrong example input
    #: or a call that needs one more argument
    partial_helps = True


class InputMismatchError(UnsupportedError):
    """The example inputs do not fit the model: torch itself raises on them (a layer's shape
    check: ``expected input[2, 4, 8, 8] to have 3 channels``, ``mat1 and mat2 shapes cannot
    be multiplied``). ``shapes`` are the inputs' shapes; ``error`` is torch's own text."""

    partial_helps = False

    def __init__(self, shapes: list, error: str, path: str, cls: str = "", where: str = "", hint: str = ""):
        self.shapes, self.error = shapes, error
        sizes = " and ".join("x".join(map(str, s)) or "a scalar" for s in shapes)
        what = f"the example input{'s' if len(shapes) > 1 else ''} of shape{'s' if len(shapes) > 1 else ''} " \
               f"{sizes} do{'' if len(shapes) > 1 else 'es'} not fit the model"
        self.what, self.path, self.cls, self.where, self.hint = what, path, cls, where, hint
        msg = f"jaxdl.port: {what}: {_module_words(path, cls)}"
        if where:
            msg += f", at {where},"
        msg += f" raises {error}." + (f" {hint}" if hint else "")
        ValueError.__init__(self, msg)


@dataclasses.dataclass
class Node:
    """One ATen op (or ``getitem`` on a tuple result) inside a module's forward."""

    name: str            # the fx node name, also the name of its value
    target: str          # 'aten.relu_.default', 'getitem', 'sym_size', ...
    args: tuple          # Ref / constants / nested lists
    kwargs: dict
    line: int | None     # the line in the owning class's source, when known
    stack_trace: str | None = None
    kw: dict = dataclasses.field(default_factory=dict)  # every argument by its ATen schema name
    given: frozenset = frozenset()  # the arguments the graph passes (not left to their defaults)

    def arg(self, name: str, default=None):
        """The argument ``name`` of the op's schema (its default when not given)."""
        return self.kw.get(name, default)


@dataclasses.dataclass(frozen=True)
class Ref:
    """A reference to a value of the graph (a node output or an input)."""

    name: str


@dataclasses.dataclass(frozen=True)
class ParamRef:
    """A parameter, buffer or lifted constant of the torch module (state_dict key)."""

    key: str
    kind: str  # 'PARAMETER', 'BUFFER', 'CONSTANT_TENSOR'
    persistent: bool = True  # a buffer in the state_dict (False: register_buffer(..., persistent=False))


@dataclasses.dataclass
class Call:
    """One call of a submodule: ``path`` is the callee, ``inputs``/``outputs`` the values
    passed in and returned (flattened; ``out_spec`` gives the structure)."""

    key: str
    path: str
    inputs: list
    outputs: list
    out_spec: Any
    line: int | None
    nodes: list  # the ops inside (for leaf layers)
    in_tree: list | None = None  # [(argument name, keyword?, structure of flat input indices)]


@dataclasses.dataclass
class Body:
    """The forward of one call of a non-leaf module, as a list of ops and calls."""

    key: str
    path: str
    inputs: list          # value names (or constants) bound to the forward arguments
    arg_names: list[str]  # the forward's argument names
    items: list
    outputs: list
    out_spec: Any
    in_tree: list | None = None  # as Call.in_tree


@dataclasses.dataclass
class ModuleInfo:
    path: str
    module: Any           # the torch module
    cls: str              # torch class name
    kind: str             # 'leaf', 'sequential', 'list', 'user'
    stub: str = ""        # why this module's forward could not be captured (--partial)
    same_as: str = ""     # the first path of a module registered under several names


@dataclasses.dataclass
class Graph:
    root: Any
    modules: dict         # path -> ModuleInfo
    bodies: dict          # call key -> Body ('' is the top-level forward)
    values: dict          # value name -> meta['val'] (fake tensor, SymInt, tuple)
    consts: dict          # constant name -> torch tensor
    input_names: list[str]
    input_values: list    # example inputs (torch tensors)
    sources: dict         # class -> _Source
    readers: dict = dataclasses.field(default_factory=dict)  # value name -> names of the nodes reading it
    params: dict = dataclasses.field(default_factory=dict)  # placeholder name -> ParamRef
    input_dynamic: list = dataclasses.field(default_factory=list)  # per input: the dims left symbolic


# ----------------------------------------------------------------------------- helpers
def module_kind(m) -> str:
    """'list' (nn.ModuleList), 'sequential' (nn.Sequential and its subclasses), 'leaf' (a
    torch layer, or any layer with a jaxdl counterpart such as torchvision's
    StochasticDepth) or 'user'."""
    from torch import nn

    if isinstance(m, nn.ModuleList):
        return "list"
    if isinstance(m, nn.Sequential):
        return "sequential"
    if type(m).__module__.startswith(("torch.nn.modules", "torch.ao")) or for_torch_module(m) is not None:
        return "leaf"
    return "user"


def own_forward(m) -> bool:
    """An nn.Sequential subclass with a forward of its own (deeplabv3's ASPPPooling: its
    layers, then ``F.interpolate``): its forward is ported as written, not as the chain."""
    from torch import nn

    return isinstance(m, nn.Sequential) and type(m).forward is not nn.Sequential.forward


def children(m) -> list:
    """(name, module) of every child, also one registered under two names (torch's
    ``named_children`` lists a module once)."""
    return [(n, c) for n, c in m._modules.items() if c is not None]


def attribute_names(m) -> dict[str, str]:
    """{torch name: attribute name} of ``m``'s children in a generated class: torch's name
    where it is a Python identifier, else one made from it (torchvision's
    IntermediateLayerGetter, an nn.ModuleDict, has children '0', '1', ...: ``layer0``,
    ``layer1``; ``block1-0``: ``block1_0``). The class lists the changed ones in
    ``torch_names``, which jaxdl.interop maps back to torch's keys."""
    import keyword

    taken = {n for n in list(m._modules) + list(m._parameters) + list(m._buffers)
             if n.isidentifier() and not keyword.iskeyword(n)}
    out = {}
    for name, _ in children(m):
        if name.isidentifier() and not keyword.iskeyword(name):
            out[name] = name
            continue
        base = re.sub(r"\W", "_", name)
        base = "layer" + base if not base or base[0].isdigit() else base
        while base in taken or keyword.iskeyword(base):
            base += "_"
        taken.add(base)
        out[name] = base
    return out


def named(m) -> bool:
    """An nn.Sequential whose children have names of their own (``OrderedDict``,
    ``add_module("block1-0", ...)``), not 0, 1, 2, ...: kept under them (NamedSequential)."""
    return [n for n, _ in children(m)] != [str(i) for i in range(len(children(m)))]


def has_state(m) -> bool:
    """Whether a module (or a submodule) holds parameters or buffers."""
    return any(True for _ in m.parameters(recurse=True)) or any(True for _ in m.buffers(recurse=True))


def single_leaf(spec) -> bool:
    """Whether an output spec is one value (not a tuple, list, dict or output object)."""
    return spec is None or getattr(spec, "type", None) is None


def _target_name(target) -> str:
    if hasattr(target, "_schema") or type(target).__name__ == "OpOverload":
        return str(target)  # 'aten.relu.default'
    if getattr(target, "__name__", "") == "getitem":
        return "getitem"
    name = getattr(target, "__name__", str(target))
    return f"{getattr(target, '__module__', '')}.{name}".lstrip(".")


class _Source:
    """Source lines of a class: statement targets by line, for variable names."""

    def __init__(self, cls):
        self.file, self.first, self.last, self.stmts, self.text = None, 0, -1, {}, {}
        try:
            self.file = inspect.getsourcefile(cls)
            lines, first = inspect.getsourcelines(cls)
        except (OSError, TypeError):
            found = _class_in_linecache(cls)  # defined in a notebook cell or exec'd code
            if found is None:
                return
            self.file, lines, first = found
        self.first, self.last = first, first + len(lines) - 1
        code = textwrap.dedent("".join(lines))
        try:
            tree = ast.parse(code)
        except SyntaxError:
            return
        for node in ast.walk(tree):
            if isinstance(node, ast.stmt) and not isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.If,
                                                                       ast.For, ast.While, ast.With, ast.Try)):
                lo, hi = node.lineno + first - 1, (node.end_lineno or node.lineno) + first - 1
                info = _statement_targets(node)
                self.text[lo] = ast.get_source_segment(code, node) or ""
                for ln in range(lo, hi + 1):
                    self.stmts[ln] = (lo, info)

    def contains(self, file: str, line: int) -> bool:
        return file == self.file and self.first <= line <= self.last

    def statement(self, line: int | None):
        """(first line of the statement, targets) for a line of this class, or None."""
        return self.stmts.get(line) if line is not None else None


def _class_in_linecache(cls):
    """(file, lines, first line) of a class whose module has no file (a Jupyter cell),
    found through its ``forward``'s code object and the source that linecache holds."""
    code = getattr(getattr(cls, "forward", None), "__code__", None)
    if code is None:
        return None
    text = "".join(linecache.getlines(code.co_filename))
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == cls.__name__ \
                and node.lineno <= code.co_firstlineno <= (node.end_lineno or 0):
            return code.co_filename, text.splitlines(True)[node.lineno - 1:node.end_lineno], node.lineno
    return None


def _statement_targets(node: ast.stmt):
    """('assign', [names or None]) / ('return', None) / ('expr', None)."""
    if isinstance(node, ast.Return):
        return ("return", None)
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        return ("assign", [node.target.id])
    if isinstance(node, ast.Assign) and len(node.targets) == 1:
        t = node.targets[0]
        if isinstance(t, ast.Name):
            return ("assign", [t.id])
        if isinstance(t, (ast.Tuple, ast.List)):
            return ("assign", [e.id if isinstance(e, ast.Name) and e.id != "_" else None for e in t.elts])
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return ("assign", [node.target.id])
    return ("expr", None)


_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def _frames(stack_trace: str | None) -> list[tuple[str, int]]:
    return [(m.group(1), int(m.group(2))) for m in _FRAME.finditer(stack_trace or "")]


def _line_in(source: _Source, stack_trace: str | None) -> int | None:
    """The innermost frame of ``stack_trace`` inside the class's source."""
    found = None
    for file, line in _frames(stack_trace):
        if source.contains(file, line):
            found = line
    return found


def where(source_file: str | None, line: int | None) -> str:
    """'file.py:23: `code`' for messages."""
    if not source_file or line is None:
        return ""
    code = linecache.getline(source_file, line).strip()
    short = source_file.rsplit("/", 1)[-1]
    return f"{short}:{line}: `{code}`" if code else f"{short}:{line}"


# ----------------------------------------------------------------------------- export
# seconds the capture with every dim symbolic may take before the batch-only one is tried:
# torch.export's shape reasoning can run for hours on some models (maxvit_t at 221x221: over
# 30 minutes in sympy, where its static capture takes 20 s). The cheaper captures get no
# limit: an interrupt that lands inside torch's lazy imports leaves them half done (the
# first capture of a process finishes those imports within seconds, long before the limit)
SYMBOLIC_CAPTURE_S = 120.0


class _SymbolicCaptureTooSlow(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float):
    """Raises :class:`_SymbolicCaptureTooSlow` in the body after ``seconds`` (a timer
    signal: only on the main thread; elsewhere, or with another timer set, no limit)."""
    if threading.current_thread() is not threading.main_thread() or signal.getitimer(signal.ITIMER_REAL)[0]:
        yield
        return

    def expire(signum, frame):
        raise _SymbolicCaptureTooSlow(f"the symbolic capture took over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _export(module, inputs: tuple, preserve: tuple, dynamic):
    """``torch.export`` of ``module`` on ``inputs``: ``dynamic=True`` puts ``Dim.AUTO`` on every
    dim of every tensor input (torch.export specialises the ones the model fixes),
    ``"batch"`` on dim 0 only, ``False`` none."""
    import torch
    from torch.export import Dim

    def dims(x):
        if not isinstance(x, torch.Tensor) or x.ndim < 1:
            return None
        return {d: Dim.AUTO for d in range(x.ndim if dynamic is True else 1)}

    shapes = tuple(dims(x) for x in inputs)
    # on failure torch.export prints the partial graph to stderr; the error we raise says more
    limit = _time_limit(SYMBOLIC_CAPTURE_S) if dynamic is True else contextlib.nullcontext()
    with contextlib.redirect_stderr(io.StringIO()), _opaque_rnns(dynamic is True), limit:
        ep = torch.export.export(module, inputs, dynamic_shapes=shapes if dynamic else None,
                                 preserve_module_call_signature=preserve, strict=False)
        for _ in range(3 if dynamic is True else 0):
            fixed = _constrained_dims(ep)
            if not fixed:
                break
            # sizes the model ties to the example's through an equation: as in the example,
            # the other dims before the batch (fixing them often frees it)
            fixed = {(i, d) for i, d in fixed if d != 0} or fixed
            shapes = tuple(None if s is None else {k: v for k, v in s.items() if (i, k) not in fixed} or None
                           for i, s in enumerate(shapes))
            ep = torch.export.export(module, inputs, dynamic_shapes=shapes,
                                     preserve_module_call_signature=preserve, strict=False)
        return functional(ep)


def _constrained_dims(ep) -> set:
    """(input index, dim) of the symbolic input dims that a guard of the export ties to the
    example's sizes through an expression torch does not solve (``Eq(4*(s0 - 2)*(s1 - 2),
    144)``: a Linear after the flatten of an image), so that only some sizes fit; torch.export
    keeps them symbolic and drops the guard. A guard is such a tie when it no longer holds
    with every size doubled; equal sizes (``Eq(4*s0//s1, 4)``) and divisibility still do."""
    import sympy

    user = [s.arg.name for s in ep.graph_signature.input_specs
            if s.kind.name == "USER_INPUT" and hasattr(s.arg, "name")]
    vals = {n.name: n.meta.get("val") for n in ep.graph.nodes if n.op == "placeholder"}
    where: dict = {}
    env = None
    for i, name in enumerate(user):
        for d, n in enumerate(getattr(vals.get(name), "shape", ())):
            if static(n) is None and hasattr(n, "node"):
                env = env or n.node.shape_env
                where.setdefault(n.node.expr, []).append((i, d))
    if env is None:
        return set()
    hints = getattr(env, "backed_var_to_val", None) or getattr(env, "var_to_val", {})
    doubled = {sym: 2 * int(v) for sym, v in hints.items()}
    out = set()
    for guard in getattr(env, "guards", ()):
        e = guard.expr
        if not isinstance(e, sympy.Eq) or not e.free_symbols or not e.free_symbols <= set(doubled):
            continue
        try:
            holds = bool(e.xreplace({sym: sympy.Integer(doubled[sym]) for sym in e.free_symbols}))
        except Exception:  # noqa: BLE001 - an expression sympy cannot decide: leave it
            continue
        if not holds:
            for sym in e.free_symbols:
                out.update(where.get(sym, []))
    return out


_RNNS = ("lstm", "gru", "rnn_tanh", "rnn_relu")


def _rnn_op(kind: str):
    """``jaxdl_port::<kind>``: torch's ``_VF.<kind>`` (``lstm``, ``gru``, ``rnn_tanh``,
    ``rnn_relu``, padded input) as one opaque op whose output shapes follow the input's:
    the ATen op's shapes come from its decomposition, a loop over the time steps that fixes
    the sequence length."""
    import torch

    if not hasattr(torch.ops.jaxdl_port, kind):
        lstm = kind == "lstm"
        hx_type = "Tensor[]" if lstm else "Tensor"
        outs = "(Tensor, Tensor, Tensor)" if lstm else "(Tensor, Tensor)"

        @torch.library.custom_op(f"jaxdl_port::{kind}", mutates_args=(),
                                 schema=f"(Tensor input, {hx_type} hx, Tensor[] params, bool has_biases, "
                                        "int num_layers, float dropout, bool train, bool bidirectional, "
                                        f"bool batch_first) -> {outs}")
        def rnn(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
            out = getattr(torch._VF, kind)(input, hx, params, has_biases, num_layers, dropout, train,
                                           bidirectional, batch_first)
            return tuple(t.clone() for t in out)

        @rnn.register_fake
        def _(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first):
            h = hx[0] if lstm else hx
            shape = (*input.shape[:-1], (2 if bidirectional else 1) * h.shape[-1])
            states = [torch.empty_like(t) for t in (hx if lstm else [hx])]
            return (input.new_empty(shape), *states)
    return getattr(torch.ops.jaxdl_port, kind).default


class _VFOpaqueRNN:
    """``torch._VF`` as nn.LSTM/GRU/RNN see it, its RNN functions on padded input the opaque
    ops of :func:`_rnn_op` (a packed sequence's form goes to torch's own)."""

    def __init__(self, vf):
        self._vf = vf

    def __getattr__(self, name):
        real = getattr(self._vf, name)
        if name not in _RNNS:
            return real
        op = _rnn_op(name)

        def call(*args, **kwargs):
            if len(args) == 9 and not kwargs and isinstance(args[2], (list, tuple)):
                return op(*args)
            return real(*args, **kwargs)

        return call


@contextlib.contextmanager
def _opaque_rnns(on: bool):
    """While exporting with a symbolic sequence length: nn.LSTM/GRU/RNN call :func:`_rnn_op`."""
    import torch.nn.modules.rnn as rnn

    if not on:
        yield
        return
    vf = rnn._VF
    rnn._VF = _VFOpaqueRNN(vf)
    try:
        yield
    finally:
        rnn._VF = vf


_DROPOUTS = ("dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout")


def _dropout_marker():
    """``jaxdl_port::dropout(x, p, train, kind)``: a stand-in for ``aten.dropout`` (and
    ``feature_dropout``, ``alpha_dropout``, in place or not) that survives
    :func:`functional` (which removes a dropout that is off in eval mode), so that the
    port knows where a forward drops out in training."""
    import torch

    if not hasattr(torch.ops.jaxdl_port, "dropout"):
        @torch.library.custom_op("jaxdl_port::dropout", mutates_args=(),
                                 schema="(Tensor x, float p, bool train, str kind) -> Tensor")
        def dropout(x, p, train, kind):
            return x.clone()

        @dropout.register_fake
        def _(x, p, train, kind):
            return torch.empty_like(x)
    return torch.ops.jaxdl_port.dropout.default


def functional(ep):
    """The exported program with no in-place op and no view that is written through:
    ``out += x`` becomes ``add``, ``x[:, :k].fill_(v)`` a ``slice_scatter``, ``x[i] = v``
    an ``index_put``; ``@torch.no_grad`` regions and ``torch.vmap`` are inlined. Every op
    is kept as it was captured (no decomposition), except that dropout becomes
    :func:`_dropout_marker` (eval mode would otherwise remove it).

    torch renames values on the way and loses some names of the preserved module call
    signatures (a ``chunk``'s items); the signatures are carried over here by provenance."""
    import copy

    import torch

    marker = _dropout_marker()
    for n in ep.graph.nodes:
        name = _target_name(n.target)
        parts = name.split(".")
        if n.op == "call_function" and parts[0] == "aten" and parts[1].rstrip("_") in _DROPOUTS:
            x, p, train = (list(n.args) + [n.kwargs.get("p", 0.5), n.kwargs.get("train", True)])[:3]
            n.target = marker
            n.args, n.kwargs = (x, float(p), bool(train), parts[1].rstrip("_")), {}
    ep.graph_module.recompile()
    old = {n.name: n for n in ep.graph.nodes}
    old_inputs = [n.name for n in ep.graph.nodes if n.op == "placeholder"]
    signatures = {e.fqn: copy.deepcopy(e.signature) for e in ep.module_call_graph[1:]}
    for e in ep.module_call_graph[1:]:
        e.signature = None  # renamed below
    table = torch.export.default_decompositions()
    for op in list(table.keys()):  # keep every op as captured: only functionalise
        del table[op]
    new = ep.run_decompositions(table)
    rename = _provenance(old, old_inputs, new.graph)
    for e in new.module_call_graph[1:]:
        sig = signatures.get(e.fqn)
        if sig is not None:
            for a in [*sig.inputs, *sig.outputs]:
                if getattr(a, "name", None) in old:
                    a.name = rename(a.name)
        e.signature = sig
    return new


def _same_kind(a, b) -> bool:
    return type(a) is type(b) and getattr(a, "shape", None) == getattr(b, "shape", None)


def _provenance(old: dict, old_inputs: list, graph):
    """old value name -> its name after :func:`functional` (through ``from_node``; tuple
    items by their source and index; values that became aliases by their input)."""
    found = {}
    items = {}
    for n in graph.nodes:
        history = n.meta.get("from_node") or []
        if history and n.op == "call_function":
            o = old.get(history[-1].name)
            # several new values from one old op (batch_norm -> the op and its getitem): the one
            # of the old value's kind (a tensor, not a tuple)
            if history[-1].name not in found or (o is not None and _same_kind(o.meta.get("val"), n.meta.get("val"))):
                found[history[-1].name] = n.name
        if n.op == "call_function" and _target_name(n.target) == "getitem":
            items[(n.args[0].name, n.args[1])] = n.name
    for o, n in zip(old_inputs, [n.name for n in graph.nodes if n.op == "placeholder"]):
        found[o] = n

    def rename(name: str) -> str:
        if name in found and not (old[name].op == "call_function" and _target_name(old[name].target) == "getitem"):
            return found[name]
        node = old[name]
        if node.op == "call_function" and _target_name(node.target) == "getitem":
            src = rename(node.args[0].name)
            if (src, node.args[1]) in items:
                return items[(src, node.args[1])]
        inputs = [a for a in node.args if hasattr(a, "name")]
        if len(inputs) >= 1 and name not in found:  # an alias (contiguous, no-op .to) that was removed
            return rename(inputs[0].name)
        return found.get(name, name)

    return rename


def bind(target, args: tuple, kwargs: dict) -> dict:
    """``{schema argument name: value}`` for every argument of an ATen op (defaults filled
    in), so that op handlers read ``n.arg("dim")``, not ``n.args[1]``; ``{}`` for targets
    without a schema (``getitem``, ``operator.mul``)."""
    schema = getattr(target, "_schema", None)
    if schema is None:
        return {}
    out = {}
    for i, a in enumerate(schema.arguments):
        if i < len(args) and not a.kwarg_only:
            out[a.name] = args[i]
        elif a.name in kwargs:
            out[a.name] = kwargs[a.name]
        elif a.has_default_value():
            out[a.name] = a.default_value
    return out


def given(target, args: tuple, kwargs: dict) -> frozenset:
    """The names of the schema arguments the graph passes (the rest are defaults)."""
    schema = getattr(target, "_schema", None)
    if schema is None:
        return frozenset()
    positional = [a.name for a in schema.arguments if not a.kwarg_only][:len(args)]
    return frozenset(positional) | frozenset(kwargs)


def _failing_module(exc: BaseException, paths_by_id: dict):
    """(path, class, file, line) of the innermost frame of a module's code in a traceback."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        me = frame.f_locals.get("self")
        if me is not None and id(me) in paths_by_id:
            found = (paths_by_id[id(me)], type(me).__name__, frame.f_code.co_filename, tb.tb_lineno)
        tb = tb.tb_next
    cause = exc.__cause__ or exc.__context__
    if found is None and cause is not None and cause is not exc:
        return _failing_module(cause, paths_by_id)
    return found


def _is_data_dependent(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return any(s in text for s in ("GuardOnDataDependent", "data-dependent", "data dependent",
                                   "UserError: Could not guard", "Could not extract specialized integer"))


class _StandIn:
    """Replaces a module whose forward cannot be captured (``partial=True``): returns zeros
    of the shapes the real module returned on the example inputs."""


def _stand_in(original, outputs):
    import torch
    from torch import nn

    leaves, spec = torch.utils._pytree.tree_flatten(outputs)
    metas = [(tuple(t.shape), t.dtype) if isinstance(t, torch.Tensor) else t for t in leaves]

    class StandIn(nn.Module, _StandIn):
        def forward(self, *args, **kwargs):
            outs = [torch.zeros(m[0], dtype=m[1]) if isinstance(m, tuple) else m for m in metas]
            return torch.utils._pytree.tree_unflatten(outs, spec)

    return StandIn()


_TORCH_LOGGERS = ("torch._subclasses.fake_tensor", "torch.fx.experimental.symbolic_shapes",
                  "torch.fx.experimental.proxy_tensor", "torch._dynamo", "torch.export", "torch._export")


@contextlib.contextmanager
def quiet_torch_logs():
    """Silence torch's own loggers while capturing: a shape error inside a layer makes
    fake_tensor log the whole traceback (``E... fake_tensor.py:3090] failed while attempting
    to run meta for aten.mm.default``, dozens of lines) before it raises, and export warns
    about what it specialises. Their handlers write to the process's stderr as it was when
    torch was imported, past ``redirect_stderr``; the porter's own error says what matters.
    The levels are put back on exit; other loggers (the porter's, the user's) are untouched."""
    import logging

    loggers = [logging.getLogger(n) for n in _TORCH_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def capture(module, inputs: tuple, *, partial: bool = False, dynamic=True) -> Graph:
    """Export ``module`` on ``inputs`` (eval mode) and regroup the graph per module call.

    ``dynamic=True``: every dim of every input symbolic where the model allows it
    (``"batch"``: dim 0 only); when that export fails, or once a stand-in is in, static.

    Raises :class:`UnsupportedError` for data-dependent control flow (naming the module
    and the line); with ``partial=True`` that module is replaced by a stand-in and marked
    as a stub instead. Raises :class:`InputMismatchError` when the model itself fails on
    ``inputs`` (a layer's shape check), without ``partial``'s stand-ins.
    """

    was_training = module.training
    module.eval()
    stubs: dict[str, tuple] = {}
    try:
        with quiet_torch_logs():
            while True:
                named = dict(module.named_modules())
                paths_by_id = {id(m): p for p, m in named.items()}
                preserve = tuple(p for p, m in named.items() if p and module_kind(m) != "leaf"
                                 and not _inside_stand_in(p, named))
                order = [True, "batch", False]
                modes = order[order.index(dynamic):] if not stubs else [False]
                try:
                    for i, mode in enumerate(modes):
                        try:
                            ep = _export(module, inputs, preserve, dynamic=mode)
                            break
                        except _SymbolicCaptureTooSlow as e:
                            warnings.warn(f"jaxdl.port: {type(module).__name__}: {e} (jaxdl.port.capture."
                                          "SYMBOLIC_CAPTURE_S); capturing with fewer symbolic sizes: "
                                          "Ported.summary() says which the port fixes", stacklevel=2)
                        except Exception as e:
                            # a branch on a tensor's value: no other shapes help (a symbolic size
                            # beyond the batch might: the batch-only capture is tried once more)
                            if i == len(modes) - 1 or _is_data_dependent(e) and mode is not True:
                                raise
                    break
                except Exception as e:  # noqa: BLE001
                    err, path, cls = _capture_error(e, module, inputs, paths_by_id)
                    if not partial or not path or path in stubs or not _is_data_dependent(e):
                        raise err from None
                    hint = err.hint if not err.partial_helps else (
                        "torch.export could not capture it (torch.where / torch.cond would make it "
                        "capturable); write this forward by hand.")
                    stub = UnsupportedError(err.what, err.path, err.cls, err.where, hint)
                    stubs[path] = (named[path], str(stub))
                    _swap(module, path, _stand_in(named[path], _record_output(module, path, inputs)))
    finally:
        for path, (original, _) in stubs.items():
            _swap(module, path, original)
        module.train(was_training)
    return _build(module, ep, inputs, {p: msg for p, (_, msg) in stubs.items()})


def _capture_error(e: BaseException, module, inputs: tuple, paths_by_id: dict):
    """(the error to raise, path and class of the module to stub) for a failed export."""
    found = _failing_module(e, paths_by_id)
    path, cls, file, line = found if found else ("", type(module).__name__, None, None)
    at = _where_in_model(e, paths_by_id)
    if _is_data_dependent(e):
        err = _causal_mask_error(e, paths_by_id, at) or UnsupportedError(
            "data-dependent control flow (a Python branch or loop on a tensor's value)",
            path, cls, at,
            "torch.export cannot see which way it goes, so no graph exists for it. "
            "Rewrite it with torch.where (or torch.cond), or port with --partial "
            "(partial=True) to get the rest with a stub that raises here.")
        return err, path, cls
    err = _input_mismatch(module, inputs, paths_by_id)
    if err is None:
        err = UnsupportedError(f"torch.export failed ({type(e).__name__}: {_first_line(e)})", path, cls, at)
    return err, path, cls


def _first_line(e: BaseException, limit: int = 300) -> str:
    lines = [ln.strip() for ln in str(e).strip().splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:limit]


def _excluded_dirs() -> tuple:
    import sysconfig

    import torch

    dirs = [os.path.dirname(torch.__file__), os.path.dirname(os.path.abspath(__file__))]
    for key in ("stdlib", "platstdlib"):
        if sysconfig.get_paths().get(key):
            dirs.append(sysconfig.get_paths()[key])
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs)


def _frames_of(exc: BaseException):
    """(frame, line) of every frame of ``exc``'s traceback, outermost first."""
    out = []
    tb = exc.__traceback__
    while tb is not None:
        out.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    return out


def _where_in_model(exc: BaseException, paths_by_id: dict, layer_line: bool = True) -> str:
    """'file.py:12: `code`' of the model's own line where ``exc`` was raised: the innermost
    frame, once inside the model's forward, that is not torch's (nor the standard
    library's): the user's ``self.body(x)`` for a layer of an ``nn.Sequential`` that fails,
    ``self.enc(x, mask=m)`` for an ``nn.TransformerEncoder``, the line of an in-place op.
    Where no such frame exists (a torch layer ported alone), the innermost module's own line
    (with ``layer_line``; else '')."""
    excluded = _excluded_dirs()
    seen: set = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        inside, user, layer = False, None, None
        for frame, line in _frames_of(exc):
            me = frame.f_locals.get("self")
            if me is not None and id(me) in paths_by_id:
                inside = True
                if frame.f_code.co_name not in ("_call_impl", "_wrapped_call_impl"):
                    layer = (frame.f_code.co_filename, line)
            file = frame.f_code.co_filename
            if inside and not os.path.realpath(file).startswith(excluded) \
                    and not (file.startswith("<") and not file.startswith("<ipython")):
                user = (file, line)
        if user or (layer and layer_line):
            return where(*(user or layer))
        exc = exc.__cause__ or exc.__context__
    return ""


_TRANSFORMERS = ("Transformer", "TransformerEncoder", "TransformerDecoder")
_CAUSAL_LINE = re.compile(r"(\w+)\s*=\s*_detect_is_causal_mask\(\s*(\w+)")


def _causal_mask_error(exc: BaseException, paths_by_id: dict, at: str):
    """The message for ``nn.TransformerEncoder(...)(x, mask=m)`` (``TransformerDecoder``'s
    ``tgt_mask``, ``Transformer``'s ``src_mask``/``tgt_mask``) called with ``is_causal=None``:
    torch's ``_detect_is_causal_mask`` then compares the mask with a causal one, a branch on
    its values that export cannot follow. Passing ``is_causal`` makes it port. None when
    the failing frame is not that check."""
    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:  # torch may re-raise it with the original as cause
        seen.add(id(exc))
        chain.append(_frames_of(exc))
        exc = exc.__cause__ or exc.__context__
    frames = next((fs for fs in chain if any(f.f_code.co_name == "_detect_is_causal_mask" for f, _ in fs)), None)
    if frames is None:
        return None
    calls = [(f, ln) for f, ln in frames if f.f_code.co_name == "forward"
             and type(f.f_locals.get("self")).__name__ in _TRANSFORMERS
             and id(f.f_locals.get("self")) in paths_by_id
             and type(f.f_locals.get("self")).__module__.startswith("torch.nn.modules")]
    if not calls:
        return None
    outer, inner = calls[0][0].f_locals["self"], calls[-1]
    found = _CAUSAL_LINE.search(linecache.getline(inner[0].f_code.co_filename, inner[1]))
    arg, mask = found.groups() if found else ("is_causal", "mask")
    if type(outer).__name__ == "Transformer" and type(inner[0].f_locals["self"]).__name__ == "TransformerEncoder":
        arg, mask = "src_is_causal", "src_mask"  # nn.Transformer passes them on to its encoder under these names
    cls = type(outer).__name__
    err = UnsupportedError(
        f"nn.{cls} called with `{mask}` and `{arg}=None` (torch then compares the mask's values with a "
        "causal mask to choose its path, a branch that graph capture cannot follow)",
        paths_by_id[id(outer)], cls, at,
        f"Pass `{arg}=True` (the mask is causal) or `{arg}=False` (it is not) explicitly in this call, "
        "and it ports.")
    err.partial_helps = False
    return err


def _input_mismatch(module, inputs: tuple, paths_by_id: dict):
    """:class:`InputMismatchError` when the model raises on ``inputs`` in plain torch (eval
    mode, no grad): the example does not fit it, which no porting fixes. None when it runs
    (then it is the capture that fails)."""
    import torch

    try:
        with torch.no_grad():
            module(*inputs)
    except (RuntimeError, ValueError, IndexError, AssertionError, TypeError) as e:
        found = _failing_module(e, paths_by_id)
        path, cls = (found[0], found[1]) if found else ("", type(module).__name__)
        text = f"{type(e).__name__}: {_first_line(e)}"
        if isinstance(e, TypeError) and "argument" in str(e):
            hint = ("Give one example input per argument of forward (on the command line, one --input-shape "
                    "per argument).")
        else:
            dtype = " and dtype" if re.search(r"dtype|scalar type|Half|Float|Long|Int\b|Double", str(e)) else ""
            hint = (f"Give an example input of the size{dtype} the model was built for "
                    f"(--input-shape{' and --dtype' if dtype else ''} on the command line).")
        return InputMismatchError([tuple(x.shape) if isinstance(x, torch.Tensor) else () for x in inputs],
                                  text, path, cls, _where_in_model(e, paths_by_id, layer_line=False), hint)
    except Exception:  # noqa: BLE001 - anything else: the export's own error says more
        return None
    return None


def call_site(graph: Graph, path: str) -> str:
    """'file.py:12: `code`' of the line in the user's source that calls module ``path`` (or
    the nearest module above it that a forward of the user's calls: the ``self.body(x)`` of
    an ``nn.Sequential`` that holds it); '' when none is known."""
    torch_dirs = _excluded_dirs()
    best = None
    for body in graph.bodies.values():
        info = graph.modules.get(body.path)
        src = graph.sources.get(type(info.module)) if info is not None else None
        if src is None or not src.file or os.path.realpath(src.file).startswith(torch_dirs):
            continue
        for it in body.items:
            if isinstance(it, Call) and it.line is not None and (path == it.path or path.startswith(it.path + ".")):
                if best is None or len(it.path) > len(best[0]):
                    best = (it.path, src.file, it.line)
    return where(best[1], best[2]) if best else ""


def in_torch(graph: Graph, at: str) -> bool:
    """Whether a message's 'file.py:12: ...' is a line of torch's own source (a layer's
    forward), not the user's."""
    torch_dirs = _excluded_dirs()
    short = at.split(":", 1)[0]
    return any(src.file and src.file.rsplit("/", 1)[-1] == short and os.path.realpath(src.file).startswith(torch_dirs)
               for src in graph.sources.values())


def _inside_stand_in(path: str, named: dict) -> bool:
    parts = path.split(".")
    return any(isinstance(named.get(".".join(parts[:i])), _StandIn) for i in range(1, len(parts)))


def _swap(root, path: str, new):
    parent_path, _, name = path.rpartition(".")
    parent = root.get_submodule(parent_path) if parent_path else root
    parent._modules[name] = new


def _record_output(root, path: str, inputs: tuple):
    import torch

    out = {}
    sub = root.get_submodule(path)
    handle = sub.register_forward_hook(lambda m, a, o: out.setdefault("o", o))
    try:
        with torch.no_grad():
            try:
                root(*inputs)
            except Exception as e:  # noqa: BLE001 - the hook has what it needs, or nothing
                out.setdefault("error", e)
    finally:
        handle.remove()
    if "o" not in out:
        raise UnsupportedError("a module that never returns on the example inputs", path, type(sub).__name__)
    return out["o"]


# ----------------------------------------------------------------------------- regrouping
@dataclasses.dataclass
class _Frame:
    key: str
    path: str
    items: list
    nodes: list


def _symbolic_dims(val) -> tuple:
    """The dims of an input's (fake) tensor that export left symbolic."""
    shape = getattr(val, "shape", None)
    return tuple(d for d, n in enumerate(shape) if static(n) is None) if shape is not None else ()


def _build(module, ep, inputs, stubs: dict) -> Graph:
    from torch import fx

    named = dict(module.named_modules(remove_duplicate=False))  # the originals (stand-ins are swapped back)
    first = {}
    for p, m in named.items():
        first.setdefault(id(m), p)
    modules = {p: ModuleInfo(p, m, type(m).__name__, module_kind(m), stubs.get(p, ""),
                             first[id(m)] if first[id(m)] != p else "") for p, m in named.items()}
    sig = ep.graph_signature
    kinds = {s.arg.name: (s.kind.name, s.target, s.persistent) for s in sig.input_specs if hasattr(s.arg, "name")}
    params = {name: ParamRef(target, kind, persistent is not False)
              for name, (kind, target, persistent) in kinds.items()
              if kind in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR")}
    user_inputs = [name for name, (kind, _, _) in kinds.items() if kind == "USER_INPUT"]
    consts = {target: ep.constants[target] for name, (kind, target, _) in kinds.items() if kind == "CONSTANT_TENSOR"}
    call_sigs = {e.fqn: e.signature for e in ep.module_call_graph}
    arg_names = (call_sigs.get("").forward_arg_names if call_sigs.get("") is not None else None) or user_inputs

    nodes = [n for n in ep.graph.nodes if n.op == "call_function"]
    values = {n.name: n.meta.get("val") for n in ep.graph.nodes}
    position = {n.name: i for i, n in enumerate(nodes)}

    def current(name: str, at: int) -> str:  # the program is functional: a name is one value
        return name

    def conv(a, at):
        if isinstance(a, fx.Node):
            if a.name in params:
                return params[a.name]
            return Ref(a.name)
        if isinstance(a, (list, tuple)):
            return type(a)(conv(x, at) for x in a)
        if isinstance(a, dict):
            return {k: conv(v, at) for k, v in a.items()}
        return a

    # --- frames from nn_module_stack
    root = _Frame("", "", [], [])
    sources: dict = {}

    def source(cls):
        if cls not in sources:
            sources[cls] = _Source(cls)
        return sources[cls]

    torch_dir = os.path.dirname(os.path.dirname(fx.__file__))
    for i, n in enumerate(nodes):
        stack = [(k, v) for k, v in (n.meta.get("nn_module_stack") or {}).items()
                 if v[0] != "" and not k.startswith("_empty")]
        frames = _frames(n.meta.get("stack_trace"))
        while stack and stack[-1][1][0] in modules and modules[stack[-1][1][0]].kind == "leaf" and frames \
                and not frames[-1][0].startswith(torch_dir):
            stack.pop()  # an op of the caller's line that torch moved to the leaf's call (a replayed view)
        frame, chain = root, [root]
        for key, (path, _cls) in stack:
            if modules.get(frame.path) and modules[frame.path].kind == "leaf" and frame is not root:
                break
            if path not in modules:
                break
            fqn = path + (key[key.index("@"):] if "@" in key else "")
            child = next((it for it in reversed(frame.items) if isinstance(it, _Frame) and it.key == fqn), None)
            if child is None:
                child = _Frame(fqn, path, [], [])
                frame.items.append(child)
            frame = child
            chain.append(frame)
        args, kwargs = conv(tuple(n.args), i), conv(dict(n.kwargs), i)
        node = Node(n.name, _target_name(n.target), args, kwargs, None, n.meta.get("stack_trace"),
                    bind(n.target, args, kwargs), given(n.target, args, kwargs))
        for f in chain:
            f.nodes.append(node)
        frame.items.append(node)

    graph = Graph(module, modules, {}, values, consts, list(arg_names), list(inputs), sources, params=params,
                  input_dynamic=[_symbolic_dims(values.get(n)) for n in user_inputs])
    output_node = next(n for n in ep.graph.nodes if n.op == "output")
    user = [s_.kind.name == "USER_OUTPUT" for s_ in sig.output_specs]  # not buffer mutations
    outs = [conv(a, len(nodes)) for a, keep in zip(output_node.args[0], user) if keep]
    readers: dict[str, set] = {}
    for n in root.nodes:
        for r in _refs((n.args, n.kwargs)):
            readers.setdefault(r.name, set()).add(n.name)
    for r in _refs(outs):
        readers.setdefault(r.name, set()).add("<output>")
    for sig_ in call_sigs.values():  # values returned by a preserved call are read by its caller
        for a in getattr(sig_, "outputs", None) or []:
            if getattr(a, "name", None):
                readers.setdefault(current(a.name, 1 << 30), set()).add("<call>")
    graph.readers = readers
    root_sig = call_sigs.get("")
    _make_body(graph, root, user_inputs, list(arg_names), outs, root_sig.out_spec if root_sig else None,
               call_sigs, source, position, current)
    return graph


def _stack_path(n, modules) -> tuple[str, str]:
    stack = [v for v in (n.meta.get("nn_module_stack") or {}).values() if v[0] in modules]
    if not stack:
        return "", ""
    path = stack[-1][0]
    return path, modules[path].cls


def _make_body(graph: Graph, frame: _Frame, inputs, arg_names, outputs, out_spec, call_sigs, source, position, current,
               in_tree_=None):
    info = graph.modules[frame.path]
    src = source(type(info.module))
    items = []
    for it in frame.items:
        if isinstance(it, Node):
            it.line = _line_in(src, it.stack_trace)
            items.append(it)
            continue
        child = graph.modules[it.path]
        first = it.nodes[0] if it.nodes else None
        line = _line_in(src, first.stack_trace) if first is not None else None
        if child.kind == "leaf":
            inside = {n.name for n in it.nodes}
            own = _own_tensors(child.module)
            ins, outs = [], []
            for n in it.nodes:
                for r in _refs((n.args, n.kwargs), graph, own):
                    if (not isinstance(r, Ref) or r.name not in inside) and r not in ins:
                        ins.append(r)
            outs = [Ref(n.name) for n in it.nodes if graph.readers.get(n.name, set()) - inside]
            items.append(Call(it.key, it.path, ins, outs, None, line, it.nodes))
            continue
        sig = call_sigs.get(it.key)
        if sig is None:
            raise UnsupportedError("a module call whose signature torch.export did not record", it.path, child.cls)
        at = position.get(first.name, 0) if first is not None else 0
        ins = [_arg(a, current, at, graph.params) for a in sig.inputs]
        outs = [_arg(a, current, 1 << 30, graph.params) for a in sig.outputs]
        try:
            names = [p for p in inspect.signature(type(child.module).forward).parameters][1:]
        except (TypeError, ValueError):
            names = []
        names = [n for n in names if n not in ("args", "kwargs")]
        tree = in_tree(sig.in_spec, names, len(ins))
        arg_names_child = [n for n, _, _ in tree]
        items.append(Call(it.key, it.path, ins, outs, sig.out_spec, line, it.nodes, tree))
        if child.stub:
            graph.bodies[it.key] = Body(it.key, it.path, ins, arg_names_child, [], outs, sig.out_spec, tree)
        else:
            _make_body(graph, it, ins, arg_names_child, outs, sig.out_spec, call_sigs, source, position, current, tree)
    graph.bodies[frame.key] = Body(frame.key, frame.path, [Ref(x) if isinstance(x, str) else x for x in inputs],
                                   arg_names, items, outputs, out_spec, in_tree_)


def in_tree(spec, names: list[str], n: int) -> list:
    """A call's arguments as ``[(name, keyword?, tree)]``, where a tree is the index of a
    flat input or ``("list" | "tuple", [trees])`` / ``("dict", {key: tree})``: the
    structure ``forward(self, input: List[Tensor])`` takes (densenet)."""
    counter = iter(range(n))

    def tree(sp):
        if sp is None or getattr(sp, "type", None) is None:
            return next(counter)
        kids = [tree(c) for c in sp.children()]
        if sp.type is dict:
            return ("dict", dict(zip(sp.context, kids)))
        return ("list" if sp.type is list else "tuple", kids)

    if spec is None or getattr(spec, "type", None) is not tuple or len(spec.children()) != 2:
        return [(names[i] if i < len(names) else f"arg{i}", False, i) for i in range(n)]
    args, kwargs = spec.children()
    out = [(names[i] if i < len(names) else f"arg{i}", False, tree(c)) for i, c in enumerate(args.children())]
    out += [(k, True, tree(c)) for k, c in zip(kwargs.context or [], kwargs.children())]
    return out


def _arg(a, current, at, params=None):
    """A call signature's argument: a value of the graph (Ref), a parameter or buffer passed
    as an argument (ParamRef: ``self.cpb_mlp(self.relative_coords_table)``) or a constant."""
    name = getattr(a, "name", None)
    if params and name in params:
        return params[name]
    if type(a).__name__ in ("TensorArgument", "SymIntArgument", "SymFloatArgument", "SymBoolArgument") and name:
        return Ref(current(name, at))
    if hasattr(a, "value"):
        return a.value
    return a


def _own_tensors(m) -> set:
    """ids of a module's own parameters and buffers (its submodules' included)."""
    return {id(t) for t in m.parameters()} | {id(t) for t in m.buffers()}


def _refs(obj, graph=None, own=None):
    """The Refs in ``obj``; with ``graph`` and ``own`` also the ParamRefs of parameters and
    buffers that are not in ``own`` (another module's tensor passed in as data: a leaf layer
    called on its parent's buffer)."""
    if isinstance(obj, Ref):
        yield obj
    elif isinstance(obj, ParamRef):
        if graph is not None and obj.kind in ("PARAMETER", "BUFFER") and id(_param_tensor(graph.root, obj)) not in own:
            yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _refs(x, graph, own)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _refs(x, graph, own)


def _param_tensor(root, p: ParamRef):
    owner, _, name = p.key.rpartition(".")
    return getattr(root.get_submodule(owner) if owner else root, name)
