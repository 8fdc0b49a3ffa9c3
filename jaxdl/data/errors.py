"""What can go wrong with data, in one place every other data module imports from.

The loader protocol's :class:`SkipRecord` lives here too, so that a dataset (an
:class:`~jaxdl.data.ImageFolder`, or your own) and the loader that reads it share it
without importing each other.
"""

from __future__ import annotations


class DataNotFoundError(FileNotFoundError):
    """No copy of a data set was found; the message lists every place searched and how to get it."""


class CorruptDataError(ValueError):
    """A data file exists but is not what it claims to be (bad magic, truncated, checksum)."""


class DownloadError(DataNotFoundError):
    """Every mirror of a file failed; the message has each URL's error and a manual recipe
    (``errors``: the list of those errors, when raised by :func:`jaxdl.data.download.fetch`)."""

    errors: tuple[str, ...] = ()


class SkipRecord(Exception):
    """Raised by a dataset's ``__getitem__`` to have :class:`jaxdl.data.DataLoader` skip
    that record with a warning (no torch equivalent: torch's DataLoader stops). The
    record's batch comes out smaller by one; the same records are skipped in every run."""


class UnreadableImageError(OSError):
    """A file in an image folder that Pillow cannot decode (corrupt, truncated or not an
    image). The message names the file and its class folder."""
