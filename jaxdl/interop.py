"""PyTorch ``state_dict`` <-> jaxdl models, both directions.

``from_torch(model, state_dict_or_path)`` fills a jaxdl model with the weights of the
notes' PyTorch class of the same structure (``torch.save(model.state_dict(), 'm.pt')``
files included); ``to_torch(model)`` gives back a state_dict that the PyTorch class loads
with ``load_state_dict(strict=True)``. Keys map by name: the torch key of a layer is its
attribute path in the jaxdl model, without the ``layers`` level of ``nnx.Sequential``
(torch ``block_1.0.weight`` <-> jaxdl ``block_1.layers.0.kernel``). Per layer:

=========================  =============================================================
Linear                     weight (out, in) <-> kernel (in, out) = weight.T; bias
Linear after a conv stack  torch flattens (C, H, W), jaxdl (H, W, C): the kernel's rows are
                           permuted, driven by the model's ``torch_flatten``
Conv2d                     weight OIHW <-> kernel HWIO = weight.transpose(2, 3, 1, 0)
BatchNorm1d/2d             weight/bias/running_mean/running_var/num_batches_tracked <->
                           scale/bias/mean/var/num_batches_tracked
LayerNorm                  weight/bias <-> scale/bias
Embedding                  weight <-> embedding
LSTM / RNN (one layer)     weight_ih_l0/weight_hh_l0 <-> w_ih/w_hh (transposed),
                           bias_ih_l0/bias_hh_l0 <-> b_ih/b_hh (two biases, as torch)
any module                 the attributes named in its ``torch_params`` (a module's own
                           ``nn.Parameter`` / buffer, same name, same layout)
=========================  =============================================================

torch is imported only inside these functions. Arrays are copied (on CPU,
``jnp.asarray(t.numpy())`` can alias torch's memory, which a later in-place torch update
would change).
"""

from __future__ import annotations

import collections
import os
from typing import Any, Callable

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxdl import layers, tree


class StateDictMismatchError(ValueError):
    """The state_dict does not fit the model: the message lists missing, unexpected and
    mis-shaped keys."""


# (torch name, jaxdl attribute, jaxdl->torch, torch->jaxdl)
Rule = tuple[str, str, Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]
_same = (lambda a: a, lambda a: a)
_t = (lambda a: a.T, lambda a: a.T)
_conv = (lambda k: k.transpose(3, 2, 0, 1), lambda w: w.transpose(2, 3, 1, 0))


def _flatten_perm(chw: tuple[int, int, int]):
    c, h, w = chw

    def to_torch(kernel):  # (H*W*C, out) -> weight (out, C*H*W)
        return kernel.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(kernel.shape[-1], c * h * w)

    def from_torch(weight):  # (out, C*H*W) -> kernel (H*W*C, out)
        return weight.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, weight.shape[0])

    return to_torch, from_torch


def _rules(module: nnx.Module, flatten_chw: tuple | None) -> list[Rule]:
    if isinstance(module, (layers.LSTM, layers.RNN)):
        return [("weight_ih_l0", "w_ih", *_t), ("weight_hh_l0", "w_hh", *_t),
                ("bias_ih_l0", "b_ih", *_same), ("bias_hh_l0", "b_hh", *_same)]
    if isinstance(module, layers.Conv2d):
        return [("weight", "kernel", *_conv)] + ([("bias", "bias", *_same)] if module.bias is not None else [])
    if isinstance(module, nnx.Linear):
        kernel = _flatten_perm(flatten_chw) if flatten_chw else _t
        return [("weight", "kernel", *kernel)] + ([("bias", "bias", *_same)] if module.bias is not None else [])
    if isinstance(module, layers.BatchNorm):
        return [("weight", "scale", *_same), ("bias", "bias", *_same), ("running_mean", "mean", *_same),
                ("running_var", "var", *_same), ("num_batches_tracked", "num_batches_tracked", *_same)]
    if isinstance(module, nnx.LayerNorm):
        return [("weight", "scale", *_same), ("bias", "bias", *_same)]
    if isinstance(module, nnx.Embed):
        return [("weight", "embedding", *_same)]
    return []


def _torch_prefix(path: tuple, sequential_paths: set) -> str:
    """The torch prefix of a module path: the ``layers`` list of an ``nnx.Sequential`` is
    not a level in torch (``block.layers.0`` -> ``block.0``)."""
    return ".".join(str(p) for i, p in enumerate(path) if not (p == "layers" and path[:i] in sequential_paths))


def _in_definition_order(model: nnx.Module, modules) -> list:
    """``(path, module)`` pairs in the order the submodules were assigned, torch's
    ``state_dict`` order (``nnx.iter_modules`` sorts them by name)."""
    def rank(path):
        node, out = model, []
        for p in path:
            out.append(p if isinstance(p, int) else list(vars(node)).index(p))
            node = node[p] if isinstance(p, int) else getattr(node, p)
        return out
    return sorted(modules, key=lambda pm: rank(tuple(pm[0])))


def _entries(model: nnx.Module) -> dict[str, tuple[nnx.Variable, Callable, Callable]]:
    """{torch key: (jaxdl Variable, to_torch, from_torch)} for every convertible leaf."""
    flatten = dict(getattr(model, "torch_flatten", {}) or {})
    modules = _in_definition_order(model, nnx.iter_modules(model))
    sequential = {tuple(path) for path, m in modules if isinstance(m, nnx.Sequential)}
    out = {}
    for path, module in modules:
        prefix = _torch_prefix(tuple(path), sequential)
        own = [(n, n, *_same) for n in getattr(module, "torch_params", ())]  # a module's own nn.Parameters
        for tname, attr, to_t, from_t in _rules(module, flatten.get(prefix)) + own:
            out[f"{prefix}.{tname}" if prefix else tname] = (getattr(module, attr), to_t, from_t)
    return out


def _torch_shape(var: nnx.Variable, to_t) -> tuple:
    return tuple(to_t(np.zeros(var[...].shape, np.float32)).shape)


def load_torch_file(path: str | os.PathLike) -> dict:
    """torch: ``torch.load(path, weights_only=True)``: read a ``.pt`` / ``.pth`` file holding a
    state_dict (a nested dict of tensors, as ``torch.save(model.state_dict(), path)``
    writes). Only tensors and plain containers are unpickled, so a downloaded file
    cannot run code; a file that holds a whole pickled module or other objects is
    refused with :class:`UnsafeCheckpointError`."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise UnsafeCheckpointError(
            f"{path} holds pickled Python objects, not only tensors (for example a whole model "
            "saved with torch.save(model, path)); jaxdl loads weights without running code from "
            "the file. Where you trust the file, re-save its weights in PyTorch: "
            "torch.save(torch.load(path, weights_only=False).state_dict(), 'weights.pt'). "
            f"(torch: {str(e).splitlines()[0]})") from None


class UnsafeCheckpointError(ValueError):
    """A ``.pt`` file holds pickled objects (code could run on load), not a state_dict."""


def _load_state_dict(source) -> dict:
    if isinstance(source, (str, os.PathLike)):
        source = load_torch_file(source)
    if not hasattr(source, "items"):
        raise TypeError(f"expected a state_dict (a mapping of names to tensors) or a path, got {type(source).__name__}")
    return dict(source)


def from_torch(model: nnx.Module, state_dict_or_path: Any, *, strict: bool = True) -> nnx.Module:
    """torch: ``model.load_state_dict(state_dict)``: copy PyTorch weights into ``model``
    (in place; also returned). A path is read with ``torch.load``. Raises
    :class:`StateDictMismatchError` listing missing, unexpected and mis-shaped keys;
    nothing is written into the model unless everything fits (``strict=False`` skips
    missing and unexpected keys, as torch)."""
    sd = _load_state_dict(state_dict_or_path)
    entries = _entries(model)
    expected = {k: _torch_shape(v, to_t) for k, (v, to_t, _) in entries.items()}
    found = {k: tuple(np.shape(_to_numpy(v))) for k, v in sd.items()}
    if not strict:
        found = {k: s for k, s in found.items() if k in expected}
        expected = {k: s for k, s in expected.items() if k in found}
    problems = tree.describe_mismatch(found, expected)
    if problems:
        raise StateDictMismatchError(f"state_dict does not fit {type(model).__name__}: {problems}")
    new = {}
    for key in expected:
        var, _, from_t = entries[key]
        value = np.array(from_t(_to_numpy(sd[key])), copy=True)
        new[key] = jnp.asarray(value, dtype=var[...].dtype)
    for key, value in new.items():  # only after every key checked: all or nothing
        entries[key][0].set_value(value)
    return model


def to_torch(model: nnx.Module) -> "collections.OrderedDict[str, Any]":
    """torch: ``model.state_dict()`` of the notes' PyTorch class, from a jaxdl model
    (for a train state: ``to_torch(learner.model(state))``)."""
    import torch

    out = collections.OrderedDict()
    for key, (var, to_t, _) in _entries(model).items():
        value = np.array(to_t(np.asarray(var[...])), copy=True)
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(int(value), dtype=torch.int64)
        else:
            out[key] = torch.from_numpy(np.ascontiguousarray(value))
    return out


def _to_numpy(v) -> np.ndarray:
    if hasattr(v, "detach"):
        return v.detach().cpu().numpy()
    return np.asarray(v)
