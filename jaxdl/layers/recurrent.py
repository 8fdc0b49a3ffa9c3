"""Recurrent layers (torch: ``nn.LSTM``, ``nn.GRU``, ``nn.RNN``): stacked, bidirectional,
two biases per layer and direction, torch's gate order, init and return structure.

Parameters, one per torch tensor, named after torch's with ``weight`` -> ``w``, ``bias``
-> ``b`` and layer 0's ``_l0`` dropped (so a one-layer LSTM keeps ``w_ih``, ``w_hh``,
``b_ih``, ``b_hh``)::

    torch weight_ih_l{k}{_reverse} (G*H, in)   <-> w_ih{_lk}{_reverse} (in, G*H) = weight.T
    torch weight_hh_l{k}{_reverse} (G*H, P)    <-> w_hh{_lk}{_reverse} (P, G*H) = weight.T
    torch bias_ih_l{k}{_reverse} / bias_hh_...  <-> b_ih... / b_hh... (G*H,)
    torch weight_hr_l{k}{_reverse} (P, H)       <-> w_hr{_lk}{_reverse} (H, P) = weight.T (LSTM proj_size)

with G the gates (LSTM 4: i, f, g, o; GRU 3: r, z, n; RNN 1), H = hidden_size and P =
proj_size or H. Each layer and direction is one ``lax.scan``, with the input projections
of all steps in one matmul before it; a bidirectional layer runs both directions in the
same scan (their recurrent matmuls batched over the direction axis).
"""

from __future__ import annotations

from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from jaxdl.init import torch_default_init
from jaxdl.layers.dropout import Dropout
from jaxdl.layers.torch_layer import SAME, TORCH, TRANSPOSED, Rule, refuse, torch_layer

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


def _suffix(layer: int, direction: int) -> str:
    """jaxdl's attribute suffix of a layer and direction (torch's without ``_l0``)."""
    return (f"_l{layer}" if layer else "") + ("_reverse" if direction else "")


def torch_suffix(layer: int, direction: int) -> str:
    """torch's state_dict suffix (``_l1_reverse``)."""
    return f"_l{layer}" + ("_reverse" if direction else "")


class _RNNBase(nnx.Module):
    """What torch's ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` share (torch: ``nn.RNNBase``)."""

    mode: ClassVar[str] = "RNN_TANH"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, use_bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, *, rngs: nnx.Rngs):
        name = type(self).__name__
        if isinstance(dropout, bool) or not 0.0 <= dropout < 1.0:
            raise ValueError(f"{name}: dropout must be a probability in [0, 1), got {dropout!r} (torch also "
                             "allows 1, which zeroes every layer's output but the last's; jaxdl refuses it)")
        if hidden_size <= 0 or num_layers <= 0 or input_size <= 0:
            raise ValueError(f"{name}: input_size, hidden_size and num_layers must be positive, got "
                             f"{input_size}, {hidden_size}, {num_layers}")
        if proj_size < 0 or (proj_size and proj_size >= hidden_size):
            raise ValueError(f"{name}: proj_size must be 0 (no projection) or in [1, hidden_size={hidden_size}), "
                             f"got {proj_size} (torch raises the same)")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.use_bias, self.batch_first, self.dropout = use_bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, proj_size
        self.num_directions = 2 if bidirectional else 1
        g, out = _GATES[self.mode] * hidden_size, proj_size or hidden_size
        init = torch_default_init(hidden_size)  # torch: every weight and bias U(+-1/sqrt(hidden_size))
        for layer in range(num_layers):
            fan_in = input_size if layer == 0 else out * self.num_directions
            for d in range(self.num_directions):
                s = _suffix(layer, d)
                setattr(self, f"w_ih{s}", nnx.Param(init(rngs.params(), (fan_in, g))))
                setattr(self, f"w_hh{s}", nnx.Param(init(rngs.params(), (out, g))))
                if use_bias:
                    setattr(self, f"b_ih{s}", nnx.Param(init(rngs.params(), (g,))))
                    setattr(self, f"b_hh{s}", nnx.Param(init(rngs.params(), (g,))))
                if proj_size:
                    setattr(self, f"w_hr{s}", nnx.Param(init(rngs.params(), (hidden_size, proj_size))))
        # between layers, train mode only (torch: F.dropout on each layer's output but the last's)
        self.layer_dropout = Dropout(dropout, rngs=rngs) if dropout and num_layers > 1 else None

    # ---------------------------------------------------------------- torch record
    @classmethod
    def torch_arguments(cls, m) -> dict:
        refuse(m, cls, m.dropout == 1 and "dropout=1 (zeroes every layer's output but the last's)")
        return {"input_size": m.input_size, "hidden_size": m.hidden_size, "num_layers": m.num_layers,
                "use_bias": bool(m.bias), "batch_first": bool(m.batch_first), "dropout": float(m.dropout),
                "bidirectional": bool(m.bidirectional)}

    def torch_state(self) -> list[Rule]:
        """Per layer and direction, in torch's order: weight_ih, weight_hh (transposed),
        bias_ih, bias_hh, weight_hr (transposed); see the module docstring for the names."""
        rules = []
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                t, s = torch_suffix(layer, d), _suffix(layer, d)
                rules += [Rule(f"weight_ih{t}", f"w_ih{s}", *TRANSPOSED),
                          Rule(f"weight_hh{t}", f"w_hh{s}", *TRANSPOSED)]
                if self.use_bias:
                    rules += [Rule(f"bias_ih{t}", f"b_ih{s}", *SAME), Rule(f"bias_hh{t}", f"b_hh{s}", *SAME)]
                if self.proj_size:
                    rules.append(Rule(f"weight_hr{t}", f"w_hr{s}", *TRANSPOSED))
        return rules

    # ---------------------------------------------------------------- forward
    def _check(self, x: jax.Array, hx) -> tuple[bool, list[jax.Array] | None]:
        name = type(self).__name__
        if not hasattr(x, "ndim"):
            raise TypeError(f"{name} takes an array (T, B, {self.input_size}), got {type(x).__name__} "
                            "(torch's PackedSequence has no jaxdl counterpart: pad the batch and slice the "
                            "outputs at each sequence's length)")
        if x.ndim not in (2, 3):
            raise ValueError(f"{name}: expected input to be 2-D (unbatched) or 3-D, got {x.ndim}-D of shape "
                             f"{tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            order = "(B, T, I)" if self.batch_first else "(T, B, I)"
            raise ValueError(f"{name}({self.input_size}, {self.hidden_size}) expects input {order} or (T, I) "
                             f"with I={self.input_size}, got shape {tuple(x.shape)}")
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"{name} expects a floating-point input, got dtype {x.dtype}; convert with "
                            "x.astype(jnp.float32) (torch: .float())")
        batched = x.ndim == 3
        if hx is None:
            return batched, None
        if self.mode == "LSTM" and not (isinstance(hx, (tuple, list)) and len(hx) == 2):
            raise ValueError(f"LSTM expects hx = (h_0, c_0), a pair of arrays, got {type(hx).__name__}")
        states = list(hx) if self.mode == "LSTM" else [hx]
        batch = (x.shape[0] if self.batch_first else x.shape[1]) if batched else None
        sizes = [self.proj_size or self.hidden_size] + ([self.hidden_size] if self.mode == "LSTM" else [])
        for what, h, size in zip(("h_0", "c_0"), states, sizes):
            want = (self.num_layers * self.num_directions,) + ((batch,) if batched else ()) + (size,)
            if tuple(h.shape) != want:
                raise ValueError(f"{name}: expected {what} of shape {want} for {x.ndim}-D input of shape "
                                 f"{tuple(x.shape)} (torch: (num_layers * num_directions, [batch,] hidden)), "
                                 f"got {tuple(h.shape)}")
        return batched, states

    def __call__(self, x: jax.Array, hx=None):
        batched, states = self._check(x, hx)
        x_TBI = (jnp.swapaxes(x, 0, 1) if self.batch_first else x) if batched else x[:, None]
        if states is not None and not batched:
            states = [h[:, None] for h in states]
        L, D, B = self.num_layers, self.num_directions, x_TBI.shape[1]
        if states is None:
            sizes = [self.proj_size or self.hidden_size] + ([self.hidden_size] if self.mode == "LSTM" else [])
            states = [jnp.zeros((L * D, B, n), x_TBI.dtype) for n in sizes]
        finals = []
        for layer in range(L):
            if layer and self.layer_dropout is not None:
                x_TBI = self.layer_dropout(x_TBI)
            x_TBI, last = self._layer(layer, x_TBI, [s[layer * D:(layer + 1) * D] for s in states])
            finals.append(last)
        out = (jnp.swapaxes(x_TBI, 0, 1) if self.batch_first else x_TBI) if batched else x_TBI[:, 0]
        h_n = [jnp.concatenate(parts, axis=0) for parts in zip(*finals)]
        if not batched:
            h_n = [h[:, 0] for h in h_n]
        return out, (tuple(h_n) if self.mode == "LSTM" else h_n[0])

    def _weights(self, layer: int, name: str) -> jax.Array | None:
        """One parameter of ``layer``, stacked over the directions when bidirectional."""
        ws = [getattr(self, f"{name}{_suffix(layer, d)}", None) for d in range(self.num_directions)]
        if ws[0] is None:
            return None
        return ws[0][...] if len(ws) == 1 else jnp.stack([w[...] for w in ws])

    def _layer(self, layer: int, x_TBI: jax.Array, states: list[jax.Array]):
        """One layer, all directions in one scan: (T, B, in) -> (T, B, D*P), final states (D, B, .)."""
        D = self.num_directions
        w_ih, w_hh, b_ih, b_hh, w_hr = (self._weights(layer, n) for n in ("w_ih", "w_hh", "b_ih", "b_hh", "w_hr"))
        if D == 1:
            xs = x_TBI @ w_ih  # (T, B, G*H): every step's input projection in one matmul
            states = [s[0] for s in states]
        else:
            xs = jnp.einsum("tbi,dig->tdbg", x_TBI, w_ih)
            xs = jnp.concatenate([xs[:, :1], xs[::-1, 1:]], axis=1)  # the reverse direction reads time backwards
            b_ih, b_hh = (None if b is None else b[:, None] for b in (b_ih, b_hh))
        if b_ih is not None:
            xs = xs + b_ih
        step = _STEPS[self.mode]

        def scan_step(carry, xt):
            carry = step(xt, carry, w_hh, b_hh, w_hr)
            return carry, carry[0]

        last, ys = lax.scan(scan_step, tuple(states), xs)
        if D == 1:
            return ys, [h[None] for h in last]
        return jnp.concatenate([ys[:, 0], ys[::-1, 1]], axis=-1), list(last)


def _lstm_step(xt, carry, w_hh, b_hh, w_hr):
    h, c = carry
    z = xt + _matmul(h, w_hh, b_hh)
    i, f, g, o = jnp.split(z, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return (h if w_hr is None else h @ w_hr, c)


def _gru_step(xt, carry, w_hh, b_hh, w_hr):
    (h,) = carry
    xr, xz, xn = jnp.split(xt, 3, axis=-1)
    hr, hz, hn = jnp.split(_matmul(h, w_hh, b_hh), 3, axis=-1)
    r, z = jax.nn.sigmoid(xr + hr), jax.nn.sigmoid(xz + hz)
    n = jnp.tanh(xn + r * hn)  # torch: the reset gate scales W_hn h + b_hn
    return ((h - n) * z + n,)  # (1 - z) * n + z * h, in torch's order of operations


def _rnn_step(activation):
    def step(xt, carry, w_hh, b_hh, w_hr):
        (h,) = carry
        return (activation(xt + _matmul(h, w_hh, b_hh)),)
    return step


def _matmul(h, w, b):
    y = h @ w  # (B, P) @ (P, G) or, bidirectional, (D, B, P) @ (D, P, G)
    return y if b is None else y + b


_STEPS = {"LSTM": _lstm_step, "GRU": _gru_step, "RNN_TANH": _rnn_step(jnp.tanh), "RNN_RELU": _rnn_step(jax.nn.relu)}


@torch_layer("LSTM", layout=TORCH)
class LSTM(_RNNBase):
    """torch: ``nn.LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, proj_size=0)`` (``use_bias`` is torch's ``bias``).

    Gates i, f, g, o as torch; ``b_ih`` and ``b_hh`` are separate parameters so that
    training moves both as torch does (folding them into one bias is exact forward but
    doubles their step). ``dropout`` acts on every layer's output but the last's in
    train mode, with masks from the module's RNG stream (``nnx.Rngs(dropout=...)``), so
    they cannot equal torch's. ``nnx.OptimizedLSTMCell`` keeps its carry as (c, h) and
    has one bias.

    Args:
        x: (T, B, input_size), (B, T, input_size) with ``batch_first``, or unbatched (T, input_size).
        hx: optional ``(h_0, c_0)``, each (num_layers * num_directions, B, P / hidden_size)
            (unbatched: without B); zeros when omitted, the notes' "reset the hidden state
            for every sequence".

    Returns:
        ``(output, (h_n, c_n))`` as torch: output (T, B, D * P) (batch first with
        ``batch_first``), h_n (num_layers * D, B, P), c_n (num_layers * D, B, hidden_size),
        with D = 2 if bidirectional else 1 and P = proj_size or hidden_size.
    """

    mode = "LSTM"

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return super().torch_arguments(m) | {"proj_size": m.proj_size}


@torch_layer("GRU", layout=TORCH)
class GRU(_RNNBase):
    """torch: ``nn.GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
    dropout=0.0, bidirectional=False)`` (``use_bias`` is torch's ``bias``).

    Gates r, z, n as torch, with torch's ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``
    (the reset gate after the recurrent matmul; ``nnx.GRUCell`` follows the same formula
    but has one bias per input gate and none on the recurrent side for r and z).
    Two biases, dropout and init as :class:`LSTM`.

    Args:
        x: (T, B, input_size), (B, T, input_size) with ``batch_first``, or unbatched (T, input_size).
        hx: optional h_0 (num_layers * num_directions, B, hidden_size); zeros when omitted.

    Returns:
        ``(output, h_n)``: output (T, B, D * hidden_size), h_n (num_layers * D, B, hidden_size).
    """

    mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, use_bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, *,
                 rngs: nnx.Rngs):
        super().__init__(input_size, hidden_size, num_layers, use_bias, batch_first, dropout, bidirectional,
                         rngs=rngs)


@torch_layer("RNN", layout=TORCH)
class RNN(_RNNBase):
    """torch: ``nn.RNN(input_size, hidden_size, num_layers=1, nonlinearity='tanh', bias=True,
    batch_first=False, dropout=0.0, bidirectional=False)`` (``use_bias`` is torch's ``bias``):
    ``h' = nonlinearity(W_ih x + b_ih + W_hh h + b_hh)`` with tanh or relu.

    Two biases, dropout and init as :class:`LSTM`; arguments and return values as :class:`GRU`.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 use_bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, *, rngs: nnx.Rngs):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; torch's are 'tanh' and 'relu'")
        self.nonlinearity = nonlinearity
        self.mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(input_size, hidden_size, num_layers, use_bias, batch_first, dropout, bidirectional,
                         rngs=rngs)

    @classmethod
    def torch_arguments(cls, m) -> dict:
        return super().torch_arguments(m) | {"nonlinearity": m.nonlinearity}
