"""How a torch layer with a jaxdl counterpart is built and called in generated code.

The jaxdl layer's record (:mod:`jaxdl.layers.torch_layer`) says everything generic: its
constructor's arguments read from the torch module (``torch_arguments``, printed when
they differ from the constructor's defaults), its input layout (``torch_layout``: a
channels-last layer gets its input channels-last and returns it so; a torch-layout one
gets torch's order; ``any`` keeps what comes in) and where its weights live
(``torch_state``). A layer whose call differs from ``self.layer(x)`` has a handler here
(``@layer``): ``Linear`` after a flatten, the recurrent layers' states.
"""

from __future__ import annotations

import ast
import functools

import numpy as np
from flax import nnx

from jaxdl.layers import for_torch_module
from jaxdl.layers.torch_layer import (
    CHANNELS_LAST,
    TORCH,
    UnsupportedSetting,
    constructor,
)
from jaxdl.port import layout as L
from jaxdl.port.capture import Ref, has_state
from jaxdl.port.registry import LAYERS, layer
from jaxdl.port.specs import RNGS, Ctor

# torch layers whose training mode differs from the eval mode that is captured: with no
# jaxdl layer they cannot be ported from their graph (a stub, partial=True)
TRAIN_DEPENDENT = frozenset({
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "InstanceNorm1d", "InstanceNorm2d",
    "InstanceNorm3d", "LSTM", "GRU", "RNN", "MultiheadAttention", "TransformerEncoderLayer",
    "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder", "Transformer", "RReLU", "Dropout",
    "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout", "StochasticDepth"})


# layers with a jaxdl counterpart whose torch forward takes several tensors (query, key,
# value; target and memory): no handler calls them yet
SEVERAL_INPUTS = frozenset({"MultiheadAttention", "TransformerDecoderLayer", "TransformerDecoder"})


def record(m):
    """The jaxdl class for torch module ``m``, or None."""
    return for_torch_module(m)


def is_attribute(m) -> bool:
    """Whether torch layer ``m`` is an attribute of the generated class (a jaxdl layer with
    weights, or one whose training mode differs: Dropout, StochasticDepth); the other
    parameterless layers are written as the functions they compute (``jax.nn.relu(x)``)."""
    if record(m) is None:
        return False
    return has_state(m) or type(m).__name__ in TRAIN_DEPENDENT


def problem(m) -> str:
    """Why ``m`` has no jaxdl layer ('' when it has one): no record, or every setting the
    record cannot mirror, named at once (``num_layers=2, bidirectional=True``)."""
    cls = record(m)
    if cls is None:
        return "no jaxdl layer"
    try:
        cls.torch_arguments(m)
    except UnsupportedSetting as e:
        return ", ".join(e.settings)
    return ""


def spec(m) -> Ctor:
    """``Conv2d(3, 8, 3, padding=1, use_bias=False, rngs=rngs)`` for a torch module: its
    required arguments positionally, the others by name (defaults left out when printed)."""
    cls = record(m)
    args = {k: _nested(v) for k, v in cls.torch_arguments(m).items()}
    params = constructor(cls).parameters
    required = [n for n, p in params.items() if p.default is p.empty and p.kind == p.POSITIONAL_OR_KEYWORD]
    kwargs = {k: v for k, v in args.items() if k not in required}
    if "rngs" in params and params["rngs"].default is params["rngs"].empty:
        kwargs["rngs"] = RNGS
    return Ctor(cls.__name__, [args[n] for n in required], kwargs, tuple(required))


def _nested(value):
    """A torch module given as an argument (TransformerEncoder's ``encoder_layer``, a
    ``norm``) as the spec of its jaxdl layer; other values as they are."""
    if hasattr(value, "state_dict") and hasattr(value, "forward"):
        if problem(value):
            raise UnsupportedSetting(type(value).__name__, [problem(value)])
        return spec(value)
    return value


@functools.cache
def _variables(cls, key) -> dict:
    args = dict(key)
    model = nnx.eval_shape(lambda: cls(**args, rngs=nnx.Rngs(0)))
    out = {}
    for rule in model.torch_state():
        var = model
        for part in rule.attr.split("."):
            var = var[int(part)] if part.isdigit() else getattr(var, part)
        shape = tuple(var.get_value().shape)
        probe = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
        torch_side = np.asarray(rule.to_torch(probe))
        perm = None
        if torch_side.shape != shape or not np.array_equal(torch_side, probe):
            perm = next((p for p in _perms(len(shape)) if np.array_equal(probe.transpose(p), torch_side)), "other")
        out[rule.torch_key] = (rule.attr, perm)
    return out


def variables(m) -> dict:
    """{torch state_dict name: (jaxdl attribute, the transpose that gives torch's layout
    or None)} of a layer with a record ("other" where the layouts differ otherwise)."""
    cls = record(m)
    args = cls.torch_arguments(m)
    return _variables(cls, tuple(sorted((k, _hashable(v)) for k, v in args.items())))


def _hashable(v):
    return tuple(_hashable(x) for x in v) if isinstance(v, (list, tuple)) else v


def _perms(n):
    import itertools

    return itertools.permutations(range(n))


# ---------------------------------------------------------------------------- calls
def call(g, it, m, rel):
    """``self.layer(x)`` with ``x`` in the layout the layer takes (its record's
    ``torch_layout``), or the layer's own handler."""
    handler = LAYERS.get(type(m).__name__)
    if handler is not None:
        return handler(g, it, m, rel)
    if type(m).__name__ in SEVERAL_INPUTS:
        return g.fail(f"nn.{type(m).__name__}, a layer called with several tensors",
                      f"jaxdl.port calls a jaxdl layer with one input so far; port with partial=True and call "
                      f"jaxdl.layers.{type(m).__name__} in the stub by hand", path=it.path)
    x = it.inputs[0]
    lay = record(m).torch_layout
    ndim = len(g.shape(x))
    want = L.channels_last(ndim) if lay == CHANNELS_LAST else L.PLAIN if lay == TORCH else g.lay(x)
    out = it.outputs[0] if it.outputs else None
    out_lay = want
    if out is not None and lay == CHANNELS_LAST:
        out_lay = L.channels_last(len(g.shape(out)))
    emit_call(g, it, rel, g.ref(x, want), out_lay)


def emit_call(g, it, rel, x_expr, layout_out):
    out = it.outputs[0].name if it.outputs else None
    if out:
        g.emit(out, ast.Call(func=rel, args=[x_expr], keywords=[]), layout_out, hint=attr_hint(it.path))


def attr_hint(path: str) -> str:
    last = path.rsplit(".", 1)[-1]
    return last if last.isidentifier() else "out"


@layer("Linear")
def _linear(g, it, m, rel):
    """After a flatten of NHWC images the features are (H, W, C): the Linear's rows are
    permuted when its weights are converted (``torch_flatten``), not the activations."""
    x = it.inputs[0]
    lay = g.lay(x)
    g.linear_calls[it.path] = g.linear_calls.get(it.path, 0) + 1
    if isinstance(lay, L.Flat) and g.linear_calls[it.path] == 1 and it.path not in g.torch_flatten:
        g.torch_flatten[it.path] = lay.chw
        return emit_call(g, it, rel, g.ref(x), L.PLAIN)
    if isinstance(lay, L.Flat) or it.path in g.torch_flatten:
        g.torch_flatten.pop(it.path, None)
        return g.fail("a Linear called on flattened images and on other inputs", path=it.path)
    emit_call(g, it, rel, g.ref(x, L.PLAIN), L.PLAIN)


@layer("LSTM", "GRU", "RNN")
def _rnn(g, it, m, rel):
    """``out, (h, c) = self.lstm(x)`` (``out, h`` for GRU and RNN): the states have torch's
    shapes, (num_layers * num_directions, B, H); a zero initial state is left out."""
    lstm = type(m).__name__ == "LSTM"
    node = next(n for n in it.nodes if n.target.split(".")[1] in ("lstm", "gru", "rnn_tanh", "rnn_relu"))
    x, hx = node.args[0], node.args[1]
    hx = list(hx) if isinstance(hx, (list, tuple)) else [hx]
    args = [g.ref(x, L.PLAIN)]
    inside = {n.name: n for n in it.nodes}
    zeros_inside = all(isinstance(h, Ref) and h.name in inside and inside[h.name].target.split(".")[1] in
                       ("zeros", "new_zeros") for h in hx)
    if any(isinstance(h, Ref) and h.name in inside for h in hx) and not zeros_inside:
        return g.fail(f"nn.{type(m).__name__} with an initial state built inside the layer", path=it.path)
    if not zeros_inside and not all(g.is_zeros(h) for h in hx):
        hs = [g.ref(h, L.PLAIN) for h in hx]
        args.append(ast.Tuple(elts=hs, ctx=ast.Load()) if lstm else hs[0])
    getitems = {n.args[1]: n.name for n in it.nodes if n.target == "getitem" and isinstance(n.args[0], Ref)
                and n.args[0].name == node.name}
    outs = {o.name for o in it.outputs}
    names = [getitems.get(i) if getitems.get(i) in outs else None for i in range(3 if lstm else 2)]
    for nm in names:
        if nm is not None:
            g.layout[nm] = L.PLAIN
    g.emit_tuple(names, ast.Call(func=rel, args=args, keywords=[]), [0, [1, 2]] if lstm else [0, 1],
                 hint=attr_hint(it.path))
