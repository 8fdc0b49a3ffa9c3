"""jaxdl.models.cnn: a wrong input shape or dtype is refused with the shape the model takes."""

import jax.numpy as jnp
import pytest
from flax import nnx

from jaxdl.models import LeNet5


@pytest.mark.parametrize("x,err,match", [
    (jnp.zeros((2, 28, 28, 1)), ValueError, r"\(N, 32, 32, 1\).*Pad"),
    (jnp.zeros((2, 1, 32, 32)), ValueError, r"\(N, 32, 32, 1\)"),
    (jnp.zeros((2, 32, 32, 1), jnp.int32), TypeError, "float"),
])
def test_wrong_input_shape_or_dtype_to_a_model(x, err, match):
    with pytest.raises(err, match=match):
        LeNet5(rngs=nnx.Rngs(0))(x)
