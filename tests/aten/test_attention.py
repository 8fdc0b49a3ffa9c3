"""jaxdl.aten scaled_dot_product_attention against torch: boolean and float masks,
is_causal (also with more keys than queries), scale, grouped-query heads, fully masked rows."""

import jax
import numpy as np
import pytest
import torch

from jaxdl import aten
from tests.aten.runner import Case, T, check


def sdpa(id="", q=(2, 3, 5, 4), k=(2, 3, 6, 4), v=None, mask=None, **kw):
    v = v or k[:-1] + (3,)

    def make(g):
        args = [T(g, *q), T(g, *k), T(g, *v)]
        if mask == "bool":
            args.append(T(g, q[-2], k[-2], dtype=torch.bool) | torch.eye(q[-2], k[-2], dtype=torch.bool))
        elif mask == "float":
            args.append(T(g, 1, q[-2], k[-2]))
        elif mask == "dead_row":
            m = torch.ones(q[-2], k[-2], dtype=torch.bool)
            m[1] = False
            args.append(m)
        return tuple(args), kw

    return Case("scaled_dot_product_attention", "default", make, id=id)


CASES = [
    sdpa(), sdpa("causal", is_causal=True), sdpa("causal_square", k=(2, 3, 5, 4), is_causal=True),
    sdpa("bool_mask", mask="bool"), sdpa("float_mask", mask="float", scale=0.3),
    sdpa("gqa", q=(2, 4, 5, 4), k=(2, 2, 6, 4), enable_gqa=True),
    sdpa("3d", q=(3, 5, 4), k=(3, 6, 4)),
]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_op(case):
    check(case)


def test_fully_masked_row_gives_zeros_like_torch():
    g = torch.Generator().manual_seed(0)
    q, k, v = T(g, 1, 2, 3, 4), T(g, 1, 2, 4, 4), T(g, 1, 2, 4, 4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[1] = False
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    got = aten.scaled_dot_product_attention(*(np.asarray(t) for t in (q, k, v)), attn_mask=np.asarray(mask))
    np.testing.assert_allclose(np.asarray(got), np.nan_to_num(want.numpy()), atol=1e-6)


def test_attention_dropout_needs_a_key_and_keeps_the_scale():
    q = np.ones((1, 1, 64, 8), np.float32)
    with pytest.raises(ValueError, match="rng="):
        aten.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    out = aten.scaled_dot_product_attention(q, q, q, dropout_p=0.5, rng=jax.random.key(0))
    assert abs(float(out.mean()) - 1.0) < 0.15  # dropped weights rescaled by 1 / (1 - p)
