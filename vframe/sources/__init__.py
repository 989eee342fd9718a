"""Where videos come from. A source is a small object with one job: give a seekable reader
over one video's bytes, with its size and a validator. Only the local folder exists so far;
HTTP origins and S3 plug in here behind the same protocol."""

from __future__ import annotations

import os
from typing import BinaryIO, Protocol

from .local import LocalFile, LocalFolder


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

    def open(self) -> BinaryIO:
        """A fresh seekable binary reader over the whole video."""
        ...


def open_source(location: str | os.PathLike[str]) -> Source:
    """The source for a CLI or library input: a local path for now."""
    return LocalFile.at(location)


__all__ = ["LocalFile", "LocalFolder", "Source", "open_source"]
