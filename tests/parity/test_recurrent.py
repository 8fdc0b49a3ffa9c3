"""nn.LSTM, nn.GRU, nn.RNN against torch: stacked, bidirectional, batch_first either way,
bias=False, proj_size, unbatched, with and without an initial state.

Each jaxdl layer is built from the torch module through its record (``torch_arguments``),
given torch's weights with ``from_torch`` (and ``to_torch`` gives them back bit-exact);
then the outputs, final states, input and initial-state gradients and every parameter's
gradient are compared in train mode (dropout 0) and eval mode (dropout active in torch's
train mode only), within 1e-5 of their scale, or, where float32 rounding accumulated over
the steps exceeds that, no further from torch float64 than twice torch float32 is (the
vision tests' rule). Initialisation: two-sample KS tests against torch's draws.

The helpers here (:func:`jaxdl_layer`, :func:`compare_with_torch`) serve the attention
and transformer parity tests too.
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx
from scipy import stats

from jaxdl import interop
from jaxdl.layers import GRU, LSTM, RNN, UnsupportedSetting, for_torch_module
from jaxdl.layers.torch_layer import constructor
from tests.parity.test_vision import assert_round_trip, compare_stages

nn = torch.nn
TOL = 1e-5  # max |jaxdl - torch| / max |torch| per output and gradient
P_MIN = 1e-3  # KS test: same distribution (measured p > 0.05 here); a wrong bound gives p ~ 0


# ---------------------------------------------------------------- helpers (shared with attention, transformer)
def jaxdl_layer(tm: nn.Module, seed: int = 0) -> nnx.Module:
    """The jaxdl layer for torch module ``tm``, built from its record, with torch's weights;
    ``to_torch`` must give every key back bit-exact, in torch's order."""
    jm = _build(tm, seed)
    interop.from_torch(jm, tm.state_dict())
    assert_round_trip(jm, tm)
    assert list(interop.to_torch(jm)) == list(tm.state_dict())
    return jm


def _build(tm: nn.Module, seed: int):
    cls = for_torch_module(tm)
    assert cls is not None, f"no jaxdl layer registered for {type(tm).__name__}"
    kwargs = {k: _build(v, seed) if isinstance(v, nn.Module) else v for k, v in cls.torch_arguments(tm).items()}
    if "rngs" in constructor(cls).parameters:
        kwargs["rngs"] = nnx.Rngs(seed)
    return cls(**kwargs)


def _leaves(out) -> list:
    """The arrays of a (nested) tuple output, None dropped."""
    if isinstance(out, (tuple, list)):
        return [a for o in out for a in _leaves(o)]
    return [] if out is None else [out]


def _torch_run(tm, inputs: dict, call, cotangents, dtype):
    """torch's outputs and gradients (inputs that are floating and not named ``*mask*``, and
    every parameter) of sum(out_i * r_i), as {name: float64 array}."""
    tm.zero_grad(set_to_none=True)
    ts = {k: torch.tensor(v, dtype=dtype if v.dtype.kind == "f" else None,
                          requires_grad=v.dtype.kind == "f" and "mask" not in k) for k, v in inputs.items()}
    outs = _leaves(call(tm, **ts))
    loss = sum((o * torch.tensor(r, dtype=o.dtype)).sum() for o, r in zip(outs, cotangents(outs)))
    loss.backward()
    got = {f"output {i}": o.detach().numpy() for i, o in enumerate(outs)}
    got |= {f"grad {k}": t.grad.numpy() for k, t in ts.items() if t.requires_grad}
    got |= {f"grad {k}": p.grad.numpy() for k, p in tm.named_parameters()}
    return {k: np.asarray(v, np.float64) for k, v in got.items()}


def compare_with_torch(tm: nn.Module, jm: nnx.Module, inputs: dict, call, *, train: bool,
                       tol: float = TOL) -> dict[str, float]:
    """Outputs and gradients of jaxdl against torch (float32, and float64 where float32
    rounding exceeds ``tol``), with ``call(module, **inputs)`` the same code for both;
    returns the relative differences."""
    tm.train(train)
    jm.train() if train else jm.eval()
    rng = np.random.default_rng(7)
    rs = []

    def cotangents(outs):
        while len(rs) < len(outs):
            rs.append(rng.normal(size=tuple(outs[len(rs)].shape)).astype(np.float32))
        return rs

    want = _torch_run(tm, inputs, call, cotangents, torch.float32)
    graphdef, params, rest = nnx.split(jm, nnx.Param, ...)
    diff_names = [k for k, v in inputs.items() if v.dtype.kind == "f" and "mask" not in k]

    def loss(p, xs):
        model = nnx.merge(graphdef, p, rest, copy=True)
        outs = _leaves(call(model, **xs, **{k: jnp.asarray(v) for k, v in inputs.items() if k not in xs}))
        return sum(jnp.sum(o * r) for o, r in zip(outs, rs)), outs

    xs = {k: jnp.asarray(inputs[k]) for k in diff_names}
    (gp, gx), outs = jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))(params, xs)
    got = {f"output {i}": np.asarray(o, np.float64) for i, o in enumerate(outs)}
    got |= {f"grad {k}": np.asarray(v, np.float64) for k, v in gx.items()}
    grads = interop.to_torch(nnx.merge(graphdef, gp, rest))
    got |= {f"grad {k}": grads[k].numpy().astype(np.float64) for k, _ in tm.named_parameters()}
    assert set(got) == set(want), set(got) ^ set(want)
    exact = lambda: _torch_run(copy.deepcopy(tm).double(), inputs, call, cotangents, torch.float64)
    return compare_stages(want, got, tol, exact)


# ---------------------------------------------------------------- recurrent layers
CONFIGS = {  # name: (torch module, input shape (unbatched when 2-D), with an initial state)
    "lstm_2layer_bidirectional_proj_batch_first": (lambda: nn.LSTM(3, 5, num_layers=2, bidirectional=True,
                                                                   proj_size=3, batch_first=True), (2, 5, 3), True),
    "lstm_2layer_dropout_unbatched": (lambda: nn.LSTM(3, 4, num_layers=2, dropout=0.4), (5, 3), True),
    "gru_2layer_bidirectional_no_bias_batch_first": (lambda: nn.GRU(3, 4, num_layers=2, bias=False, batch_first=True,
                                                                    bidirectional=True), (2, 5, 3), True),
    "rnn_relu_2layer": (lambda: nn.RNN(3, 4, num_layers=2, nonlinearity="relu"), (5, 2, 3), True),
    "rnn_tanh_2layer_bidirectional_dropout": (lambda: nn.RNN(3, 4, num_layers=2, bidirectional=True, dropout=0.3),
                                              (5, 2, 3), False),
}


def _inputs(tm, shape, with_state, rng):
    inputs = {"x": rng.normal(size=shape).astype(np.float32)}
    if with_state:
        batch = () if len(shape) == 2 else (shape[0] if tm.batch_first else shape[1],)
        n = tm.num_layers * (2 if tm.bidirectional else 1)
        inputs["h0"] = rng.normal(size=(n, *batch, tm.proj_size or tm.hidden_size)).astype(np.float32)
        if isinstance(tm, nn.LSTM):
            inputs["c0"] = rng.normal(size=(n, *batch, tm.hidden_size)).astype(np.float32)
    return inputs


def _call(m, x, h0=None, c0=None):
    if h0 is None:
        return m(x)
    return m(x, (h0, c0) if c0 is not None else h0)


@pytest.mark.parametrize("name", CONFIGS)
def test_recurrent_layer_matches_torch(name):
    make, shape, with_state = CONFIGS[name]
    torch.manual_seed(0)
    tm = make()
    jm = jaxdl_layer(tm)
    inputs = _inputs(tm, shape, with_state, np.random.default_rng(0))
    # train mode without dropout; eval mode where there is dropout (train-mode masks cannot equal
    # torch's: their statistics are tests/layers/test_recurrent.py's)
    diffs = compare_with_torch(tm, jm, inputs, _call, train=tm.dropout == 0)
    assert len(diffs) == len(list(tm.parameters())) + len(inputs) + (3 if isinstance(tm, nn.LSTM) else 2)


def test_records_give_torchs_settings_and_refuse_dropout_one():
    m = nn.LSTM(3, 6, 2, bias=False, batch_first=True, dropout=0.2, bidirectional=True, proj_size=2)
    assert LSTM.torch_arguments(m) == {"input_size": 3, "hidden_size": 6, "num_layers": 2, "use_bias": False,
                                           "batch_first": True, "dropout": 0.2, "bidirectional": True, "proj_size": 2}
    assert RNN.torch_arguments(nn.RNN(3, 4, nonlinearity="relu"))["nonlinearity"] == "relu"
    assert "proj_size" not in GRU.torch_arguments(nn.GRU(3, 4))
    with pytest.raises(UnsupportedSetting, match=r"nn.GRU with dropout=1"):
        GRU.torch_arguments(nn.GRU(3, 4, num_layers=2, dropout=1.0))


def test_init_is_torchs_distribution():
    """Every weight and bias U(+-1/sqrt(hidden_size)), as torch's reset_parameters (one
    draw for all of jaxdl's recurrent layers: _RNNBase)."""
    def draws(make):
        return np.concatenate([np.ravel(a) for s in range(2) for a in make(s)])

    jw = draws(lambda s: [np.asarray(v) for v in jax.tree.leaves(nnx.state(
        LSTM(4, 16, num_layers=2, bidirectional=True, rngs=nnx.Rngs(s)), nnx.Param))])
    tw = draws(lambda s: (torch.manual_seed(s), [p.detach().numpy() for p in
                          nn.LSTM(4, 16, num_layers=2, bidirectional=True).parameters()])[1])
    assert jw.size == tw.size >= 3000
    assert stats.ks_2samp(jw, tw).pvalue > P_MIN
    assert 0.99 * 0.25 < np.abs(jw).max() <= 0.25  # 1 / sqrt(16)
