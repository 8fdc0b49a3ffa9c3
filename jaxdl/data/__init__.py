"""Where examples come from and how they are batched (torch: ``torch.utils.data`` and
``torchvision.datasets``).

The modules, each importing only those above it in this list: ``errors`` (what can go
wrong, and the loader protocol's ``SkipRecord``), ``sampling`` (which examples make each
batch), ``arrays`` (``ArrayDataset`` and its batches), ``records`` (per-record batches,
worker processes), ``loader`` (``DataLoader``, choosing between the two), ``augment``
(on-device augmentation), ``image_transforms`` (torchvision's preprocessing),
``image_folder`` (``ImageFolder``), ``series`` (time-series and tabular helpers),
``sources`` (local files), ``download`` (fetching them), ``datasets`` (``load``, ``Data``),
``export`` (``write_image_folder``).
"""

from jaxdl.data.arrays import ArrayDataset
from jaxdl.data.datasets import Data, load
from jaxdl.data.errors import SkipRecord
from jaxdl.data.export import write_image_folder
from jaxdl.data.image_folder import ImageFolder
from jaxdl.data.loader import DataLoader

__all__ = ["ArrayDataset", "Data", "DataLoader", "ImageFolder", "SkipRecord", "load", "write_image_folder"]
