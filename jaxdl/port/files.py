"""Files of a port: the generated model.py executed, its weights as safetensors, and the
user's own classes loaded from ``file.py:Class``.

Weights are written as safetensors (NNX state paths -> arrays in JAX layout): one flat
file, no pickle (nothing runs on load), readable with numpy alone and without an orbax
checkpoint directory.
"""

from __future__ import annotations

import importlib.util
import linecache
import os
import sys
import types
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

__all__ = ["build", "instantiate", "load_class", "load_weights", "mismatch_summary", "save_weights"]

_COUNTER = [0]


def build(source: str, class_name: str):
    """Execute generated source and instantiate ``class_name`` with zero weights, ready for
    :func:`jaxdl.interop.from_torch` or :func:`load_weights`."""
    return instantiate(_exec_source(source, class_name), class_name)


def instantiate(cls, class_name: str = ""):
    """``cls(rngs=...)`` with zeros for parameters and statistics (to be loaded next) and
    real dropout keys. Skips the random init: on XLA:CPU each weight shape would compile
    its own initialiser (seconds per model)."""
    model = nnx.eval_shape(lambda: cls(rngs=nnx.Rngs(params=0, dropout=1)))
    for i, (_, var) in enumerate(nnx.to_flat_state(nnx.state(model))):
        sds = var.get_value()
        if jax.dtypes.issubdtype(sds.dtype, jax.dtypes.prng_key):
            var.set_value(jax.random.key(i))
        else:
            var.set_value(jnp.asarray(np.zeros(sds.shape, sds.dtype)))
    return model


def _exec_source(source: str, class_name: str):
    _COUNTER[0] += 1
    name = f"jaxdl_port_generated_{_COUNTER[0]}"
    filename = f"<jaxdl.port {class_name} model.py #{_COUNTER[0]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    mod = types.ModuleType(name)
    mod.__file__ = filename
    sys.modules[name] = mod
    exec(compile(source, filename, "exec"), mod.__dict__)  # noqa: S102 - our own generated code
    return getattr(mod, class_name)


# ----------------------------------------------------------------------------- weights
def _flat_state(model) -> dict[str, Any]:
    state = nnx.state(model, nnx.Not(nnx.RngState))  # parameters, statistics, buffers
    flat = {}
    for path, leaf in nnx.to_flat_state(state):
        flat[".".join(str(p) for p in path)] = leaf
    return flat


def save_weights(model, path: str | os.PathLike) -> None:
    """Write the model's parameters and batch statistics (NNX paths, JAX layout) as safetensors."""
    from safetensors.numpy import save_file

    arrays = {k: np.array(v[...], order="C", copy=True) for k, v in _flat_state(model).items()}
    save_file(arrays, str(path), metadata={"format": "jaxdl.port", "layout": "jax (NHWC / HWIO / kernel=weight.T)"})


def load_weights(model, path: str | os.PathLike):
    """Fill ``model`` (in place, also returned) from :func:`save_weights`'s file; every
    parameter and batch statistic must be there with its shape."""
    from safetensors.numpy import load_file

    arrays = load_file(str(path))
    flat = _flat_state(model)
    problems = mismatch_summary({k: tuple(v.shape) for k, v in arrays.items()},
                                {k: tuple(v[...].shape) for k, v in flat.items()})
    if problems:
        raise ValueError(f"{path} does not fit {type(model).__name__}: {problems}")
    for k, var in flat.items():
        var.set_value(jnp.asarray(arrays[k], dtype=var[...].dtype))
    return model


def mismatch_summary(found: dict, expected: dict, show: int = 5) -> str:
    """'3 missing (a, b, c), 1 unexpected (d), 1 of another shape (e: (3,) not (4,))' between
    two {key: shape} maps, at most ``show`` keys of each kind; '' when they agree."""
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong = sorted(k for k in set(found) & set(expected) if tuple(found[k]) != tuple(expected[k]))

    def some(keys, text=str):
        more = f", ... {len(keys) - show} more" if len(keys) > show else ""
        return ", ".join(text(k) for k in keys[:show]) + more

    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({some(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({some(unexpected)})")
    if wrong:
        parts.append(f"{len(wrong)} of another shape ({some(wrong, lambda k: f'{k}: {found[k]} not {expected[k]}')})")
    return ", ".join(parts)


# ----------------------------------------------------------------------------- user classes
def load_class(spec: str):
    """``'path/to/file.py:ClassName'`` or ``'package.module:attr'`` -> the object named."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not attr:
        raise ValueError(f"expected 'path/to/file.py:ClassName' or 'package.module:name', got {spec!r}")
    if target.endswith(".py") or os.sep in target:
        path = Path(target).resolve()
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        name = f"jaxdl_port_user_{path.stem}"
        if name in sys.modules and getattr(sys.modules[name], "__file__", None) == str(path):
            mod = sys.modules[name]
        else:
            spec_ = importlib.util.spec_from_file_location(name, path)
            mod = importlib.util.module_from_spec(spec_)
            sys.modules[name] = mod
            sys.path.insert(0, str(path.parent))
            try:
                spec_.loader.exec_module(mod)
            finally:
                sys.path.remove(str(path.parent))
    else:
        mod = importlib.import_module(target)
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise AttributeError(f"{target} has no {attr!r}")
        obj = getattr(obj, part)
    return obj
