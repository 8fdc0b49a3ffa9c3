"""jaxdl.aten recurrent ops against torch's aten.lstm/gru/rnn_* (the whole-sequence ops
nn.LSTM, nn.GRU, nn.RNN call) with torch's flat weight list, and the cells."""

import jax
import numpy as np
import pytest
import torch
from torch import nn

from jaxdl import aten
from tests.aten.runner import Case, T, check


def seq(kind, batch_first=False, bidirectional=True, num_layers=2, bias=True, proj_size=0, id=""):
    def make(g):
        torch.manual_seed(int(torch.randint(0, 1000, (1,), generator=g)))
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn_tanh": nn.RNN, "rnn_relu": nn.RNN}[kind]
        kw = {"nonlinearity": kind[4:]} if kind.startswith("rnn") else {}
        if proj_size:
            kw["proj_size"] = proj_size
        m = cls(3, 5, num_layers=num_layers, bias=bias, bidirectional=bidirectional, batch_first=batch_first, **kw)
        x = T(g, 2, 4, 3) if batch_first else T(g, 4, 2, 3)
        d = 2 if bidirectional else 1
        h = T(g, num_layers * d, 2, proj_size or 5)
        hx = [h, T(g, num_layers * d, 2, 5)] if kind == "lstm" else h
        params = [p.detach() for p in m._flat_weights]
        return (x, hx, params, bias, num_layers, 0.0, False, bidirectional, batch_first), {}

    return Case(kind, "input", make, id=id)


def cell(kind, bias=True):
    def make(g):
        h = T(g, 2, 5)
        hx = [h, T(g, 2, 5)] if kind == "lstm_cell" else h
        gates = {"lstm_cell": 4, "gru_cell": 3}.get(kind, 1) * 5
        b = (T(g, gates), T(g, gates)) if bias else (None, None)
        return (T(g, 2, 3), hx, T(g, gates, 3), T(g, gates, 5)) + b, {}

    return Case(kind, "default", make, id="" if bias else "no_bias")


CASES = [
    seq("lstm"), seq("lstm", batch_first=True, id="batch_first"),
    seq("lstm", bidirectional=False, num_layers=1, proj_size=2, id="proj"),
    seq("lstm", bias=False, bidirectional=False, id="no_bias"),
    seq("gru"), seq("gru", batch_first=True, num_layers=1, id="batch_first"),
    seq("rnn_tanh"), seq("rnn_relu", batch_first=True, bidirectional=False, id="batch_first"),
    cell("lstm_cell"), cell("gru_cell"), cell("rnn_tanh_cell"), cell("rnn_relu_cell", bias=False),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)


def test_dropout_between_layers_in_training():
    """train=True, dropout > 0: the key draws masks between layers (not after the last),
    and without a key the op refuses."""
    m = nn.GRU(3, 4, num_layers=2)
    params = [np.asarray(p.detach()) for p in m._flat_weights]
    x, h = np.ones((5, 2, 3), np.float32), np.zeros((2, 2, 4), np.float32)
    with pytest.raises(ValueError, match="rng="):
        aten.gru(x, h, params, True, 2, 0.5, True, False, False)
    a = aten.gru(x, h, params, True, 2, 0.5, True, False, False, rng=jax.random.key(0))[0]
    b = aten.gru(x, h, params, True, 2, 0.5, True, False, False, rng=jax.random.key(1))[0]
    evaluated = aten.gru(x, h, params, True, 2, 0.5, False, False, False)[0]
    want = torch.ops.aten.gru.input(torch.tensor(x), torch.tensor(h), list(m._flat_weights), True, 2, 0.5, False,
                                    False, False)[0]
    np.testing.assert_allclose(np.asarray(evaluated), want.detach().numpy(), atol=1e-6)
    assert not np.allclose(np.asarray(a), np.asarray(b))
