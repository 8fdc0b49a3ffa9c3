"""Whole-sequence recurrent ATen ops (what nn.LSTM, nn.GRU and nn.RNN call) and their cells.

``params`` is torch's flat weight list (``module._flat_weights``): for each layer, for
each direction, ``w_ih, w_hh`` then ``b_ih, b_hh`` when ``has_biases``, then ``w_hr``
for an LSTM with ``proj_size``. Gate orders are torch's: LSTM (i, f, g, o), GRU
(r, z, n). Outputs: LSTM ``(output, h_n, c_n)``, GRU/RNN ``(output, h_n)``; ``h_n`` is
(num_layers * directions, N, H), ordered layer by layer, forward before backward.
Dropout between layers (``train`` and ``dropout > 0``) needs ``rng``. Packed sequences
(the ``.data`` overloads) are not supported: pad the batch instead.

torch: nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell, nn.RNNCell.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from jaxdl.aten.dtypes import to_array
from jaxdl.aten.registry import aten_op
from jaxdl.aten.stochastic import dropout as _dropout


def _lstm_step(w_hh, b_hh, w_hr):
    def step(carry, gx):
        h, c = carry
        gates = gx + h @ w_hh.T + (0 if b_hh is None else b_hh)
        i, f, g, o = jnp.split(gates, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        if w_hr is not None:
            h = h @ w_hr.T
        return (h, c), h

    return step


def _gru_step(w_hh, b_hh):
    def step(h, gx):
        gh = h @ w_hh.T + (0 if b_hh is None else b_hh)
        xr, xz, xn = jnp.split(gx, 3, axis=-1)
        hr, hz, hn = jnp.split(gh, 3, axis=-1)
        r = jax.nn.sigmoid(xr + hr)
        z = jax.nn.sigmoid(xz + hz)
        n = jnp.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        return h, h

    return step


def _simple_step(w_hh, b_hh, activation):
    def step(h, gx):
        h = activation(gx + h @ w_hh.T + (0 if b_hh is None else b_hh))
        return h, h

    return step


def _run(kind, x_tnf, h0, c0, weights, has_biases, reverse, activation=None):
    """One layer, one direction over time-major input -> (outputs (T, N, H), h_T, c_T)."""
    w_ih, w_hh = weights[0], weights[1]
    b_ih, b_hh = (weights[2], weights[3]) if has_biases else (None, None)
    w_hr = weights[-1] if kind == "lstm" and len(weights) == (5 if has_biases else 3) else None
    gx = x_tnf @ w_ih.T + (0 if b_ih is None else b_ih)
    if kind == "lstm":
        (h, c), ys = lax.scan(_lstm_step(w_hh, b_hh, w_hr), (h0, c0), gx, reverse=reverse)
        return ys, h, c
    step = _gru_step(w_hh, b_hh) if kind == "gru" else _simple_step(w_hh, b_hh, activation)
    h, ys = lax.scan(step, h0, gx, reverse=reverse)
    return ys, h, None


def _stack(kind, input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first, rng,
           activation=None):
    x = to_array(input)
    if x.ndim != 3:
        raise ValueError(f"jaxdl.aten.{kind}: expects 3-d input (torch's module adds the batch dim), got {x.shape}")
    if batch_first:
        x = jnp.swapaxes(x, 0, 1)
    directions = 2 if bidirectional else 1
    per = len(params) // (num_layers * directions)
    h0 = to_array(hx[0] if kind == "lstm" else hx)
    c0 = to_array(hx[1]) if kind == "lstm" else None
    hs, cs = [], []
    for layer in range(num_layers):
        outs = []
        for d in range(directions):
            k = layer * directions + d
            weights = [to_array(w) for w in params[k * per:(k + 1) * per]]
            ys, h, c = _run(kind, x, h0[k], None if c0 is None else c0[k], weights, has_biases, d == 1,
                            activation)
            outs.append(ys)
            hs.append(h)
            cs.append(c)
        x = outs[0] if directions == 1 else jnp.concatenate(outs, axis=-1)
        if train and dropout > 0 and layer < num_layers - 1:
            x = _dropout(x, dropout, True, rng=jax.random.fold_in(rng, layer) if rng is not None else None)
    out = jnp.swapaxes(x, 0, 1) if batch_first else x
    if kind == "lstm":
        return out, jnp.stack(hs), jnp.stack(cs)
    return out, jnp.stack(hs)


@aten_op("lstm")
def lstm(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first, *, rng=None):
    """torch: nn.LSTM (num_layers, bidirectional, batch_first, dropout, proj_size) ->
    (output, h_n, c_n); ``hx`` is [h_0, c_0]."""
    return _stack("lstm", input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first, rng)


@aten_op("gru")
def gru(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first, *, rng=None):
    """torch: nn.GRU -> (output, h_n)"""
    return _stack("gru", input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first, rng)


@aten_op("rnn_tanh")
def rnn_tanh(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first, *, rng=None):
    """torch: nn.RNN(nonlinearity='tanh') -> (output, h_n)"""
    return _stack("rnn", input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first, rng,
                  jnp.tanh)


@aten_op("rnn_relu")
def rnn_relu(input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first, *, rng=None):
    """torch: nn.RNN(nonlinearity='relu') -> (output, h_n)"""
    return _stack("rnn", input, hx, params, has_biases, num_layers, dropout, train, bidirectional, batch_first, rng,
                  jax.nn.relu)


def _cell_input(x, w_ih, b_ih):
    gx = to_array(x) @ to_array(w_ih).T
    return gx if b_ih is None else gx + to_array(b_ih)


@aten_op("lstm_cell")
def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """torch: nn.LSTMCell -> (h', c'); ``hx`` is [h, c]"""
    step = _lstm_step(to_array(w_hh), None if b_hh is None else to_array(b_hh), None)
    (h, c), _ = step((to_array(hx[0]), to_array(hx[1])), _cell_input(input, w_ih, b_ih))
    return h, c


@aten_op("gru_cell")
def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """torch: nn.GRUCell -> h'"""
    return _gru_step(to_array(w_hh), None if b_hh is None else to_array(b_hh))(to_array(hx),
                                                                               _cell_input(input, w_ih, b_ih))[0]


@aten_op("rnn_tanh_cell")
def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """torch: nn.RNNCell(nonlinearity='tanh') -> h'"""
    step = _simple_step(to_array(w_hh), None if b_hh is None else to_array(b_hh), jnp.tanh)
    return step(to_array(hx), _cell_input(input, w_ih, b_ih))[0]


@aten_op("rnn_relu_cell")
def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """torch: nn.RNNCell(nonlinearity='relu') -> h'"""
    step = _simple_step(to_array(w_hh), None if b_hh is None else to_array(b_hh), jax.nn.relu)
    return step(to_array(hx), _cell_input(input, w_ih, b_ih))[0]
