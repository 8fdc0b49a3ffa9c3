"""jaxdl.port on every PyTorch class of the notes (torch_reference): the ported module
gives torch's outputs (fp32, 1e-5 of the output scale), its parameter tree is the
hand-written jaxdl.models class's (paths and shapes), and the generated source is what
a person would write: ruff-clean, no torch, no layout transposes, torch's names."""

import numpy as np
import pytest
import torch
from flax import nnx

import jaxdl.models as M
import torch_reference as T
from jaxdl.port import port, verify
from tests.port.generated import code_of, imported_modules, ruff_check

EMB = [(5, 3), (4, 2), (6, 3)]

# name: (torch module factory, jaxdl.models factory, example inputs)
NOTES = {
    "LinearRegression": (T.LinearRegression, M.LinearRegression, lambda: [torch.randn(8, 1)]),
    "LogisticRegression": (T.LogisticRegression, M.LogisticRegression, lambda: [torch.randn(8, 1)]),
    "IrisModel": (T.IrisModel, M.IrisModel, lambda: [torch.randn(8, 4)]),
    "WideDeep": (T.WideDeep, M.WideDeep, lambda: [torch.randn(8, 8)]),
    "Net": (T.Net, M.Net, lambda: [torch.randn(4, 1, 28, 28)]),
    "BinaryANN": (T.BinaryANN, M.BinaryANN, lambda: [torch.randn(4, 1, 28, 28)]),
    "MNISTClassifier": (T.MNISTClassifier, M.MNISTClassifier, lambda: [torch.randn(6, 1, 28, 28)]),
    "FashionMNISTModel": (T.FashionMNISTModel, M.FashionMNISTModel, lambda: [torch.randn(4, 1, 28, 28)]),
    "ConvolutionalNetwork": (T.ConvolutionalNetwork, M.ConvolutionalNetwork, lambda: [torch.randn(4, 1, 28, 28)]),
    "LeNet5": (T.LeNet5, M.LeNet5, lambda: [torch.randn(4, 1, 32, 32)]),
    "TinyVGG": (T.TinyVGG, M.TinyVGG, lambda: [torch.randn(4, 1, 28, 28)]),
    "CifarNet": (T.CifarNet, M.CifarNet, lambda: [torch.randn(4, 3, 32, 32)]),
    "CNN": (T.CNN, M.CNN, lambda: [torch.randn(4, 3, 32, 32)]),
    "LSTMNetwork": (T.LSTMNetwork, M.LSTMNetwork, lambda: [torch.randn(12, 1)]),
    "TabularModel": (lambda: T.TabularModel(EMB, 4, 2, [20, 10], p=0.4),
                     lambda rngs: M.TabularModel(EMB, 4, 2, [20, 10], p=0.4, rngs=rngs),
                     lambda: [torch.randint(0, 4, (8, 3)), torch.randn(8, 4)]),
}
IMAGE_MODELS = {"ConvolutionalNetwork", "LeNet5", "TinyVGG", "CifarNet", "CNN"}

_PORTED = {}


def ported(name):
    if name not in _PORTED:
        torch_cls, _, inputs = NOTES[name]
        torch.manual_seed(0)
        tm = torch_cls()
        _PORTED[name] = (tm, port(tm, *inputs()))
    return _PORTED[name]


def state_shapes(model) -> dict:
    state = nnx.state(model, nnx.Any(nnx.Param, nnx.BatchStat))
    return {".".join(map(str, p)): tuple(v.get_value().shape) for p, v in nnx.to_flat_state(state)}


def test_the_notes_have_fifteen_classes():
    classes = [c for c in vars(T).values() if isinstance(c, type) and issubclass(c, torch.nn.Module)
               and c.__module__ == "torch_reference"]
    assert len(classes) == 15 and {c.__name__ for c in classes} == set(NOTES)


@pytest.mark.parametrize("name", NOTES)
def test_notes_class_ports_to_its_outputs_and_parameter_tree(name):
    tm, p = ported(name)
    err = verify.check_eval_outputs(tm, p.module, p.inputs, p.output_images, tol=1e-5)
    print(f"{name}: max |jax - torch| / max(1, |torch|) = {err:.2e}")
    assert err <= 1e-5
    hand = nnx.eval_shape(lambda: NOTES[name][1](rngs=nnx.Rngs(params=0, dropout=1)))
    assert state_shapes(p.module) == state_shapes(hand)
    assert p.class_name == type(tm).__name__
    assert imported_modules(p.source) <= {"__future__", "functools", "typing", "jax", "jax.numpy", "flax",
                                          "jaxdl.layers"}
    if name in IMAGE_MODELS:  # NHWC throughout: no transposes between layers
        assert "transpose" not in code_of(p.source)
        assert "flatten" in code_of(p.source) and "torch_flatten: ClassVar[dict] = " in p.source


def test_generated_sources_pass_ruff(tmp_path):
    for name in NOTES:
        (tmp_path / f"{name.lower()}.py").write_text(ported(name)[1].source)
    ruff_check(tmp_path)


def test_generated_code_reads_like_the_hand_written_models():
    src = ported("ConvolutionalNetwork")[1].source
    assert "self.conv1 = Conv2d(1, 6, 3, rngs=rngs)" in src
    assert "X = jax.nn.relu(self.conv1(X))" in src  # the notes' own variable name and statements
    assert "torch_flatten: ClassVar[dict] = {'fc1': (16, 5, 5)}" in src  # as jaxdl.models.ConvolutionalNetwork
    src = ported("TabularModel")[1].source
    assert "self.embeds = nnx.List(" in src
    assert "for i, embed in enumerate(self.embeds)" in src
    assert "self.layers = nnx.Sequential(" in src and "jax.nn.relu," in src
    src = ported("LSTMNetwork")[1].source
    assert "lstm_out, _ = self.lstm(seq.reshape(seq.shape[0], 1, -1))" in src  # zero state left out


@pytest.mark.parametrize("name", ["MNISTClassifier", "TabularModel", "LSTMNetwork"])
def test_training_parity_of_notes_classes(name):
    """BatchNorm (train outputs, statistics), LayerNorm, Embedding, the LSTM's two biases:
    gradients and one SGD step agree with torch."""
    torch_cls, _, inputs = NOTES[name]
    torch.manual_seed(1)
    tm = torch_cls()
    p = port(tm, *inputs())
    jm = p.module
    verify.check_train_outputs(tm, jm, p.inputs, p.output_images)
    if name != "LSTMNetwork":
        assert verify.check_batchnorm_stats(tm, jm, p.inputs) >= 3
    assert verify.check_gradients(tm, jm, p.inputs, p.output_images) == len(list(tm.parameters()))
    verify.check_sgd_step(tm, jm, p.inputs, p.output_images)


def test_dropout_uses_the_nnx_rng_stream():
    _, p = ported("BinaryANN")
    jm = p.module
    x = verify.to_jax_inputs(verify.random_inputs(p.inputs), p.inputs)
    jm.train()
    a, b = np.asarray(jm(*x)), np.asarray(jm(*x))
    assert not np.array_equal(a, b)  # a fresh mask per call, from the module's dropout stream
    jm.eval()
    np.testing.assert_array_equal(np.asarray(jm(*x)), np.asarray(jm(*x)))
