"""jaxdl.data.series: sklearn's scalers (float32 kept, fitted on train only), the notes'
held-out split and windows."""

import numpy as np
import pytest

from jaxdl.data import load
from jaxdl.data.series import MinMaxScaler, StandardScaler, split_last, windows


def test_scalers_are_sklearns_keep_float32_and_fit_on_train_only():
    from sklearn import preprocessing
    from sklearn.exceptions import NotFittedError

    assert MinMaxScaler is preprocessing.MinMaxScaler and StandardScaler is preprocessing.StandardScaler
    x = np.random.default_rng(0).normal(5, 3, (50, 3)).astype(np.float32)
    for scaler in (MinMaxScaler((-1.0, 1.0)), StandardScaler()):
        z = scaler.fit_transform(x)
        assert z.dtype == np.float32
        np.testing.assert_allclose(scaler.inverse_transform(z), x, rtol=1e-5, atol=1e-5)
    mm = MinMaxScaler((-1.0, 1.0)).fit(x[:25])
    assert mm.transform(x[:25]).min() == pytest.approx(-1) and mm.transform(x[:25]).max() == pytest.approx(1)
    with pytest.raises(NotFittedError, match="fit"):
        MinMaxScaler().transform(x)
    p = load("pima")  # scaled by sklearn's scaler, fitted on the training split only
    xtr = p.train.arrays[0]
    assert isinstance(p.info["scaler"], preprocessing.MinMaxScaler) and xtr.dtype == np.float32
    np.testing.assert_allclose(xtr.min(0), -1, atol=1e-6)
    np.testing.assert_allclose(xtr.max(0), 1, atol=1e-6)


def test_time_series_split_and_windows():
    s = np.arange(30, dtype=np.float32)
    train, test = split_last(s, 12)
    assert len(train) == 18 and test[0] == 18
    x, y = windows(train, 12)
    notes = [(train[i:i + 12], train[i + 12]) for i in range(len(train) - 12)]  # the notes' input_data(seq, ws)
    np.testing.assert_array_equal(x[..., 0], [w for w, _ in notes])
    np.testing.assert_array_equal(y[:, 0], [label for _, label in notes])
    assert x.shape == (6, 12, 1) and y.shape == (6, 1)
    assert np.shares_memory(x, train) and not x.flags.writeable  # sliding_window_view: no copy of the windows
    with pytest.raises(ValueError):
        split_last(s, 30)
    with pytest.raises(ValueError, match="window"):
        windows(train, 18)
