"""TRANSITIONAL: the torch records of :mod:`jaxdl.layers.recurrent`'s one-layer LSTM and RNN.

``recurrent.py`` belongs to the seqlayers work stream, which rewrites those classes; until it
puts the record on them (``@torch_layer("LSTM", layout=TORCH)`` with ``torch_arguments`` and
``torch_state``, the code below), the record is attached here, so that interop and the porter
read LSTM/RNN like every other layer. When the classes carry it themselves, importing this
module fails on the duplicate name: delete this file and its import in ``__init__``.
"""

from __future__ import annotations

from jaxdl.layers.recurrent import LSTM, RNN
from jaxdl.layers.torch_layer import SAME, TORCH, TRANSPOSED, Rule, refuse, torch_layer


def _torch_arguments(cls, m) -> dict:
    refuse(m, cls, m.num_layers != 1 and f"num_layers={m.num_layers}", m.bidirectional and "bidirectional=True",
           not m.bias and "bias=False", getattr(m, "proj_size", 0) and f"proj_size={m.proj_size}",
           getattr(m, "nonlinearity", "tanh") != "tanh" and f"nonlinearity={m.nonlinearity!r}")
    return {"input_size": m.input_size, "hidden_size": m.hidden_size, "batch_first": m.batch_first}


def _torch_state(self) -> list[Rule]:
    """weight_ih_l0/weight_hh_l0 <-> w_ih/w_hh (transposed); bias_ih_l0/bias_hh_l0 <-> b_ih/b_hh."""
    return [Rule("weight_ih_l0", "w_ih", *TRANSPOSED), Rule("weight_hh_l0", "w_hh", *TRANSPOSED),
            Rule("bias_ih_l0", "b_ih", *SAME), Rule("bias_hh_l0", "b_hh", *SAME)]


for _cls, _name in ((LSTM, "LSTM"), (RNN, "RNN")):
    _cls.torch_arguments = classmethod(_torch_arguments)
    _cls.torch_state = _torch_state
    torch_layer(_name, layout=TORCH)(_cls)
