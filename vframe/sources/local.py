"""Videos in files on this machine's disk: one file (the CLI and the library) or a folder whose
keys are paths under it (the HTTP service)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import SourceNotFound

NOT_FOUND = "No such video."


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

    def open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError:
            raise SourceNotFound(NOT_FOUND) from None


@dataclass(frozen=True)
class LocalFolder:
    """A folder of videos. A key is a path relative to the root, already percent-decoded once.
    Every key that is not plainly a file under the root is "No such video" (404), so that the
    answer never tells what exists outside it: absolute keys, `..` and `.` segments, empty
    segments, NUL bytes, backslashes, hidden names (a segment starting with a dot: `.git`,
    `.env`), and symlinks that lead out of the root."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> LocalFolder:
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise ValueError(f"the root {root} is not a folder")
        return cls(real)

    def file(self, key: str) -> LocalFile:
        if not key or "\x00" in key or "\\" in key or key.startswith("/"):
            raise SourceNotFound(NOT_FOUND)
        if any(part == "" or part.startswith(".") for part in key.split("/")):
            raise SourceNotFound(NOT_FOUND)
        try:
            real = os.path.realpath(self.root / key, strict=True)
        except (OSError, ValueError):
            raise SourceNotFound(NOT_FOUND) from None
        if os.path.commonpath([real, self.root]) != str(self.root) or real == str(self.root):
            raise SourceNotFound(NOT_FOUND)
        return LocalFile.at(real)
