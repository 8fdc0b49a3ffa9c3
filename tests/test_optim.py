"""jaxdl.optim against torch.optim: 5 steps on identical gradients, then a real loop."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxdl import optim

RNG = np.random.default_rng(1)
W0 = {"a": RNG.normal(size=(3, 4)).astype(np.float32), "b": RNG.normal(size=(4,)).astype(np.float32)}
GRADS = [{k: RNG.normal(size=v.shape).astype(np.float32) for k, v in W0.items()} for _ in range(5)]
GRADS[2]["b"][:] = 0.0  # a dead unit: coupled decay still moves it, as in torch


def _torch_run(make_opt, frozen=()):
    params = {k: torch.nn.Parameter(torch.tensor(v.copy())) for k, v in W0.items()}
    trainable = [p for k, p in params.items() if k not in frozen]
    for k in frozen:
        params[k].requires_grad_(False)
    opt = make_opt(trainable)
    for g in GRADS:
        opt.zero_grad()
        for k, p in params.items():
            if k not in frozen:
                p.grad = torch.tensor(g[k])
        opt.step()
    return {k: p.detach().numpy() for k, p in params.items()}


def _jax_run(tx):
    params = jax.tree.map(jnp.asarray, W0)
    state = tx.init(params)
    for g in GRADS:
        updates, state = tx.update(jax.tree.map(jnp.asarray, g), state, params)
        params = optax.apply_updates(params, updates)
    return params


CASES = {
    "sgd": (lambda p: torch.optim.SGD(p, lr=0.1), optim.sgd(0.1)),
    "sgd_momentum": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9), optim.sgd(0.1, momentum=0.9)),
    "sgd_dampening": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5),
                      optim.sgd(0.1, momentum=0.9, dampening=0.5)),
    "sgd_nesterov": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                     optim.sgd(0.1, momentum=0.9, nesterov=True)),
    "sgd_weight_decay": (lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.5, weight_decay=1e-2),
                         optim.sgd(0.1, momentum=0.5, weight_decay=1e-2)),
    "adam": (lambda p: torch.optim.Adam(p, lr=1e-2), optim.adam(1e-2)),
    "adam_weight_decay": (lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2),
                          optim.adam(1e-2, weight_decay=1e-2)),
    "adam_betas_eps": (lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.8, 0.99), eps=1e-6),
                       optim.adam(1e-2, betas=(0.8, 0.99), eps=1e-6)),
    "adamw": (lambda p: torch.optim.AdamW(p, lr=1e-2), optim.adamw(1e-2)),
}


@pytest.mark.parametrize("name", CASES)
def test_five_steps_match_torch(name):
    make_torch, tx = CASES[name]
    expected, got = _torch_run(make_torch), _jax_run(tx)
    for k in W0:
        np.testing.assert_allclose(np.asarray(got[k]), expected[k], rtol=0, atol=1e-6)


def test_freeze_leaves_frozen_weights_bit_identical_and_trains_the_rest():
    tx = optim.freeze(optim.adam(1e-2, weight_decay=1e-2), ["b"])
    got = _jax_run(tx)
    np.testing.assert_array_equal(np.asarray(got["b"]), W0["b"])  # no update, no decay
    expected = _torch_run(lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2), frozen=("b",))
    np.testing.assert_allclose(np.asarray(got["a"]), expected["a"], atol=1e-6)


def test_freeze_pattern_matching_nothing_lists_the_paths():
    tx = optim.freeze(optim.sgd(0.1), ["conv.*"])
    with pytest.raises(ValueError, match="matches no parameter.*a, b"):
        tx.init(jax.tree.map(jnp.asarray, W0))


def test_decoupled_adamw_differs_from_coupled_adam():
    a = _jax_run(optim.adam(1e-2, weight_decay=1e-2))
    w = _jax_run(optax.adamw(1e-2, weight_decay=1e-2))
    assert float(jnp.max(jnp.abs(a["b"] - w["b"]))) > 1e-4


@pytest.mark.parametrize("lr", [0.0, -1e-3])
def test_non_positive_learning_rate_is_refused(lr):
    with pytest.raises(ValueError, match="learning rate must be positive"):
        optim.sgd(lr)


def test_step_lr_counts_epochs_in_steps():
    sched = optim.step_lr(0.1, step_size=2, gamma=0.5, steps_per_epoch=10)
    assert float(sched(19)) == pytest.approx(0.1) and float(sched(20)) == pytest.approx(0.05)


def test_freeze_is_optax_partition_not_its_back_compat_alias():
    # optax.multi_transform is the same function kept for backwards compatibility: a source check
    import inspect

    src = inspect.getsource(optim.freeze)
    assert "optax.partition(" in src and "multi_transform" not in src
    state = optim.freeze(optim.sgd(0.1), ["b"]).init(jax.tree.map(jnp.asarray, W0))
    assert isinstance(state, optax.PartitionState) and set(state.inner_states) == {"train", "frozen"}


def test_unknown_freeze_pattern_lists_parameter_paths():
    tx = optim.freeze(optim.sgd(0.1), ["features"])
    with pytest.raises(ValueError, match="fc1.kernel"):
        tx.init({"fc1": {"kernel": jnp.zeros((2, 2))}})
