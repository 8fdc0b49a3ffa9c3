"""Embeddings (torch: ``nn.Embedding``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from jaxdl.layers.torch_layer import SAME, TORCH, Rule, refuse, torch_layer


@torch_layer("Embedding", layout=TORCH)
class Embedding(nnx.Embed):
    """torch: ``nn.Embedding(num_embeddings, embedding_dim)``, init N(0, 1) as torch (in distribution).

    ``embedding`` equals torch's ``weight`` (no transpose). Concrete (non-traced) indices
    are range-checked like torch; under jit, validate codes in the data pipeline
    (an out-of-range index would otherwise give NaN or wrap around).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, *, rngs: nnx.Rngs):
        super().__init__(num_embeddings, embedding_dim,
                         embedding_init=jax.nn.initializers.normal(1.0), rngs=rngs)

    @classmethod
    def torch_arguments(cls, m) -> dict:
        refuse(m, cls, m.padding_idx is not None and f"padding_idx={m.padding_idx}",
               m.max_norm is not None and f"max_norm={m.max_norm}",
               m.scale_grad_by_freq and "scale_grad_by_freq=True", m.sparse and "sparse=True")
        return {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim}

    def torch_state(self) -> list[Rule]:
        """weight <-> embedding (the same layout)."""
        return [Rule("weight", "embedding", *SAME)]

    def __call__(self, idx: jax.Array) -> jax.Array:
        if not isinstance(idx, jax.core.Tracer):
            lo, hi = int(jnp.min(idx)), int(jnp.max(idx))
            if lo < 0 or hi >= self.num_embeddings:
                raise IndexError(f"Embedding({self.num_embeddings}, {self.features}): index out of "
                                 f"range [0, {self.num_embeddings}), got values in [{lo}, {hi}].")
        return super().__call__(idx)
