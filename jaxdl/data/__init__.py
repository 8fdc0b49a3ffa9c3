"""Where examples come from and how they are batched (torch: ``torch.utils.data`` and
``torchvision.datasets``)."""

from jaxdl.data.datasets import Data, load
from jaxdl.data.images import ImageFolder, SkipRecord, write_image_folder
from jaxdl.data.loader import ArrayDataset, DataLoader

__all__ = ["ArrayDataset", "Data", "DataLoader", "ImageFolder", "SkipRecord", "load", "write_image_folder"]
