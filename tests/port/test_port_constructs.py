"""jaxdl.port on constructs beyond the notes (tests/port/constructs.py): each ports with
torch's eval outputs and parameter gradients (training mode), and the generated code
says it the way a person would."""

import dataclasses

import pytest
import torch

from jaxdl.port import port, verify
from tests.port import constructs as C
from tests.port.generated import ruff_check

# name: (example inputs, what the generated code must say)
CASES = {
    "Residual": (lambda: [torch.randn(2, 4, 6, 6)],
                 ["out = out + x", "return jax.nn.relu(out)"]),  # += and relu_ made pure
    "Branches": (lambda: [torch.randn(2, 3, 8, 8)],
                 ["jnp.concatenate([self.b1(x), self.b3(x), self.pool(avg_pool2d(x, 3, 1, 1))], axis=-1)",
                  "y.mean(axis=(1, 2))"]),  # cat(dim=1) and mean(dim=(2, 3)) on NHWC
    "Nested": (lambda: [torch.randn(2, 3, 16, 16)],
               ["nnx.Sequential(\n            nnx.Sequential(Conv2d(3, 6, 3, rngs=rngs), BatchNorm(6), jax.nn.relu),",
                "adaptive_avg_pool2d(self.features(x), 3)",
                "torch_flatten: ClassVar[dict] = {'classifier.2': (8, 3, 3)}"]),
    "Functional": (lambda: [torch.randn(2, 1, 14, 14)],
                   ["x = max_pool2d(jax.nn.relu(self.conv1(x)), 2)", "jax.nn.gelu(self.conv2(x), approximate=False)",
                    "x = self.dropout(x)", "x = flatten(x)", "leaky_relu(self.fc(x), 0.1)",
                    "torch_flatten: ClassVar[dict] = {'fc': (8, 3, 3)}"]),
    "BagOfEmbeddings": (lambda: [torch.randint(0, 50, (4, 7))],
                        ["h = self.embed(tokens).mean(axis=1)", "self.norm = LayerNorm(16)"]),
    "LastStep": (lambda: [torch.randn(4, 5, 3)],
                 ["LSTM(3, 12, batch_first=True, rngs=rngs)", "out, _ = self.lstm(x)", "self.head(out[:, -1])"]),
    "SequenceOps": (lambda: [torch.randn(2, 5, 8)],
                    ["jax.nn.dot_product_attention(", "jnp.split(h, (1,), axis=1)", "ddof=1"]),
    "ImageOps": (lambda: [torch.randn(2, 3, 8, 12)],  # channel ops rewritten for NHWC
                 ["jnp.pad(x, ((0, 0), (2, 0), (1, 1), (0, 0)))", "a, b = jnp.split(y, 2, axis=-1)",
                  "jax.nn.softmax(b[:, 1:-1][:, :, ::2], axis=-1)", "jnp.std(a, axis=(1, 2), ddof=1)"]),
    "LayerScale": (lambda: [torch.randn(2, 3, 5, 5)],  # a module's own nn.Parameter and buffer
                   ["torch_params: ClassVar[tuple] = ('gamma', 'shift')",
                    "self.gamma = nnx.Param(jnp.zeros((1, 6, 1, 1), jnp.float32))",
                    "self.shift = nnx.Variable(jnp.zeros((6, 1, 1), jnp.float32))",
                    "self.conv(x) * self.gamma[...].reshape(1, 1, 1, 6) + self.shift[...].reshape(6)"]),
    "Stack": (lambda: [torch.randn(4, 8)],
              ["self.blocks = nnx.List([Block(rngs=rngs), Block(rngs=rngs), Block(rngs=rngs)])",
               "for block in self.blocks:\n            x = block(x)"]),
}


@pytest.mark.parametrize("name", CASES)
def test_construct_ports_with_outputs_and_gradients(name, tmp_path):
    inputs, says = CASES[name]
    torch.manual_seed(0)
    tm = getattr(C, name)()
    p = port(tm, *inputs())
    for text in says:
        assert text in p.source, f"{text!r} not in\n{p.source}"
    (tmp_path / "model.py").write_text(p.source)
    ruff_check(tmp_path)
    assert verify.check_eval_outputs(tm, p.module, p.inputs, p.output_images) <= 1e-5
    assert verify.check_gradients(tm, p.module, p.inputs, p.output_images) == len(list(tm.parameters()))


def test_one_class_per_torch_class_with_the_differences_as_arguments():
    """Instances of one torch class with different sizes share one NNX class."""

    class Down(torch.nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn = torch.nn.BatchNorm2d(cout)

        def forward(self, x):
            return torch.relu(self.bn(self.conv(x)))

    class Pyramid(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stages = torch.nn.Sequential(Down(3, 8, 1), Down(8, 16, 2), Down(16, 16, 2))

        def forward(self, x):
            return self.stages(x).mean(dim=(2, 3))

    torch.manual_seed(0)
    tm = Pyramid()
    p = port(tm, torch.randn(2, 3, 16, 16))
    assert p.source.count("class Down(nnx.Module)") == 1
    assert "def __init__(self, in_channels, out_channels, stride, *, rngs: nnx.Rngs):" in p.source
    for built in ("Down(3, 8, 1, rngs=rngs)", "Down(8, 16, 2, rngs=rngs)", "Down(16, 16, 2, rngs=rngs)"):
        assert built in p.source
    verify.check_train_outputs(tm, p.module, p.inputs, p.output_images)


def test_the_batch_size_is_not_baked_in():
    """Captured with a symbolic batch: ``x.view(x.size(0), -1)`` is ``x.shape[0]``, and the
    port runs on other batch sizes."""
    torch.manual_seed(0)
    tm = C.Functional()
    p = port(tm, torch.randn(2, 1, 14, 14))
    other = [dataclasses.replace(s, shape=(5,) + s.shape[1:]) for s in p.inputs]
    assert verify.check_eval_outputs(tm, p.module, other, p.output_images) <= 1e-5


def test_a_bare_sequential_as_the_whole_model():
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                             torch.nn.Flatten(), torch.nn.Linear(4 * 6 * 6, 3), torch.nn.Softmax(dim=1))
    p = port(tm, torch.randn(2, 1, 8, 8))
    assert "class Sequential(nnx.Sequential):" in p.source
    assert "torch_flatten: ClassVar[dict] = {'4': (4, 6, 6)}" in p.source
    assert "partial(jax.nn.softmax, axis=-1)," in p.source  # softmax over channels, channels last
    assert verify.check_eval_outputs(tm, p.module, p.inputs, p.output_images) <= 1e-5
    verify.check_gradients(tm, p.module, p.inputs, p.output_images)
