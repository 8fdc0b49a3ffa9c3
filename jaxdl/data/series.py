"""Time series and tabular columns: the notes' held-out split, windows and scalers
(the notes' ``input_data(seq, ws)``, sklearn's ``MinMaxScaler`` / ``StandardScaler``),
numpy in and out.

The scalers are scikit-learn's own classes (``sklearn.preprocessing``, re-exported
here): fit them on training data only; ``inverse_transform`` brings forecasts back to
the original units. They keep the input's float dtype (float32 in, float32 out).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from sklearn.preprocessing import MinMaxScaler, StandardScaler

__all__ = ["MinMaxScaler", "StandardScaler", "split_last", "windows"]


def split_last(series: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The notes' time-series split: ``series[:-n]`` to train, the last ``n`` held out."""
    if not 0 < n < len(series):
        raise ValueError(f"cannot hold out the last {n} of {len(series)} records")
    return series[:-n], series[-n:]


def windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The notes' ``input_data(seq, ws)``: every (series[i:i+w], series[i+w]) pair, as
    arrays (N, w, 1) and (N, 1) for an LSTM with input_size 1. Read-only views of the
    float32 series (``sliding_window_view``): no copy of the N x w windows."""
    s = np.asarray(series, np.float32).reshape(-1)
    if not 0 < window < len(s):
        raise ValueError(f"window {window} must be between 1 and len(series)-1 = {len(s) - 1}")
    return sliding_window_view(s[:-1], window)[..., None], s[window:, None]
