"""Fetch the canonical data files: checksummed, resumable, retried, with a progress bar
(torch: the ``download=True`` of ``torchvision.datasets``).

``download(name, root)`` puts the files of ``name`` under ``root`` in the layout the
readers search (``root/<name>/...``). Each file goes to ``<file>.part`` first; an
interrupted transfer resumes from there with an HTTP Range request; the checksum is
checked before the final rename, so a file under its real name is always complete.
Checksums: the MD5 torchvision's datasets check, or torch hub's rule for model
weights (the file's SHA-256 hex digest starts with the hex in its name,
``resnet18-f37072fd.pth``; :func:`torch_hub_remote`). Errors say which URL failed, why,
and how to get the file by hand.
"""

from __future__ import annotations

import hashlib
import os
import re
import tarfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import NamedTuple

from jaxdl.data.errors import CorruptDataError, DownloadError


class Remote(NamedTuple):
    filename: str
    md5: str | None  # the file's MD5 hex digest (None: not checked)
    mirrors: tuple[str, ...]  # base URLs, tried in order
    sha256_prefix: str | None = None  # torch hub's check: the SHA-256 hex digest starts with it


# torch.hub.HASH_REGEX: the hash prefix in a weights file name, ``<name>-<hex>.<ext>``
_HUB_HASH = re.compile(r"-([a-f0-9]*)\.")


def torch_hub_remote(url: str) -> Remote:
    """The :class:`Remote` for a torch hub weights URL (torch:
    ``torch.hub.load_state_dict_from_url(url, check_hash=True)``): the file is checked by
    torch hub's rule: its SHA-256 hex digest must start with the hex between ``-`` and
    ``.`` in its name (``resnet18-f37072fd.pth``: ``f37072fd``)."""
    base, filename = url.rsplit("/", 1)
    found = _HUB_HASH.search(filename)
    if found is None:
        raise ValueError(f"{filename} has no hash prefix (<name>-<hex>.<ext>) to check it by")
    return Remote(filename, None, (base + "/",), sha256_prefix=found.group(1))


_MNIST = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_FASHION = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)
_TORONTO = ("https://www.cs.toronto.edu/~kriz/",)

# the MD5s torchvision checks
REMOTES: dict[str, list[Remote]] = {
    "mnist": [Remote("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873", _MNIST),
              Remote("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432", _MNIST),
              Remote("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3", _MNIST),
              Remote("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c", _MNIST)],
    "fashion_mnist": [Remote("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", _FASHION),
                      Remote("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", _FASHION),
                      Remote("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", _FASHION),
                      Remote("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", _FASHION)],
    "cifar10": [Remote("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a", _TORONTO)],
    "cifar100": [Remote("cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85", _TORONTO)],
}


def default_root() -> Path:
    """Where downloads go when no ``data_dir`` is given: ``$JAXDL_DATA``, else ``~/.cache/jaxdl``."""
    return Path(os.environ.get("JAXDL_DATA") or Path.home() / ".cache" / "jaxdl")


def md5sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    return _digest(path, hashlib.md5(), chunk)


def sha256sum(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    return _digest(path, hashlib.sha256(), chunk)


def _digest(path, h, chunk: int) -> str:
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def checksum_problem(path: str | os.PathLike, remote: Remote) -> str | None:
    """None when the file at ``path`` passes ``remote``'s checks, else what failed."""
    problems = []
    if remote.md5 is not None and (got := md5sum(path)) != remote.md5:
        problems.append(f"MD5 {got}, expected {remote.md5}")
    if remote.sha256_prefix is not None and not (got := sha256sum(path)).startswith(remote.sha256_prefix):
        problems.append(f"SHA-256 {got}, expected one starting with {remote.sha256_prefix}")
    return "; ".join(problems) or None


def _expected(remote: Remote) -> str:
    parts = ([f"MD5 {remote.md5}"] if remote.md5 is not None else []) + (
        [f"SHA-256 starting with {remote.sha256_prefix}"] if remote.sha256_prefix is not None else [])
    return ", ".join(parts) or "no checksum"


def _transfer(url: str, part: Path, timeout: float, progress: bool) -> None:
    """Append the rest of ``url`` to ``part`` (Range from its current size)."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"Range": f"bytes={have}-"} if have else {})
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the part already holds the whole file
            return
        raise
    with resp:
        if have and resp.status != 206:  # server ignored Range: start over
            have = 0
        total = resp.headers.get("Content-Length")
        total = have + int(total) if total is not None else None
        from tqdm.auto import tqdm

        with open(part, "ab" if have else "wb") as f, tqdm(
                total=total, initial=have, unit="B", unit_scale=True, desc=part.name[:-5],
                disable=not progress, leave=False) as bar:
            for block in iter(lambda: resp.read(1 << 16), b""):
                f.write(block)
                bar.update(len(block))
    size = part.stat().st_size
    if total is not None and size < total:  # cut off: keep the part, the next try resumes
        raise ConnectionError(f"connection closed after {size:,} of {total:,} bytes")


def fetch(remote: Remote, directory: str | os.PathLike, *, retries: int = 3, timeout: float = 30.0,
          backoff: float = 1.0, progress: bool = True) -> Path:
    """Download one file into ``directory`` (skipped when a file with the right checksum
    is there), trying each mirror ``retries`` times; returns its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    dest, part = directory / remote.filename, directory / (remote.filename + ".part")
    if dest.exists():
        problem = checksum_problem(dest, remote)
        if problem is None:
            return dest
        raise CorruptDataError(f"{dest}: {problem}; delete it and run again")
    errors = []
    for base in remote.mirrors:
        url = base + remote.filename
        for attempt in range(retries):
            try:
                _transfer(url, part, timeout, progress)
            except (urllib.error.URLError, OSError, TimeoutError) as e:
                errors.append(f"{url} (try {attempt + 1}): {e}")
                time.sleep(backoff * attempt)
                continue
            problem = checksum_problem(part, remote)
            if problem is None:
                part.replace(dest)
                return dest
            part.unlink()  # a wrong file cannot be resumed
            errors.append(f"{url}: {problem}")
    kept = f" The partial file {part} is kept; the next run resumes it." if part.exists() else ""
    error = DownloadError(f"could not download {remote.filename}:\n  " + "\n  ".join(errors) +
                          f"\n{kept}\nBy hand: fetch {remote.mirrors[0] + remote.filename} ({_expected(remote)}) "
                          f"into {directory} and run again.")
    error.errors = tuple(errors)  # one line per failed try
    raise error


def download(name: str, root: str | os.PathLike | None = None, *, progress: bool = True,
             **kwargs) -> Path:
    """All files of ``name`` under ``root/<name>`` (archives unpacked there); returns
    that directory. ``kwargs`` go to :func:`fetch` (retries, timeout)."""
    if name not in REMOTES:
        raise ValueError(f"no download for {name!r}; known: {', '.join(sorted(REMOTES))}")
    directory = Path(root if root is not None else default_root()) / name
    for remote in REMOTES[name]:
        path = fetch(remote, directory, progress=progress, **kwargs)
        if path.name.endswith(".tar.gz"):
            unpack(path, directory)
    return directory


def unpack(archive: Path, directory: Path) -> None:
    """Extract a tar archive once (a marker file records it) with tarfile's ``'data'``
    filter: members with absolute paths or ``..`` that leave ``directory``, links that
    point outside it, device files and setuid bits are refused (CorruptDataError), and
    nothing is extracted from an archive that holds one."""
    marker = directory / (archive.name + ".unpacked")
    if marker.exists():
        return
    if not hasattr(tarfile, "data_filter"):
        raise RuntimeError("safe archive extraction needs Python 3.10.12 / 3.11.4 or newer "
                           "(tarfile's 'data' filter); upgrade Python or unpack the archive by hand")
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        for member in members:  # check them all before writing anything
            try:
                tarfile.data_filter(member, str(directory))
            except tarfile.FilterError as e:
                raise CorruptDataError(f"{archive}: refusing to unpack member {member.name!r}: {e}") from None
        tar.extractall(directory, members=members, filter="data")
    marker.touch()
