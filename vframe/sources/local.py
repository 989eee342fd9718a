"""A video in a file on this machine's disk."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import SourceNotFound


@dataclass(frozen=True)
class LocalFile:
    path: Path
    size: int
    validator: str

    @classmethod
    def at(cls, location: str | os.PathLike[str]) -> LocalFile:
        path = Path(location)
        try:
            info = path.stat()
        except (OSError, ValueError):  # ValueError: a NUL byte in the name
            raise SourceNotFound("No such video.") from None
        if not stat.S_ISREG(info.st_mode):
            raise SourceNotFound("No such video.")
        return cls(path, info.st_size, f"{info.st_size:x}-{info.st_mtime_ns:x}")

    def open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError:
            raise SourceNotFound("No such video.") from None
