"""The porter's registries walked: every registered op handler runs on the modules of
tests/port/registry_cases.py (one per family) and every torch layer with a jaxdl layer
(the cases of tests/parity/test_torch_layers.py) ports, each against torch. A handler that
none of them runs fails the walk: add a construct that exercises it, or drop the handler."""

import collections

import numpy as np
import pytest
import torch
from torch import nn

from jaxdl.layers import TORCH_LAYERS
from jaxdl.port import port, registry, verify
from jaxdl.port.registry import Registry
from tests.parity.test_torch_layers import CASES, OWN_TESTS, _input
from tests.port import registry_cases


def test_a_name_is_registered_once():
    table = Registry("op")
    table.register("relu")(lambda g, n: None)
    with pytest.raises(ValueError, match="'relu' registered twice"):
        table.register("sigmoid", "relu")(lambda g, n: None)


@pytest.mark.slow
def test_every_registered_op_runs_on_a_module_and_matches_torch(monkeypatch):
    """A handler registered under several names (aliases export may or may not emit, such
    as ``clip`` for ``clamp``) counts as run when any of its names ran: it is one code."""
    used = collections.Counter()
    handlers = {}
    for name in registry.OPS.names():
        handlers.setdefault(registry.OPS.get(name), []).append(name)
    for name, fn in list(registry.OPS._table.items()):
        def counted(g, n, fn=fn):
            used[fn] += 1
            return fn(g, n)
        monkeypatch.setitem(registry.OPS._table, name, counted)
    for family, (make, inputs) in registry_cases.FAMILIES.items():
        torch.manual_seed(0)
        tm = make()
        p = port(tm, *inputs())
        assert not p.unsupported, family
        assert verify.check_eval_outputs(tm, p.module, p.inputs, p.output_images) <= 1e-5, family
    unused = sorted(names[0] for fn, names in handlers.items() if fn not in used)
    assert not unused, f"registered op handlers that no case runs: {unused}"


class AllLayers(nn.Module):
    """Every case of the layer parity test in one model: one export, one port."""

    def __init__(self, layers):
        super().__init__()
        self.layers = nn.ModuleList(layers)

    def forward(self, *xs):
        return tuple(layer(x) for layer, x in zip(self.layers, xs))


@pytest.mark.slow
def test_every_torch_layer_with_a_jaxdl_layer_ports():
    """In eval mode, and in train mode where it differs (dropout off), with its gradients."""
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    layers = [case[2]() for case in CASES]
    xs = [torch.from_numpy(np.asarray(_input(case[3], rng))) for case in CASES]
    tm = AllLayers(layers)
    p = port(tm, *xs, int_high=3)
    assert sorted({type(m).__name__ for m in layers} | set(OWN_TESTS)) == sorted(TORCH_LAYERS)
    verify.check_eval_outputs(tm, p.module, p.inputs, p.output_images)
    verify.check_train_outputs(tm, p.module, p.inputs, p.output_images)
    verify.check_gradients(tm, p.module, p.inputs, p.output_images)


class Sequences(nn.Module):
    """The layers of OWN_TESTS that take one input: GRU (stacked, bidirectional), RNN with
    relu and an initial state, LSTM with proj_size, a Transformer encoder."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 5, num_layers=2, batch_first=True, bidirectional=True)
        self.rnn = nn.RNN(10, 3, nonlinearity="relu")
        self.lstm = nn.LSTM(3, 4, proj_size=2)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(2, 1, 8, dropout=0.0), 2,
                                             enable_nested_tensor=False)

    def forward(self, x):
        h, h_n = self.gru(x)
        o, h2 = self.rnn(h, torch.ones(1, 3, 3))
        o2, (a, b) = self.lstm(o)
        return self.encoder(o2), h_n, h2, a, b


def test_the_sequence_layers_port_with_their_states():
    torch.manual_seed(0)
    tm = Sequences().eval()
    p = port(tm, torch.randn(2, 3, 4))
    assert not p.unsupported
    assert verify.check_eval_outputs(tm, p.module, p.inputs, p.output_images) <= 1e-5
    verify.check_gradients(tm, p.module, p.inputs, p.output_images)
