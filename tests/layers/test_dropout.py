"""Dropout and stochastic depth in train mode (random, so not compared with torch's masks):
kept values scaled by 1/(1-p), the dropped share near p, torchvision's row and batch
modes, the identity after eval()."""

import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from jaxdl.layers import Dropout, StochasticDepth


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_stochastic_depth_drops_whole_rows_or_the_batch(mode):
    layer = StochasticDepth(0.25, mode, rngs=nnx.Rngs(dropout=0))
    x = jnp.ones((4000, 3, 2))
    drops = []
    for _ in range(1 if mode == "row" else 200):
        y = np.asarray(layer(x))
        per_row = y.reshape(len(y), -1)
        assert set(np.unique(per_row)) <= {0.0, np.float32(1 / 0.75)}
        assert (per_row == per_row[:, :1]).all()  # a whole example kept or dropped
        if mode == "batch":
            assert (per_row == per_row[0, 0]).all()  # one draw for the batch
        drops.append(float((per_row[:, 0] == 0).mean()))
    assert abs(np.mean(drops) - 0.25) < 0.05
    layer.eval()
    np.testing.assert_array_equal(np.asarray(layer(x)), np.asarray(x))


def test_stochastic_depth_refuses_torchvisions_bad_arguments():
    with pytest.raises(ValueError, match="mode has to be either 'batch' or 'row'"):
        StochasticDepth(0.1, "col", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="between 0 and 1"):
        StochasticDepth(1.5, "row", rngs=nnx.Rngs(0))


def test_dropout_scales_kept_values():
    y = np.asarray(Dropout(0.3, rngs=nnx.Rngs(dropout=1))(jnp.ones((200, 50))))
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.7)} and abs((y == 0).mean() - 0.3) < 0.02
