"""torchvision 0.28's backbones (CPU, ``weights=None``) against jaxdl.models.vision.

For every model: torchvision's random weights, BatchNorm statistics calibrated first
(random nets in eval mode have pathological scales: resnet152 logits ~1e7, inception
~1e12 with running stats 0/1), copied with ``interop.from_torch``; then

* ``to_torch(from_torch(sd)) == sd`` key for key, bit-exact and same dtype, and
  torchvision's ``load_state_dict(strict=True)`` takes it;
* eval mode: every submodule's output (torch forward hooks against jaxdl's module calls,
  the pattern of n2cholas/jax-resnet) and the logits within ``TOL`` (1e-4) of their scale,
  checked in torch's execution order so a failure names the first block that differs.
  Deep random ResNets are ill-conditioned in float32: resnet152's logits from torch
  float32 are 6.7e-4 from torch float64 (calibrating on more or larger batches does not
  help); where a stage is beyond ``TOL``, jaxdl must be no further from float64 than
  twice torch float32's distance, or else, run in float64 (the same program), within
  ``TOL64`` of torch float64 (resnet101: 1.8e-4 vs torch's 9.0e-5 in float32, 2.0e-13 in
  float64).

Train mode for resnet18 (float32) and inception_v3 (float64, with its aux head, which
needs 299x299): one forward updates the BatchNorm running statistics as torch does, and
one SGD step on cross-entropy gives the same gradients and parameters.

Initialisation: every tensor drawn from torchvision's distribution (KS test).

Inputs are the smallest torchvision allows (alexnet 63, vgg 32, resnet 32-64,
inception 75), batch 2, to keep the suite fast on 2 cores.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
from flax import nnx

from jaxdl import interop, losses
from jaxdl.layers import BatchNorm, Conv2d, MaxPool2d
from jaxdl.models import vision
from jaxdl.precision import cast_floating
from tests.parity import torch_device
from torch_reference.vision import models as torchvision_models

tvm = torchvision_models()

# name: input size (H = W). Batch 2 everywhere.
EVAL_SIZES = {
    "alexnet": 63, "vgg16": 32, "vgg16_bn": 32, "vgg19": 32, "resnet18": 64, "resnet34": 64,
    "resnet50": 32, "resnet101": 32, "resnet152": 32, "inception_v3": 75,
}
EVAL_KWARGS = {"inception_v3": {"transform_input": True}}  # as with torchvision's weights
# the other VGGs differ from these only in their features (the 102M-parameter classifier,
# most of a VGG test's time, is the same): their features are compared on their own
VGG_CFGS = {"vgg11": "A", "vgg11_bn": "A", "vgg13": "B", "vgg13_bn": "B", "vgg16": "D", "vgg16_bn": "D",
            "vgg19": "E", "vgg19_bn": "E"}
SLOW = {"resnet152", "inception_v3"}
TOL = 1e-4  # max |torch - jax| / max |torch|, the bound, for the logits and every stage
TOL64 = 1e-9  # jaxdl in float64 against torch float64: the same computation, float64 rounding only


def torch_model(name: str, **kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "inception_v3":
        kwargs.setdefault("init_weights", True)  # torchvision warns when it is left out
    return getattr(tvm, name)(weights=None, **kwargs)


def calibrate(tm: torch.nn.Module, size: int, batches: int = 2) -> None:
    """Replace BatchNorm's 0/1 statistics by the cumulative average over a few random
    train-mode batches (``momentum=None``), then eval mode."""
    bns = [m for m in tm.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    if not bns:
        return tm.eval()
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    aux = getattr(tm, "AuxLogits", None)
    if aux is not None:
        tm.AuxLogits = None  # needs 299x299 in train mode; unused in eval
    gen = torch.Generator().manual_seed(1)
    tm.train()
    with torch.no_grad():
        for _ in range(batches):
            tm(torch.randn(4, 3, size, size, generator=gen))
    for m in bns:
        m.momentum = 0.1
    if aux is not None:
        tm.AuxLogits = aux
    tm.eval()


def nhwc(a: np.ndarray) -> np.ndarray:
    return a.transpose(0, 2, 3, 1) if a.ndim == 4 else a


def torch_stages(tm: torch.nn.Module, x_NCHW: np.ndarray) -> dict[str, np.ndarray]:
    """{module name: output (NHWC)} in execution order, through forward hooks; '' = logits.
    Runs on ``torch_device()`` (the model goes back to the CPU afterwards)."""
    out, hooks, dev = {}, [], torch_device()

    def hook(name):
        def record(module, args, y):  # copied now: the next in-place ReLU overwrites y
            if name not in out and isinstance(y, torch.Tensor):
                out[name] = nhwc(y.detach().cpu().numpy().copy())
        return record

    for name, m in tm.named_modules():
        if name:
            hooks.append(m.register_forward_hook(hook(name)))
    try:
        with torch.no_grad():
            out[""] = nhwc(tm.to(dev)(torch.tensor(x_NCHW, device=dev)).cpu().numpy())
    finally:
        tm.to("cpu")
        for h in hooks:
            h.remove()
    return out


class _Recording(NamedTuple):
    names: dict  # id(module) -> torch-style name
    units: set  # ids of the modules compiled on their own
    out: dict  # torch-style name -> output


_RECORDINGS: list[_Recording] = []


def _torch_names(model: nnx.Module) -> dict[int, str]:
    # the ``layers`` list of an nnx.Sequential is not a level in torch
    return {id(m): ".".join(str(p) for p in path if p != "layers") for path, m in nnx.iter_modules(model)}


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run_unit(call, graphdef, state, *args):
    """One stage compiled on its own; returns its output and its submodules' outputs."""
    module = nnx.merge(graphdef, state)
    _RECORDINGS.append(_Recording(_torch_names(module), set(), {}))
    try:
        y = call(module, *args)
    finally:
        inner = _RECORDINGS.pop().out
    return y, inner


@contextlib.contextmanager
def recording_calls(model: nnx.Module, by_stage: bool = True):
    """NNX's forward hooks: while active, each module's ``__call__`` output is recorded
    under its torch-style name. The stages (children of the model or of an
    ``nnx.Sequential``: ResNet blocks, Inception's Mixed blocks, VGG's layers) run jitted
    one by one, so equal blocks share one compilation (a ResNet-152 compiled whole with
    every output takes 16 s of CPU, stage by stage 4 s). ``nnx.capture(method_outputs=)``
    records only methods a class defines itself (``Linear.__call__`` is ``nnx.Linear``'s).
    ``by_stage=False`` records without compiling anything (use it inside ``jax.jit``)."""
    modules = dict(nnx.iter_modules(model))
    sequential = {path for path, m in modules.items() if isinstance(m, nnx.Sequential)}
    units = set()
    for path, m in modules.items() if by_stage else ():
        parent = path[:-2] if len(path) > 1 and path[-2] == "layers" else path[:-1]
        if path and not isinstance(m, nnx.Sequential) and (parent == () or parent in sequential):
            units.add(id(m))
    own = {cls: cls.__dict__.get("__call__") for cls in {type(m) for m in modules.values()}}

    def wrap(call):
        def recorded(self, *args, **kwargs):
            rec = _RECORDINGS[-1]
            name = rec.names.get(id(self))
            if id(self) in rec.units and not kwargs:
                y, inner = _run_unit(call, *nnx.split(self), *args)
                for k, v in inner.items():
                    rec.out.setdefault(f"{name}.{k}" if k else name, v)
            else:
                y = call(self, *args, **kwargs)
            if name is not None and isinstance(y, jax.Array):
                rec.out.setdefault(name, y)
            return y
        return recorded

    for cls in own:
        cls.__call__ = wrap(cls.__call__)
    _RECORDINGS.append(_Recording(_torch_names(model), units, {}))
    try:
        yield _RECORDINGS[-1].out
    finally:
        _RECORDINGS.pop()
        for cls, call in own.items():
            if call is None:
                del cls.__call__
            else:
                cls.__call__ = call


def jax_stages(jm: nnx.Module, x_NHWC: np.ndarray, by_stage: bool = True) -> dict[str, np.ndarray]:
    """{torch-style module name: output} of every module call; '' = logits. Stage by stage,
    or the whole model in one ``jax.jit`` (faster for Inception, whose blocks all differ)."""
    if by_stage:
        with recording_calls(jm) as out:
            logits = jm(jnp.asarray(x_NHWC))
    else:
        graphdef, state = nnx.split(jm)

        @jax.jit
        def forward(state, x):
            model = nnx.merge(graphdef, state)
            with recording_calls(model, by_stage=False) as out:
                return model(x), out

        logits, out = forward(state, jnp.asarray(x_NHWC))
    return {**{k: np.asarray(v) for k, v in out.items() if k}, "": np.asarray(logits)}


def _rel(a, b) -> float:
    """max |a - b| relative to max |b|."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b))) / max(float(np.max(np.abs(b))), 1e-30) if b.size else 0.0


def compare_stages(want: dict, got: dict, tol: float, exact=None, exact_jax=None) -> dict[str, float]:
    """Relative differences per stage, in torch's order; fails naming the first block that
    differs. A stage passes within ``tol`` of torch, or, where torch's own float32 result
    is further than that from the float64 one (``exact()``: torch's stages in float64; deep
    random ResNets, see the module docstring), when jaxdl is no further from float64 than
    twice torch's distance: float32 rounding, not a difference in the computation. Beyond
    that too, ``exact_jax()`` (jaxdl's stages in float64, the same program) must equal
    torch float64 within ``TOL64``: the same computation, rounded differently in float32."""
    rel, exact_stages, jax64 = {}, None, None
    for name, w in want.items():
        if name not in got:
            continue  # parameterless torch modules that jaxdl writes as functions (ReLU)
        g = got[name]
        assert g.shape == w.shape, f"{name or 'logits'}: shape {g.shape}, torch {w.shape}"
        rel[name] = _rel(g, w)
        if rel[name] <= tol:
            continue
        message = (f"first block that differs: {name or 'logits'} (max diff {rel[name]:.3g} of its scale "
                   f"{np.max(np.abs(w)):.3g} > {tol:g}); earlier blocks matched")
        assert exact is not None, message
        exact_stages = exact_stages or exact()
        to_exact, torch_to_exact = _rel(g, exact_stages[name]), _rel(w, exact_stages[name])
        if to_exact <= 2 * torch_to_exact:
            continue
        message += f"; from float64: jaxdl {to_exact:.3g}, torch float32 {torch_to_exact:.3g}"
        assert exact_jax is not None, message
        jax64 = jax64 or exact_jax()
        assert _rel(jax64[name], exact_stages[name]) <= TOL64, (
            f"{message}; jaxdl in float64 {_rel(jax64[name], exact_stages[name]):.3g} from torch float64")
    return rel


def jax_stages64(jm: nnx.Module, x_NHWC: np.ndarray, by_stage: bool = True) -> dict[str, np.ndarray]:
    """:func:`jax_stages` with the model's floating variables and the input in float64
    (``jax.enable_x64``): the same program without float32 rounding."""
    with jax.enable_x64(True):
        graphdef, state = nnx.split(jm)
        return jax_stages(nnx.merge(graphdef, cast_floating(state, np.float64)), x_NHWC.astype(np.float64),
                          by_stage)


def assert_round_trip(jm: nnx.Module, tm: torch.nn.Module) -> None:
    sd = tm.state_dict()
    back = interop.to_torch(jm)
    assert set(back) == set(sd), f"keys differ: {sorted(set(back) ^ set(sd))[:10]}"
    for key, value in sd.items():
        assert back[key].dtype == value.dtype and back[key].shape == value.shape, key
        assert torch.equal(back[key], value), f"{key} not bit-exact after to_torch(from_torch(.))"
    tm.load_state_dict(back, strict=True)


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in EVAL_SIZES])
def test_eval_mode_matches_torchvision(name):
    size, kwargs = EVAL_SIZES[name], EVAL_KWARGS.get(name, {})
    tm = torch_model(name, **kwargs)
    calibrate(tm, size)
    jm = getattr(vision, name)(rngs=nnx.Rngs(0), **kwargs)
    interop.from_torch(jm, tm.state_dict())
    assert_round_trip(jm, tm)
    jm.eval()
    x = np.random.default_rng(0).normal(size=(2, 3, size, size)).astype(np.float32)
    want, got = torch_stages(tm, x), jax_stages(jm, nhwc(x), by_stage=name != "inception_v3")
    # every torch module is compared but ReLU (a function in jaxdl) and Dropout (identity in
    # eval; before AlexNet's classifier it holds flattened features, CHW in torch, HWC here)
    want = {n: w for n, w in want.items() if not n or not isinstance(tm.get_submodule(n), torch.nn.Dropout)}
    missing = [n for n in want if n not in got and not isinstance(tm.get_submodule(n), torch.nn.ReLU)]
    assert not missing, f"torch modules without a jaxdl counterpart: {missing}"
    float64 = {}

    def exact():  # torch in float64, only when a stage is beyond TOL (deep ResNets)
        float64.update(torch_stages(copy.deepcopy(tm).double(), x.astype(np.float64)))
        return float64

    rel = compare_stages(want, got, TOL, exact, lambda: jax_stages64(jm, nhwc(x), by_stage=name != "inception_v3"))
    logits = want[""]
    line = (f"\n{name}: logits max |diff| {np.max(np.abs(got[''] - logits)):.3g}, scale {np.max(np.abs(logits)):.3g}, "
            f"relative {rel['']:.3g}; worst stage {max(rel, key=rel.get)} {max(rel.values()):.3g} "
            f"({len(rel)} stages)")
    if float64:
        line += (f"; float64 reference: logits jaxdl {_rel(got[''], float64['']):.3g}, "
                 f"torch float32 {_rel(logits, float64['']):.3g}")
    print(line)


# ---------------------------------------------------------------- initialisation
@pytest.mark.parametrize("name,kwargs", [
    ("alexnet", {}), ("vgg11_bn", {}), ("resnet18", {}), ("inception_v3", {}),
    ("inception_v3", {"init_weights": False}),
])
def test_init_draws_from_torchvisions_distributions(name, kwargs):
    """Every tensor of a new jaxdl model against the same tensor of a new torchvision model:
    constants equal, random ones from the same distribution (two-sample Kolmogorov-Smirnov
    on up to 20,000 values each, p > 1e-6: a uniform in place of a normal, or a spread 10%
    off, gives p < 1e-20 at that size)."""
    from scipy.stats import ks_2samp

    want = torch_model(name, **kwargs).state_dict()
    got = interop.to_torch(getattr(vision, name)(rngs=nnx.Rngs(0), **kwargs))
    rng = np.random.default_rng(0)
    for key, w in want.items():
        w, g = w.numpy().ravel(), got[key].numpy().ravel()
        if w.min() == w.max():  # BatchNorm 1/0, zero biases, buffers
            assert np.array_equal(g, w), key
            continue
        if w.size > 20_000:
            w, g = rng.choice(w, 20_000, replace=False), rng.choice(g, 20_000, replace=False)
        p = ks_2samp(w, g).pvalue
        assert p > 1e-6, f"{key}: jaxdl's init is not torchvision's distribution (KS p = {p:.2g})"


# ---------------------------------------------------------------- train mode
def _train_step(jm: nnx.Module, x_NHWC, y, lr: float):
    """One jaxdl SGD step in train mode: (updated model, gradients in torch layout, loss)."""
    graphdef, params, rest = nnx.split(jm, nnx.Param, ...)

    def loss_fn(params, rest, x, y):
        model = nnx.merge(graphdef, params, rest, copy=True)
        out = model(x)
        if isinstance(out, vision.InceptionOutputs):  # torchvision's recipe: main + 0.4 * aux
            loss = losses.cross_entropy(out.logits, y) + 0.4 * losses.cross_entropy(out.aux_logits, y)
        else:
            loss = losses.cross_entropy(out, y)
        return loss, nnx.state(model, nnx.BatchStat)

    @jax.jit
    def step(params, rest, x, y):
        (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, rest, x, y)
        return jax.tree.map(lambda p, g: p - lr * g, params, grads), stats, grads, loss

    new_params, stats, grads, loss = step(params, rest, jnp.asarray(x_NHWC), jnp.asarray(y))
    grads_torch = interop.to_torch(nnx.merge(graphdef, grads, rest, copy=True))
    nnx.update(jm, new_params, stats)
    return jm, grads_torch, float(loss)


def _to_float64(jm: nnx.Module) -> None:
    state = nnx.state(jm)
    nnx.update(jm, jax.tree.map(
        lambda a: a.astype(jnp.float64) if jnp.issubdtype(a.dtype, jnp.floating) else a, state))


# (name, input size, dtype, tolerance). Inception runs in float64 on both sides: a random
# Inception's train-mode gradients are ill-conditioned in float32 (torch float32 against
# torch float64: 2% median per-tensor difference at 299x299, batch 2 to 8, with or without
# the aux head), so only float64 can tell a real difference from rounding.
TRAIN_CASES = [
    ("resnet18", 64, "float32", 1e-5),
    pytest.param("inception_v3", 299, "float64", 1e-9, marks=pytest.mark.slow),  # aux head needs 299
]


@pytest.mark.parametrize("name,size,dtype,tol", TRAIN_CASES)
def test_train_step_matches_torchvision(name, size, dtype, tol):
    """One forward in train mode updates the BatchNorm statistics as torch (``tol``), and one
    SGD step on cross-entropy (Inception: + 0.4 * aux, torchvision's recipe) gives torch's
    gradients (10 * ``tol`` of each tensor's scale) and parameters (``tol``)."""
    lr, kwargs = 0.1, {"dropout": 0.0} if name == "inception_v3" else {}  # masks cannot match torch's
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, size, size)).astype(dtype)
    y = rng.integers(0, 1000, 2)

    dev = torch_device()
    tm = torch_model(name, **kwargs).to(getattr(torch, dtype))
    with jax.enable_x64(dtype == "float64"):
        jm = getattr(vision, name)(rngs=nnx.Rngs(0), **kwargs)
        if dtype == "float64":
            _to_float64(jm)
        interop.from_torch(jm, tm.state_dict())

        tm.train().to(dev)
        out = tm(torch.tensor(x, device=dev))
        ce, yt = torch.nn.functional.cross_entropy, torch.tensor(y, device=dev)
        if name == "inception_v3":
            assert isinstance(out, tvm.InceptionOutputs)
            loss_t = ce(out.logits, yt) + 0.4 * ce(out.aux_logits, yt)
        else:
            loss_t = ce(out, yt)
        loss_t.backward()
        torch.optim.SGD(tm.parameters(), lr=lr).step()
        tm.to("cpu")
        grads_t = {k: p.grad.numpy().copy() for k, p in tm.named_parameters()}
        want = {k: v.numpy().copy() for k, v in tm.state_dict().items()}

        jm.train()
        jm, grads_j, loss_j = _train_step(jm, nhwc(x), y, lr)
        got = {k: v.numpy() for k, v in interop.to_torch(jm).items()}

    assert abs(loss_j - loss_t.item()) <= tol * max(1.0, abs(loss_t.item()))
    grad_err = {k: _rel(grads_j[k].numpy(), g) for k, g in grads_t.items()}
    worst = max(grad_err, key=grad_err.get)
    assert grad_err[worst] <= 10 * tol, f"gradient of {worst}: {grad_err[worst]:.3g} of its scale"

    def err(k):  # relative to max(1, |torch|), as tests/parity/test_training.py
        return float(np.max(np.abs(got[k] - want[k]))) / max(1.0, float(np.max(np.abs(want[k]))))

    stat_err = {k: err(k) for k in want if k.endswith(("running_mean", "running_var"))}
    assert max(stat_err.values()) <= tol, max(stat_err.items(), key=lambda kv: kv[1])
    assert all(int(got[k]) == int(want[k]) == 1 for k in want if k.endswith("num_batches_tracked"))
    param_err = {k: err(k) for k in grads_t}
    assert max(param_err.values()) <= tol, max(param_err.items(), key=lambda kv: kv[1])
    print(f"\n{name} train step ({dtype}): loss {loss_j:.6f} (torch {loss_t.item():.6f}); worst gradient "
          f"{worst} {grad_err[worst]:.3g} of its scale; BN statistics {max(stat_err.values()):.3g}; "
          f"parameters {max(param_err.values()):.3g}")


# ---------------------------------------------------------------- the other VGG configurations
def _describe(layer) -> tuple:
    """A layer of torch's or jaxdl's VGG features as (kind, channels...)."""
    if isinstance(layer, torch.nn.Conv2d):
        return ("conv", layer.in_channels, layer.out_channels)
    if isinstance(layer, Conv2d):
        return ("conv", layer.in_channels, layer.out_channels)
    if isinstance(layer, torch.nn.BatchNorm2d):
        return ("bn", layer.num_features)
    if isinstance(layer, BatchNorm):
        return ("bn", layer.num_features)
    if isinstance(layer, (torch.nn.MaxPool2d, MaxPool2d)):
        return ("pool", layer.kernel_size, layer.stride)
    if isinstance(layer, torch.nn.ReLU) or layer is jax.nn.relu:
        return ("relu",)
    return (type(layer).__name__,)


@pytest.mark.parametrize("name", list(VGG_CFGS))
def test_vgg_factories_build_torchvisions_features(name):
    """Every vgg factory builds torchvision's layer sequence (no weights drawn: meta device,
    nnx.eval_shape)."""
    with torch.device("meta"):
        want = [_describe(m) for m in getattr(tvm, name)(weights=None).features]
    model = nnx.eval_shape(lambda: getattr(vision, name)(rngs=nnx.Rngs(0)))
    assert [_describe(m) for m in model.features.layers] == want


@pytest.mark.parametrize("name", [n for n in VGG_CFGS if n not in EVAL_SIZES])
def test_vgg_features_match_torchvision(name):
    """``make_layers`` of each remaining configuration against torchvision's, eval mode."""
    torch.manual_seed(0)
    tf = tvm.vgg.make_layers(tvm.vgg.cfgs[VGG_CFGS[name]], batch_norm=name.endswith("_bn"))
    calibrate(tf, 32)
    jf = vision.make_layers(vision.CFGS[VGG_CFGS[name]], name.endswith("_bn"), rngs=nnx.Rngs(0))
    interop.from_torch(jf, tf.state_dict())
    assert_round_trip(jf, tf)
    jf.eval()
    x = np.random.default_rng(0).normal(size=(2, 3, 32, 32)).astype(np.float32)
    rel = compare_stages(torch_stages(tf, x), jax_stages(jf, nhwc(x)), TOL)
    print(f"\n{name} features: output relative {rel['']:.3g}; worst stage {max(rel.values()):.3g}")
