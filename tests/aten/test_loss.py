"""jaxdl.aten losses against torch: reductions, class weights, ignore_index, label
smoothing, probability targets, spatial inputs."""

import pytest
import torch

from tests.aten.runner import Case, T, check

I64 = torch.int64


def ce(id="", shape=(4, 5), target=None, **kw):
    def make(g):
        x = T(g, *shape) * 2
        t = target(g) if target else T(g, shape[0], *shape[2:], dtype=I64, low=0, high=shape[1])
        return (x, t), kw

    return Case("cross_entropy_loss", "default", make, id=id, nondiff=("weight",))


def pair(op, shape=(3, 4), id="", low=-2.0, high=2.0, tlow=-2.0, thigh=2.0, **kw):
    return Case(op, "default", lambda g: ((T(g, *shape, low=low, high=high), T(g, *shape, low=tlow, high=thigh)), kw),
                id=id)


def signs(g, *shape):
    return torch.where(T(g, *shape, dtype=torch.bool), 1.0, -1.0)


CASES = [
    ce(), ce("weighted_ignore", weight=torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0]), ignore_index=2),
    ce("smoothing", label_smoothing=0.2), ce("smoothing_weighted_ignore", label_smoothing=0.1, ignore_index=1,
                                             weight=torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])),
    ce("sum", reduction=2, label_smoothing=0.3), ce("none", reduction=0),
    ce("spatial", shape=(2, 3, 4, 5), label_smoothing=0.1),
    ce("probabilities", target=lambda g: torch.softmax(T(g, 4, 5), 1), label_smoothing=0.2,
       weight=torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0])),
    ce("unbatched", shape=(5,), target=lambda g: torch.tensor(3)),
    Case("nll_loss", make=lambda g: ((torch.log_softmax(T(g, 4, 5), 1), torch.tensor([0, 4, 2, 2])),
                                     {"weight": torch.tensor([1.0, 2.0, 0.5, 1.0, 3.0]), "ignore_index": 4}),
         nondiff=("weight",)),
    Case("nll_loss2d", make=lambda g: ((T(g, 2, 3, 4, 4), T(g, 2, 4, 4, dtype=I64, low=0, high=3)), {"reduction": 2})),
    Case("nll_loss_nd", make=lambda g: ((T(g, 2, 3, 4), T(g, 2, 4, dtype=I64, low=0, high=3)), {})),
    pair("mse_loss"), pair("mse_loss", reduction=0, id="none"), pair("l1_loss", reduction=2),
    pair("smooth_l1_loss", beta=0.5), pair("smooth_l1_loss", beta=0.0, id="beta0"), pair("huber_loss", delta=0.7),
    pair("binary_cross_entropy", low=0.05, high=0.95, tlow=0, thigh=1),
    Case("binary_cross_entropy", make=lambda g: ((T(g, 3, 4, low=0.1, high=0.9), T(g, 3, 4, low=0, high=1),
                                                  T(g, 4)), {"reduction": 2}), id="weight", nondiff=("weight",)),
    Case("binary_cross_entropy_with_logits", make=lambda g: ((T(g, 3, 4), T(g, 3, 4, low=0, high=1), T(g, 4),
                                                              T(g, 4, low=0.5, high=2)), {}),
         nondiff=("weight", "pos_weight")),
    pair("kl_div", tlow=0.1, thigh=1.0), pair("kl_div", log_target=True, reduction=2, id="log_target"),
    Case("soft_margin_loss", make=lambda g: ((T(g, 3, 4), signs(g, 3, 4)), {}), nondiff=("target",)),
    Case("margin_ranking_loss", make=lambda g: ((T(g, 5), T(g, 5), signs(g, 5)), {"margin": 0.3})),
    Case("hinge_embedding_loss", make=lambda g: ((T(g, 3, 4), signs(g, 3, 4)), {"margin": 0.5})),
    Case("cosine_embedding_loss", make=lambda g: ((T(g, 3, 4), T(g, 3, 4), signs(g, 3)), {"margin": 0.2})),
    Case("triplet_margin_loss", make=lambda g: ((T(g, 3, 4), T(g, 3, 4), T(g, 3, 4)), {"swap": True, "p": 1.5})),
    Case("poisson_nll_loss", make=lambda g: ((T(g, 3, 4), T(g, 3, 4, low=0, high=4), True, True, 1e-8, 1), {})),
    Case("poisson_nll_loss", make=lambda g: ((T(g, 3, 4, low=0.1, high=3), T(g, 3, 4, low=0, high=4), False, False,
                                              1e-8, 2), {}), id="rates"),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)
