"""jaxdl: the workflows of a set of PyTorch deep-learning notes, rebuilt the JAX way.

Flax NNX models (``jaxdl.models``, built from ``jaxdl.layers``), torch-semantics losses
and optimizers (``jaxdl.losses``, ``jaxdl.optim``), a pure jitted training engine
(``jaxdl.train``), orbax checkpoints (``jaxdl.checkpoint``), in-memory data
(``jaxdl.data``), metrics, plots and PyTorch weight conversion (``jaxdl.interop``).
"""

__version__ = "0.1.0"
