"""PyTorch ``state_dict`` <-> jaxdl models, both directions.

``from_torch(model, state_dict_or_path)`` fills a jaxdl model with the weights of the
PyTorch class of the same structure (``torch.save(model.state_dict(), 'm.pt')`` files and
``.safetensors`` files included); ``to_torch(model)`` gives back a state_dict that the
PyTorch class loads with ``load_state_dict(strict=True)``. Keys map by name: the torch key
of a layer is its attribute path in the jaxdl model, without the ``layers`` level of
``nnx.Sequential`` (torch ``block_1.0.weight`` <-> jaxdl ``block_1.layers.0.kernel``).

What each layer stores is its own record, ``torch_state()`` (:mod:`jaxdl.layers.torch_layer`):
Linear's ``weight`` is ``kernel.T``, Conv2d's OIHW ``weight`` the HWIO ``kernel``,
BatchNorm's ``running_var`` its ``var``, and so on (see each layer's ``torch_state``).
Two more sources of keys:

* a Linear after a conv stack: torch flattens (C, H, W), jaxdl (H, W, C); the kernel's rows
  are permuted, driven by the model's ``torch_flatten`` (``{"fc1": (C, H, W)}``);
* any module's ``torch_params``: the attributes named there (a module's own
  ``nn.Parameter`` / buffer), same name, same layout.

Two class attributes adjust the names (both written by :mod:`jaxdl.port`):
``torch_names = {"block1_0": "block1-0"}`` gives torch's name of a child whose torch name
is not a Python identifier, and ``torch_aliases = {"head.weight": "emb.weight"}`` names keys
that torch's state_dict lists for a tensor tied to another key (checked for shape on load,
not loaded twice; written as the same tensor by ``to_torch``).

Arrays are copied (on CPU, ``jnp.asarray(t.numpy())`` can alias torch's memory, which a
later in-place torch update would change). Values are cast to the model's dtypes as
torch's ``load_state_dict`` casts them (float64 or bfloat16 weights into a float32 model);
integer values for a floating-point parameter and NaN/inf weights stop the load instead.
"""

from __future__ import annotations

import collections
import json
import os
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import nnx

from jaxdl import extras, tree
from jaxdl.layers import Linear
from jaxdl.layers.torch_layer import SAME, Rule


class StateDictMismatchError(ValueError):
    """The state_dict does not fit the model: the message counts the missing, unexpected
    and mis-shaped keys and names the first few of each."""


class UnsafeCheckpointError(ValueError):
    """A ``.pt`` file holds pickled objects (code could run on load), not a state_dict."""


class WeightsFileError(ValueError):
    """A weights file is empty, truncated or not a weights file; the message gives its size."""


class WeightValueError(ValueError):
    """A state_dict value that cannot be loaded as it is (integers for a floating-point
    parameter, NaN or inf): the message names the key and what to do."""


SHOWN = 5  # keys shown per kind of mismatch (the rest are counted)


def _flatten_perm(chw: tuple[int, int, int]):
    c, h, w = chw

    def to_torch(kernel):  # (H*W*C, out) -> weight (out, C*H*W)
        return kernel.reshape(h, w, c, -1).transpose(3, 2, 0, 1).reshape(kernel.shape[-1], c * h * w)

    def from_torch(weight):  # (out, C*H*W) -> kernel (H*W*C, out)
        return weight.reshape(-1, c, h, w).transpose(2, 3, 1, 0).reshape(h * w * c, weight.shape[0])

    return to_torch, from_torch


def _rules(module: nnx.Module, flatten_chw: tuple | None, path: str) -> list[Rule]:
    rules = list(module.torch_state()) if callable(getattr(module, "torch_state", None)) else []
    if flatten_chw:
        if not isinstance(module, Linear):
            raise ValueError(f"torch_flatten names {path!r}, a {type(module).__name__}; it must name the "
                             "Linear layer that follows the flatten")
        rules = [r._replace(to_torch=_flatten_perm(flatten_chw)[0], from_torch=_flatten_perm(flatten_chw)[1])
                 if r.torch_key == "weight" else r for r in rules]
    return rules + [Rule(n, n, *SAME) for n in getattr(module, "torch_params", ())]  # its own nn.Parameters


def _attribute(module: nnx.Module, path: str):
    """``module.a.0.b`` for the path ``"a.0.b"`` (an integer part indexes a list)."""
    for part in path.split("."):
        module = module[int(part)] if part.isdigit() else getattr(module, part)
    return module


def torch_prefixes(model: nnx.Module) -> dict[int, str]:
    """{id(submodule): its torch key prefix} for every submodule of ``model`` (the model
    itself: ""). The ``layers`` list of an ``nnx.Sequential`` is not a level in torch
    (``block.layers.0`` -> ``block.0``), and an attribute listed in its parent's
    ``torch_names`` has torch's name (``block1_0`` -> ``block1-0``)."""
    return {id(m): _torch_path(model, tuple(path)) for path, m in nnx.iter_modules(model)}


def _torch_path(model: nnx.Module, path: tuple) -> str:
    parts, node = [], model
    for p in path:
        if not (p == "layers" and isinstance(node, nnx.Sequential)):
            names = getattr(node, "torch_names", None)
            parts.append(str(names.get(p, p) if isinstance(names, dict) else p))
        node = node[p] if isinstance(p, int) else getattr(node, p)
    return ".".join(parts)


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


class _Entry:
    """One torch key: the jaxdl Variable and the two array functions."""

    def __init__(self, var: nnx.Variable, rule: Rule):
        self.var, self.to_torch, self.from_torch, self.optional = var, rule.to_torch, rule.from_torch, rule.optional


def _entries(model: nnx.Module) -> dict[str, _Entry]:
    """{torch key: entry} for every convertible variable of ``model``."""
    flatten = dict(getattr(model, "torch_flatten", {}) or {})
    out, prefixes = {}, set()
    for path, module in _in_definition_order(model, nnx.iter_modules(model)):
        prefix = _torch_path(model, tuple(path))
        prefixes.add(prefix)
        for rule in _rules(module, flatten.get(prefix), prefix):
            out[f"{prefix}.{rule.torch_key}" if prefix else rule.torch_key] = _Entry(
                _attribute(module, rule.attr), rule)
    unknown = sorted(set(flatten) - prefixes)
    if unknown:
        raise ValueError(f"{type(model).__name__}.torch_flatten names {unknown[0]!r}, which is not a submodule; "
                         "it must name the Linear layer that follows the flatten (torch's key prefix)")
    return out


def _aliases(model: nnx.Module) -> dict[str, str]:
    """{torch key: the torch key holding the same tensor} from the modules' ``torch_aliases``
    (tied weights that torch's state_dict lists under two names)."""
    out = {}
    for path, module in nnx.iter_modules(model):
        prefix = _torch_path(model, tuple(path))
        for alias, target in (getattr(module, "torch_aliases", None) or {}).items():
            out[f"{prefix}.{alias}" if prefix else alias] = f"{prefix}.{target}" if prefix else target
    return out


def _torch_shape(entry: _Entry) -> tuple:
    return tuple(entry.to_torch(np.zeros(entry.var[...].shape, np.float32)).shape)


# ---------------------------------------------------------------- weights files
def load_torch_file(path: str | os.PathLike) -> dict:
    """torch: ``torch.load(path, weights_only=True)``: read a state_dict file.

    Args:
        path: a ``.pt`` / ``.pth`` / ``.bin`` file written by
            ``torch.save(model.state_dict(), path)``, or a ``.safetensors`` file (read
            without torch).

    Returns:
        The state_dict: {key: tensor} (NumPy arrays for ``.safetensors``).

    Only tensors and plain containers are unpickled, so a downloaded file cannot run code;
    a file that holds a whole pickled module or other objects is refused with
    :class:`UnsafeCheckpointError`. An empty or truncated file raises
    :class:`WeightsFileError` with its size. Reading a ``.pt`` file needs PyTorch
    (``pip install "jaxdl[torch]"``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file (a .pt, .pth or .safetensors file was expected)")
    size = path.stat().st_size
    if size == 0:
        raise WeightsFileError(f"{path} is empty (0 bytes): the download or save did not finish; fetch or "
                               "save the weights again")
    if path.suffix == ".safetensors":
        return _read_safetensors(path, size)
    torch = extras.torch("reading PyTorch weight files (jaxdl.interop.load_torch_file)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "truncated" not in str(e):
            raise UnsafeCheckpointError(
                f"{path} holds pickled Python objects, not only tensors (for example a whole model "
                "saved with torch.save(model, path)); jaxdl loads weights without running code from "
                "the file. Where you trust the file, re-save its weights in PyTorch: "
                "torch.save(torch.load(path, weights_only=False).state_dict(), 'weights.pt'). "
                f"(torch: {str(e).splitlines()[0]})") from None
        raise _truncated(path, size) from None
    except (RuntimeError, EOFError, IndexError, struct.error) as e:  # how torch's readers fail on a cut file
        with open(path, "rb") as f:
            zipped = f.read(4) == b"PK\x03\x04"
        if (zipped and not zipfile.is_zipfile(path)) or (not zipped and not isinstance(e, RuntimeError)) \
                or "EOF" in str(e):
            raise _truncated(path, size) from None
        raise WeightsFileError(f"{path} ({size:,} bytes) is not a PyTorch weights file torch can read: "
                               f"{str(e).splitlines()[0]}") from None


def _truncated(path: Path, size: int, expected: int | None = None) -> WeightsFileError:
    want = f", {expected:,} expected" if expected else ""
    return WeightsFileError(f"{path} is truncated ({size:,} bytes{want}): the download or save was cut "
                            "off; fetch or save the weights again")


# safetensors' dtype names -> NumPy (bfloat16 and float8 through JAX's ml_dtypes)
_SAFETENSORS_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": jnp.bfloat16,
                       "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8,
                       "U16": np.uint16, "U32": np.uint32, "U64": np.uint64, "BOOL": np.bool_,
                       "F8_E4M3": jnp.float8_e4m3fn, "F8_E5M2": jnp.float8_e5m2}


def _read_safetensors(path: Path, size: int) -> dict[str, np.ndarray]:
    """A ``.safetensors`` file (8-byte header length, JSON header, raw data) as NumPy
    arrays, its size checked against what the header describes."""
    with open(path, "rb") as f:
        data = f.read()
    n = int.from_bytes(data[:8], "little") if size >= 8 else None
    if n is None or 8 + n > size:
        raise _truncated(path, size, None if n is None or n > 1 << 32 else 8 + n)
    try:
        header = json.loads(data[8:8 + n])
    except ValueError:
        raise WeightsFileError(f"{path} ({size:,} bytes) is not a safetensors file: its header is not JSON") from None
    header.pop("__metadata__", None)
    end = 8 + n + max((int(v["data_offsets"][1]) for v in header.values()), default=0)
    if end > size:
        raise _truncated(path, size, end)
    out = {}
    for key, v in header.items():
        if v["dtype"] not in _SAFETENSORS_DTYPES:
            raise WeightsFileError(f"{path}: {key} has the dtype {v['dtype']}, which jaxdl does not read")
        lo, hi = (8 + n + int(o) for o in v["data_offsets"])
        out[key] = np.frombuffer(data[lo:hi], _SAFETENSORS_DTYPES[v["dtype"]]).reshape(v["shape"]).copy()
    return out


def _load_state_dict(source) -> dict:
    if isinstance(source, (str, os.PathLike)):
        source = load_torch_file(source)
    if not hasattr(source, "items"):
        raise TypeError(f"expected a state_dict (a mapping of names to tensors) or a path, got {type(source).__name__}")
    return dict(source)


# ---------------------------------------------------------------- both directions
def from_torch(model: nnx.Module, state_dict_or_path: Any, *, strict: bool = True,
               allow_nonfinite: bool = False) -> nnx.Module:
    """torch: ``model.load_state_dict(state_dict)``: copy PyTorch weights into ``model``.

    Args:
        model: the jaxdl model, changed in place.
        state_dict_or_path: a state_dict ({key: tensor or array}) or the path of a
            ``.pt``/``.pth``/``.safetensors`` file (:func:`load_torch_file`).
        strict: False skips missing and unexpected keys, as torch.
        allow_nonfinite: load NaN/inf values as they are (by default they stop the load).

    Returns:
        ``model``, with the weights.

    Nothing is written into the model unless every key fits: :class:`StateDictMismatchError`
    counts the missing, unexpected and mis-shaped keys and names the first few of each;
    :class:`WeightValueError` names a key whose values cannot be loaded as they are.
    Floating-point values are cast to the model's dtypes as torch casts them.
    """
    sd = _load_state_dict(state_dict_or_path)
    entries = _entries(model)
    expected = {k: _torch_shape(e) for k, e in entries.items()}
    found = {k: tuple(np.shape(v)) for k, v in sd.items()}
    for alias, target in _aliases(model).items():  # the same tensor under a second name: checked, not loaded
        if alias in found and found.pop(alias) != expected.get(target):
            raise StateDictMismatchError(f"{alias} is tied to {target} in {type(model).__name__} (torch_aliases) but "
                                         f"has the shape {tuple(np.shape(sd[alias]))}, not {expected.get(target)}")
    optional_absent = {k for k, e in entries.items() if e.optional and k not in found}
    expected = {k: s for k, s in expected.items() if k not in optional_absent}
    if not strict:
        found = {k: s for k, s in found.items() if k in expected}
        expected = {k: s for k, s in expected.items() if k in found}
    problems = tree.describe_mismatch(found, expected, show=SHOWN)
    if problems:
        raise StateDictMismatchError(f"state_dict does not fit {type(model).__name__} "
                                     f"({_counts(found, expected)}): {problems}{_prefix_hint(found, expected)}")
    new = {}
    for key in expected:
        entry = entries[key]
        value = _checked(key, _to_numpy(sd[key]), entry.var[...].dtype, allow_nonfinite)
        new[key] = jnp.asarray(np.array(entry.from_torch(value), copy=True), dtype=entry.var[...].dtype)
    for key, value in new.items():  # only after every key checked: all or nothing
        entries[key].var.set_value(value)
    return model


def _counts(found: dict, expected: dict) -> str:
    n = {"missing": len(set(expected) - set(found)), "unexpected": len(set(found) - set(expected)),
         "wrong shape": sum(1 for k in set(found) & set(expected) if found[k] != expected[k])}
    return ", ".join(f"{v} {k}" for k, v in n.items() if v)


def _prefix_hint(found: dict, expected: dict) -> str:
    """What to do when every key carries nn.DataParallel's ``module.`` prefix."""
    if found and all(k.startswith("module.") for k in found) and not any(k.startswith("module.") for k in expected):
        return (". Every key starts with 'module.' (saved from nn.DataParallel or DistributedDataParallel): "
                "load {k.removeprefix('module.'): v for k, v in state_dict.items()}")
    return ""


def _checked(key: str, value: np.ndarray, dtype, allow_nonfinite: bool) -> np.ndarray:
    """``value`` for a variable of ``dtype``, or :class:`WeightValueError` naming ``key``."""
    floating = jnp.issubdtype(dtype, jnp.floating)
    if floating and not jnp.issubdtype(value.dtype, jnp.floating):
        raise WeightValueError(
            f"{key} holds {value.dtype} values where the model has a {np.dtype(dtype).name} parameter: "
            "integer weights are quantised or not weights at all; convert them in PyTorch "
            f"(state_dict[{key!r}] = state_dict[{key!r}].float()) if they are meant as these values")
    if not floating and jnp.issubdtype(value.dtype, jnp.floating) and not np.all(np.mod(value, 1) == 0):
        raise WeightValueError(f"{key} holds fractional values where the model keeps a count "
                               f"({np.dtype(dtype).name}): it is not this layer's {key.rsplit('.', 1)[-1]}")
    if floating and not allow_nonfinite:
        bad = int(value.size - np.count_nonzero(np.isfinite(value.astype(np.float32))))
        if bad:
            raise WeightValueError(f"{key} holds {bad} NaN or inf value{'s' if bad > 1 else ''} of {value.size}: "
                                   "the weights are damaged (or saved from a diverged run); load an earlier "
                                   "file, or pass allow_nonfinite=True to load them as they are")
    return value


def to_torch(model: nnx.Module) -> collections.OrderedDict[str, Any]:
    """torch: ``model.state_dict()``: the PyTorch state_dict of a jaxdl model.

    Args:
        model: the jaxdl model (for a train state: ``learner.model(state)``).

    Returns:
        An ``OrderedDict`` of torch tensors in torch's key order, which the PyTorch class
        loads with ``load_state_dict(strict=True)``. Needs PyTorch (``pip install "jaxdl[torch]"``).
    """
    torch = extras.torch("jaxdl.interop.to_torch")
    out = collections.OrderedDict()
    for key, entry in _entries(model).items():
        array = np.asarray(entry.var[...])
        bf16 = array.dtype == jnp.bfloat16  # no NumPy bfloat16 in torch: through float32, exactly
        value = np.array(entry.to_torch(array.astype(np.float32) if bf16 else array), copy=True)
        if key.endswith("num_batches_tracked"):
            out[key] = torch.tensor(int(value), dtype=torch.int64)
        else:
            t = torch.from_numpy(np.ascontiguousarray(value))
            out[key] = t.to(torch.bfloat16) if bf16 else t
    for alias, target in _aliases(model).items():
        out[alias] = out[target]  # one tensor under both names, as torch's state_dict of tied weights
    return out


def _to_numpy(v) -> np.ndarray:
    if hasattr(v, "detach"):
        v = v.detach().cpu()
        if str(v.dtype) == "torch.bfloat16":  # NumPy has no bfloat16: widen, exactly
            v = v.float()
        return v.numpy()
    return np.asarray(v)

