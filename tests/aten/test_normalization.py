"""jaxdl.aten normalizations against torch: batch norm in train and eval with the updated
running statistics returned (torch mutates them), layer/group/instance/RMS norm."""

import pytest
import torch

from tests.aten.runner import Case, T, assert_close, check

STATS = ("running_mean", "running_var")


def bn_case(op, training, shape=(4, 3, 5, 2), affine=True, stats=True, id="", **kw):
    """Our outputs: torch's, then the running statistics torch mutated in place."""
    box = {}

    def make(g):
        c = shape[1]
        weight, bias = (T(g, c, low=0.5, high=1.5), T(g, c)) if affine else (None, None)
        rm, rv = (T(g, c), T(g, c, low=0.5, high=2)) if stats else (None, None)
        box.update(rm=rm, rv=rv)
        args = (T(g, *shape) * 3 + 1, weight, bias, rm, rv)
        if op in ("_native_batch_norm_legit_no_training", "_batch_norm_with_update", "_batch_norm_no_update"):
            return args + (0.1, 1e-5), kw
        return args + (training, 0.1, 1e-5) + ((True,) if op == "batch_norm" else ()), kw

    def compare(want, got):
        wants = list(want) if isinstance(want, tuple) else [want]
        extra = {"batch_norm": 2, "native_batch_norm": 2, "_native_batch_norm_legit": 2,
                 "_batch_norm_with_update": 2}.get(op, 0)
        assert len(got) == len(wants) + extra
        assert_close(wants[0], got[0], 1e-5, 1e-5, "output")
        if training or op == "batch_norm":
            for w, o in zip(wants[1:3], got[1:3]):
                assert_close(w, o, 1e-5, 1e-6, "saved statistics")
        if extra and stats:
            assert_close(box["rm"], got[-2], 1e-5, 1e-6, "running_mean")
            assert_close(box["rv"], got[-1], 1e-5, 1e-6, "running_var")
        elif extra:
            assert got[-2] is None and got[-1] is None

    return Case(op, "default", make, id=id, compare=compare, nondiff=STATS, **kw)


def norm(op, overload="default", make=None, id="", **kw):
    return Case(op, overload, make, id=id, **kw)


CASES = [
    bn_case("batch_norm", True, id="train"), bn_case("batch_norm", False, id="eval"),
    bn_case("batch_norm", True, shape=(5, 3, 4), affine=False, id="train_1d_no_affine"),
    bn_case("batch_norm", True, shape=(5, 3), stats=False, id="untracked"),
    bn_case("native_batch_norm", True, id="train"), bn_case("native_batch_norm", False, id="eval"),
    bn_case("_native_batch_norm_legit", True), bn_case("_native_batch_norm_legit_functional", True),
    bn_case("_native_batch_norm_legit_no_training", False),
    bn_case("_batch_norm_with_update", True), bn_case("_batch_norm_no_update", False),
    norm("layer_norm", make=lambda g: ((T(g, 2, 3, 4), [4], T(g, 4), T(g, 4)), {})),
    norm("layer_norm", make=lambda g: ((T(g, 2, 3, 4) * 5 + 3, [3, 4]), {"eps": 1e-6}), id="no_affine"),
    norm("native_layer_norm", make=lambda g: ((T(g, 2, 3, 4), [3, 4], T(g, 3, 4), None, 1e-5), {})),
    norm("group_norm", make=lambda g: ((T(g, 2, 6, 3, 2), 3, T(g, 6), T(g, 6)), {"eps": 1e-6})),
    norm("group_norm", make=lambda g: ((T(g, 2, 4, 5), 4), {}), id="instance_like"),
    norm("native_group_norm", make=lambda g: ((T(g, 2, 6, 3, 2), T(g, 6), T(g, 6), 2, 6, 6, 2, 1e-5), {})),
    norm("instance_norm", make=lambda g: ((T(g, 2, 3, 4, 5), T(g, 3), T(g, 3), None, None, True, 0.1, 1e-5, False),
                                          {}), compare=lambda w, o: assert_close(w, o[0], 1e-5, 1e-5)),
    Case("rms_norm", make=lambda g: ((T(g, 2, 3, 4), [4], T(g, 4)), {"eps": 1e-6})),
    Case("rms_norm", make=lambda g: ((T(g, 2, 3, 4), [3, 4]), {}), id="default_eps"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)


def test_instance_norm_running_statistics():
    """torch averages the per-sample statistics into the running buffers."""
    import jax.numpy as jnp
    import numpy as np

    from jaxdl import aten
    g = torch.Generator().manual_seed(0)
    x, rm, rv = T(g, 3, 2, 4, 5), T(g, 2), T(g, 2, low=0.5, high=1.5)
    jx, jrm, jrv = (jnp.asarray(t.numpy().copy()) for t in (x, rm, rv))
    want = torch.instance_norm(x, None, None, rm, rv, True, 0.3, 1e-5, False)
    y, new_rm, new_rv = aten.instance_norm(jx, None, None, jrm, jrv, True, 0.3, 1e-5, False)
    np.testing.assert_allclose(np.asarray(y), want.numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(new_rm), rm.numpy(), atol=1e-6)
    np.testing.assert_allclose(np.asarray(new_rv), rv.numpy(), atol=1e-6)
    eval_y, *_ = aten.instance_norm(jx, None, None, new_rm, new_rv, False, 0.3, 1e-5, False)
    np.testing.assert_allclose(np.asarray(eval_y), torch.instance_norm(x, None, None, rm, rv, False, 0.3, 1e-5,
                                                                       False).numpy(), atol=1e-5)


def test_batch_norm_refuses_one_value_per_channel_in_training():
    import jax.numpy as jnp

    from jaxdl import aten
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        aten.batch_norm(jnp.ones((1, 3)), None, None, jnp.zeros(3), jnp.ones(3), True, 0.1, 1e-5)
