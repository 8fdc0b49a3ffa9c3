"""How a torch layer with a jaxdl counterpart is built and called in generated code.

The jaxdl layer's record (:mod:`jaxdl.layers.torch_layer`) says everything generic: its
constructor's arguments read from the torch module (``torch_arguments``, printed when
they differ from the constructor's defaults), its input layout (``torch_layout``: a
channels-last layer gets its input channels-last and returns it so; a torch-layout one
gets torch's order; ``any`` keeps what comes in) and where its weights live
(``torch_state``). A layer whose call differs from ``self.layer(x)`` has a handler here
(``@layer``): ``Linear`` after a flatten, the recurrent layers' states, attention and the
transformer layers (their inputs and masks read back from the ops of the call).
"""

from __future__ import annotations

import ast
import dataclasses
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
from jaxdl.port.capture import ParamRef, Ref, has_state
from jaxdl.port.expr import X, const, is_symint
from jaxdl.port.registry import LAYERS, layer, op_name
from jaxdl.port.specs import RNGS, Ctor

# torch layers whose training mode differs from the eval mode that is captured: with no
# jaxdl layer they cannot be ported from their graph (a stub, partial=True)
TRAIN_DEPENDENT = frozenset({
    "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm", "InstanceNorm1d", "InstanceNorm2d",
    "InstanceNorm3d", "LSTM", "GRU", "RNN", "MultiheadAttention", "TransformerEncoderLayer",
    "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder", "Transformer", "RReLU", "Dropout",
    "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout", "StochasticDepth"})


# layers with a jaxdl counterpart whose torch forward takes several tensors and that no
# handler calls yet (MultiheadAttention and the transformer layers have theirs below)
SEVERAL_INPUTS: frozenset = frozenset()


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


# ---------------------------------------------------------------------------- attention
# Where the arguments of an nn.MultiheadAttention call went, read back from the ops of the
# call (torch's F.multi_head_attention_forward): query, key and value are the inputs of
# the in-projections (``linear`` on in_proj_weight or q/k/v_proj_weight; one call for
# self-attention, two when key is value), after the transposes of batch_first and the
# unsqueezes of unbatched input; the masks are what feeds the attention op's mask
# (``scaled_dot_product_attention`` with need_weights=False, ``baddbmm`` with True): the
# key padding mask through its ``view(N, 1, 1, S).expand(...)``, attn_mask without.
_INPUT_STEPS = frozenset({"transpose", "unsqueeze"})
_WEIGHT_STEPS = frozenset({"getitem", "split", "split_with_sizes", "chunk", "unsafe_split", "unsafe_chunk", "slice",
                           "select", "narrow"})
_MASK_STEPS = frozenset({"view", "reshape", "_unsafe_view", "unsqueeze", "squeeze", "clone", "contiguous",
                         "zeros_like", "masked_fill", "constant_pad_nd", "pad", "_to_copy", "to", "alias", "detach",
                         "lift_fresh_copy"})
_OUTPUT_STEPS = frozenset({"view", "reshape", "_unsafe_view", "transpose", "squeeze", "clone", "contiguous", "mean"})


@dataclasses.dataclass
class _Attention:
    """One nn.MultiheadAttention call inside a leaf's ops: the values that went in as query,
    key, value (a Ref or ParamRef from outside the leaf, or a Ref to an op inside it), its
    masks (from outside, or None), whether it computed the weights, whether torch's
    ``is_causal`` hint replaced attn_mask, and the names of its output and weights values."""

    query: object
    key: object
    value: object
    key_padding_mask: object
    attn_mask: object
    need_weights: bool
    causal: bool
    output: str | None
    weights: str | None


class _Ops:
    """The ops of one leaf call (``it.nodes``), with what reads what, and the leaf's own
    weights by their names under the leaf (``self_attn.in_proj_weight``)."""

    def __init__(self, g, it, m):
        self.g, self.it, self.m, self.nodes = g, it, m, list(it.nodes)
        self.inside = {n.name: n for n in self.nodes}
        tensors = dict(m.named_parameters(remove_duplicate=False))
        tensors.update(m.named_buffers(remove_duplicate=False))
        self.own = {}
        for name, t in tensors.items():
            self.own.setdefault(id(t), name)
        self.readers: dict[str, list] = {}
        for n in self.nodes:
            if self.is_tensor(Ref(n.name)):
                for r in _refs((n.args, n.kwargs)):
                    self.readers.setdefault(r.name, []).append(n)

    def is_tensor(self, v) -> bool:
        if isinstance(v, ParamRef):
            return True
        val = self.g.g.values.get(v.name) if isinstance(v, Ref) else None
        return hasattr(val, "shape") and not is_symint(val)

    def own_name(self, v) -> str | None:
        """The name under the leaf of one of its own parameters or buffers, else None."""
        if not isinstance(v, ParamRef) or v.kind == "CONSTANT_TENSOR":
            return None
        owner, _, attr = v.key.rpartition(".")
        root = self.g.g.root
        t = getattr(root.get_submodule(owner) if owner else root, attr, None)
        return self.own.get(id(t))

    def external(self, v) -> bool:
        """A tensor that comes from outside the call (a value of the caller, its weights)."""
        if isinstance(v, ParamRef):
            return self.own_name(v) is None
        return isinstance(v, Ref) and v.name not in self.inside and self.is_tensor(v)

    def externals(self) -> list:
        out = []
        for n in self.nodes:
            for v in _refs((n.args, n.kwargs), params=True):
                if self.external(v) and v not in out:
                    out.append(v)
        return out

    def source(self, v, steps):
        """``v`` followed back through ops in ``steps`` (on their first argument)."""
        while isinstance(v, Ref) and v.name in self.inside and op_name(self.inside[v.name].target) in steps:
            v = self.inside[v.name].args[0]
        return v

    def input_of(self, n, batch_first: bool):
        """What went into the layer as the input of in-projection ``n``: back through the
        transpose of batch_first or the unsqueeze of unbatched input, exactly those."""
        v, walked = n.args[0], []
        while isinstance(v, Ref) and v.name in self.inside and op_name(self.inside[v.name].target) in _INPUT_STEPS:
            step = self.inside[v.name]
            walked.append((op_name(step.target), *step.args[1:]))
            v = step.args[0]
        unbatched = len(self.g.shape(v)) == 2
        if walked != ([("unsqueeze", 1)] if unbatched else [("transpose", 1, 0)] if batch_first else []):
            raise ValueError("an input reshaped inside the layer in a way torch's layer does not ("
                             + ", ".join(w[0] for w in walked) + ")")
        return v

    def last(self, n, steps) -> str:
        """The value at the end of the chain of ops in ``steps`` that alone read ``n``."""
        while True:
            rs = self.readers.get(n.name, [])
            if len(rs) != 1 or op_name(rs[0].target) not in steps:
                return n.name
            n = rs[0]

    def masks(self, v, found: list, padding: bool = False):
        """The masks from outside that feed the attention op's mask ``v``: (mask, whether it
        went through the key padding mask's ``expand``); raises ValueError for another op."""
        if v is None:
            return
        if self.external(v):
            found.append((v, padding))
            return
        n = self.inside.get(v.name) if isinstance(v, Ref) else None
        if n is None:
            raise ValueError(f"a mask that is not a tensor ({v!r})")
        op = op_name(n.target)
        if op == "add":  # attn_mask + key_padding_mask
            for a in n.args[:2]:
                self.masks(a, found, padding)
        elif op == "expand":
            self.masks(n.args[0], found, True)
        elif op in _MASK_STEPS:
            self.masks(n.args[0], found, padding)
        else:
            raise ValueError(f"a mask computed inside the layer (aten.{op})")

    def attention(self, prefix: str) -> _Attention:
        """The call of the nn.MultiheadAttention at ``prefix`` (``''``, ``self_attn.``) in
        these ops; raises ValueError with what was not recognised."""
        proj, out_proj = [], None
        for i, n in enumerate(self.nodes):
            if op_name(n.target) != "linear":
                continue
            w = self.own_name(self.source(n.args[1], _WEIGHT_STEPS))
            if w is not None and w.startswith(prefix) and w[len(prefix):] in (
                    "in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight"):
                proj.append((w[len(prefix):], i, n))
            elif w == prefix + "out_proj.weight" and proj and out_proj is None:
                out_proj = (i, n)
        if not proj:
            raise ValueError("a call whose in-projections were not found in the graph")
        batch_first = bool(self.m.get_submodule(prefix.rstrip(".")).batch_first)
        ins = {w: self.input_of(n, batch_first) for w, _, n in proj}
        # where only the weights are read, the value's projection is not in the graph: the
        # weights do not depend on the value, and key stands in for it (packed weights:
        # key and value have one shape)
        if [w for w, _, _ in proj] == ["in_proj_weight"]:  # query is key is value: one projection
            q = k = v = ins["in_proj_weight"]
        elif all(w == "in_proj_weight" for w, _, _ in proj) and len(proj) in (2, 3):  # (q, kv) or (q, k, v)
            srcs = [self.input_of(n, batch_first) for _, _, n in proj]
            q, k, v = srcs if len(srcs) == 3 else (srcs[0], srcs[1], srcs[1])
        elif sorted(ins) == ["k_proj_weight", "q_proj_weight", "v_proj_weight"] and len(proj) == 3:
            q, k, v = ins["q_proj_weight"], ins["k_proj_weight"], ins["v_proj_weight"]
        elif out_proj is None and sorted(ins) == ["k_proj_weight", "q_proj_weight"]:
            raise ValueError("kdim or vdim, and only the weights read (the value is not in the graph)")
        else:
            raise ValueError("in-projections that are not torch's (" + ", ".join(w for w, _, _ in proj) + ")")
        span = self.nodes[proj[-1][1] + 1:out_proj[0] if out_proj else len(self.nodes)]
        ops = {}
        for n in span:
            ops.setdefault(op_name(n.target), n)
        causal = False
        if "scaled_dot_product_attention" in ops:
            sdpa = ops["scaled_dot_product_attention"]
            need_weights, mask, causal = False, sdpa.arg("attn_mask"), bool(sdpa.arg("is_causal"))
            if sdpa.arg("dropout_p") or sdpa.arg("scale") is not None or sdpa.arg("enable_gqa"):
                raise ValueError("a scaled_dot_product_attention with arguments torch's layer does not pass")
        elif "baddbmm" in ops:
            need_weights, mask = True, ops["baddbmm"].args[0]
        elif "softmax" in ops and "bmm" in ops:
            need_weights, mask = True, None
        else:
            raise ValueError("an attention op that is not torch's (no scaled_dot_product_attention or softmax)")
        found: list = []
        self.masks(mask, found)
        padding = list(dict.fromkeys(m for m, p in found if p))
        attn = list(dict.fromkeys(m for m, p in found if not p))
        if len(padding) > 1 or len(attn) > 1:
            raise ValueError("masks that are sums of several tensors")
        weights = None
        if need_weights:
            views = [r for r in self.readers.get(ops["softmax"].name, []) if op_name(r.target) == "view"]
            weights = self.last(views[0], _OUTPUT_STEPS) if views else None
        output = self.last(out_proj[1], _OUTPUT_STEPS) if out_proj else None  # None: only the weights read
        return _Attention(q, k, v, padding[0] if padding else None, attn[0] if attn else None, need_weights,
                          causal, output, weights)


def _refs(obj, params: bool = False):
    if isinstance(obj, Ref) or params and isinstance(obj, ParamRef):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for x in obj:
            yield from _refs(x, params)
    elif isinstance(obj, dict):
        for x in obj.values():
            yield from _refs(x, params)


def _causal_mask(L, S) -> ast.expr:
    """torch's causal mask, -inf above the diagonal (``generate_square_subsequent_mask``):
    where the ``is_causal`` hint made torch drop attn_mask from the graph."""
    return X("jnp.triu(jnp.full((L, S), -jnp.inf), 1)", L=L, S=S)


def _seq(g, x, batch_first: bool):
    """The sequence length of ``x``, (N, L, E) with batch_first, (L, N, E) or (L, E)."""
    return g.size(x, 1 if batch_first and len(g.shape(x)) == 3 else 0)


def _keywords(g, pairs) -> list:
    """Keyword arguments from (name, value) pairs, None left out: tensors in torch's layout."""
    def expr(v):
        if isinstance(v, ast.AST):
            return v
        return g.ref(v, L.PLAIN) if isinstance(v, (Ref, ParamRef)) else const(v)

    return [ast.keyword(arg=k, value=expr(v)) for k, v in pairs if v is not None]


def _label(v) -> str:
    return v.key if isinstance(v, ParamRef) else getattr(v, "name", str(v))


def _tensor_outputs(ops: _Ops) -> list:
    return [o for o in ops.it.outputs if isinstance(o, Ref) and ops.is_tensor(o)]


@layer("MultiheadAttention")
def _multihead_attention(g, it, m, rel):
    """``out, weights = self.attn(q, k, v, key_padding_mask=..., attn_mask=...)`` (``x, _ =``
    where the caller reads one; the weights are None with ``need_weights=False``)."""
    ops = _Ops(g, it, m)
    try:
        a = ops.attention("")
    except ValueError as e:
        return g.fail(f"nn.MultiheadAttention with {e}", path=it.path)
    if not all(ops.external(x) for x in (a.query, a.key, a.value)):
        return g.fail("nn.MultiheadAttention whose query, key or value was not found among its inputs", path=it.path)
    placed = [a.query, a.key, a.value, a.key_padding_mask, a.attn_mask]
    extra = [v for v in ops.externals() if v not in placed]
    if extra:
        return g.fail(f"nn.MultiheadAttention with an input the porter cannot place ({_label(extra[0])})",
                      path=it.path)
    outputs = _tensor_outputs(ops)
    names = [None, None]
    for o in outputs:
        if o.name not in (a.output, a.weights):
            return g.fail("nn.MultiheadAttention with a value read from inside the layer", path=it.path)
        names[0 if o.name == a.output else 1] = o.name
    batched = len(g.shape(a.query)) == 3
    average = None
    if a.weights is not None and names[1] is not None:
        average = None if len(g.shape(Ref(a.weights))) == (3 if batched else 2) else False
    attn_mask = a.attn_mask
    if a.causal:  # the hint replaced attn_mask, which is not in the graph: torch's causal mask stands in
        attn_mask = _causal_mask(_seq(g, a.query, m.batch_first), _seq(g, a.key, m.batch_first))
    kw = _keywords(g, [("key_padding_mask", a.key_padding_mask), ("need_weights", None if a.need_weights else False),
                       ("attn_mask", attn_mask), ("average_attn_weights", average),
                       ("is_causal", True if a.causal else None)])
    expr = ast.Call(func=rel, args=[g.ref(x, L.PLAIN) for x in (a.query, a.key, a.value)], keywords=kw)
    for nm in names:
        if nm is not None:
            g.layout[nm] = L.PLAIN
    g.emit_tuple(names, expr, [0, 1], hint=attr_hint(it.path))


@layer("TransformerEncoderLayer", "TransformerEncoder", "TransformerDecoderLayer", "TransformerDecoder")
def _transformer(g, it, m, rel):
    """``self.encoder(src, mask=..., src_key_padding_mask=...)`` /
    ``self.decoder(tgt, memory, tgt_mask=..., memory_key_padding_mask=...)``: the masks read
    from the attention calls inside (every layer of a stack must agree)."""
    cls = type(m).__name__
    decoder = cls.startswith("TransformerDecoder")
    layers = [f"layers.{i}." for i in range(len(m.layers))] if hasattr(m, "layers") else [""]
    blocks = ["self_attn", "multihead_attn"] if decoder else ["self_attn"]
    ops = _Ops(g, it, m)
    seen: dict = {}
    try:
        for prefix in layers:
            for block in blocks:
                a = ops.attention(f"{prefix}{block}.")
                if a.need_weights:
                    raise ValueError(f"{block} computing attention weights")
                got = (a.key_padding_mask, a.attn_mask, a.causal, a.key if block == "multihead_attn" else None)
                if block == "multihead_attn" and not (ops.external(a.key) and a.value == a.key):
                    raise ValueError("a memory that was not found among its inputs")
                if seen.setdefault(block, got) != got:
                    raise ValueError(f"layers whose {block} got different masks")
    except ValueError as e:
        return g.fail(f"nn.{cls} with {e}", path=it.path)
    sa = seen["self_attn"]
    memory = seen["multihead_attn"][3] if decoder else None
    masks = [v for got in seen.values() for v in got[:2] if v is not None]
    rest = [v for v in ops.externals() if v not in masks and v != memory]
    if len(rest) > 1 or not rest and memory is None:
        return g.fail(f"nn.{cls} with inputs the porter cannot place ({', '.join(map(_label, rest)) or 'none'})",
                      path=it.path)
    x = rest[0] if rest else memory  # decoder(x, x): the target is the memory
    batch_first = bool(m.layers[0].self_attn.batch_first if hasattr(m, "layers") else m.self_attn.batch_first)
    T = _seq(g, x, batch_first)

    def attn_mask(got, S):
        return _causal_mask(T, S) if got[2] else got[1]

    if decoder:
        ma = seen["multihead_attn"]
        args = [g.ref(x, L.PLAIN), g.ref(memory, L.PLAIN)]
        kw = _keywords(g, [("tgt_mask", attn_mask(sa, T)), ("memory_mask", attn_mask(ma, _seq(g, memory, batch_first))),
                           ("tgt_key_padding_mask", sa[0]), ("memory_key_padding_mask", ma[0]),
                           ("tgt_is_causal", True if sa[2] else None), ("memory_is_causal", True if ma[2] else None)])
    else:
        stack = cls == "TransformerEncoder"
        args = [g.ref(x, L.PLAIN)]
        kw = _keywords(g, [("mask" if stack else "src_mask", attn_mask(sa, T)), ("src_key_padding_mask", sa[0]),
                           ("is_causal", True if sa[2] else None)])
    outputs = _tensor_outputs(ops)
    if len(outputs) > 1:
        return g.fail(f"nn.{cls} with a value read from inside the layer", path=it.path)
    if outputs:
        g.emit(outputs[0].name, ast.Call(func=rel, args=args, keywords=kw), L.PLAIN, hint=attr_hint(it.path))
