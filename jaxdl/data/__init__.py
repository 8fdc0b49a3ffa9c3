"""Where examples come from and how they are batched (torch: ``torch.utils.data`` and
``torchvision.datasets``)."""

from jaxdl.data.loader import ArrayDataset, DataLoader
from jaxdl.data.datasets import Data, load

__all__ = ["ArrayDataset", "DataLoader", "Data", "load"]
