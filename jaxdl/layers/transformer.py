"""Transformer layers (torch: ``nn.TransformerEncoderLayer``, ``nn.TransformerDecoderLayer``,
``nn.TransformerEncoder``, ``nn.TransformerDecoder``), with torch's submodule names so
that ``jaxdl.interop`` maps their state_dict keys one to one (``layers.0.self_attn.in_proj_weight``,
``layers.1.linear2.bias``, ``norm.weight``)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl.layers.attention import MultiheadAttention
from jaxdl.layers.dropout import Dropout
from jaxdl.layers.linear import Linear
from jaxdl.layers.norm import LayerNorm
from jaxdl.layers.torch_layer import TORCH, Rule, refuse, torch_layer

_ACTIVATIONS = {"relu": jax.nn.relu, "gelu": functools.partial(jax.nn.gelu, approximate=False)}


def generate_square_subsequent_mask(size: int, dtype=jnp.float32) -> jax.Array:
    """torch: ``nn.Transformer.generate_square_subsequent_mask(size)``: the float causal mask,
    0 on and below the diagonal, -inf above (query i sees keys 0..i)."""
    return jnp.where(jnp.tril(jnp.ones((size, size), bool)), jnp.zeros((), dtype), jnp.array(-jnp.inf, dtype))


def _torch_activation(act) -> str | None:
    """torch's activation of a transformer layer as jaxdl names it: F.relu / nn.ReLU() ->
    "relu", F.gelu / nn.GELU() -> "gelu"; None for anything else."""
    name = getattr(act, "__name__", None) or type(act).__name__.lower()
    if name in ("relu", "gelu") and getattr(act, "approximate", "none") == "none":
        return name
    return None


def _activation(activation: str | Callable) -> Callable:
    if callable(activation):
        return activation
    if activation not in _ACTIVATIONS:
        raise ValueError(f"activation should be 'relu', 'gelu' or a callable, not {activation!r} "
                         "(torch raises the same)")
    return _ACTIVATIONS[activation]


class _Layer(nnx.Module):
    """What the encoder and decoder layers share: their parts, in torch's order, and blocks."""

    cross_attention: ClassVar[bool] = False  # TransformerDecoderLayer: attention over the memory too

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048, dropout: float = 0.1,
                 activation: str | Callable = "relu", layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, use_bias: bool = True, *, rngs: nnx.Rngs):
        self.d_model, self.nhead, self.dim_feedforward, self.dropout_p = d_model, nhead, dim_feedforward, dropout
        self.activation = _activation(activation)
        self.activation_name = activation if isinstance(activation, str) else None
        self.layer_norm_eps, self.batch_first, self.norm_first, self.use_bias = \
            layer_norm_eps, batch_first, norm_first, use_bias
        for name in ("self_attn", "multihead_attn") if self.cross_attention else ("self_attn",):
            setattr(self, name, MultiheadAttention(d_model, nhead, dropout=dropout, use_bias=use_bias,
                                                   batch_first=batch_first, rngs=rngs))
        self.linear1 = Linear(d_model, dim_feedforward, use_bias=use_bias, rngs=rngs)
        self.dropout = Dropout(dropout, rngs=rngs)
        self.linear2 = Linear(dim_feedforward, d_model, use_bias=use_bias, rngs=rngs)
        blocks = range(1, 4 if self.cross_attention else 3)
        for i in blocks:
            setattr(self, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, use_bias=use_bias, rngs=rngs))
        for i in blocks:
            setattr(self, f"dropout{i}", Dropout(dropout, rngs=rngs))

    def _sa_block(self, x, mask, key_padding_mask, is_causal):
        x = self.self_attn(x, x, x, attn_mask=mask, key_padding_mask=key_padding_mask, need_weights=False,
                           is_causal=is_causal)[0]
        return self.dropout1(x)

    @classmethod
    def torch_arguments(cls, m) -> dict:
        act = _torch_activation(m.activation)
        refuse(m, cls, act is None and f"activation={m.activation!r} (jaxdl mirrors 'relu' and 'gelu')")
        return {"d_model": m.self_attn.embed_dim, "nhead": m.self_attn.num_heads,
                "dim_feedforward": m.linear1.out_features, "dropout": float(m.dropout.p), "activation": act,
                "layer_norm_eps": m.norm1.eps, "batch_first": bool(m.self_attn.batch_first),
                "norm_first": bool(m.norm_first), "use_bias": m.linear1.bias is not None}

    def torch_state(self) -> list[Rule]:
        return []  # every weight is in a submodule with its own record (self_attn, linear1, norm1, ...)

    def _ff_block(self, x):
        return self.linear2(self.dropout(self.activation(self.linear1(x))))


@torch_layer("TransformerEncoderLayer", layout=TORCH)
class TransformerEncoderLayer(_Layer):
    """torch: ``nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation='relu', layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``
    (``use_bias`` is torch's ``bias``): self-attention and a feed-forward block, each
    with dropout, a residual connection and a LayerNorm (before the block with
    ``norm_first``, after the residual otherwise). "gelu" is the exact (erf) GELU as
    torch's (``jax.nn.gelu`` defaults to the tanh approximation); a callable is applied
    as it is. Submodules as torch's: self_attn, linear1, dropout, linear2, norm1, norm2,
    dropout1, dropout2.

    Args:
        src: (S, N, E), (N, S, E) with ``batch_first``, or unbatched (S, E).
        src_mask: (S, S) or (N * nhead, S, S), bool (True = not attended) or float (added).
        src_key_padding_mask: (N, S) (unbatched: (S,)), bool (True = padding) or float.
        is_causal: torch's hint that ``src_mask`` is the causal mask (see :class:`MultiheadAttention`).

    Returns:
        the output, shaped as ``src``.
    """

    def __call__(self, src: jax.Array, src_mask: jax.Array | None = None,
                 src_key_padding_mask: jax.Array | None = None, is_causal: bool = False) -> jax.Array:
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal)
            return x + self.dropout2(self._ff_block(self.norm2(x)))
        x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self.dropout2(self._ff_block(x)))


@torch_layer("TransformerDecoderLayer", layout=TORCH)
class TransformerDecoderLayer(_Layer):
    """torch: ``nn.TransformerDecoderLayer(d_model, nhead, dim_feedforward=2048, dropout=0.1,
    activation='relu', layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True)``
    (``use_bias`` is torch's ``bias``): self-attention, attention over ``memory``, and a
    feed-forward block, each with dropout, a residual and a LayerNorm, as
    :class:`TransformerEncoderLayer`. Submodules as torch's: self_attn, multihead_attn,
    linear1, dropout, linear2, norm1, norm2, norm3, dropout1, dropout2, dropout3.

    Args:
        tgt: (T, N, E), (N, T, E) with ``batch_first``, or unbatched (T, E).
        memory: (S, N, E) likewise, the encoder's output.
        tgt_mask, memory_mask: (T, T) / (T, S) or per batch and head, bool (True = not
            attended) or float; tgt_key_padding_mask (N, T), memory_key_padding_mask (N, S).
        tgt_is_causal, memory_is_causal: torch's hints that the masks are causal.

    Returns:
        the output, shaped as ``tgt``.
    """

    cross_attention = True

    def _mha_block(self, x, memory, mask, key_padding_mask, is_causal):
        x = self.multihead_attn(x, memory, memory, attn_mask=mask, key_padding_mask=key_padding_mask,
                                need_weights=False, is_causal=is_causal)[0]
        return self.dropout2(x)

    def __call__(self, tgt: jax.Array, memory: jax.Array, tgt_mask: jax.Array | None = None,
                 memory_mask: jax.Array | None = None, tgt_key_padding_mask: jax.Array | None = None,
                 memory_key_padding_mask: jax.Array | None = None, tgt_is_causal: bool = False,
                 memory_is_causal: bool = False) -> jax.Array:
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            return x + self.dropout3(self._ff_block(self.norm3(x)))
        x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
        x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
        return self.norm3(x + self.dropout3(self._ff_block(x)))


def _clones(layer: nnx.Module, n: int) -> nnx.List:
    """torch's ``_get_clones``: ``n`` deep copies of ``layer``, equal weights at the start
    as torch's. Each copy's RNG streams are folded with its index, so that dropout draws
    differ from layer to layer (torch draws them all from one global generator)."""
    copies = []
    for i in range(n):
        copy = nnx.clone(layer)
        keys = nnx.state(copy, nnx.RngKey)
        nnx.update(copy, jax.tree.map(lambda k, i=i: jax.random.fold_in(k, i), keys))
        for path, module in nnx.iter_modules(layer):  # nnx.clone sorts the attributes by name: keep
            attrs = vars(_at(copy, path))             # the layer's order, torch's state_dict order
            for name in [a for a in vars(module) if a in attrs]:
                attrs[name] = attrs.pop(name)
        copies.append(copy)
    return nnx.List(copies)


def _at(module: nnx.Module, path: tuple) -> nnx.Module:
    for p in path:
        module = module[p] if isinstance(p, int) else getattr(module, p)
    return module


@torch_layer("TransformerEncoder", layout=TORCH)
class TransformerEncoder(nnx.Module):
    """torch: ``nn.TransformerEncoder(encoder_layer, num_layers, norm=None,
    enable_nested_tensor=True, mask_check=True)``: ``num_layers`` copies of
    ``encoder_layer`` (equal at the start, as torch's deep copies) in ``layers``, then
    ``norm`` if given.

    torch's inference fast path: in eval mode under ``torch.no_grad``, with
    ``enable_nested_tensor``, a ``src_key_padding_mask``, no ``mask``, and a batch-first
    post-norm layer with "relu"/"gelu", biases and an even nhead, torch runs on nested
    tensors and returns zeros at padded positions (then ``norm``), where train mode or
    autograd give the computed values. jaxdl's eval mode (``model.eval()``) gives torch's
    inference output, zeros included; train mode the computed values. Positions that are
    not padding are the same either way. With ``mask_check`` (as torch) this applies only
    when every sequence's padding is at its end.

    Float masks with values other than 0 and -inf: torch 2.13's inference fast paths
    (eval, ``no_grad``) disagree with its own regular path (a key padding mask's nonzero
    entries are taken as padding; an encoder layer's ``src_mask`` gives NaN); jaxdl
    computes torch's regular path, as torch does in train mode or with autograd.

    Args:
        src: (S, N, E), (N, S, E) with ``batch_first``, or unbatched (S, E).
        mask: (S, S) or (N * nhead, S, S), bool (True = not attended) or float.
        src_key_padding_mask: (N, S), bool (True = padding) or float.
        is_causal: torch's hint that ``mask`` is causal; torch's default None (detect it)
            computes the same as False here, as the hint does not change the result.

    Returns:
        the output, shaped as ``src``.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int, norm: nnx.Module | None = None,
                 enable_nested_tensor: bool = True, mask_check: bool = True):
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm
        self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check
        self.use_nested_tensor = enable_nested_tensor and _sparsity_fast_path(encoder_layer)
        self.deterministic = False  # eval mode (set by model.eval()): torch's inference fast path

    @classmethod
    def torch_arguments(cls, m) -> dict:
        """``encoder_layer`` and ``norm`` are torch modules: build their jaxdl layers from their
        own records (``for_torch_module``)."""
        return {"encoder_layer": m.layers[0], "num_layers": m.num_layers, "norm": m.norm,
                "enable_nested_tensor": bool(m.enable_nested_tensor),
                "mask_check": bool(getattr(m, "mask_check", True))}

    def torch_state(self) -> list[Rule]:
        return []  # layers.N and norm have their own records

    def __call__(self, src: jax.Array, mask: jax.Array | None = None,
                 src_key_padding_mask: jax.Array | None = None, is_causal: bool | None = None) -> jax.Array:
        padded = None
        if (self.use_nested_tensor and src_key_padding_mask is not None and mask is None and src.ndim == 3
                and self.deterministic):
            kpm = jnp.asarray(src_key_padding_mask)
            padded = kpm if kpm.dtype == jnp.bool_ else kpm == -jnp.inf  # (N, S): the positions torch leaves out
            if self.mask_check:  # torch: only when every sequence's padding is at its end
                padded = padded & jnp.all(padded[:, 1:] >= padded[:, :-1])
        output = src
        for layer in self.layers:
            output = layer(output, src_mask=mask, src_key_padding_mask=src_key_padding_mask,
                           is_causal=bool(is_causal))
        if padded is not None:  # the fast path needs batch_first: (N, S, E)
            output = jnp.where(padded[..., None], jnp.zeros((), output.dtype), output)
        return output if self.norm is None else self.norm(output)


def _sparsity_fast_path(layer) -> bool:
    """torch's conditions (``TransformerEncoder.__init__``) for running on nested tensors."""
    return (isinstance(layer, TransformerEncoderLayer) and not layer.norm_first and layer.batch_first
            and layer.self_attn.packed and layer.self_attn.in_proj_bias is not None
            and layer.activation_name in ("relu", "gelu") and layer.norm1.eps == layer.norm2.eps
            and layer.nhead % 2 == 0)


@torch_layer("TransformerDecoder", layout=TORCH)
class TransformerDecoder(nnx.Module):
    """torch: ``nn.TransformerDecoder(decoder_layer, num_layers, norm=None)``: ``num_layers``
    copies of ``decoder_layer`` (equal at the start, as torch's deep copies) in
    ``layers``, then ``norm`` if given.

    Args:
        tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask, memory_key_padding_mask,
        tgt_is_causal, memory_is_causal: as :class:`TransformerDecoderLayer` (torch's
        default ``tgt_is_causal=None``, detect it, computes the same as False here).

    Returns:
        the output, shaped as ``tgt``.
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm: nnx.Module | None = None):
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers, self.norm = num_layers, norm

    @classmethod
    def torch_arguments(cls, m) -> dict:
        """``decoder_layer`` and ``norm`` are torch modules, as :meth:`TransformerEncoder.torch_arguments`."""
        return {"decoder_layer": m.layers[0], "num_layers": m.num_layers, "norm": m.norm}

    def torch_state(self) -> list[Rule]:
        return []  # layers.N and norm have their own records

    def __call__(self, tgt: jax.Array, memory: jax.Array, tgt_mask: jax.Array | None = None,
                 memory_mask: jax.Array | None = None, tgt_key_padding_mask: jax.Array | None = None,
                 memory_key_padding_mask: jax.Array | None = None, tgt_is_causal: bool | None = None,
                 memory_is_causal: bool = False) -> jax.Array:
        output = tgt
        for layer in self.layers:
            output = layer(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                           tgt_key_padding_mask=tgt_key_padding_mask,
                           memory_key_padding_mask=memory_key_padding_mask,
                           tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        return output if self.norm is None else self.norm(output)
