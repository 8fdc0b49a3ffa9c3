"""Run one jaxdl.aten op against torch's ATen op of the same name and overload.

A ``Case`` names the op (``"add"``), its overload (``"Tensor"``) and builds torch
arguments from a seeded generator. ``check(case)`` calls ``torch.ops.aten.<op>.<overload>``
on them, binds the same arguments to the overload's schema (every argument by keyword,
defaults included: the porter's calling convention), and runs the jaxdl.aten function
under ``jax.jit`` (static shapes, no Python control flow on values) to compare values and
dtypes; for float outputs the same compiled function also computes the gradient
(``jax.vjp``), compared with ``torch.autograd.grad`` for the same random cotangent. One
compilation per case: running op by op instead compiles every primitive of the forward
and of the backward pass for its own shapes, several times slower. ``Case(jit=False)``
runs eagerly (ops that need concrete values, such as a boolean mask that selects).
"""

from __future__ import annotations

import dataclasses
import keyword
import warnings
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from jaxdl import aten


def _compiler_options(options):
    """XLA's CPU compilation is most of a case's time; these settings roughly halve it (and a
    whole model's): LLVM's optimisation level 0 without its expensive passes, and XLA's
    classic loop emitters instead of its newer MLIR fusion emitters. They change how fast the
    compiled code runs, not what it computes (IEEE float semantics, no fast-math, at every
    setting; transcendental approximations may differ by an ulp or so, far below the checks'
    tolerances). CPU only (other backends keep their defaults); a jaxlib that no longer knows
    one of them compiles with its defaults."""
    if jax.default_backend() != "cpu":
        return None
    try:
        jax.jit(lambda x: x + 1, compiler_options=options).lower(np.float32(0)).compile()
    except Exception as e:  # an unknown option: XLA's names change between versions
        warnings.warn(f"tests/aten: compiling with XLA's default options ({e})", stacklevel=2)
        return None
    return options


COMPILER_OPTIONS = _compiler_options({"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True,
                                      "xla_cpu_use_fusion_emitters": False})

# schema arguments the functions accept and ignore
IGNORED = {"layout", "device", "pin_memory", "memory_format", "generator", "non_blocking", "cudnn_enabled",
           "cudnn_enable", "benchmark", "deterministic", "allow_tf32", "sparse", "implicit", "sparse_grad"}


@dataclasses.dataclass
class Case:
    op: str                                   # overload-free ATen name
    overload: str = "default"
    make: Callable[[torch.Generator], tuple] = None  # g -> (args, kwargs)
    grad: bool = True                         # compare gradients of float outputs
    rtol: float = 1e-5                        # of the output's scale
    atol: float = 1e-6
    id: str = ""                              # test id suffix
    compare: Callable | None = None           # custom (torch_out, jax_out) check
    jit: bool = True
    nondiff: tuple = ()                       # float arguments not differentiated (buffers)

    def __str__(self):
        return f"{self.op}.{self.overload}" + (f"-{self.id}" if self.id else "")


def T(g, *shape, dtype=torch.float32, low=-2.0, high=2.0):
    """A random torch tensor: floats uniform in [low, high), ints in [low, high)."""
    if dtype.is_floating_point:
        return (torch.rand(shape, generator=g, dtype=torch.float64) * (high - low) + low).to(dtype)
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    return torch.randint(int(low), int(high), shape, generator=g, dtype=dtype)


def overload(case):
    return getattr(getattr(torch.ops.aten, case.op), case.overload)


def python_arg(name):
    return name + "_" if keyword.iskeyword(name) else name


def bind(schema, args, kwargs):
    """All of the schema's arguments by name, defaults filled in."""
    bound = {}
    positional = list(args)
    for arg in schema.arguments:
        if arg.name == "out":
            continue
        if positional and not arg.kwarg_only:
            bound[arg.name] = positional.pop(0)
        elif arg.name in kwargs:
            bound[arg.name] = kwargs[arg.name]
        elif arg.has_default_value():
            bound[arg.name] = arg.default_value
        else:
            raise TypeError(f"{schema.name}: missing argument {arg.name}")
    return bound


def to_jax(v):
    if isinstance(v, torch.Tensor):
        return jnp.asarray(v.detach().numpy().copy())
    if isinstance(v, (list, tuple)):
        return type(v)(to_jax(x) for x in v)
    return v


def jax_dtype(dtype):
    return jax.dtypes.canonicalize_dtype(np.dtype(str(dtype).removeprefix("torch.")))


def _flat(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def assert_close(ref, got, rtol, atol, what="output"):
    ref = ref.detach()
    got = np.asarray(got)
    assert tuple(got.shape) == tuple(ref.shape), f"{what}: shape {got.shape} != torch's {tuple(ref.shape)}"
    assert got.dtype == jax_dtype(ref.dtype), f"{what}: dtype {got.dtype} != torch's {ref.dtype}"
    r = ref.numpy()
    if ref.dtype.is_complex:
        err = np.abs(got - r).max() if r.size else 0.0
        assert err <= atol + rtol * (np.abs(r).max() if r.size else 0), f"{what}: max |jax - torch| = {err:.3g}"
    elif ref.dtype.is_floating_point:
        r64, g64 = r.astype(np.float64), got.astype(np.float64)
        nan_r, nan_g = np.isnan(r64), np.isnan(g64)
        np.testing.assert_array_equal(nan_g, nan_r, err_msg=f"{what}: NaN positions differ")
        finite = np.isfinite(r64)
        np.testing.assert_array_equal(g64[~finite & ~nan_r], r64[~finite & ~nan_r], err_msg=f"{what}: infinities")
        scale = np.abs(r64[finite]).max() if finite.any() else 0.0
        err = np.abs(g64[finite] - r64[finite]).max() if finite.any() else 0.0
        assert err <= atol + rtol * scale, f"{what}: max |jax - torch| = {err:.3g} > {atol} + {rtol} * {scale:.3g}"
    else:
        np.testing.assert_array_equal(got, r.astype(got.dtype), err_msg=what)


def _float_leaves(bound, skip=()):
    """Paths (name, index or None) of float tensors among the bound arguments."""
    paths = []
    for name, v in bound.items():
        if name in skip:
            continue
        if isinstance(v, torch.Tensor) and v.dtype.is_floating_point:
            paths.append((name, None))
        elif isinstance(v, (list, tuple)):
            paths += [(name, i) for i, x in enumerate(v) if isinstance(x, torch.Tensor) and x.dtype.is_floating_point]
    return paths


def _get(bound, path):
    name, i = path
    return bound[name] if i is None else bound[name][i]


def _set(bound, path, value):
    name, i = path
    if i is None:
        bound[name] = value
    else:
        seq = list(bound[name])
        seq[i] = value
        bound[name] = seq


def _torch_gradients(op, bound, paths, g):
    """torch's gradients of the op's float outputs w.r.t. the float arguments at ``paths``,
    for a random cotangent: (the outputs chosen, the cotangents, the gradients)."""
    leaves = [_get(bound, p).detach().clone().requires_grad_(True) for p in paths]
    t_bound = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in bound.items()}
    for p, leaf in zip(paths, leaves):
        _set(t_bound, p, leaf)
    t_args = [t_bound[a.name] for a in op._schema.arguments if not a.kwarg_only and a.name in t_bound]
    t_kwargs = {a.name: t_bound[a.name] for a in op._schema.arguments if a.kwarg_only and a.name in t_bound}
    t_outs = _flat(op(*t_args, **t_kwargs))
    chosen = [i for i, o in enumerate(t_outs)
              if isinstance(o, torch.Tensor) and o.dtype.is_floating_point and o.requires_grad]
    if not chosen:
        return [], [], []
    outs = [t_outs[i] for i in chosen]
    cts = [torch.randn(o.shape, generator=g, dtype=o.dtype) for o in outs]
    t_grads = torch.autograd.grad(outs, leaves, cts, allow_unused=True)
    return chosen, cts, [torch.zeros_like(x) if t is None else t for t, x in zip(t_grads, leaves)]


def check(case: Case, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    args, kwargs = case.make(g)
    op = overload(case)
    bound = bind(op._schema, args, kwargs)
    fn = aten.get(case.op)
    assert fn is not None, f"jaxdl.aten has no {case.op}"

    jax_kwargs = {python_arg(k): to_jax(v) for k, v in bound.items()}
    paths = _float_leaves(bound, case.nondiff)
    arrays = [to_jax(_get(bound, p)) for p in paths]

    def call(*xs):
        kw = dict(jax_kwargs)
        for p, x in zip(paths, xs):
            _set(kw, (python_arg(p[0]), p[1]), x)
        return fn(**kw)

    want = op(*args, **kwargs)
    chosen, cts, t_grads = _torch_gradients(op, bound, paths, g) if case.grad and paths else ([], [], [])

    def forward(xs):
        return call(*xs)

    def gradients(xs, cotangents):
        if not chosen:
            return []
        _, vjp = jax.vjp(lambda *ys: [_flat(call(*ys))[i] for i in chosen], *xs)
        return vjp(cotangents)

    def both(xs, cotangents):
        return forward(xs), gradients(xs, cotangents)

    j_cts = [to_jax(c) for c in cts]
    if not case.jit:
        got, j_grads = both(arrays, j_cts)
    else:  # traceable under jax.jit (static shapes, no Python control flow on values): one compilation
        got, j_grads = jax.jit(both, compiler_options=COMPILER_OPTIONS)(arrays, j_cts)

    if case.compare is not None:
        case.compare(want, got)
    else:
        wants, gots = _flat(want), _flat(got)
        assert len(gots) == len(wants), f"{len(gots)} outputs, torch has {len(wants)}"
        for i, (w, o) in enumerate(zip(wants, gots)):
            assert_close(w, o, case.rtol, case.atol, f"{case} output {i}")
    for i, (tg, jg) in enumerate(zip(t_grads, j_grads)):
        assert_close(tg, jg, case.rtol, case.atol, f"{case} gradient of {paths[i]}")


def cases_by_op(*modules) -> dict[str, list[Any]]:
    table = {}
    for m in modules:
        for c in m.CASES:
            table.setdefault(c.op, []).append(c)
    return table
