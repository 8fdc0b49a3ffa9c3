"""The record that ties a jaxdl layer to the torch layer it mirrors: one place per layer,
read by the porter (:mod:`jaxdl.port`) and by :mod:`jaxdl.interop`.

A jaxdl layer class registers itself with the decorator::

    @torch_layer("Conv2d", layout=CHANNELS_LAST)
    class Conv2d(nnx.Module):
        def __init__(self, in_channels, out_channels, kernel_size, stride=1, ..., *, use_bias=True, rngs): ...

        @classmethod
        def torch_arguments(cls, m) -> dict: ...   # nn.Conv2d instance -> Conv2d(**that, rngs=rngs)

        def torch_state(self) -> list[Rule]: ...   # state_dict entries <-> this layer's variables

and then carries:

``torch_classes`` (tuple of str)
    the torch class names it mirrors (``("BatchNorm1d", "BatchNorm2d", "BatchNorm3d")``);
    a name is registered once (a second class claiming it is refused at import).
``torch_module`` (str)
    where those classes live (``"torch.nn"``, ``"torchvision.ops"``): :func:`for_torch_module`
    matches ``type(m).__module__`` against it, so a user's own class of the same name is not taken.
``torch_layout`` (str)
    :data:`CHANNELS_LAST`: torch's input is (N, C, *spatial); the jaxdl layer takes
    (N, *spatial, C) and returns channels-last (convolutions, pooling, BatchNorm; for an
    (N, C) input both orders are the same). :data:`TORCH`: the same layout as torch (Linear
    on the last axis, Embedding, LayerNorm over trailing axes, RNNs, Flatten, attention).
    :data:`ANY`: elementwise, either order, the output in the input's (Dropout, Identity,
    activations).
``torch_arguments(m) -> dict`` (classmethod)
    the constructor's arguments (all of them except ``rngs``) read from a torch module
    ``m`` by attribute access (torch is not imported). Tuples whose entries are equal come
    back as one int (``kernel_size=3``), as a person writes them. Settings the layer cannot
    mirror raise one :class:`UnsupportedSetting` that lists every one of them.
``torch_state() -> list[Rule]`` (method)
    the layer's own entries of torch's ``state_dict``, in torch's order: key suffix under
    the layer's prefix, the jaxdl attribute path (dots for nested attributes, e.g.
    ``cells.0.w_ih``), and the two array functions (NumPy in, NumPy out). Submodules that
    have their own record are visited by interop on their own and are not listed here.
    Parameterless layers return ``[]``.

The constructor's defaults are torch's and its parameters have torch's names and order
(``use_bias`` for torch's ``bias`` flag, ``rngs`` keyword-only): the porter prints only the
arguments that differ from the defaults of :func:`constructor` (``inspect.signature(cls)``
does not show them: NNX's metaclass hides ``__init__``).

:data:`TORCH_LAYERS` is ``{torch class name: jaxdl class}``, filled as the layer modules
are imported (importing :mod:`jaxdl.layers` imports them all).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

CHANNELS_LAST = "channels_last"
TORCH = "torch"
ANY = "any"
LAYOUTS = (CHANNELS_LAST, TORCH, ANY)

ArrayFn = Callable[[np.ndarray], np.ndarray]


def _same(a: np.ndarray) -> np.ndarray:
    return a


def _transposed(a: np.ndarray) -> np.ndarray:
    return a.T


class Rule(NamedTuple):
    """One ``state_dict`` entry of a layer: ``torch_key`` under the layer's prefix
    (``"weight"``), the jaxdl attribute path (``"kernel"``), the array as torch stores it
    from the jaxdl value (``to_torch``) and back (``from_torch``). ``optional``: a
    ``state_dict`` without the key keeps the layer's value on load, as torch does for
    BatchNorm's ``num_batches_tracked`` in files saved before PyTorch 0.4.1."""

    torch_key: str
    attr: str
    to_torch: ArrayFn = _same
    from_torch: ArrayFn = _same
    optional: bool = False


SAME = (_same, _same)
TRANSPOSED = (_transposed, _transposed)  # Linear: weight (out, in) <-> kernel (in, out)


class UnsupportedSetting(ValueError):
    """A torch layer's settings that its jaxdl layer cannot mirror, every one of them
    named in one message (``nn.LSTM with num_layers=2, bidirectional=True``)."""

    def __init__(self, torch_name: str, settings: list[str], jaxdl_name: str | None = None):
        self.torch_name, self.settings = torch_name, list(settings)
        target = f"jaxdl.layers.{jaxdl_name}" if jaxdl_name else "jaxdl.layers"
        super().__init__(f"nn.{torch_name} with {', '.join(settings)}: {target} does not mirror "
                         f"{'this setting' if len(settings) == 1 else 'these settings'}")


def refuse(m: Any, cls: type, *problems: str | None | bool) -> None:
    """Raise :class:`UnsupportedSetting` naming every truthy entry of ``problems`` (each a
    setting as torch prints it, e.g. ``"padding_mode='reflect'"``); nothing when all are
    empty. Write them as ``condition and "setting"``."""
    found = [p for p in problems if p]
    if found:
        raise UnsupportedSetting(type(m).__name__, found, cls.__name__)


def collapse(v: Any) -> Any:
    """torch's tuple arguments as a person writes them: ``(3, 3)`` -> 3, ``(1, 2)`` -> (1, 2)."""
    if isinstance(v, (tuple, list)):
        v = tuple(collapse(x) for x in v)
        return v[0] if v and all(isinstance(x, int) and x == v[0] for x in v) else v
    return v


TORCH_LAYERS: dict[str, type] = {}


def torch_layer(*torch_classes: str, layout: str, module: str = "torch.nn") -> Callable[[type], type]:
    """Register the decorated jaxdl class as the counterpart of ``module``'s ``torch_classes``
    with input ``layout`` (:data:`CHANNELS_LAST`, :data:`TORCH` or :data:`ANY`). The class
    must have ``torch_arguments`` and ``torch_state``; a torch name registered twice is refused."""
    if not torch_classes:
        raise ValueError("torch_layer needs at least one torch class name")
    if layout not in LAYOUTS:
        raise ValueError(f"torch_layer layout must be one of {LAYOUTS}, got {layout!r}")

    def register(cls: type) -> type:
        missing = [a for a in ("torch_arguments", "torch_state") if not callable(getattr(cls, a, None))]
        if missing:
            raise TypeError(f"{cls.__name__} is registered as torch's {', '.join(torch_classes)} but has no "
                            f"{' or '.join(missing)}")
        taken = [f"{n} (by {TORCH_LAYERS[n].__module__}.{TORCH_LAYERS[n].__qualname__})"
                 for n in torch_classes if n in TORCH_LAYERS]
        if taken:
            raise ValueError(f"{cls.__qualname__}: torch layer {', '.join(taken)} is already registered")
        cls.torch_classes, cls.torch_layout, cls.torch_module = tuple(torch_classes), layout, module
        for n in torch_classes:
            TORCH_LAYERS[n] = cls
        return cls

    return register


def for_torch_module(m: Any) -> type | None:
    """The jaxdl class registered for the torch module ``m`` (its exact class, from the
    registered torch package), or None."""
    cls = TORCH_LAYERS.get(type(m).__name__)
    if cls is None or not type(m).__module__.startswith(cls.torch_module + "."):
        return None
    return cls


def constructor(cls: type) -> inspect.Signature:
    """The parameters of ``cls(...)`` (``__init__``'s, without ``self``), with their defaults."""
    sig = inspect.signature(cls.__init__)
    return sig.replace(parameters=list(sig.parameters.values())[1:])


class ParameterlessLayer:
    """``torch_state`` of a layer without weights or buffers: nothing to convert."""

    def torch_state(self) -> list[Rule]:
        return []
