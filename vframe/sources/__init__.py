"""Where videos come from. A source is a small object with one job: give a seekable reader over
one video's bytes, with its size and validators. A library is where keys are looked up for the
HTTP service: a folder on disk, an HTTP origin or an S3 bucket (prefix), one small protocol each."""

from __future__ import annotations

import os
from typing import BinaryIO, Protocol

from ..limits import Budget
from ..settings import Settings
from .http import HttpObject, HttpOrigin, public_object
from .local import LocalFile, LocalFolder
from .s3 import S3Bucket, S3Object, s3_object


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
        return public_object(text, settings)
    if text.startswith("s3://"):
        return s3_object(text, settings)
    return LocalFile.at(location)


def library(settings: Settings) -> Library:
    """The videos the service serves: exactly one of root, origin and s3 is set."""
    chosen = [name for name in ("root", "origin", "s3") if getattr(settings, name)]
    if len(chosen) != 1:
        raise ValueError("give exactly one place to serve videos from: --root DIR, --origin URL or --s3 s3://BUCKET/PREFIX")
    if settings.origin:
        return HttpOrigin.at(settings.origin, settings)
    if settings.s3:
        return S3Bucket.at(settings.s3, settings)
    return LocalFolder.at(settings.root)


__all__ = [
    "HttpObject", "HttpOrigin", "Library", "LocalFile", "LocalFolder", "S3Bucket", "S3Object", "Source", "library",
    "open_source",
]
