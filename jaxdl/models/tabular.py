"""The course's categorical-embedding model for tabular data (000)."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl.layers import BatchNorm, Dropout, Embedding, Linear, check_input

__all__ = ["TabularModel", "embedding_sizes"]


def embedding_sizes(cardinalities: Sequence[int]) -> list[tuple[int, int]]:
    """The course's rule: ``[(n, min(50, (n + 1) // 2)) for n in cat_szs]``."""
    return [(int(n), min(50, (int(n) + 1) // 2)) for n in cardinalities]


class TabularModel(nnx.Module):
    """torch: the course's ``TabularModel(emb_szs, n_cont, out_sz, layers, p=0.5)``.

    One ``nn.Embedding`` per categorical column (``embeds``), dropout on the
    concatenated embeddings, ``BatchNorm1d`` on the continuous columns, then for each
    width in ``layers``: Linear, ReLU, BatchNorm1d, Dropout; a final Linear to
    ``out_sz``. Called as ``model(x_cat, x_cont)``: integer codes (N, n_cat) and floats
    (N, n_cont). Needs ``nnx.Rngs(params=..., dropout=...)``.
    """

    def __init__(self, emb_szs: Sequence[tuple[int, int]], n_cont: int, out_sz: int,
                 layers: Sequence[int], p: float = 0.5, *, rngs: nnx.Rngs):
        self.embeds = nnx.List([Embedding(ni, nf, rngs=rngs) for ni, nf in emb_szs])
        self.emb_drop = Dropout(p, rngs=rngs)
        self.bn_cont = BatchNorm(n_cont, rngs=rngs)
        parts, n_in = [], sum(nf for _, nf in emb_szs) + n_cont
        for width in layers:
            parts += [Linear(n_in, width, rngs=rngs), jax.nn.relu, BatchNorm(width, rngs=rngs), Dropout(p, rngs=rngs)]
            n_in = width
        parts.append(Linear(n_in, out_sz, rngs=rngs))
        self.layers = nnx.Sequential(*parts)
        self.n_cat, self.n_cont = len(emb_szs), n_cont

    def __call__(self, x_cat: jax.Array, x_cont: jax.Array) -> jax.Array:
        if x_cat.ndim != 2 or x_cat.shape[1] != self.n_cat or not jnp.issubdtype(x_cat.dtype, jnp.integer):
            raise ValueError(f"TabularModel expects integer category codes of shape (N, {self.n_cat}), "
                             f"got {x_cat.dtype}{tuple(x_cat.shape)} (pandas: df[col].cat.codes).")
        check_input(x_cont, (self.n_cont,), "TabularModel x_cont")
        x = jnp.concatenate([e(x_cat[:, i]) for i, e in enumerate(self.embeds)], axis=1)
        x = self.emb_drop(x)
        x = jnp.concatenate([x, self.bn_cont(x_cont)], axis=1)
        return self.layers(x)
