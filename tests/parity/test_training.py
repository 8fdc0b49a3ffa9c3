"""Training trajectories: jaxdl's Learner.train_step against the notes' PyTorch loop,
same weights, same full batch, 100 steps; final loss and parameters within 1e-4
(relative) of torch float32 or float64. BatchNorm running statistics and eval outputs
after training."""

import copy

import jax.numpy as jnp
import numpy as np
import pytest
import torch

from jaxdl import interop, losses, optim
from jaxdl.train import Learner
from tests.parity import torch_device
from tests.parity.test_models import make_pair, to_jax_input

# model: (jax loss, torch loss, jax optimizer, torch optimizer, labels, steps)
RECIPES = {
    "LinearRegression": (lambda o, y: losses.mse_loss(o, y, "sum"), torch.nn.MSELoss(reduction="sum"),
                         optim.sgd(1e-3), lambda p: torch.optim.SGD(p, lr=1e-3), "regression", 100),
    "LogisticRegression": (losses.bce_loss, torch.nn.BCELoss(), optim.sgd(0.1),
                           lambda p: torch.optim.SGD(p, lr=0.1), "binary", 100),
    "IrisModel": (losses.cross_entropy, torch.nn.CrossEntropyLoss(), optim.adam(0.01),
                  lambda p: torch.optim.Adam(p, lr=0.01), "classes3", 100),
    "WideDeep": (losses.bce_loss, torch.nn.BCELoss(), optim.sgd(0.1),
                 lambda p: torch.optim.SGD(p, lr=0.1), "binary", 100),
    "Net": (losses.cross_entropy, torch.nn.CrossEntropyLoss(), optim.sgd(0.01, momentum=0.5),
            lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.5), "classes10", 100),
    # SGD here: with Adam, BatchNorm at batch 6 leaves gradients of ~1e-9 whose float noise Adam
    # normalises into lr-sized steps of either sign (1e-3 apart after 100 steps, in fp32 and fp64 alike)
    "MNISTClassifier": (losses.cross_entropy, torch.nn.CrossEntropyLoss(),
                        optim.sgd(0.05, momentum=0.9, weight_decay=1e-4),
                        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, weight_decay=1e-4), "classes10", 100),
    "FashionMNISTModel": (losses.cross_entropy, torch.nn.CrossEntropyLoss(), optim.sgd(0.1),
                          lambda p: torch.optim.SGD(p, lr=0.1), "classes10", 100),
    "ConvolutionalNetwork": (losses.nll_loss, torch.nn.NLLLoss(), optim.adam(1e-3),
                             lambda p: torch.optim.Adam(p, lr=1e-3), "classes10", 100),
    "LeNet5": (losses.cross_entropy, torch.nn.CrossEntropyLoss(), optim.sgd(0.01, momentum=0.9),
               lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9), "classes10", 100),
    # 4 ReLU convs on random data at the notes' lr 0.1 is chaotic: float32 rounding differences
    # (same with reduce_window pooling, so not max-pool ties) grow to 5e-2 by step 100; both
    # frameworks agree to 1e-6 for the first 20 steps. lr 0.01 for 40 steps stays within 1e-4.
    "TinyVGG": (losses.cross_entropy, torch.nn.CrossEntropyLoss(), optim.sgd(0.01),
                lambda p: torch.optim.SGD(p, lr=0.01), "classes10", 40),
    "CifarNet": (losses.cross_entropy, torch.nn.CrossEntropyLoss(), optim.sgd(0.001, momentum=0.9),
                 lambda p: torch.optim.SGD(p, lr=0.001, momentum=0.9), "classes10", 100),
    "CNN": (losses.cross_entropy, torch.nn.CrossEntropyLoss(), optim.adam(1e-3),
            lambda p: torch.optim.Adam(p, lr=1e-3), "classes10", 100),
    "LSTMNetwork": (losses.mse_loss, torch.nn.MSELoss(), optim.adam(1e-3),
                    lambda p: torch.optim.Adam(p, lr=1e-3), "next", 100),
}


def _labels(kind, x, n):
    rng = np.random.default_rng(7)
    if kind == "regression":
        return (2 * x + 1).astype(np.float32)
    if kind == "binary":
        return rng.integers(0, 2, (n, 1)).astype(np.float32)
    if kind == "next":
        return np.array([0.3], np.float32)
    return rng.integers(0, int(kind[len("classes"):]), n).astype(np.int64)


def _rel(a, b):
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


@pytest.mark.parametrize("name", RECIPES)
def test_100_steps_match_torch(name):
    """100 steps of the same recipe in jaxdl, torch float32 and torch float64 (the exact
    answer to float32's eyes): jaxdl must be within 1e-4 of torch float32 or of float64.
    Adam turns tiny float32 rounding differences into lr-sized steps, so after 100 steps
    torch's own float32 run can be 1.7e-4 from float64 (CNN) while jaxdl is 1.5e-6 from it:
    closer to the exact answer than torch, which is not a mismatch. Beyond 1e-4 of both,
    jaxdl passes only when it is no further from float64 than twice torch float32's own
    distance (the rule of the torchvision tests): on a GPU, cuDNN's summation order differs
    from the CPU's, and Adam amplifies it (CNN conv1: 1.7e-4 on an H200)."""
    jloss, tloss, tx, topt, kind, steps = RECIPES[name]
    tm, jm, x, image = make_pair(name, seed=11)
    if name == "LinearRegression":
        x = np.arange(1, 9, dtype=np.float32)[:, None] / 8
    y = _labels(kind, x, len(x))
    task = {"regression": "regression", "next": "regression", "binary": "binary_probs"}.get(kind, "multiclass")
    learner = Learner(jm, jloss, tx, task=task)
    state = learner.init_state()
    batch = (jnp.asarray(to_jax_input(x, image)), jnp.asarray(y.astype(np.int32) if y.dtype == np.int64 else y))
    dev = torch_device()
    tm = tm.to(dev)
    t64 = copy.deepcopy(tm).double()
    xs = {tm: torch.tensor(x, device=dev), t64: torch.tensor(x, device=dev).double()}
    ys = {tm: torch.tensor(y, device=dev),
          t64: torch.tensor(y, device=dev).double() if y.dtype == np.float32 else torch.tensor(y, device=dev)}
    opts = {tm: topt(tm.parameters()), t64: topt(t64.parameters())}
    for m in opts:
        m.train()
    for _ in range(steps):
        state, _m = learner.train_step(state, batch)
        for m, opt in opts.items():
            loss = tloss(m(xs[m]), ys[m])
            opt.zero_grad()
            loss.backward()
            opt.step()
    for m in opts:
        m.eval()  # final loss and outputs in eval mode (BatchNorm on its running statistics)
    final_j = float(learner.eval_step(state, batch)["loss"])
    got = interop.to_torch(learner.model(state))
    out_j = np.asarray(learner.predict(state, batch[0]))
    ref32, ref64 = tm.state_dict(), t64.state_dict()
    def close(a, t32, t64):  # within 1e-4 of torch float32 or float64, or float32 rounding (docstring)
        err = min(_rel(a, t32), _rel(a, t64))
        return err <= 1e-4 or _rel(a, t64) <= 2 * _rel(t32, t64), err

    for k, v in ref32.items():
        ok, err = close(got[k].numpy().astype(np.float64), v.cpu().numpy().astype(np.float64),
                        ref64[k].cpu().numpy().astype(np.float64))
        assert ok, (k, err)
    final_t, out_t = {}, {}
    for m in opts:
        final_t[m] = np.array([tloss(m(xs[m]), ys[m]).item()])
        out_t[m] = m(xs[m]).detach().cpu().numpy().astype(np.float64)
    for what, j, t in [("final loss", np.array([final_j]), final_t), ("outputs", out_j, out_t)]:
        ok, err = close(np.asarray(j, np.float64), t[tm], t[t64])
        assert ok, f"{what} differ from torch float32 and float64 by {err:.3g}"
