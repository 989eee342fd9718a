"""Where videos come from. A source is a small object with one job: give a seekable reader over
one video's bytes, with its size and validators. A library is where keys are looked up for the
HTTP service: a folder on disk, an HTTP origin or an S3 bucket (prefix), one small protocol each."""

from __future__ import annotations

import os
from typing import BinaryIO, Protocol

from ..limits import Budget
from ..settings import Settings
from .local import LocalFile, LocalFolder

# The HTTP and S3 sources (httpx, boto3: over half of the import time of `vframe grab`) are
# imported by the functions that use them, so that a local file needs neither.


class Source(Protocol):
    @property
    def size(self) -> int: ...

    @property
    def validator(self) -> str:
        """Changes whenever the bytes change: feeds ETags and cache keys."""
        ...

    @property
    def modified(self) -> float | None:
        """When the bytes last changed, in seconds since the epoch, if known (Last-Modified)."""
        ...

    @property
    def identity(self) -> str:
        """Which video this is (with the validator, it keys the result cache)."""
        ...

    def open(self, budget: Budget | None = None) -> BinaryIO:
        """A fresh seekable binary reader over the whole video; remote reads count against `budget`."""
        ...

    def fetch(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of this version of the video."""
        ...


class Library(Protocol):
    def find(self, key: str) -> Source:
        """The video under `key` (a percent-decoded relative path); SourceNotFound if none."""
        ...


def open_source(location: str | os.PathLike[str], settings: Settings) -> Source:
    """The source for a CLI or library input: a path, an http(s):// URL or an s3://bucket/key."""
    text = os.fspath(location)
    if text.startswith(("http://", "https://")):
        from .http import public_object

        return public_object(text, settings)
    if text.startswith("s3://"):
        from .s3 import s3_object

        return s3_object(text, settings)
    return LocalFile.at(location)


def library(settings: Settings) -> Library:
    """The videos the service serves: exactly one of root, origin and s3 is set."""
    chosen = [name for name in ("root", "origin", "s3") if getattr(settings, name)]
    if len(chosen) != 1:
        raise ValueError("give exactly one place to serve videos from: --root DIR, --origin URL or --s3 s3://BUCKET/PREFIX")
    if settings.origin:
        from .http import HttpOrigin

        return HttpOrigin.at(settings.origin, settings)
    if settings.s3:
        from .s3 import S3Bucket

        return S3Bucket.at(settings.s3, settings)
    return LocalFolder.at(settings.root)


__all__ = ["Library", "LocalFile", "LocalFolder", "Source", "library", "open_source"]
