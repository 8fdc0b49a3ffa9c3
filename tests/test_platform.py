"""Per-platform formulations (jaxdl.platform), proven on a CPU-only machine.

The train steps of the MNIST CNN, TinyVGG and CifarNet exported for ``cuda`` and ``tpu``
(``jax.export``, which lowers for a platform without its hardware) contain the ops
those compilers are built for: every convolution a ``stablehlo.convolution``, no
im2col matmul, max-pool as ``reduce_window`` (backward: ``select_and_scatter``). The
CPU export keeps the CPU formulations. The exact program exported for ``cuda``, run on
the CPU, matches torch in values and gradients, so the non-CPU branch is tested for
numbers, not only for its ops.
"""

import dataclasses
import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flax import nnx

import torch_reference as T
from jaxdl import interop, losses, models, optim
from jaxdl.layers import Conv2d, max_pool2d
from jaxdl.train import Learner

# name: (jaxdl factory, torch class, NHWC input shape, loss)
MODELS = {
    "ConvolutionalNetwork": (models.ConvolutionalNetwork, T.ConvolutionalNetwork, (2, 28, 28, 1), losses.nll_loss),
    "TinyVGG": (models.TinyVGG, T.TinyVGG, (2, 28, 28, 1), losses.cross_entropy),
    "CifarNet": (models.CifarNet, T.CifarNet, (2, 32, 32, 3), losses.cross_entropy),
}
MAX_POOLS = 2  # each of the three models has two 2x2 max-pools


# ------------------------------------------------------------------ reading StableHLO
def ops(mlir: str, name: str) -> list[str]:
    """The lines of ``mlir`` that define a ``stablehlo.<name>`` op (either print form)."""
    pattern = re.compile(rf'= "?stablehlo\.{name}\b')
    return [line for line in mlir.splitlines() if pattern.search(line)]


def operand_types(line: str) -> list[tuple[tuple[int, ...], str]]:
    """(shape, element type) of each operand of an op line: ``(tensor<2x400xf32>, ...) -> ...``."""
    operands = re.search(r" : \((tensor<.*?)\) -> ", line).group(1)
    return [(tuple(int(d) for d in dims.split("x") if d), dtype)
            for dims, dtype in re.findall(r"tensor<((?:\d+x)*)(\w+)>", operands)]


def im2col_matmuls(mlir: str, conv_kernels) -> list[str]:
    """dot_general ops that contract over C*kh*kw of one of the convolutions (kernels
    HWIO): the im2col's matmul of the patch matrix, (C*kh*kw, N*Ho*Wo), with the kernel."""
    patch_lengths = {kh * kw * ci for kh, kw, ci, _ in conv_kernels if kh * kw > 1}
    found = []
    for line in ops(mlir, "dot_general"):
        lhs_dims = re.search(r"contracting_dims = \[([\d, ]*)\] x", line).group(1)
        lhs_shape = operand_types(line)[0][0]
        contracted = math.prod(lhs_shape[int(d)] for d in lhs_dims.split(",") if d.strip())
        if contracted in patch_lengths:
            found.append(line)
    return found


def reshape_max_pools(mlir: str) -> list[str]:
    """The CPU max-pool: a max over axes 2 and 4 of a (N, H/2, 2, W/2, 2, C) reshape."""
    return [line for line in ops(mlir, "reduce") if "applies stablehlo.maximum across dimensions = [2, 4]" in line]


# ------------------------------------------------------------------ the train steps
@functools.cache
def _model(name: str) -> nnx.Module:
    """Built once per module (building compiles the initialisers); use copies."""
    return MODELS[name][0](rngs=nnx.Rngs(0))


@functools.cache
def _learner(name: str, precision: str = "f32"):
    _, _, shape, loss = MODELS[name]
    model = nnx.clone(_model(name))
    kernels = [m.kernel[...].shape for _, m in nnx.iter_modules(model) if isinstance(m, Conv2d)]
    learner = Learner(model, loss, optim.adam(1e-3), precision=precision)
    batch = (jnp.zeros(shape, jnp.float32), jnp.zeros(shape[:1], jnp.int32))
    return learner, batch, kernels


def _export_step(learner, batch, fused: bool, platform: str) -> str:
    state = learner.init_state()
    if fused:  # Learner.train_steps: a lax.scan over 3 stacked batches
        batch = tuple(jnp.stack([a] * 3) for a in batch)
    step = learner._train_steps if fused else learner._train_step
    return jax.export.export(jax.jit(step), platforms=[platform])(state, batch).mlir_module()


@pytest.mark.parametrize("fused", [False, True], ids=["train_step", "train_steps"])
@pytest.mark.parametrize("name", MODELS)
def test_accelerator_exports_use_native_convolution_and_reduce_window(name, fused):
    learner, batch, kernels = _learner(name)
    for platform in ("cuda", "tpu"):
        mlir = _export_step(learner, batch, fused, platform)
        # per conv layer: forward + kernel gradient (ops(..., "convolution") counts them),
        # + input gradient for every conv but the first (its input is the data)
        assert len(ops(mlir, "convolution")) == 3 * len(kernels) - 1, platform
        assert im2col_matmuls(mlir, kernels) == [], platform
        assert len(ops(mlir, "reduce_window")) == MAX_POOLS, platform
        assert len(ops(mlir, "select_and_scatter")) == MAX_POOLS, platform  # reduce_window's backward
        assert reshape_max_pools(mlir) == [], platform


@pytest.mark.parametrize("fused", [False, True], ids=["train_step", "train_steps"])
@pytest.mark.parametrize("name", MODELS)
def test_cpu_export_keeps_im2col_and_reshape_pool(name, fused):
    learner, batch, kernels = _learner(name)
    mlir = _export_step(learner, batch, fused, "cpu")
    assert ops(mlir, "convolution") == []  # every conv of these models is stride 1
    assert len(im2col_matmuls(mlir, kernels)) == len(kernels)  # the check catches the CPU path
    assert len(reshape_max_pools(mlir)) == MAX_POOLS
    assert ops(mlir, "reduce_window") == [] and ops(mlir, "select_and_scatter") == []


@pytest.mark.parametrize("name", MODELS)
def test_bf16_accelerator_export_computes_convolutions_and_matmuls_in_bfloat16(name):
    learner, batch, kernels = _learner(name, precision="bf16")
    mlir = _export_step(learner, batch, False, "cuda")
    convs_and_dots = ops(mlir, "convolution") + ops(mlir, "dot_general")
    assert len(ops(mlir, "convolution")) == 3 * len(kernels) - 1
    assert {dtype for line in convs_and_dots for _, dtype in operand_types(line)} == {"bf16"}


def test_matmul_precision_reaches_every_accelerator_convolution_and_matmul():
    learner, batch, _ = _learner("ConvolutionalNetwork")
    for name in ("highest", "default"):
        with jax.default_matmul_precision(name):
            mlir = _export_step(learner, batch, False, "cuda")
        lines = ops(mlir, "convolution") + ops(mlir, "dot_general")
        tag = name.upper()
        assert all(f"precision {tag}>" in line or f"precision = [{tag}, {tag}]" in line
                   for line in lines if "precision" in line), name
        if name == "highest":  # attached to every op (DEFAULT may be left implicit)
            assert all("precision" in line for line in lines)


# ------------------------------------------------------------------ values of the default branch
def run_as_exported_for(platform: str, fn, *args):
    """``fn(*args)`` compiled from the StableHLO exported for ``platform`` (its branch of
    every ``lax.platform_dependent``), executed on this machine's CPU."""
    exported = jax.export.export(jax.jit(fn), platforms=[platform])(*args)
    return dataclasses.replace(exported, platforms=("cpu",)).call(*args)


def test_cpu_branch_placeholders_in_the_cuda_program_compile_away():
    """Autodiff of a platform_dependent gives both branches the same residuals, so the
    cuda program passes a zero placeholder of the im2col patch matrix (C*kh*kw,
    N*Ho*Wo) = (9, 1352) of conv1 to the backward. Compiled (here by XLA:CPU, whose HLO
    passes for conditionals XLA:GPU shares) the constant-index case is inlined and the
    placeholder is gone."""
    learner, batch, _ = _learner("ConvolutionalNetwork")
    state = learner.init_state()
    exported = jax.export.export(jax.jit(learner._train_step), platforms=["cuda"])(state, batch)
    assert "tensor<9x1352xf32>" in exported.mlir_module() and ops(exported.mlir_module(), "case")
    on_cpu = dataclasses.replace(exported, platforms=("cpu",))
    compiled = jax.jit(on_cpu.call).lower(state, batch).compile().as_text()
    assert "f32[9,1352]" not in compiled and "conditional(" not in compiled
    assert compiled.count(" convolution(") == 5


@pytest.mark.parametrize("name", MODELS)
def test_cuda_program_matches_torch_on_cpu(name):
    """Outputs, input gradients and parameter gradients of the cuda lowering (native
    convolutions, reduce_window pools) against torch, at the float32 parity tolerance."""
    _, torch_cls, shape, _ = MODELS[name]
    torch.manual_seed(0)
    tm = torch_cls()
    jm = interop.from_torch(nnx.clone(_model(name)), tm.state_dict())
    x_NCHW = np.random.default_rng(0).normal(size=(shape[0], shape[3], *shape[1:3])).astype(np.float32)
    xt = torch.tensor(x_NCHW, requires_grad=True)
    out_t = tm(xt)
    r = np.random.default_rng(1).normal(size=out_t.shape).astype(np.float32)
    (out_t * torch.from_numpy(r)).sum().backward()

    graphdef, params = nnx.split(jm, nnx.Param)

    def f(params, x):
        out = nnx.merge(graphdef, params)(x)
        return jnp.sum(out * r), out

    (_, out), (gp, gx) = run_as_exported_for("cuda", jax.value_and_grad(f, argnums=(0, 1), has_aux=True),
                                             params, jnp.asarray(x_NCHW.transpose(0, 2, 3, 1)))
    scale = max(1.0, float(out_t.detach().abs().max()))
    np.testing.assert_allclose(np.asarray(out), out_t.detach().numpy(), atol=1e-5 * scale)
    np.testing.assert_allclose(np.asarray(gx).transpose(0, 3, 1, 2), xt.grad.numpy(), atol=1e-5)
    grads = interop.to_torch(nnx.merge(graphdef, gp))
    for k, p in tm.named_parameters():
        np.testing.assert_allclose(grads[k].numpy(), p.grad.numpy(), atol=1e-5 * max(1.0, float(p.grad.abs().max())),
                                   err_msg=k)


def test_cuda_max_pool_routes_tied_gradients_like_torch():
    """The tiled 2x2 max-pool's default branch (reduce_window + select_and_scatter) on
    integer inputs full of ties: each window's gradient goes to its first maximum."""
    x = np.random.default_rng(0).integers(0, 3, (2, 3, 8, 8)).astype(np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = F.max_pool2d(xt, 2)
    r = np.random.default_rng(1).normal(size=yt.shape).astype(np.float32)
    (yt * torch.from_numpy(r)).sum().backward()
    f = lambda x: jnp.sum(max_pool2d(x, 2) * r.transpose(0, 2, 3, 1))
    x_nhwc = jnp.asarray(x.transpose(0, 2, 3, 1))
    mlir = jax.export.export(jax.jit(jax.grad(f)), platforms=["cuda"])(x_nhwc).mlir_module()
    assert len(ops(mlir, "select_and_scatter")) == 1 and reshape_max_pools(mlir) == []
    gx = run_as_exported_for("cuda", jax.grad(f), jnp.asarray(x.transpose(0, 2, 3, 1)))
    np.testing.assert_array_equal(np.asarray(gx).transpose(0, 3, 1, 2), xt.grad.numpy())
