"""Parity checks of a ported model against its PyTorch original, and the report that names
the first submodule where they part.

Each ``check_*`` takes the torch module and the NNX module holding the same weights,
runs both on the same random inputs (NCHW for torch, NHWC for JAX where the input is an
image) and raises ``AssertionError`` with the measured difference:

* :func:`check_eval_outputs`: ``model.eval()`` outputs;
* :func:`check_train_outputs`: training mode (BatchNorm on batch statistics) with dropout
  off on both sides;
* :func:`check_batchnorm_stats`: running mean/var and ``num_batches_tracked`` after one
  training-mode forward;
* :func:`check_gradients`: the gradient of ``sum(outputs * r)`` (fixed random ``r``) for
  every parameter, compared in torch layout through :func:`jaxdl.interop.to_torch`;
* :func:`check_sgd_step`: the parameters after one SGD step (lr 0.1) on that loss.

When outputs differ, :func:`first_divergence` runs both again submodule by submodule
(forward hooks on the torch side, wrapped ``__call__`` on the JAX side) and the message
names the first module, in torch's execution order, whose output differs.

Tolerances: ``tol * max(1, max|torch|)`` (the default 1e-5 is the fp32 float noise
measured for the notes' models, PORTING.md), or, where torch's own float32 result is
further than that from the float64 answer (deep or ill-conditioned models: a correct
port of resnext50_32x4d is 1e-4 from torch float32 when torch is 4e-5 from float64), no
further from torch float64 than twice torch float32 is: the rule of the vision parity
tests, never a looser constant.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxdl import interop
from jaxdl.port.files import instantiate, load_class, load_weights

TOL = 1e-5


# ----------------------------------------------------------------------------- loading
def load_pair(model_py: str | Path, class_name: str, weights: str | Path, torch_factory: str,
              base: str | Path | None = None):
    """(torch module, NNX module) with the same weights: the NNX class from ``model_py``
    filled from ``weights``, the torch module built by ``torch_factory`` (see
    :func:`jaxdl.port.load_class`; relative file paths are taken from ``base``) and loaded
    with those weights converted back by :func:`jaxdl.interop.to_torch`."""
    model_py = Path(model_py)
    name = f"jaxdl_port_model_{abs(hash(str(model_py.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, model_py)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    jax_model = load_weights(instantiate(getattr(mod, class_name)), weights)
    target, _, attr = torch_factory.rpartition(":")
    if base is not None and target.endswith(".py") and not Path(target).is_absolute():
        torch_factory = f"{(Path(base) / target).resolve()}:{attr}"
    torch_model = load_class(torch_factory)()
    torch_model.load_state_dict(interop.to_torch(jax_model), strict=True)
    return torch_model, jax_model


# ----------------------------------------------------------------------------- inputs
def random_inputs(specs: Sequence, seed: int = 0) -> list[np.ndarray]:
    """Random inputs in torch layout: N(0, 1) floats, integers uniform in [0, high)."""
    rng = np.random.default_rng(seed)
    out = []
    for s in specs:
        if s.dtype.startswith("float") or s.dtype in ("bfloat16", "half"):
            out.append(rng.standard_normal(s.shape).astype(np.float32 if s.dtype == "bfloat16" else s.dtype))
        else:
            out.append(rng.integers(0, s.high or 2, size=s.shape).astype(s.dtype))
    return out


def resized(specs: Sequence, factor: int = 2, batch: bool = False) -> list:
    """``specs`` with every dim the port takes at any size (``InputSpec.dynamic``, the batch
    only when ``batch``) ``factor`` times the example's: the inputs of a check at another size
    (a multiple keeps what the example's sizes share: equal lengths, even sizes)."""
    out = []
    for s in specs:
        dyn = [d for d in getattr(s, "dynamic", (0,)) if batch or d != 0]
        shape = tuple(n * factor if d in dyn else n for d, n in enumerate(s.shape))
        out.append(dataclasses.replace(s, shape=shape))
    return out


def to_torch_inputs(xs):
    import torch

    return [torch.from_numpy(np.ascontiguousarray(x)) for x in xs]


def to_jax_inputs(xs, specs):
    out = []
    for x, s in zip(xs, specs):
        x = x.transpose(0, 2, 3, 1) if s.image else x
        if x.dtype == np.int64:
            x = x.astype(np.int32)  # JAX's default integer; torch's int64 indices fit
        out.append(jnp.asarray(x))
    return out


def _torch_leaves(out) -> list[np.ndarray]:
    import torch

    leaves, _ = torch.utils._pytree.tree_flatten(out)
    return [t.detach().numpy() for t in leaves if isinstance(t, torch.Tensor)]


def _jax_leaves(out, images: Sequence[bool]) -> list[np.ndarray]:
    leaves = [np.asarray(a) for a in jax.tree.leaves(out)]
    return [a.transpose(0, 3, 1, 2) if i < len(images) and images[i] and a.ndim == 4 else a
            for i, a in enumerate(leaves)]


def max_error(got, want) -> tuple[float, float]:
    """(max |got - want|, max(1, max |want|)) over the entries both have finite; NaN and
    infinities must be where torch has them (the same value), else the error is inf."""
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"shapes differ: JAX {got.shape} vs torch {want.shape}")
    finite = np.isfinite(want)
    same_nonfinite = np.array_equal(np.isnan(got), np.isnan(want)) and np.array_equal(got[np.isinf(want)],
                                                                                      want[np.isinf(want)])
    if not same_nonfinite or not np.isfinite(got[finite]).all():
        return float("inf"), 1.0
    if not finite.any():
        return 0.0, 1.0
    return float(np.max(np.abs(got[finite] - want[finite]))), max(1.0, float(np.max(np.abs(want[finite]))))


def _assert_close(got, want, tol, what, report=None, exact=None):
    """``got`` (JAX) within ``tol`` of torch float32's ``want``, relative to its scale; or,
    where float32 rounding is larger than that (deep or ill-conditioned models), no
    further from the float64 answer ``exact()`` than twice torch float32 is (the rule of
    the vision parity tests). Returns the error relative to the scale."""
    err, scale = max_error(got, want)
    if err <= tol * scale:
        return err / scale
    far = ""
    if exact is not None:
        e64 = np.asarray(exact(), np.float64)
        jax_err, torch_err = max_error(got, e64)[0], max_error(want, e64)[0]
        if jax_err <= 2 * torch_err:
            return err / scale
        far = f"; from torch float64: JAX {jax_err:.3g}, torch float32 {torch_err:.3g} (more than twice)"
    msg = f"{what}: max |JAX - torch| = {err:.3g} > {tol:g} x {scale:.3g}{far}"
    if report is not None:
        msg += "\n" + report()
    raise AssertionError(msg)


class _Float64:
    """The torch model in float64 (a copy taken before the float32 run changes its
    statistics): what float32 results are measured against when they miss ``tol``."""

    def __init__(self, torch_model):
        import copy

        self.model = copy.deepcopy(torch_model).double()
        self._cache = {}

    def inputs(self, xs):
        return [x.astype(np.float64) if np.issubdtype(x.dtype, np.floating) else x for x in xs]

    def outputs(self, xs, train=False):
        if ("out", train) not in self._cache:
            self._cache[("out", train)] = _torch_leaves(run_torch(self.model, self.inputs(xs), train=train))
        return self._cache[("out", train)]

    def gradients(self, xs, ws):
        if "grad" not in self._cache:
            self._cache["grad"] = _torch_gradients(self.model, self.inputs(xs), [w.astype(np.float64) for w in ws])
        return self._cache["grad"]


# ----------------------------------------------------------------------------- modes
@contextlib.contextmanager
def _torch_mode(model, train: bool, dropout: bool):
    """torch in train/eval mode; with ``dropout=False`` every Dropout layer and
    ``F.dropout`` inside a forward are identities."""
    import torch
    import torch.nn.functional as F

    was = model.training
    model.train(train)
    if not dropout:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.dropout._DropoutNd):
                m.eval()
    saved = F.dropout
    if not dropout:
        F.dropout = lambda x, *a, **k: x
    try:
        yield model
    finally:
        F.dropout = saved
        model.train(was)


def _jax_mode(model, train: bool, dropout: bool):
    model.train() if train else model.eval()
    if not dropout:
        for _, m in nnx.iter_modules(model):
            if isinstance(m, nnx.Dropout):
                m.deterministic = True
    return model


@functools.lru_cache(maxsize=32)
def _forward(graphdef):
    """The jitted forward of one model structure (and mode): compiled once per structure,
    however many checks use it."""

    @jax.jit
    def f(state, xs):
        m = nnx.merge(graphdef, state, copy=True)
        out = m(*xs)
        return out, nnx.state(m)

    return f


@functools.lru_cache(maxsize=32)
def _gradient(graphdef):
    @jax.jit
    @jax.grad
    def grad(params, rest, xs, ws):
        out = nnx.merge(graphdef, params, rest, copy=True)(*xs)
        return sum(jnp.sum(o * w) for o, w in zip(jax.tree.leaves(out), ws))

    return grad


def _cached(make, graphdef):
    try:
        return make(graphdef)
    except TypeError:  # a structure holding unhashable attributes: compile without the cache
        return make.__wrapped__(graphdef)


def run_jax(model, xs, *, train: bool = False, dropout: bool = False):
    """One forward of the NNX module, jitted; BatchNorm statistics (training) written back."""
    _jax_mode(model, train, dropout)
    graphdef, state = nnx.split(model)
    out, new_state = _cached(_forward, graphdef)(state, list(xs))
    nnx.update(model, new_state)
    return out


def run_torch(model, xs, *, train: bool = False, dropout: bool = False):
    import torch

    with _torch_mode(model, train, dropout), torch.no_grad():
        return model(*to_torch_inputs(xs))


# ----------------------------------------------------------------------------- checks
def check_eval_outputs(torch_model, jax_model, specs, output_images=(), *, tol=TOL, seed=0) -> float:
    """Eval-mode outputs on random inputs; returns max error / scale."""
    xs = random_inputs(specs, seed)
    ref = _Float64(torch_model)
    want = _torch_leaves(run_torch(torch_model, xs))
    got = _jax_leaves(run_jax(jax_model, to_jax_inputs(xs, specs)), output_images)
    _count(got, want)
    return max(_assert_close(g, w, tol, f"eval output {i}",
                             lambda: report(torch_model, jax_model, specs, xs, tol=tol),
                             lambda i=i: ref.outputs(xs)[i])
               for i, (g, w) in enumerate(zip(got, want)))


def check_train_outputs(torch_model, jax_model, specs, output_images=(), *, tol=TOL, seed=1) -> float:
    """Training-mode outputs (BatchNorm on batch statistics), dropout off on both sides."""
    xs = random_inputs(specs, seed)
    ref = _Float64(torch_model)
    want = _torch_leaves(run_torch(torch_model, xs, train=True))
    got = _jax_leaves(run_jax(jax_model, to_jax_inputs(xs, specs), train=True), output_images)
    _count(got, want)
    return max(_assert_close(g, w, tol, f"train-mode output {i}",
                             lambda: report(torch_model, jax_model, specs, xs, tol=tol, train=True),
                             lambda i=i: ref.outputs(xs, train=True)[i])
               for i, (g, w) in enumerate(zip(got, want)))


def check_batchnorm_stats(torch_model, jax_model, specs, *, tol=TOL, seed=2) -> int:
    """Running statistics after one training-mode forward; returns how many were compared."""
    xs = random_inputs(specs, seed)
    ref = _Float64(torch_model)
    run_torch(torch_model, xs, train=True)
    run_jax(jax_model, to_jax_inputs(xs, specs), train=True)
    got, want = interop.to_torch(jax_model), torch_model.state_dict()
    keys = [k for k in want if k.rsplit(".", 1)[-1] in ("running_mean", "running_var", "num_batches_tracked")]

    def exact(k):
        if "stats" not in ref._cache:
            ref.outputs(xs, train=True)
            ref._cache["stats"] = ref.model.state_dict()
        return ref._cache["stats"][k].numpy()

    for k in keys:
        _assert_close(got[k].numpy(), want[k].numpy(), tol, f"BatchNorm statistic {k}", exact=lambda k=k: exact(k))
    return len(keys)


def _loss_weights(torch_out, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(t.shape).astype(np.float32) for t in torch_out]


def jax_gradients(jax_model, xs_jax, weights_jax):
    """d sum(out * w) / d params, in torch layout (state_dict keys)."""
    _jax_mode(jax_model, True, False)
    graphdef, params, rest = nnx.split(jax_model, nnx.Param, ...)
    grads = _cached(_gradient, graphdef)(params, rest, list(xs_jax), list(weights_jax))
    return interop.to_torch(nnx.merge(graphdef, grads, rest)), (graphdef, params, rest, grads)


def _torch_gradients(torch_model, xs, ws):
    import torch

    torch_model.zero_grad()
    with _torch_mode(torch_model, True, False):
        out = torch_model(*to_torch_inputs(xs))
        loss = sum((t * torch.from_numpy(w)).sum() for t, w in zip(torch.utils._pytree.tree_flatten(out)[0], ws))
        loss.backward()
    return {k: p.grad.numpy().copy() for k, p in torch_model.named_parameters() if p.grad is not None}


def _jax_loss_weights(ws, torch_leaves, output_images):
    return [jnp.asarray(w.transpose(0, 2, 3, 1)) if i < len(output_images) and output_images[i] and w.ndim == 4
            else jnp.asarray(w) for i, w in enumerate(ws)]


def check_gradients(torch_model, jax_model, specs, output_images=(), *, tol=TOL, seed=3) -> int:
    """The gradient of ``sum(outputs * r)`` for every parameter (training mode, dropout off);
    returns how many parameters were compared."""
    xs = random_inputs(specs, seed)
    ref = _Float64(torch_model)
    out = _torch_leaves(run_torch(torch_model, xs, train=True))
    ws = _loss_weights(out, seed + 100)
    want = _torch_gradients(torch_model, xs, ws)
    got, _ = jax_gradients(jax_model, to_jax_inputs(xs, specs), _jax_loss_weights(ws, out, output_images))
    missing = sorted(set(want) - set(got))
    if missing:
        raise AssertionError(f"parameters without a JAX gradient: {missing}")
    for k, g in want.items():
        _assert_close(got[k].numpy(), g, tol, f"gradient of {k}", exact=lambda k=k: ref.gradients(xs, ws)[k])
    return len(want)


def check_sgd_step(torch_model, jax_model, specs, output_images=(), *, lr=0.1, tol=TOL, seed=4) -> int:
    """Parameters after one SGD step on ``sum(outputs * r)`` (torch: ``optim.SGD(lr=0.1)``)."""
    import torch

    xs = random_inputs(specs, seed)
    ref = _Float64(torch_model)
    out = _torch_leaves(run_torch(torch_model, xs, train=True))
    ws = _loss_weights(out, seed + 100)
    _torch_gradients(torch_model, xs, ws)
    opt = torch.optim.SGD(torch_model.parameters(), lr=lr)
    opt.step()
    _, (graphdef, params, rest, grads) = jax_gradients(jax_model, to_jax_inputs(xs, specs),
                                                       _jax_loss_weights(ws, out, output_images))
    new = jax.tree.map(lambda p, g: p - lr * g, params, grads)
    got = interop.to_torch(nnx.merge(graphdef, new, rest))
    names = [k for k, _ in torch_model.named_parameters()]

    def exact(k):
        if "step" not in ref._cache:
            ref.gradients(xs, ws)
            torch.optim.SGD(ref.model.parameters(), lr=lr).step()
            ref._cache["step"] = ref.model.state_dict()
        return ref._cache["step"][k].numpy()

    for k in names:
        _assert_close(got[k].numpy(), torch_model.state_dict()[k].numpy(), tol, f"{k} after one SGD step",
                      exact=lambda k=k: exact(k))
    return len(names)


def _count(got, want):
    if len(got) != len(want):
        raise AssertionError(f"the JAX model returns {len(got)} arrays, torch {len(want)}")


# ----------------------------------------------------------------------------- the report
@dataclasses.dataclass
class Divergence:
    """The first submodule (torch execution order) whose output differs."""

    path: str
    cls: str
    error: float
    scale: float
    last_good: str | None
    compared: int

    def __str__(self):
        where = f"`{self.path}` ({self.cls})" if self.path else f"the top-level module ({self.cls})"
        good = f"; everything before it agrees (last: `{self.last_good}`)" if self.last_good else ""
        return (f"first divergent submodule: {where}: max |JAX - torch| = {self.error:.3g} "
                f"(scale {self.scale:.3g}){good}; {self.compared} submodules compared")


def first_divergence(torch_model, jax_model, specs, xs=None, *, tol=1e-4, train=False, seed=0) -> Divergence | None:
    """Run both models submodule by submodule and return the first (in torch's order)
    whose output differs by more than ``tol * max(1, max|torch|)``, or None."""

    import torch

    xs = random_inputs(specs, seed) if xs is None else xs
    torch_out: dict[str, Any] = {}
    order: list[str] = []
    names = {id(m): p for p, m in torch_model.named_modules()}
    classes = {p: type(m).__name__ for p, m in torch_model.named_modules()}

    def hook(m, args, out):
        p = names[id(m)]
        if p not in torch_out:  # a copy: a later in-place op (ReLU(inplace=True)) would change it
            torch_out[p] = torch.utils._pytree.tree_map(
                lambda t: t.detach().clone() if isinstance(t, torch.Tensor) else t, out)
            order.append(p)

    handles = [m.register_forward_hook(hook) for m in torch_model.modules()]
    try:
        run_torch(torch_model, xs, train=train)
    finally:
        for h in handles:
            h.remove()
    jax_out = _record_jax(jax_model, to_jax_inputs(xs, specs), train)
    last_good, compared = None, 0
    for p in order:
        if p not in jax_out:
            continue
        t = _first_tensor(torch_out[p])
        j = _first_array(jax_out[p])
        if t is None or j is None:
            continue
        t = t.detach().numpy()
        if t.ndim == 4 and j.shape == (t.shape[0], t.shape[2], t.shape[3], t.shape[1]):
            t = t.transpose(0, 2, 3, 1)
        if t.shape != j.shape:
            continue
        compared += 1
        err, scale = max_error(j, t)
        if not err <= tol * scale:
            return Divergence(p, classes[p], err, scale, last_good, compared)
        last_good = p
    return None


def report(torch_model, jax_model, specs, xs=None, *, tol=1e-4, train=False) -> str:
    """A one-paragraph answer to "where do they differ?" for assertion messages."""
    try:
        d = first_divergence(torch_model, jax_model, specs, xs, tol=tol, train=train)
    except Exception as e:  # noqa: BLE001 - the report must not hide the original failure
        return f"(no per-submodule report: {type(e).__name__}: {e})"
    return str(d) if d else "no single submodule differs beyond the tolerance (small differences add up)"


def _record_jax(model, xs, train: bool) -> dict[str, Any]:
    """Run the NNX model eagerly, recording every submodule's output by torch path."""
    _jax_mode(model, train, False)
    paths = interop.torch_prefixes(model)  # id(NNX submodule) -> torch module path
    out: dict[str, Any] = {}
    classes = {type(m) for _, m in nnx.iter_modules(model)}
    saved = {}
    for cls in classes:
        if not any("__call__" in c.__dict__ for c in cls.__mro__[:-1]):  # nnx.List: not called
            continue
        own = cls.__dict__.get("__call__")
        original = cls.__call__

        def wrapper(self, *a, __original=original, **k):
            y = __original(self, *a, **k)
            p = paths.get(id(self))
            if p is not None and p not in out:
                out[p] = y
            return y

        saved[cls] = own
        cls.__call__ = wrapper
    try:
        model(*xs)
    finally:
        for cls, own in saved.items():
            if own is None:
                del cls.__call__
            else:
                cls.__call__ = own
    return out


def _first_tensor(out):
    import torch

    leaves, _ = torch.utils._pytree.tree_flatten(out)
    return next((t for t in leaves if isinstance(t, torch.Tensor)), None)


def _first_array(out):
    leaves = jax.tree.leaves(out)
    return np.asarray(leaves[0]) if leaves else None


# ----------------------------------------------------------------------------- the generated test
_TEST = '''"""Parity of model.py with its PyTorch original (generated by jaxdl.port).

Run it from anywhere: ``python -m pytest {dirname}/test_parity.py``. The torch model is
rebuilt with ``{factory}`` and given the weights in weights.safetensors; both then run
on the same random inputs: eval outputs, training-mode outputs (dropout off), BatchNorm
statistics, every parameter's gradient and one SGD step. A failing output check names
the first submodule whose output differs.
"""

from pathlib import Path

import pytest
from jaxdl.port import InputSpec, verify

HERE = Path(__file__).resolve().parent
TORCH_FACTORY = {factory!r}
INPUTS = [
{inputs}
]
OUTPUT_IMAGES = {images!r}  # outputs that are NHWC images on the JAX side
TOL = {tol!r}


@pytest.fixture
def pair():
    return verify.load_pair(HERE / "model.py", {cls!r}, HERE / "weights.safetensors", TORCH_FACTORY, base=HERE)


def test_eval_outputs(pair):
    verify.check_eval_outputs(*pair, INPUTS, OUTPUT_IMAGES, tol=TOL)


def test_train_outputs_without_dropout(pair):
    verify.check_train_outputs(*pair, INPUTS, OUTPUT_IMAGES, tol=TOL)


def test_batchnorm_statistics(pair):
    verify.check_batchnorm_stats(*pair, INPUTS, tol=TOL)


def test_gradients(pair):
    verify.check_gradients(*pair, INPUTS, OUTPUT_IMAGES, tol=TOL)


def test_sgd_step(pair):
    verify.check_sgd_step(*pair, INPUTS, OUTPUT_IMAGES, tol=TOL)
'''

_TEST_RESIZED = '''

def test_eval_outputs_at_another_size(pair):
    """Every dim the port takes at any size (InputSpec.dynamic, the batch aside) doubled."""
    verify.check_eval_outputs(*pair, verify.resized(INPUTS), OUTPUT_IMAGES, tol=TOL)
'''


def parity_test_source(ported, factory: str, out_dir: str | Path | None = None, tol: float = TOL) -> str:
    """The text of ``test_parity.py`` for a :class:`jaxdl.port.Ported`."""
    inputs = ",\n".join(f"    {s!r}" for s in ported.inputs)
    text = _TEST.format(dirname=Path(out_dir).name if out_dir else "DIR", factory=factory, inputs=inputs,
                        images=list(ported.output_images), tol=tol, cls=ported.class_name)
    if any(d != 0 for s in ported.inputs for d in getattr(s, "dynamic", ())):
        text += _TEST_RESIZED
    return text
