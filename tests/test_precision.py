"""Mixed precision (Learner(precision="bf16"), --precision bf16) against
torch.autocast(device_type="cpu", dtype=torch.bfloat16) on the same weights, the
float32 state it keeps, and the float32 matmul precision setting.

Tolerances from measurements over seeds 0-9 at batch 8 (normwise relative error
|a-b|/|b| per tensor, jaxdl bf16 against torch autocast; the three models' maxima):

* outputs <= 1.5e-2 (measured <= 7.7e-3; one bfloat16 rounding is up to 2^-9 = 2e-3),
  losses <= 5e-3 relative (<= 1.7e-3), BatchNorm running statistics <= 1e-2 (<= 2.3e-3);
* last layer's gradients <= 2e-2 (<= 8.5e-3); every gradient <= 0.3 (<= 0.22): in
  bfloat16 a ReLU or max-pool decision flips wherever the two frameworks round a value
  near its threshold differently, and each flip moves a gradient entry by its whole
  size. torch's own autocast gradients are as far from its float32 ones (worst tensor
  per seed: up to 0.14 MNIST CNN, 0.21 TinyVGG, 0.36 MNISTClassifier).

BatchNorm and LayerNorm on the same bfloat16 input are bit-exact with torch autocast
(statistics in float32, output bfloat16).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flax import nnx

import torch_reference as T
from jaxdl import cli, interop, losses, models, optim, runtime
from jaxdl.checkpoint import Checkpointer
from jaxdl.layers import BatchNorm, Conv2d, GroupNorm, InstanceNorm, LayerNorm
from jaxdl.precision import full_precision_mask, set_matmul_precision
from jaxdl.train import Learner

# name: (jaxdl class, torch class, jaxdl loss, torch loss, last layer's torch prefix)
MODELS = {
    "ConvolutionalNetwork": (models.ConvolutionalNetwork, T.ConvolutionalNetwork, losses.nll_loss, F.nll_loss, "fc2"),
    "TinyVGG": (models.TinyVGG, T.TinyVGG, losses.cross_entropy, F.cross_entropy, "classifier.1"),
    "MNISTClassifier": (models.MNISTClassifier, T.MNISTClassifier, losses.cross_entropy, F.cross_entropy, "layer3"),
}


def normwise(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@functools.cache
def _model(name):
    return MODELS[name][0](rngs=nnx.Rngs(0))  # built once (building compiles the initialisers)


def bf16_errors(name: str, seed: int) -> dict[str, float]:
    """Normwise errors of jaxdl bf16 against torch autocast: one training-mode forward and
    backward of the model's loss on a random batch of 8, from torch's init for ``seed``."""
    _, torch_cls, jax_loss, torch_loss, last = MODELS[name]
    torch.manual_seed(seed)
    tm = torch_cls().train()
    learner = Learner(interop.from_torch(nnx.clone(_model(name)), tm.state_dict()), jax_loss, optim.sgd(0.1),
                      precision="bf16")  # converted before torch's forward moves its running statistics
    state = learner.init_state()
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(8, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, 8)
    xt = torch.tensor(x, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out_t = tm(xt)
        loss_t = torch_loss(out_t, torch.tensor(y))
    assert out_t.dtype == torch.bfloat16 and loss_t.dtype == torch.float32
    loss_t.backward()

    def loss_of(params, x):
        out, model = learner._apply(learner.graphdef, params, state.model_state, (x,))
        return jax_loss(out, jnp.asarray(y)), (out, nnx.state(model, nnx.BatchStat))

    (loss, (out, stats)), (gp, gx) = jax.jit(jax.value_and_grad(loss_of, argnums=(0, 1), has_aux=True))(
        state.params, jnp.asarray(x.transpose(0, 2, 3, 1)))
    assert out.dtype == jnp.float32 and loss.dtype == jnp.float32
    grads = interop.to_torch(nnx.merge(learner.graphdef, gp, state.model_state))
    errors = {"output": normwise(out, out_t.detach().float().numpy()),
              "loss": abs(float(loss) - loss_t.item()) / abs(loss_t.item()),
              "input gradient": normwise(np.asarray(gx).transpose(0, 3, 1, 2), xt.grad.numpy())}
    errors.update({f"gradient of {k}": normwise(grads[k].numpy(), p.grad.numpy()) for k, p in tm.named_parameters()})
    if name == "MNISTClassifier":  # BatchNorm's running statistics after the step, float32 in both
        assert stats["bn"]["mean"].dtype == jnp.float32
        errors["running_mean"] = normwise(stats["bn"]["mean"][...], tm.bn.running_mean.numpy())
        errors["running_var"] = normwise(stats["bn"]["var"][...], tm.bn.running_var.numpy())
    errors["last layer"] = max(v for k, v in errors.items() if k.startswith(f"gradient of {last}."))
    return errors


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", MODELS)
def test_bf16_matches_torch_autocast(name, seed):
    e = bf16_errors(name, seed)
    assert e["output"] <= 1.5e-2 and e["loss"] <= 5e-3, e
    assert e["last layer"] <= 2e-2, e
    assert max(v for k, v in e.items() if "gradient" in k) <= 0.3, e
    if name == "MNISTClassifier":
        assert e["running_mean"] <= 1e-2 and e["running_var"] <= 1e-2, e


def test_batchnorm_and_layernorm_in_bf16_equal_torch_autocast():
    """Same bfloat16 input: statistics in float32, output bfloat16, within one bfloat16
    rounding of torch's (measured over 5 seeds: BatchNorm's all equal, 0.4-0.8% of
    LayerNorm's one bfloat16 step apart: their float32 statistics differ in the last
    bits). The offset of 100 would wreck statistics computed in bfloat16 (its step there
    is 0.5)."""
    rng = np.random.default_rng(0)
    x = (100 + rng.normal(size=(16, 5, 5, 6))).astype(np.float32)
    xb = torch.tensor(x).to(torch.bfloat16)
    tbn, tln = torch.nn.BatchNorm2d(6).train(), torch.nn.LayerNorm(6)
    with torch.no_grad():
        for m in (tbn, tln):
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-1, 1)
    bn = interop.from_torch(BatchNorm(6), tbn.state_dict())  # before torch's forward moves its statistics
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        bn_t, ln_t = tbn(xb.permute(0, 3, 1, 2)).permute(0, 2, 3, 1), tln(xb)
    ln = LayerNorm(6, rngs=nnx.Rngs(0))
    ln.scale[...], ln.bias[...] = jnp.asarray(tln.weight.detach().numpy()), jnp.asarray(tln.bias.detach().numpy())
    xj = jnp.asarray(x).astype(jnp.bfloat16)
    bn_j, ln_j = bn(xj), ln(xj)
    assert bn_t.dtype == ln_t.dtype == torch.bfloat16
    assert bn_j.dtype == ln_j.dtype == jnp.bfloat16 and bn.mean[...].dtype == bn.var[...].dtype == jnp.float32
    for got, want in ((bn_j, bn_t), (ln_j, ln_t)):
        got, want = np.asarray(got.astype(jnp.float32)), want.float().numpy()
        bf16_step = 2.0 ** (np.floor(np.log2(np.maximum(np.abs(want), 1e-30))) - 7)
        assert np.all(np.abs(got - want) <= bf16_step + 1e-4)
        assert np.mean(got != want) <= 0.02
    np.testing.assert_allclose(np.asarray(bn.mean[...]), tbn.running_mean.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(bn.var[...]), tbn.running_var.numpy(), rtol=1e-6)


def _images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 28, 28, 1)).astype(np.float32), rng.integers(0, 10, n).astype(np.int32)


def test_bf16_keeps_float32_parameters_optimizer_state_and_statistics():
    model = nnx.clone(_model("MNISTClassifier"))
    mask = full_precision_mask(model)
    assert mask["bn"] == {"scale": True, "bias": True} and mask["ln"] == {"scale": True, "bias": True}
    assert not any(jax.tree.leaves([mask["layer1"], mask["layer2"], mask["layer3"]]))
    learner = Learner(model, losses.cross_entropy, optim.adam(1e-3), precision="bf16")
    state, m = learner.train_step(learner.init_state(), _images(8))
    floating = [a for a in jax.tree.leaves((state.params, state.opt_state, state.model_state))
                if jnp.issubdtype(a.dtype, jnp.floating)]
    assert {a.dtype for a in floating} == {jnp.dtype(jnp.float32)}
    assert m["loss"].dtype == jnp.float32 and learner.predict(state, _images(2)[0]).dtype == jnp.float32
    text = jax.jit(learner._train_step).lower(learner.init_state(), _images(8)).as_text()
    dots = [line for line in text.splitlines() if "stablehlo.dot_general" in line]
    assert dots and all("xbf16>, tensor<" in line for line in dots)  # every matmul in bfloat16


def test_group_and_instance_norm_parameters_stay_float32_under_bf16():
    """GroupNorm and InstanceNorm compute in float32 like BatchNorm: their scale and bias are kept so."""

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.conv = Conv2d(1, 4, 3, rngs=rngs)
            self.gn = GroupNorm(2, 4)
            self.inorm = InstanceNorm(4, affine=True)

        def __call__(self, x):
            return self.inorm(self.gn(self.conv(x))).mean((1, 2))

    mask = full_precision_mask(Net(nnx.Rngs(0)))
    assert mask["gn"] == {"scale": True, "bias": True} and mask["inorm"] == {"scale": True, "bias": True}
    assert not any(jax.tree.leaves(mask["conv"]))


def test_bf16_checkpoint_restores_into_a_float32_learner(tmp_path):
    """The checkpoint format is unchanged: a bf16 run's train state is float32."""
    bf16 = Learner(nnx.clone(_model("ConvolutionalNetwork")), losses.nll_loss, optim.adam(1e-3), precision="bf16")
    state, _ = bf16.train_steps(bf16.init_state(), tuple(a.reshape(2, 4, *a.shape[1:]) for a in _images(8)))
    assert {a.dtype for a in jax.tree.leaves(state)} == {jnp.dtype(jnp.float32), jnp.dtype(jnp.int32)}
    with Checkpointer(tmp_path / "ckpt") as ckpt:
        ckpt.save(1, state, {"val_accuracy": 0.5})
    f32 = Learner(nnx.clone(_model("ConvolutionalNetwork")), losses.nll_loss, optim.adam(1e-3))
    with Checkpointer(tmp_path / "ckpt") as ckpt:
        restored, meta = ckpt.restore(f32.init_state())
    assert meta["epoch"] == 1 and int(restored.step) == 2
    for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored)):
        assert b.dtype == a.dtype
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    after, m = f32.train_step(restored, _images(4, seed=1))  # trains on in float32
    assert np.isfinite(float(m["loss"])) and int(after.step) == 3


def test_bad_precision_names_are_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        Learner(nnx.clone(_model("ConvolutionalNetwork")), losses.nll_loss, optim.adam(1e-3), precision="fp16")
    with pytest.raises(ValueError, match="matmul precision must be one of"):
        set_matmul_precision("tf32")


def test_cli_flags_set_precision_and_matmul_precision():
    """--precision reaches the run configuration experiments pass to Learner;
    --matmul-precision becomes JAX's process-wide setting once runtime.setup has run."""
    before = jax.config.jax_default_matmul_precision
    p = cli.parser("t: test", epochs=1, batch_size=1, lr=1.0)
    try:
        config = cli.parse(p, ["--precision", "bf16", "--matmul-precision", "high"])
        runtime.setup(config)
        assert config.precision == "bf16" and jax.config.jax_default_matmul_precision == "high"
        defaults = cli.parse(p, [])
        assert defaults.precision == "f32" and defaults.matmul_precision == "highest"
    finally:
        jax.config.update("jax_default_matmul_precision", before)
    with pytest.raises(SystemExit):
        p.parse_args(["--precision", "fp16"])


@pytest.mark.slow
def test_bf16_fashion_mnist_accuracy_within_a_point_of_float32(tmp_path):
    """The notes' MNIST CNN recipe for one epoch on Fashion-MNIST (.ci/run installs it),
    float32 and bf16 from the same init. Measured: 84.75% / 84.85% after one epoch,
    88.24% / 88.65% after the recipe's five (README)."""
    from experiments import mnist_cnn

    session = jax.config.jax_default_matmul_precision or "default"
    accuracy = {}
    for p in ("f32", "bf16"):
        out = mnist_cnn.main(["--dataset", "fashion_mnist", "--epochs", "1", "--precision", p,
                              "--matmul-precision", session, "--workdir", str(tmp_path / p), "--no-progress"])
        accuracy[p] = out.metrics["test_accuracy"]
    assert accuracy["f32"] >= 0.83, accuracy
    assert abs(accuracy["bf16"] - accuracy["f32"]) <= 0.01, accuracy
