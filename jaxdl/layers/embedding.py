"""Embeddings (torch: ``nn.Embedding``)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from jaxdl.init import normal_init
from jaxdl.layers.torch_layer import SAME, TORCH, Rule, refuse, torch_layer


@torch_layer("Embedding", layout=TORCH)
class Embedding(nnx.Embed):
    """torch: ``nn.Embedding(num_embeddings, embedding_dim, padding_idx=None)``, init N(0, 1)
    as torch (in distribution).

    ``embedding`` equals torch's ``weight`` (no transpose). ``padding_idx`` (negative counts
    from the end, as torch): that row starts as zeros and gets no gradient from lookups, so
    training leaves it where it is (an optimizer's weight decay still moves it, as torch's).
    Concrete (non-traced) indices are range-checked like torch; under jit, validate codes
    in the data pipeline (an out-of-range index would otherwise give NaN or wrap around).
    torch's ``sparse=True`` changes how torch stores the gradient, not its values: accepted.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None, *,
                 rngs: nnx.Rngs):
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(f"Embedding: padding_idx {padding_idx} must be within num_embeddings "
                                 f"{num_embeddings} (as torch)")
            padding_idx %= num_embeddings
        super().__init__(num_embeddings, embedding_dim, embedding_init=normal_init(1.0), rngs=rngs)
        self.padding_idx = padding_idx
        if padding_idx is not None:
            self.embedding[...] = self.embedding[...].at[padding_idx].set(0.0)

    @classmethod
    def torch_arguments(cls, m) -> dict:
        refuse(m, cls, m.max_norm is not None and f"max_norm={m.max_norm}",
               m.scale_grad_by_freq and "scale_grad_by_freq=True")
        return {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim, "padding_idx": m.padding_idx}

    def torch_state(self) -> list[Rule]:
        """weight <-> embedding (the same layout)."""
        return [Rule("weight", "embedding", *SAME)]

    def __call__(self, idx: jax.Array) -> jax.Array:
        if not isinstance(idx, jax.core.Tracer):
            lo, hi = int(jnp.min(idx)), int(jnp.max(idx))
            if lo < 0 or hi >= self.num_embeddings:
                raise IndexError(f"Embedding({self.num_embeddings}, {self.features}): index out of "
                                 f"range [0, {self.num_embeddings}), got values in [{lo}, {hi}].")
        if self.padding_idx is None:
            return super().__call__(idx)
        table = self.embedding[...]
        padding_row = (jnp.arange(self.num_embeddings) == self.padding_idx)[:, None]
        return jnp.take(jnp.where(padding_row, lax.stop_gradient(table), table), idx, axis=0)
