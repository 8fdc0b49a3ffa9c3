"""Embedding(padding_idx) as torch: the row starts at zero and lookups send it no gradient."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxdl.layers import Embedding


def test_padding_row_is_zero_and_gets_no_gradient():
    emb = Embedding(6, 3, padding_idx=-2, rngs=nnx.Rngs(0))
    assert emb.padding_idx == 4
    np.testing.assert_array_equal(np.asarray(emb.embedding[...][4]), 0)
    graphdef, params = nnx.split(emb)
    idx = jnp.array([[4, 1, 4], [0, 4, 1]])
    grads = jax.grad(lambda p: jnp.sum(nnx.merge(graphdef, p)(idx) ** 2 + nnx.merge(graphdef, p)(idx)))(params)
    g = np.asarray(grads["embedding"][...])
    np.testing.assert_array_equal(g[4], 0)
    assert np.abs(g[1]).sum() > 0 and np.abs(g[0]).sum() > 0


def test_padding_idx_out_of_range_is_refused():
    with pytest.raises(ValueError, match="padding_idx 6 must be within num_embeddings 6"):
        Embedding(6, 3, padding_idx=6, rngs=nnx.Rngs(0))
