"""BatchNorm under data parallelism, two CPU devices in one process, against torch's
reference formulas:

* ``DataParallel()`` (default, ``batch_norm="global"``): statistics of the global batch,
  torch's ``nn.SyncBatchNorm`` = torch ``BatchNorm`` run on the whole batch;
* ``DataParallel(batch_norm="per_replica")``: each device's shard normalised with its
  own statistics, as ``nn.BatchNorm`` under ``DistributedDataParallel`` = torch
  ``BatchNorm`` run on each replica's shard; DDP's gradient is the mean of the
  replicas' gradients; the running statistics move by the mean of the replicas'
  statistics (jaxdl's choice: DDP keeps rank 0's, see jaxdl.layers.BatchNorm).

Compared: the training-mode outputs, the loss and the gradients of one SGD step of
the notes' MNISTClassifier (BatchNorm1d + LayerNorm), its running statistics, and a
BatchNorm2d on an NHWC batch (statistics over batch and space). The jaxdl side runs
in a subprocess with ``XLA_FLAGS=--xla_force_host_platform_device_count=2``.
"""

import copy
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import torch_reference as T

ROOT = Path(__file__).resolve().parents[2]
LR = 1.0  # one SGD step: the parameter change is minus the gradient

JAX_SIDE = r"""
import sys
import jax, jax.numpy as jnp, numpy as np
from flax import nnx
from jaxdl import interop, losses, optim
from jaxdl.layers import BatchNorm
from jaxdl.models import MNISTClassifier
from jaxdl.parallel import DataParallel
from jaxdl.train import Learner

tmp = sys.argv[1]
data = np.load(f"{tmp}/inputs.npz")
x, y, img = data["x"].transpose(0, 2, 3, 1), data["y"], data["img"].transpose(0, 2, 3, 1)
assert jax.device_count() == 2
out = {}
for mode in ("global", "per_replica"):
    dp = DataParallel(batch_norm=mode)
    model = interop.from_torch(MNISTClassifier(rngs=nnx.Rngs(0)), f"{tmp}/mnist_classifier.pt")
    learner = Learner(model, losses.cross_entropy, optim.sgd(LR), parallel=dp)
    state = learner.init_state()
    batch = learner.shard((x, y))
    assert len(batch[0].sharding.device_set) == 2 and not batch[0].sharding.is_fully_replicated
    forward = jax.jit(lambda p, rest, x: nnx.merge(learner.graphdef, p, rest, copy=True)(x))
    out[f"{mode}/output"] = forward(state.params, state.model_state, batch[0])
    odd = learner.shard((x[:7], y[:7]))[0]  # an odd batch is not split over the devices (replicated)
    out[f"{mode}/odd_output"] = forward(state.params, state.model_state, odd)
    params = interop.to_torch(nnx.merge(learner.graphdef, state.params, state.model_state))
    new, m = learner.train_step(state, batch)  # donates state
    out[f"{mode}/loss"] = m["loss"]
    stepped = interop.to_torch(nnx.merge(learner.graphdef, new.params, new.model_state))
    for k, v in stepped.items():
        out[f"{mode}/step/{k}"] = v.numpy()
        if k in params and "running" not in k and "num_batches" not in k:
            out[f"{mode}/grad/{k}"] = (params[k].numpy() - v.numpy()) / LR
    # BatchNorm2d on NHWC images: statistics over batch, height and width
    bn = interop.from_torch(dp.prepare(BatchNorm(3)), f"{tmp}/bn2d.pt")
    graphdef, bn_state = nnx.split(bn)
    def bn_step(s, x):
        layer = nnx.merge(graphdef, s, copy=True)
        return layer(x), nnx.state(layer)
    y_img, s_img = jax.jit(bn_step)(bn_state, jax.device_put(img, dp.batch_sharding))
    out[f"{mode}/bn2d/output"] = y_img
    out[f"{mode}/bn2d/mean"], out[f"{mode}/bn2d/var"] = s_img["mean"][...], s_img["var"][...]
np.savez(f"{tmp}/jax.npz", **{k: np.asarray(v) for k, v in out.items()})
""".replace("LR", repr(LR))


def _run_jax_side(tmp_path):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=2",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", JAX_SIDE, str(tmp_path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(np.load(tmp_path / "jax.npz"))


def _torch_step(model, x, y):
    """Training-mode outputs and loss on (x, y), then the gradients (torch layout)."""
    out = model.train()(torch.tensor(x))
    loss = F.cross_entropy(out, torch.tensor(y))
    loss.backward()
    return out.detach().numpy(), loss.item(), {k: p.grad.numpy() for k, p in model.named_parameters()}


def _torch_references(tm, bn2d, x, y, img):
    """{mode/...}: SyncBatchNorm = one BatchNorm over the whole batch; DDP = one replica
    per half of the batch, gradients averaged, running statistics averaged (jaxdl)."""
    ref = {}
    model = copy.deepcopy(tm)
    ref["global/output"], ref["global/loss"], grads = _torch_step(model, x, y)
    ref.update({f"global/grad/{k}": g for k, g in grads.items()})
    ref.update({f"global/step/bn.{k}": v.numpy() for k, v in model.bn.named_buffers()})
    replicas = [copy.deepcopy(tm) for _ in range(2)]
    steps = [_torch_step(r, xs, ys) for r, xs, ys in zip(replicas, np.split(x, 2), np.split(y, 2))]
    ref["per_replica/output"] = np.concatenate([s[0] for s in steps])
    ref["per_replica/loss"] = np.mean([s[1] for s in steps])  # equal shards: the global mean
    ref.update({f"per_replica/grad/{k}": np.mean([s[2][k] for s in steps], axis=0) for k in steps[0][2]})
    for name in ("running_mean", "running_var"):
        ref[f"per_replica/step/bn.{name}"] = np.mean([getattr(r.bn, name).numpy() for r in replicas], axis=0)
    # BatchNorm2d alone, NCHW in torch
    whole = copy.deepcopy(bn2d).train()
    ref["global/bn2d/output"] = whole(torch.tensor(img)).detach().numpy()
    ref["global/bn2d/mean"], ref["global/bn2d/var"] = whole.running_mean.numpy(), whole.running_var.numpy()
    halves = [copy.deepcopy(bn2d).train() for _ in range(2)]
    ref["per_replica/bn2d/output"] = np.concatenate(
        [h(torch.tensor(part)).detach().numpy() for h, part in zip(halves, np.split(img, 2))])
    ref["per_replica/bn2d/mean"] = np.mean([h.running_mean.numpy() for h in halves], axis=0)
    ref["per_replica/bn2d/var"] = np.mean([h.running_var.numpy() for h in halves], axis=0)
    return ref


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bn_parallel")
    torch.manual_seed(0)
    tm, bn2d = T.MNISTClassifier(), torch.nn.BatchNorm2d(3)
    with torch.no_grad():
        bn2d.weight.uniform_(0.5, 1.5)
        bn2d.bias.uniform_(-1, 1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 1, 28, 28)).astype(np.float32)
    x[4:] = 2 * x[4:] + 1  # the two shards differ, so per-replica statistics differ from global ones
    y = rng.integers(0, 10, 8)
    img = (rng.normal(size=(4, 3, 5, 5)) * np.array([1, 2, 3])[None, :, None, None]).astype(np.float32)
    img[2:] += 1
    torch.save(tm.state_dict(), tmp / "mnist_classifier.pt")
    torch.save(bn2d.state_dict(), tmp / "bn2d.pt")
    np.savez(tmp / "inputs.npz", x=x, y=y, img=img)
    return _run_jax_side(tmp), _torch_references(tm, bn2d, x, y, img)


def _close(got, want, what, tol=1e-5):
    scale = max(1.0, float(np.max(np.abs(want))))
    err = float(np.max(np.abs(np.asarray(got, np.float64) - np.asarray(want, np.float64))))
    assert err <= tol * scale, f"{what}: max abs diff {err:.3g} > {tol:g} (scale {scale:.3g})"


@pytest.mark.parametrize("mode", ["global", "per_replica"])
def test_batchnorm_statistics_under_data_parallel_match_torch(results, mode):
    jax_side, ref = results
    _close(jax_side[f"{mode}/output"], ref[f"{mode}/output"], "output")
    _close(jax_side[f"{mode}/loss"], ref[f"{mode}/loss"], "loss")
    grads = [k for k in ref if k.startswith(f"{mode}/grad/")]
    assert len(grads) == 10  # 3 Linear (weight, bias), BatchNorm and LayerNorm (weight, bias)
    for k in grads:
        _close(jax_side[k], ref[k], k)
    for k in ("running_mean", "running_var"):
        _close(jax_side[f"{mode}/step/bn.{k}"], ref[f"{mode}/step/bn.{k}"], k)
    for k in ("output", "mean", "var"):
        got = jax_side[f"{mode}/bn2d/{k}"]
        _close(got.transpose(0, 3, 1, 2) if k == "output" else got, ref[f"{mode}/bn2d/{k}"], f"BatchNorm2d {k}")


def test_the_two_modes_differ_and_an_odd_batch_is_one_slice(results):
    jax_side, ref = results
    assert np.max(np.abs(ref["global/output"] - ref["per_replica/output"])) > 0.05  # the test can tell them apart
    np.testing.assert_allclose(jax_side["per_replica/odd_output"], jax_side["global/odd_output"], atol=1e-6)
