"""jaxdl.data.arrays: ArrayDataset indexes its arrays together, as torch's TensorDataset."""

import numpy as np
import pytest

from jaxdl.data import ArrayDataset


def test_array_dataset_indexing():
    ds = ArrayDataset(np.arange(10), np.arange(10) * 2)
    assert len(ds) == 10 and ds[-1] == (9, 18) and ds[2:4][1].tolist() == [4, 6]
    with pytest.raises(IndexError):
        ds[10]
    with pytest.raises(ValueError, match="differ in length"):
        ArrayDataset(np.arange(3), np.arange(4))
