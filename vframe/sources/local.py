"""Videos in files on this machine's disk: one file (the CLI and the library) or a folder whose
keys are paths under it (the HTTP service)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ..errors import SourceNotFound
from ..limits import Budget
from ..memo import Memo
from .keys import NOT_FOUND, check_key

KEPT_FILES = 4096  # files found, kept to be given again while unchanged


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
        return cls.stated(path, info)

    @classmethod
    def stated(cls, path: Path, info: os.stat_result) -> LocalFile:
        """The file at `path` as its os.stat `info` describes it; "No such video" if not a regular file."""
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
    out of the root is "No such video" too.

    Most keys name a plain file, with no symlink on the way: those are found with one lstat of the
    root and one per segment of the key, where realpath would lstat every folder from / down and a
    stat would follow. The root must still be the folder it was at start (same device and inode)
    and no segment a symlink: then realpath would give the same path, inside the root. Anything
    else (a symlink anywhere, a root moved or replaced) goes through realpath, checked every time.
    A file found so is kept with its stat (device, inode, size, mtime), and the same LocalFile is
    given again while that stat is unchanged: the checks above still run on every find."""

    root: Path
    _root_inode: tuple[int, int] = field(init=False, repr=False, compare=False)
    _found: Memo[str, tuple[tuple[int, int, int, int], LocalFile]] = field(
        default_factory=lambda: Memo(KEPT_FILES), init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        info = os.stat(self.root)
        object.__setattr__(self, "_root_inode", (info.st_dev, info.st_ino))

    @classmethod
    def at(cls, root: str | os.PathLike[str]) -> LocalFolder:
        real = Path(os.path.realpath(root))
        if not real.is_dir():
            raise ValueError(f"the root {root} is not a folder")
        return cls(real)

    def find(self, key: str) -> LocalFile:
        check_key(key)
        found = self._find_plain(key)
        if found is not None:
            return found
        try:
            real = os.path.realpath(self.root / key, strict=True)
        except (OSError, ValueError):
            raise SourceNotFound(NOT_FOUND) from None
        if os.path.commonpath([real, self.root]) != str(self.root) or real == str(self.root):
            raise SourceNotFound(NOT_FOUND)
        return LocalFile.at(real)

    def _find_plain(self, key: str) -> LocalFile | None:
        """The file under `key` if the root is unchanged and no segment is a symlink; else None."""
        try:
            info = os.lstat(self.root)
            if (info.st_dev, info.st_ino) != self._root_inode:
                return None
            path = str(self.root).rstrip("/")  # "" for the root /
            for segment in key.split("/"):
                path = f"{path}/{segment}"
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    return None
        except (OSError, ValueError):  # missing, or a segment that is not a folder
            raise SourceNotFound(NOT_FOUND) from None
        version = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
        known = self._found.get(path)
        if known is not None and known[0] == version:
            return known[1]
        return self._found.keep(path, (version, LocalFile.stated(Path(path), info)))[1]
