"""jaxdl.port: a user's own ``torch.nn.Module`` -> readable Flax NNX source, its weights and a
parity test.

    ported = port(TorchModel(), torch.randn(2, 3, 32, 32))
    print(ported.source)            # model.py: one NNX class per torch class, from jaxdl.layers
    y = ported.module(x_NHWC)       # an instance with the torch weights loaded
    ported.write("ported/")         # model.py, weights.safetensors, test_parity.py

Command line: ``python -m jaxdl.port path/to/file.py:ClassName --input-shape 2,3,32,32
--out DIR`` (see ``--help``).

What maps: ``jaxdl.port.codegen.supported()`` lists the layers (nn.Linear, nn.Conv2d,
BatchNorm1d/2d, LayerNorm, Dropout, Embedding, one-layer LSTM/RNN, pooling, activations,
Flatten, containers) and ATen ops; a module's own ``nn.Parameter``/buffers become NNX
variables of the same name (``torch_params``). Anything else stops with
:class:`UnsupportedError` naming it, its module path and the user's line.

How it works: :mod:`jaxdl.port.capture` records the forward with ``torch.export`` and
regroups it per module call; :mod:`jaxdl.port.layout` decides what becomes NHWC;
:mod:`jaxdl.port.codegen` writes the classes; :mod:`jaxdl.port.verify` holds the parity
checks that the generated ``test_parity.py`` runs. Weights are written as safetensors
(NNX state paths -> arrays in JAX layout): one flat file, no pickle (nothing runs on
load), readable with numpy alone and without an orbax checkpoint directory.
torch is imported only inside the functions that need it.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import linecache
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
from flax import nnx

from jaxdl.port.capture import UnsupportedError

__all__ = ["InputSpec", "Ported", "UnsupportedError", "load_class", "load_weights", "port", "save_weights"]

WEIGHTS = "weights.safetensors"


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One forward argument: torch shape and dtype, and whether it is an NCHW image (NHWC
    on the JAX side)."""

    name: str
    shape: tuple
    dtype: str
    image: bool
    high: int | None = None  # integer inputs: values in [0, high)


@dataclasses.dataclass
class Ported:
    """The result of :func:`port`: ``source`` (model.py), ``module`` (the NNX instance with
    the torch weights), ``class_name``, the ``inputs`` it takes, and ``unsupported`` (the
    messages of what a ``partial`` port left as stubs)."""

    source: str
    module: Any
    class_name: str
    inputs: list
    output_images: list
    torch_flatten: dict
    unsupported: list
    torch_factory: str | None = None

    def write(self, directory: str | os.PathLike, *, torch_factory: str | None = None) -> Path:
        """Write ``model.py``, ``weights.safetensors`` and ``test_parity.py`` into ``directory``.

        ``test_parity.py`` rebuilds the torch module with ``torch_factory``
        (``'path/to/file.py:ClassName'`` or ``'package.module:callable'``, called with no
        arguments; default: the one given to :func:`port`, or the class's own module),
        loads the same weights into it and compares.
        """
        from jaxdl.port import verify

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.py").write_text(self.source)
        save_weights(self.module, out / WEIGHTS)
        factory = torch_factory or self.torch_factory
        if factory is None:
            raise ValueError("write() needs torch_factory='file.py:ClassName' or 'package.module:function' "
                             "to rebuild the PyTorch model in test_parity.py (port(..., torch_factory=...) sets it)")
        target, _, attr = factory.rpartition(":")
        if target.endswith(".py"):  # a file path: relative to the output directory when possible
            try:
                rel = os.path.relpath(Path(target).resolve(), out.resolve())
            except ValueError:
                rel = str(Path(target).resolve())
            factory = f"{rel}:{attr}"
        (out / "test_parity.py").write_text(verify.parity_test_source(self, factory, out))
        return out


def _default_factory(module) -> str | None:
    cls = type(module)
    mod = sys.modules.get(cls.__module__)
    path = getattr(mod, "__file__", None)
    if cls.__module__ == "__main__" or path is None or "<locals>" in cls.__qualname__:
        return None
    return f"{cls.__module__}:{cls.__qualname__}"


def port(module, *example_inputs, partial: bool = False, torch_factory: str | None = None,
         int_high: int | None = None) -> Ported:
    """torch ``nn.Module`` + example inputs (as you would call it) -> :class:`Ported`.

    The forward is captured in eval mode with the batch dimension (dim 0 of each input)
    symbolic; 4-D floating-point inputs are images (NHWC on the JAX side). Raises
    :class:`UnsupportedError` naming the first op, layer or control flow without a
    mapping and its module path; ``partial=True`` generates the rest anyway, with a stub
    that raises ``NotImplementedError`` at each such point. ``torch_factory``
    (``'file.py:Class'`` / ``'package.module:callable'``) is how the written
    ``test_parity.py`` rebuilds the torch module; ``int_high`` bounds its random integer
    inputs (default: the smallest ``nn.Embedding``).
    """
    import jax.numpy as jnp
    import torch

    from jaxdl import interop
    from jaxdl.port import capture, codegen
    from jaxdl.port import layout as L

    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"port() takes a torch.nn.Module, got {type(module).__name__}")
    if not example_inputs:
        raise ValueError("port() needs example inputs, as you would call the module: port(model, torch.randn(2, 3, 32, 32))")
    for x in example_inputs:
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"example inputs must be tensors, got {type(x).__name__}")
    seen = set()
    example_inputs = list(example_inputs)
    for i, x in enumerate(example_inputs):  # one tensor passed twice (attention's q, k, v): two inputs
        if x.untyped_storage().data_ptr() in seen:
            example_inputs[i] = x.clone()
        seen.add(example_inputs[i].untyped_storage().data_ptr())
    graph = capture.capture(module, tuple(example_inputs), partial=partial)
    gen = codegen.generate(graph, partial=partial)
    nnx_module = build(gen.source, gen.class_name)
    sd = module.state_dict()
    stub_keys = [k for k in sd if any(k.startswith(p + ".") for p, i in graph.modules.items() if i.stub)]
    try:
        interop.from_torch(nnx_module, sd, strict=not (partial and (gen.unsupported or stub_keys)))
    except interop.StateDictMismatchError:  # a bug of the porter's: say it short
        expected = {k: tuple(v) for k, v in _expected_keys(nnx_module).items()}
        found = {k: tuple(v.shape) for k, v in sd.items()}
        raise UnsupportedError(f"the generated model does not hold the module's weights "
                               f"({mismatch_summary(found, expected)})", "", type(module).__name__,
                               hint="Please open an issue with this model.") from None
    buffers = dict(module.named_buffers(remove_duplicate=False))
    for key, where in gen.buffers.items():  # non-persistent buffers: not in the state_dict
        var = _resolve(nnx_module, where)
        var.set_value(jnp.asarray(buffers[key].detach().cpu().numpy(), dtype=var[...].dtype))
    highs = int_high or _embedding_high(module)
    inputs = [InputSpec(name, tuple(x.shape), str(x.dtype).replace("torch.", ""), lay == L.IMAGE,
                        None if x.is_floating_point() else highs)
              for name, x, lay in zip(graph.input_names, example_inputs, gen.input_layouts)]
    stubs = [i.stub for i in graph.modules.values() if i.stub]
    return Ported(gen.source, nnx_module, gen.class_name, inputs, [lay == L.IMAGE for lay in gen.output_layouts],
                  gen.torch_flatten, stubs + [str(e) for e in gen.unsupported], torch_factory or _default_factory(module))


def _resolve(model, expr: str):
    """The object at ``self.a.layers[0].b`` (generated attribute paths) inside ``model``."""
    obj = model
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", expr[len("self"):]):
        obj = getattr(obj, name) if name else obj[int(index)]
    return obj


def _embedding_high(module) -> int | None:
    from torch import nn

    sizes = [m.num_embeddings for m in module.modules() if isinstance(m, nn.Embedding)]
    return min(sizes) if sizes else None


_COUNTER = [0]


def build(source: str, class_name: str):
    """Execute generated source and instantiate ``class_name`` with zero weights, ready for
    :func:`jaxdl.interop.from_torch` or :func:`load_weights`."""
    return instantiate(_exec_source(source, class_name), class_name)


def instantiate(cls, class_name: str = ""):
    """``cls(rngs=...)`` with zeros for parameters and statistics (to be loaded next) and
    real dropout keys. Skips the random init: on XLA:CPU each weight shape would compile
    its own initialiser (seconds per model)."""
    import jax
    import jax.numpy as jnp

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
    import jax.numpy as jnp
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


def _expected_keys(model) -> dict:
    from jaxdl import interop

    return {k: interop._torch_shape(v, to_t) for k, (v, to_t, _) in interop._entries(model).items()}


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
