"""jaxdl.losses against torch.nn's losses: values and input gradients, every reduction."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxdl import losses

RNG = np.random.default_rng(0)
N, C = 16, 5


def _torch_value_grad(fn, x, t, **kw):
    xt = torch.tensor(x, requires_grad=True)
    out = fn(xt, torch.tensor(t), **kw)
    out.sum().backward()
    return out.detach().numpy(), xt.grad.numpy()


def _jax_value_grad(fn, x, t, **kw):
    value = fn(jnp.asarray(x), jnp.asarray(t), **kw)
    grad = jax.grad(lambda a: jnp.sum(fn(a, jnp.asarray(t), **kw)))(jnp.asarray(x))
    return np.asarray(value), np.asarray(grad)


CASES = {
    "mse": (losses.mse_loss, torch.nn.functional.mse_loss,
            lambda: (RNG.normal(size=(N, 1)).astype(np.float32), RNG.normal(size=(N, 1)).astype(np.float32))),
    "l1": (losses.l1_loss, torch.nn.functional.l1_loss,
           lambda: (np.r_[RNG.normal(size=N - 1), 0.5].astype(np.float32),
                    np.r_[RNG.normal(size=N - 1), 0.5].astype(np.float32))),
    "bce": (losses.bce_loss, torch.nn.functional.binary_cross_entropy,
            # saturated probabilities: torch clamps the log at -100
            lambda: (np.r_[RNG.uniform(0.01, 0.99, N - 2), 0.0, 1.0].astype(np.float32),
                     np.r_[RNG.integers(0, 2, N - 2), 1, 0].astype(np.float32))),
    "bce_with_logits": (losses.bce_with_logits_loss, torch.nn.functional.binary_cross_entropy_with_logits,
                        lambda: (np.r_[RNG.normal(size=N - 2) * 3, 60.0, -60.0].astype(np.float32),
                                 RNG.integers(0, 2, N).astype(np.float32))),
    "cross_entropy": (losses.cross_entropy, torch.nn.functional.cross_entropy,
                      lambda: (RNG.normal(size=(N, C)).astype(np.float32), RNG.integers(0, C, N).astype(np.int64))),
    "nll": (losses.nll_loss, torch.nn.functional.nll_loss,
            lambda: (np.log(RNG.dirichlet(np.ones(C), N)).astype(np.float32), RNG.integers(0, C, N).astype(np.int64))),
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", CASES)
def test_loss_matches_torch(name, reduction):
    ours, theirs, make = CASES[name]
    x, t = make()
    tv, tg = _torch_value_grad(theirs, x, t, reduction=reduction)
    t_jax = t.astype(np.int32) if t.dtype == np.int64 else t
    jv, jg = _jax_value_grad(ours, x, t_jax, reduction=reduction)
    np.testing.assert_allclose(jv, tv, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(jg, tg, rtol=1e-5, atol=1e-5)
    assert np.all(np.isfinite(jg))


def test_bce_saturated_probabilities_stay_finite_like_torch():
    p, t = jnp.array([0.0, 1.0]), jnp.array([1.0, 0.0])
    assert float(losses.bce_loss(p, t)) == pytest.approx(100.0)  # both logs clamped at -100


def test_shape_mismatch_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="reshape"):
        losses.mse_loss(jnp.zeros((4, 1)), jnp.zeros((4,)))


def test_float_labels_for_cross_entropy_are_refused():
    with pytest.raises(TypeError, match="int32"):
        losses.cross_entropy(jnp.zeros((4, 3)), jnp.zeros((4,)))


def test_unknown_reduction():
    with pytest.raises(ValueError, match="reduction"):
        losses.mse_loss(jnp.zeros(3), jnp.zeros(3), reduction="avg")


def test_labels_of_the_wrong_kind_to_a_loss():
    with pytest.raises((ValueError, TypeError)):
        losses.cross_entropy(jnp.zeros((4, 10)), jnp.zeros((4, 10)))
