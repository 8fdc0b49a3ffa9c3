"""jaxdl.layers' recurrent layers without torch: dropout between layers (train mode only,
kept values scaled by 1/(1-p), never after the last layer), the errors that name the
expected shapes, and torch's return structure."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import stats

from jaxdl.layers import GRU, LSTM, RNN


def _identity_relu_rnn(p: float, size: int = 64) -> RNN:
    """Two relu layers that each pass a positive input through unchanged (W_ih = I, W_hh = 0,
    no biases), so that the output is exactly what dropout between the layers made of it."""
    m = RNN(size, size, num_layers=2, nonlinearity="relu", use_bias=False, dropout=p,
            rngs=nnx.Rngs(params=0, dropout=1))
    for layer in ("", "_l1"):
        getattr(m, f"w_ih{layer}").set_value(jnp.eye(size))
        getattr(m, f"w_hh{layer}").set_value(jnp.zeros((size, size)))
    return m


def test_dropout_between_layers_scales_kept_values_and_only_in_train_mode():
    """Under jit through split state, as a train step: the dropout RNG lives in the state,
    so the masks change from step to step."""
    p = 0.3
    graphdef, state = nnx.split(_identity_relu_rnn(p))

    @jax.jit
    def step(state, x):
        model = nnx.merge(graphdef, state)
        return model(x), nnx.state(model)

    x = jnp.asarray(np.random.default_rng(0).uniform(0.5, 1.5, size=(50, 4, 64)), jnp.float32)
    (out, h_n), state = step(state, x)
    kept = np.asarray(out) != 0
    np.testing.assert_allclose(np.asarray(out)[kept], np.asarray(x)[kept] / (1 - p), rtol=1e-6)
    # the fraction dropped is p (binomial, 12,800 draws): once between the two layers, not after
    # the last (that would drop 1 - 0.7^2 = 0.51)
    n, dropped = kept.size, int((~kept).sum())
    assert stats.binomtest(dropped, n, p).pvalue > 1e-3, dropped / n
    np.testing.assert_array_equal(np.asarray(h_n[0]), np.asarray(x[-1]))  # layer 0's state: before dropout
    np.testing.assert_array_equal(np.asarray(h_n[1]), np.asarray(out[-1]))
    (again, _), state = step(state, x)
    assert not np.array_equal(np.asarray(again), np.asarray(out))  # a new mask each step
    model = nnx.merge(graphdef, state)
    model.eval()
    np.testing.assert_array_equal(np.asarray(nnx.jit(lambda m, x: m(x)[0])(model, x)), np.asarray(x))


@pytest.mark.parametrize("cls", [LSTM, GRU, RNN])
def test_return_structure_and_shapes_are_torchs(cls):
    m = cls(3, 4, num_layers=2, bidirectional=True, batch_first=True, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 3)), jnp.float32)
    (out, state), (out1, state1) = nnx.jit(lambda m, x: (m(x), m(x[0])))(m, x)  # batched, unbatched
    hs, hs1 = (state, state1) if cls is LSTM else ((state,), (state1,))
    assert out.shape == (2, 5, 8) and [h.shape for h in hs] == [(4, 2, 4)] * len(hs)
    assert out1.shape == (5, 8) and [h.shape for h in hs1] == [(4, 4)] * len(hs)  # no batch axis anywhere
    np.testing.assert_allclose(np.asarray(out1), np.asarray(out[0]), atol=1e-6)


def test_lstm_proj_size_shapes_and_names():
    m = LSTM(3, 6, num_layers=2, proj_size=2, bidirectional=True, rngs=nnx.Rngs(0))
    out, (h, c) = nnx.jit(lambda m, x: m(x))(m, jnp.ones((5, 4, 3)))
    assert out.shape == (5, 4, 4) and h.shape == (4, 4, 2) and c.shape == (4, 4, 6)
    assert m.w_ih_l1[...].shape == (4, 24) and m.w_hh_l1_reverse[...].shape == (2, 24)  # weight.T
    assert m.w_hr[...].shape == m.w_hr_l1_reverse[...].shape == (6, 2)


def test_a_one_layer_lstm_keeps_the_names_it_had():
    """The notes' LSTM forecaster (and its checkpoints) keep w_ih, w_hh, b_ih, b_hh."""
    m = LSTM(3, 4, batch_first=True, rngs=nnx.Rngs(0))
    names = sorted(str(k[0]) for k, _ in nnx.to_flat_state(nnx.state(m, nnx.Param)))
    assert names == ["b_hh", "b_ih", "w_hh", "w_ih"]
    assert m.w_ih[...].shape == (3, 16) and m.w_hh[...].shape == (4, 16)


@pytest.mark.parametrize("call,error,match", [
    (lambda m: m(jnp.ones((5, 2, 4))), ValueError,
     r"expects input \(T, B, I\) or \(T, I\) with I=3, got shape \(5, 2, 4\)"),
    (lambda m: m(jnp.ones((5, 2, 3, 1))), ValueError, "2-D .*or 3-D, got 4-D"),
    (lambda m: m(jnp.ones((5, 2, 3), jnp.int32)), TypeError, "floating-point input"),
    (lambda m: m(jnp.ones((5, 2, 3)), (jnp.zeros((2, 5)), jnp.zeros((2, 5)))), ValueError,
     r"expected h_0 of shape \(2, 2, 5\) .* got \(2, 5\)"),
    (lambda m: m(jnp.ones((5, 2, 3)), jnp.zeros((2, 2, 5))), ValueError, r"hx = \(h_0, c_0\)"),
    (lambda m: m(jnp.ones((5, 3)), (jnp.zeros((2, 5)), jnp.zeros((2, 4)))), ValueError,
     r"expected c_0 of shape \(2, 5\)"),
    (lambda m: m([[1.0, 2.0, 3.0]]), TypeError, "PackedSequence"),
])
def test_bad_input_says_what_was_expected(call, error, match):
    m = LSTM(3, 5, num_layers=2, rngs=nnx.Rngs(0))
    with pytest.raises(error, match=match):
        call(m)


@pytest.mark.parametrize("kwargs,match", [
    ({"proj_size": 5}, r"proj_size must be 0 .*\[1, hidden_size=5\)"),
    ({"dropout": 1.0}, r"dropout must be a probability in \[0, 1\)"),
    ({"num_layers": 0}, "must be positive"),
])
def test_bad_settings_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        LSTM(3, 5, **kwargs, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="nonlinearity 'gelu'"):
        RNN(3, 5, nonlinearity="gelu", rngs=nnx.Rngs(0))
