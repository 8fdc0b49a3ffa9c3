"""The LSTM forecaster of the notes."""

from __future__ import annotations

import jax
from flax import nnx

from jaxdl.layers import LSTM, Linear

__all__ = ["LSTMNetwork"]


class LSTMNetwork(nnx.Module):
    """torch: the course's ``LSTMnetwork(input_size=1, hidden_size=100, output_size=1)`` (000).

    Takes one sequence (T, input_size), as the notes' ``seq.view(len(seq), 1, -1)``, or a
    batch (B, T, input_size); returns the prediction after the last step, (output_size,)
    or (B, output_size). The hidden state starts at zero for every sequence: the notes'
    ``model.hidden = (zeros, zeros)`` reset before each one is built in.
    """

    def __init__(self, input_size: int = 1, hidden_size: int = 100, output_size: int = 1, *, rngs: nnx.Rngs):
        self.hidden_size = hidden_size
        self.lstm = LSTM(input_size, hidden_size, batch_first=True, rngs=rngs)
        self.linear = Linear(hidden_size, output_size, rngs=rngs)

    def __call__(self, seq: jax.Array) -> jax.Array:
        single = seq.ndim == 2
        x = seq[None] if single else seq
        out, _ = self.lstm(x)
        pred = self.linear(out[:, -1])
        return pred[0] if single else pred
