"""Parity with PyTorch. The torch reference runs where JAX runs (``torch_device``): on a GPU,
on the same GPU, so that both sides use the same kind of kernels (cuDNN, cuBLAS) and the
tolerances calibrated against torch's own float32 error compare like with like."""

import jax
import torch


def torch_device() -> torch.device:
    """``cuda`` when JAX runs on a GPU and torch sees one, else ``cpu``."""
    return torch.device("cuda" if jax.default_backend() == "gpu" and torch.cuda.is_available() else "cpu")
