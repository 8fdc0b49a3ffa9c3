"""jaxdl.layers' transformer stacks without torch: torch's deep copies of the layer, each
copy with its own dropout draws; the errors that say what to do."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxdl.layers import (
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
    generate_square_subsequent_mask,
)


@pytest.mark.parametrize("stack,layer", [(TransformerEncoder, TransformerEncoderLayer),
                                         (TransformerDecoder, TransformerDecoderLayer)])
def test_stacks_copy_the_layer_as_torch_with_their_own_dropout_draws(stack, layer):
    enc = stack(layer(8, 2, 16, dropout=0.5, rngs=nnx.Rngs(0)), 3)
    params = [jax.tree.leaves(nnx.state(enc.layers[i], nnx.Param)) for i in range(3)]
    assert all(np.array_equal(a, b) for p in params[1:] for a, b in zip(params[0], p))  # equal at the start
    masks = [np.asarray(enc.layers[i].dropout(jnp.ones(200))) == 0 for i in range(3)]
    assert not np.array_equal(masks[0], masks[1]) and not np.array_equal(masks[1], masks[2])


def test_square_subsequent_mask_is_torchs():
    m = np.asarray(generate_square_subsequent_mask(3))
    np.testing.assert_array_equal(m, [[0, -np.inf, -np.inf], [0, 0, -np.inf], [0, 0, 0]])


def test_errors_say_what_to_do():
    with pytest.raises(ValueError, match="activation should be 'relu', 'gelu' or a callable, not 'tanh'"):
        TransformerEncoderLayer(8, 2, activation="tanh", rngs=nnx.Rngs(0))
    layer = TransformerEncoderLayer(8, 2, 16, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="is_causal=True.* needs attn_mask"):
        layer(jnp.ones((3, 2, 8)), is_causal=True)
