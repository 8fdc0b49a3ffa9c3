"""Recurrent layers (torch: ``nn.LSTM``, ``nn.RNN``), one layer, two biases as torch."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from jaxdl.init import torch_default_init


class _Recurrent(nnx.Module):
    """Shared parts of torch's single-layer ``nn.LSTM`` / ``nn.RNN``: two biases, torch's init distribution."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, *, batch_first: bool, rngs: nnx.Rngs):
        self.input_size, self.hidden_size, self.batch_first = input_size, hidden_size, batch_first
        init, g = torch_default_init(hidden_size), self.gates * hidden_size
        # kernels are torch's weight_ih.T / weight_hh.T; columns in torch's gate order
        self.w_ih = nnx.Param(init(rngs.params(), (input_size, g)))
        self.w_hh = nnx.Param(init(rngs.params(), (hidden_size, g)))
        self.b_ih = nnx.Param(init(rngs.params(), (g,)))
        self.b_hh = nnx.Param(init(rngs.params(), (g,)))

    def _inputs(self, x: jax.Array) -> jax.Array:
        """(T, B, I) or (B, T, I) -> input projections (T, B, gates*H), one matmul for all steps."""
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            order = "(B, T, I)" if self.batch_first else "(T, B, I)"
            raise ValueError(f"{type(self).__name__}({self.input_size}, {self.hidden_size}) expects "
                             f"input {order} with I={self.input_size}, got shape {tuple(x.shape)}.")
        if self.batch_first:
            x = jnp.swapaxes(x, 0, 1)
        return x @ self.w_ih[...] + self.b_ih[...]

    def _outputs(self, ys: jax.Array) -> jax.Array:
        return jnp.swapaxes(ys, 0, 1) if self.batch_first else ys


class LSTM(_Recurrent):
    """torch: ``nn.LSTM(input_size, hidden_size)`` (one layer, unidirectional).

    ``__call__(x, (h0, c0))`` returns ``(output, (h_n, c_n))`` in torch's order, with
    h/c of shape (B, H) (torch: (1, B, H)); zeros when omitted, which is the notes'
    "reset the hidden state for every sequence". Gates i, f, g, o as torch; ``b_ih`` and
    ``b_hh`` are separate parameters so that training moves both as torch does (folding
    them into one bias is exact forward but doubles their step). ``nnx.OptimizedLSTMCell``
    keeps its carry as (c, h) and has one bias.
    """

    gates = 4

    def __init__(self, input_size: int, hidden_size: int, *, batch_first: bool = False,
                 rngs: nnx.Rngs):
        super().__init__(input_size, hidden_size, batch_first=batch_first, rngs=rngs)

    def __call__(self, x: jax.Array, hc: tuple[jax.Array, jax.Array] | None = None):
        xs = self._inputs(x)
        H, B = self.hidden_size, xs.shape[1]
        if hc is None:
            hc = (jnp.zeros((B, H), xs.dtype), jnp.zeros((B, H), xs.dtype))
        w_hh, b_hh = self.w_hh[...], self.b_hh[...]

        def step(carry, xt):
            h, c = carry
            z = xt + h @ w_hh + b_hh
            i, f, g, o = jnp.split(z, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), h

        (h, c), ys = lax.scan(step, hc, xs)
        return self._outputs(ys), (h, c)


class RNN(_Recurrent):
    """torch: ``nn.RNN(input_size, hidden_size)`` with tanh (one layer).

    ``__call__(x, h0)`` returns ``(output, h_n)``; two biases as torch (see :class:`LSTM`).
    """

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, *, batch_first: bool = False,
                 rngs: nnx.Rngs):
        super().__init__(input_size, hidden_size, batch_first=batch_first, rngs=rngs)

    def __call__(self, x: jax.Array, h: jax.Array | None = None):
        xs = self._inputs(x)
        if h is None:
            h = jnp.zeros((xs.shape[1], self.hidden_size), xs.dtype)
        w_hh, b_hh = self.w_hh[...], self.b_hh[...]

        def step(h, xt):
            h = jnp.tanh(xt + h @ w_hh + b_hh)
            return h, h

        h, ys = lax.scan(step, h, xs)
        return self._outputs(ys), h
