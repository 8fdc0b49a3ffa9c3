"""jaxdl.port: a user's own ``torch.nn.Module`` -> readable Flax NNX source, its weights and a
parity test.

    ported = port(TorchModel(), torch.randn(2, 3, 32, 32))
    print(ported.source)            # model.py: one NNX class per torch class, from jaxdl.layers
    y = ported.module(x_NHWC)       # an instance with the torch weights loaded
    ported.write("ported/")         # model.py, weights.safetensors, test_parity.py

Command line: ``python -m jaxdl.port path/to/file.py:ClassName --input-shape 2,3,32,32
--out DIR`` (see ``--help``).

What maps: ``jaxdl.port.codegen.supported()`` lists the torch layers with a jaxdl layer,
the ops with a handler and the ATen ops of :mod:`jaxdl.aten` that any other op is written
as; a layer without a jaxdl layer and a module's own ``nn.Parameter``/buffers are held
in torch's layout under torch's names (``torch_params``). What torch.export cannot
capture (a Python branch on a tensor's value), an op neither has, and a layer whose
training mode cannot be seen in its eval-mode graph stop with :class:`UnsupportedError`
naming it, its module path and the user's line.

How it works: :mod:`jaxdl.port.capture` records the forward with ``torch.export`` and
regroups it per module call; :mod:`jaxdl.port.codegen` walks it, with op handlers by
family (:mod:`jaxdl.port.ops`, registered in :mod:`jaxdl.port.registry`; an op without
one is a call of :mod:`jaxdl.aten`), torch layers as their jaxdl layers
(:mod:`jaxdl.port.layers`) and every value's layout tracked (:mod:`jaxdl.port.layout`);
:mod:`jaxdl.port.emit` writes the classes; :mod:`jaxdl.port.verify` holds the parity
checks that the generated ``test_parity.py`` runs; :mod:`jaxdl.port.files` the weights
(safetensors) and the loading of a user's file. torch comes through
:func:`jaxdl.extras.torch` (``pip install "jaxdl[port]"``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from pathlib import Path
from typing import Any

import jax.numpy as jnp

from jaxdl import extras, interop
from jaxdl.port import capture, codegen, dims, verify
from jaxdl.port import layout as L
from jaxdl.port.capture import InputMismatchError, UnsupportedError
from jaxdl.port.files import (
    build,
    instantiate,
    load_class,
    load_weights,
    mismatch_summary,
    save_weights,
)

__all__ = ["InputMismatchError", "InputSpec", "Ported", "UnsupportedError", "build", "instantiate", "load_class",
           "load_weights", "mismatch_summary", "port", "save_weights"]

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
    dynamic: tuple = (0,)  # the torch dims the port takes at any size (the others: the model fixes them)

    def fixed(self) -> tuple:
        """The torch dims the model fixes at the example's size."""
        return tuple(d for d in range(len(self.shape)) if d not in self.dynamic)

    def shape_text(self) -> str:
        """The torch shape with its symbolic dims named: ``(N, 3, H, W)``."""
        return dims.shape_text(self.shape, self.dynamic, self.image, self.high is not None)

    def summary(self) -> str:
        """One line: ``x: (N, 3, 224, 224): the model fixes channels at 3, height and width at 224``."""
        return f"{self.name}: {self.shape_text()}: " + dims.fixed_text(self.shape, self.dynamic, self.image,
                                                                         self.high is not None)


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

    def summary(self) -> str:
        """One line per input: its torch shape with the dims it takes at any size named, and
        the dims the model fixes (``x: (N, 3, 224, 224): the model fixes channels at 3,
        height and width at 224``)."""
        return "\n".join(spec.summary() for spec in self.inputs)

    def write(self, directory: str | os.PathLike, *, torch_factory: str | None = None) -> Path:
        """Write ``model.py``, ``weights.safetensors`` and ``test_parity.py`` into ``directory``.

        ``test_parity.py`` rebuilds the torch module with ``torch_factory``
        (``'path/to/file.py:ClassName'`` or ``'package.module:callable'``, called with no
        arguments; default: the one given to :func:`port`, or the class's own module),
        loads the same weights into it and compares.
        """
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

    The forward is captured in eval mode with every dim of each input symbolic where the
    model allows it (torch.export fixes the others: ``Ported.summary()`` names them; when
    the code cannot be written so, the batch only is); 4-D floating-point inputs are images
    (NHWC on the JAX side). Raises
    :class:`UnsupportedError` naming the first op, layer or control flow without a
    mapping and its module path (:class:`InputMismatchError` when the example inputs do
    not fit the model: torch itself raises on them); ``partial=True`` generates the rest
    anyway, with a stub that raises ``NotImplementedError`` at each such point. ``torch_factory``
    (``'file.py:Class'`` / ``'package.module:callable'``) is how the written
    ``test_parity.py`` rebuilds the torch module; ``int_high`` bounds its random integer
    inputs (default: the smallest ``nn.Embedding``).

    Args:
        module: the torch model (any ``nn.Module`` whose forward ``torch.export`` captures).
        *example_inputs: tensors as you would call it (``torch.randn(2, 3, 32, 32)``).
        partial: write a raising stub where something has no mapping, instead of stopping.
        torch_factory: how ``test_parity.py`` rebuilds the torch model.
        int_high: the bound of ``test_parity.py``'s random integer inputs.

    Returns:
        :class:`Ported`: ``source`` (the NNX code), ``module`` (built, torch's weights
        loaded), ``unsupported`` (what ``partial=True`` stubbed) and ``write(dir)``.
    """
    torch = extras.torch("jaxdl.port", extra="port")
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"port() takes a torch.nn.Module, got {type(module).__name__}")
    if not example_inputs:
        raise ValueError("port() needs example inputs, as you would call the module: "
                         "port(model, torch.randn(2, 3, 32, 32))")
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
    try:
        graph, gen = _generate(module, tuple(example_inputs), graph, partial)
    except UnsupportedError as e:
        # a layer of an nn.Sequential (or one whose code is torch's own): name the user's line
        # that calls it, not none or torch's
        if e.path and (not e.where or capture.in_torch(graph, e.where)) and type(e) is UnsupportedError:
            at = capture.call_site(graph, e.path)
            if at:
                raise UnsupportedError(e.what, e.path, e.cls, at, e.hint) from None
        raise
    nnx_module = build(gen.source, gen.class_name)
    sd = module.state_dict()
    stub_keys = [k for k in sd if any(k.startswith(p + ".") for p, i in graph.modules.items() if i.stub)]
    try:
        interop.from_torch(nnx_module, sd, strict=not (partial and (gen.unsupported or stub_keys)))
    except interop.StateDictMismatchError as e:  # a bug of the porter's: say it short
        raise UnsupportedError(f"the generated model does not hold the module's weights ({str(e)[:600]})", "",
                               type(module).__name__, hint="Please open an issue with this model.") from None
    buffers = dict(module.named_buffers(remove_duplicate=False))
    for key, where in gen.buffers.items():  # non-persistent buffers: not in the state_dict
        var = _resolve(nnx_module, where)
        var.set_value(jnp.asarray(buffers[key].detach().cpu().numpy(), dtype=var[...].dtype))
    highs = int_high or _embedding_high(module)
    inputs = [InputSpec(name, tuple(x.shape), str(x.dtype).replace("torch.", ""), lay == L.IMAGE,
                        None if x.is_floating_point() else highs, tuple(dyn))
              for name, x, lay, dyn in zip(graph.input_names, example_inputs, gen.input_layouts,
                                           graph.input_dynamic)]
    stubs = [i.stub for i in graph.modules.values() if i.stub]
    return Ported(gen.source, nnx_module, gen.class_name, inputs, [lay == L.IMAGE for lay in gen.output_layouts],
                  gen.torch_flatten, stubs + [str(e) for e in gen.unsupported],
                  torch_factory or _default_factory(module))


def _generate(module, example_inputs: tuple, graph, partial: bool):
    """``(graph, codegen.generate(graph))``; when the code cannot be written with a size
    symbolic beyond the batch (an UnsupportedError, or with ``partial`` a stub), the
    capture with the batch alone symbolic is tried too, and the one with fewer stubs kept."""
    beyond_batch = any(d != 0 for dyn in graph.input_dynamic for d in dyn)
    try:
        gen = codegen.generate(graph, partial=partial)
    except UnsupportedError:
        if not beyond_batch:
            raise
        gen = None
    if gen is not None and not (beyond_batch and gen.unsupported):
        return graph, gen
    batch_graph = capture.capture(module, example_inputs, partial=partial, dynamic="batch")
    try:
        batch_gen = codegen.generate(batch_graph, partial=partial)
    except UnsupportedError:
        if gen is None:
            raise
        return graph, gen
    if gen is None or len(batch_gen.unsupported) < len(gen.unsupported):
        return batch_graph, batch_gen
    return graph, gen


def _resolve(model, expr: str):
    """The object at ``self.a.layers[0].b`` (generated attribute paths) inside ``model``."""
    obj = model
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", expr[len("self"):]):
        obj = getattr(obj, name) if name else obj[int(index)]
    return obj


def _embedding_high(module) -> int | None:
    sizes = [m.num_embeddings for m in module.modules() if type(m).__name__ == "Embedding"]
    return min(sizes) if sizes else None
