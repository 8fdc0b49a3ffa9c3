"""TabularModel against the course's PyTorch TabularModel: state_dict both ways, eval
and train-mode (BatchNorm batch statistics) outputs, running statistics after a step."""

import jax.numpy as jnp
import numpy as np
import torch
from flax import nnx

from jaxdl import interop
from jaxdl.models import TabularModel, embedding_sizes
from torch_reference import TabularModel as TorchTabularModel


def test_embedding_sizes_rule():
    assert embedding_sizes([24, 2, 7, 200]) == [(24, 12), (2, 1), (7, 4), (200, 50)]


def test_tabular_model_matches_torch_eval_and_train():
    torch.manual_seed(0)
    emb = embedding_sizes([5, 4, 6])
    tm = TorchTabularModel(emb, 4, 2, [20, 10], p=0.0)
    jm = TabularModel(emb, 4, 2, [20, 10], p=0.0, rngs=nnx.Rngs(params=0, dropout=1))
    sd = tm.state_dict()
    assert list(interop.to_torch(jm)) == list(sd)  # torch's keys in torch's order
    interop.from_torch(jm, sd)
    rng = np.random.default_rng(0)
    cats = rng.integers(0, [5, 4, 6], (16, 3)).astype(np.int64)
    conts = rng.standard_normal((16, 4)).astype(np.float32)
    tm.train()
    jm.train()
    t_out = tm(torch.tensor(cats), torch.tensor(conts)).detach().numpy()
    j_out = np.asarray(jm(jnp.asarray(cats, jnp.int32), jnp.asarray(conts)))
    np.testing.assert_allclose(j_out, t_out, atol=1e-5)
    back = interop.to_torch(jm)  # running statistics updated by the train-mode call
    for k in ("bn_cont.running_mean", "bn_cont.running_var", "layers.2.running_var"):
        np.testing.assert_allclose(back[k].numpy(), tm.state_dict()[k].numpy(), atol=1e-6)
    tm.eval()
    jm.eval()
    np.testing.assert_allclose(np.asarray(jm(jnp.asarray(cats, jnp.int32), jnp.asarray(conts))),
                               tm(torch.tensor(cats), torch.tensor(conts)).detach().numpy(), atol=1e-5)


def test_float_codes_are_refused_with_the_fix():
    jm = TabularModel([(3, 2)], 1, 2, [4], rngs=nnx.Rngs(params=0, dropout=1))
    import pytest
    with pytest.raises(ValueError, match="cat.codes"):
        jm(jnp.zeros((2, 1)), jnp.zeros((2, 1)))
