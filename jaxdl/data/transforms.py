"""Splits, scalers and windowing (sklearn's ``train_test_split`` / ``MinMaxScaler`` /
``StandardScaler`` and the notes' ``input_data(seq, ws)``), numpy in and out.

Scalers are fitted on training data only and invert exactly (forecasts back in
original units).
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass
class MinMaxScaler:
    """sklearn: ``MinMaxScaler(feature_range=(-1, 1))`` (the notes' LSTM and Pima scaling)."""

    feature_range: tuple[float, float] = (-1.0, 1.0)
    min_: np.ndarray | None = None
    max_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> "MinMaxScaler":
        x = np.asarray(x, np.float64)
        self.min_, self.max_ = x.min(axis=0), x.max(axis=0)
        return self

    def _scale(self):
        if self.min_ is None:
            raise RuntimeError("MinMaxScaler: call fit() on the training data first")
        span = np.where(self.max_ > self.min_, self.max_ - self.min_, 1.0)
        lo, hi = self.feature_range
        return (hi - lo) / span, lo

    def transform(self, x: np.ndarray) -> np.ndarray:
        s, lo = self._scale()
        return ((np.asarray(x, np.float64) - self.min_) * s + lo).astype(np.float32)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    def inverse_transform(self, y: np.ndarray) -> np.ndarray:
        s, lo = self._scale()
        return (np.asarray(y, np.float64) - lo) / s + self.min_


@dataclasses.dataclass
class StandardScaler:
    """sklearn: ``StandardScaler()``: zero mean, unit (population) variance per feature."""

    mean_: np.ndarray | None = None
    scale_: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> "StandardScaler":
        x = np.asarray(x, np.float64)
        self.mean_, std = x.mean(axis=0), x.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        if self.mean_ is None:
            raise RuntimeError("StandardScaler: call fit() on the training data first")
        return ((np.asarray(x, np.float64) - self.mean_) / self.scale_).astype(np.float32)

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    def inverse_transform(self, y: np.ndarray) -> np.ndarray:
        return np.asarray(y, np.float64) * self.scale_ + self.mean_


def split_last(series: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The notes' time-series split: ``series[:-n]`` to train, the last ``n`` held out."""
    if not 0 < n < len(series):
        raise ValueError(f"cannot hold out the last {n} of {len(series)} records")
    return series[:-n], series[-n:]


def windows(series: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The notes' ``input_data(seq, ws)``: every (series[i:i+w], series[i+w]) pair, as
    arrays (N, w, 1) and (N, 1) for an LSTM with input_size 1."""
    s = np.asarray(series, np.float32).reshape(-1)
    if not 0 < window < len(s):
        raise ValueError(f"window {window} must be between 1 and len(series)-1 = {len(s) - 1}")
    idx = np.arange(window)[None, :] + np.arange(len(s) - window)[:, None]
    return s[idx][..., None], s[window:][:, None]


def normalize(mean, std):
    """torchvision: ``transforms.Normalize(mean, std)`` per channel, as a function of NHWC
    float images (``Data.map(x=normalize((0.1307,), (0.3081,)))``)."""
    mean, std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
    if np.any(std <= 0):
        raise ValueError(f"std must be positive, got {std}")
    return lambda images_NHWC: ((images_NHWC - mean) / std).astype(np.float32)
