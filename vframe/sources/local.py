"""Videos in files on this machine's disk: one file (the CLI and the library) or a folder whose
keys are paths under it (the HTTP service)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import SourceNotFound
from ..limits import Budget
from .keys import NOT_FOUND, check_key


@dataclass(frozen=True)
class LocalFile:
    path: Path
    size: int
    validator: str
    modified: float  # seconds since the epoch

    @classmethod
    def at(cls, location: str | os.PathLike[str]) -> LocalFile:
        path = Path(location)
        try:
            info = path.stat()
        except (OSError, ValueError):  # ValueError: a NUL byte in the name
            raise SourceNotFound(NOT_FOUND) from None
        if not stat.S_ISREG(info.st_mode):
            raise SourceNotFound(NOT_FOUND)
        return cls(path, info.st_size, f"{info.st_size:x}-{info.st_mtime_ns:x}", info.st_mtime)

    @property
    def identity(self) -> str:
        """Which video this is, for cache keys: its resolved path."""
        return str(self.path)

    def fetch(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the file."""
        with self.open() as file:
            file.seek(start)
            return file.read(end - start)

    def open(self, budget: Budget | None = None) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError:
            raise SourceNotFound(NOT_FOUND) from None


@dataclass(frozen=True)
class LocalFolder:
    """A folder of videos. A key is a path relative to the root (see keys.py); a symlink that leads
    out of the root is "No such video" too."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> LocalFolder:
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise ValueError(f"the root {root} is not a folder")
        return cls(real)

    def find(self, key: str) -> LocalFile:
        check_key(key)
        try:
            real = os.path.realpath(self.root / key, strict=True)
        except (OSError, ValueError):
            raise SourceNotFound(NOT_FOUND) from None
        if os.path.commonpath([real, self.root]) != str(self.root) or real == str(self.root):
            raise SourceNotFound(NOT_FOUND)
        return LocalFile.at(real)
