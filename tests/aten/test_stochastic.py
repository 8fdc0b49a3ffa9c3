"""jaxdl.aten random ops: in eval against torch exactly; in training by their
distribution (draws cannot equal torch's generator), and each refuses to run without a key."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxdl import aten
from tests.aten.runner import Case, T, check

KEY = jax.random.key(0)
N = 20000


def eval_case(op, **kw):
    return Case(op, "default", lambda g: ((T(g, 3, 4), 0.3, False), kw))


CASES = [eval_case(op) for op in ("dropout", "feature_dropout", "alpha_dropout", "feature_alpha_dropout")] + [
    Case("native_dropout", make=lambda g: ((T(g, 3, 4), 0.3, False), {}), grad=False),
    Case("dropout", make=lambda g: ((T(g, 3, 4), 0.0, True), {}), id="p0"),
]


def _kept_fraction(y):
    return float(jnp.mean(y != 0))


def check_dropout(rng):
    x = jnp.ones((N,))
    y = aten.dropout(x, 0.25, True, rng=rng)
    assert abs(_kept_fraction(y) - 0.75) < 0.02
    np.testing.assert_allclose(np.unique(np.asarray(y)), [0.0, 1 / 0.75], rtol=1e-6)
    assert float(aten.dropout(x, 1.0, True, rng=rng).sum()) == 0


def check_native_dropout(rng):
    y, mask = aten.native_dropout(jnp.ones((N,)), 0.5, True, rng=rng)
    assert mask.dtype == jnp.bool_ and np.array_equal(np.asarray(y != 0), np.asarray(mask))


def check_feature_dropout(rng):
    y = aten.feature_dropout(jnp.ones((200, 50, 3, 3)), 0.5, True, rng=rng)
    per_channel = np.asarray(y).reshape(200, 50, 9)
    assert np.all(per_channel.min(-1) == per_channel.max(-1))  # whole channels kept or dropped
    assert abs(float((per_channel[..., 0] != 0).mean()) - 0.5) < 0.03


def check_alpha_dropout(rng):
    x = jax.random.normal(jax.random.key(1), (N,))
    y = aten.alpha_dropout(x, 0.2, True, rng=rng)
    assert abs(float(y.mean())) < 0.03 and abs(float(y.std()) - 1) < 0.03  # SELU's mean and variance kept


def check_feature_alpha_dropout(rng):
    x = jax.random.normal(jax.random.key(1), (400, 50, 4))
    y = np.asarray(aten.feature_alpha_dropout(x, 0.2, True, rng=rng))
    assert abs(y.mean()) < 0.05 and abs(y.std() - 1) < 0.05


def check_bernoulli(rng):
    p = jnp.full((N,), 0.3)
    assert abs(float(aten.bernoulli(p, rng=rng).mean()) - 0.3) < 0.02
    stochastic_depth = aten.bernoulli(jnp.empty((N, 1, 1, 1)), 0.8, rng=rng)  # Tensor.bernoulli_(0.8)
    assert stochastic_depth.shape == (N, 1, 1, 1) and abs(float(stochastic_depth.mean()) - 0.8) < 0.02


def check_rand(rng):
    u = aten.rand([N], rng=rng)
    assert u.dtype == jnp.float32 and 0 <= float(u.min()) and float(u.max()) < 1 and abs(float(u.mean()) - .5) < .02


def check_randn(rng):
    z = aten.randn([N], dtype=torch.float16, rng=rng)
    assert z.dtype == jnp.float16 and abs(float(z.mean())) < 0.03 and abs(float(z.std()) - 1) < 0.03


def check_randint(rng):
    r = aten.randint(-2, 5, [N], rng=rng)
    assert r.dtype == jnp.int32 and int(r.min()) == -2 and int(r.max()) == 4
    assert aten.randint(high=3, size=[4], rng=rng).dtype == jnp.int32


def check_rand_like(rng):
    assert aten.rand_like(jnp.zeros((3, 2), jnp.float16), rng=rng).dtype == jnp.float16


def check_randn_like(rng):
    assert aten.randn_like(jnp.zeros((3, 2)), rng=rng).shape == (3, 2)


def check_randint_like(rng):
    r = aten.randint_like(jnp.zeros((N,), jnp.int32), 0, 3, rng=rng)
    assert set(np.unique(np.asarray(r))) == {0, 1, 2}


def check_randperm(rng):
    assert sorted(np.asarray(aten.randperm(10, rng=rng)).tolist()) == list(range(10))


def check_normal(rng):
    z = aten.normal(jnp.full((N,), 2.0), 0.5, rng=rng)
    assert abs(float(z.mean()) - 2) < 0.02 and abs(float(z.std()) - 0.5) < 0.02
    assert aten.normal(0.0, 1.0, [3, 2], rng=rng).shape == (3, 2)


def check_uniform(rng):
    u = aten.uniform(jnp.zeros((N,)), -2.0, 3.0, rng=rng)
    assert -2 <= float(u.min()) and float(u.max()) < 3 and abs(float(u.mean()) - 0.5) < 0.05


def check_exponential(rng):
    assert abs(float(aten.exponential(jnp.zeros((N,)), 4.0, rng=rng).mean()) - 0.25) < 0.01


def check_multinomial(rng):
    w = jnp.array([[0.0, 1.0, 3.0], [1.0, 1.0, 0.0]])
    picks = np.asarray(aten.multinomial(w, 2, rng=rng))
    assert picks.dtype == np.int32 and sorted(picks[0].tolist()) == [1, 2] and sorted(picks[1].tolist()) == [0, 1]
    draws = np.asarray(aten.multinomial(jnp.tile(w[:1], (N, 1)), 1, True, rng=rng))
    assert abs((draws == 2).mean() - 0.75) < 0.02


STATISTICAL = {name[len("check_"):]: fn for name, fn in dict(globals()).items() if name.startswith("check_")}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_eval_against_torch(case):
    check(case)


@pytest.mark.parametrize("op", sorted(STATISTICAL))
def test_distribution(op):
    STATISTICAL[op](KEY)


@pytest.mark.parametrize("op", sorted(STATISTICAL))
def test_refuses_without_a_key(op):
    with pytest.raises(ValueError, match="rng="):
        STATISTICAL[op](None)
