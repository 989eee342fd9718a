"""Where a job writes its results: the source the video came from (a folder: under its root; S3:
the same bucket and prefix), or VFRAME_OUTPUT (a folder or s3://) for a read-only HTTP origin.

A write is atomic: a folder gets a hidden temporary file in the final folder, renamed over the
final name (a crash leaves at most a hidden `.name.*.part`, which no request can name, and the next write
in that folder removes once it is a day old); S3 gets
one PutObject. Keys follow the request key rules (sources/keys.py), and a folder's write never
follows a symlink out of its root."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import botocore.exceptions

from ..errors import InvalidSpec
from ..settings import Settings
from ..sources import Library, LocalFolder
from ..sources.keys import check_key

OUTSIDE = "The output key leads outside the source (through a symlink), so nothing was written."


class NoOutput(ValueError):
    """Jobs on a read-only source with nowhere set to write."""


class Target(Protocol):
    def exists(self, key: str) -> bool: ...

    def write(self, key: str, data: bytes, media_type: str) -> None: ...


@dataclass(frozen=True)
class FolderTarget:
    root: Path  # resolved

    def _path(self, key: str) -> Path:
        check_key(key)
        path = self.root / key
        real = os.path.realpath(path.parent)
        if os.path.commonpath([real, self.root]) != str(self.root):
            raise InvalidSpec(OUTSIDE)
        return path

    def exists(self, key: str) -> bool:
        try:
            info = os.lstat(self._path(key))
        except OSError:
            return False
        return stat.S_ISREG(info.st_mode)

    def write(self, key: str, data: bytes, media_type: str) -> None:
        """Folder by folder from the root, each opened without following a symlink (so nothing,
        not even an empty folder, is made outside the root); then a temporary file in the final
        folder, flushed to disk, renamed over the final name, and the folder flushed."""
        *folders, name = check_key(key).split("/")
        folder = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for segment in folders:
                child = _enter(folder, segment)
                os.close(folder)
                folder = child
            try:
                if stat.S_ISLNK(os.lstat(name, dir_fd=folder).st_mode):
                    raise InvalidSpec(OUTSIDE)
            except FileNotFoundError:
                pass
            _clear_leftovers(folder)
            temporary = f".{name}.{os.getpid()}.{os.urandom(4).hex()}{PART}"
            file = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=folder)
            try:
                with open(file, "wb", closefd=True) as stream:
                    stream.write(data)
                    stream.flush()
                    os.fsync(stream.fileno())
                os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=folder)
                raise
            os.fsync(folder)
        finally:
            os.close(folder)


PART = ".part"
LEFTOVER_SECONDS = 24 * 3600  # a temporary file this old is a crashed write's, never one in progress


def _enter(parent: int, segment: str) -> int:
    """The folder `segment` of the open folder `parent`, made if missing, opened (the caller
    closes `parent`, whatever happens); InvalidSpec if it is a symlink or not a folder."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(segment, 0o755, dir_fd=parent)
    try:
        return os.open(segment, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise InvalidSpec(OUTSIDE) from None
        raise


_cleared: dict[tuple[int, int], None] = {}  # the folders this process has cleared, oldest first
CLEARED_KEPT = 4096


def _clear_leftovers(folder: int) -> None:
    """Remove, once per folder and process, the temporary files a crashed write left behind."""
    info = os.fstat(folder)
    if (info.st_dev, info.st_ino) in _cleared:
        return
    _cleared[(info.st_dev, info.st_ino)] = None
    if len(_cleared) > CLEARED_KEPT:
        with contextlib.suppress(KeyError, RuntimeError, StopIteration):  # another consumer thread got there first
            del _cleared[next(iter(_cleared))]
    cutoff = time.time() - LEFTOVER_SECONDS
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith(".") and entry.name.endswith(PART):
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                        os.unlink(entry.name, dir_fd=folder)


@dataclass(frozen=True)
class S3Target:
    bucket: str
    prefix: str
    settings: Settings

    def _client(self) -> object:
        from ..sources.s3 import s3_client

        return s3_client(self.settings.s3_endpoint, self.settings.s3_region, self.settings.origin_timeout_seconds)

    def exists(self, key: str) -> bool:
        from ..sources.s3 import _failures

        try:
            self._client().head_object(Bucket=self.bucket, Key=self.prefix + check_key(key))  # type: ignore[attr-defined]
        except botocore.exceptions.ClientError as error:
            if str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "")) == "404":
                return False
            with _failures():
                raise
        return True

    def write(self, key: str, data: bytes, media_type: str) -> None:
        from ..sources.s3 import _failures

        with _failures():
            self._client().put_object(  # type: ignore[attr-defined]
                Bucket=self.bucket, Key=self.prefix + check_key(key), Body=data, ContentType=media_type
            )


def target_for(settings: Settings, library: Library) -> Target:
    """Where jobs on `library`'s videos write."""
    if isinstance(library, LocalFolder):
        return FolderTarget(library.root)
    location = settings.output if settings.origin else settings.s3
    if not location:
        raise NoOutput("This server reads its videos from an HTTP origin and has no VFRAME_OUTPUT to write results "
                       "to (a folder or s3://bucket/prefix), so it takes no jobs.")
    if location.startswith("s3://"):
        from ..sources.s3 import split_s3_url

        bucket, prefix = split_s3_url(location)
        return S3Target(bucket, prefix + "/" if prefix and not prefix.endswith("/") else prefix, settings)
    root = Path(os.path.realpath(location))
    root.mkdir(parents=True, exist_ok=True)
    return FolderTarget(root)


def bucket_of(settings: Settings) -> str:
    """The bucket name pfop's `bucket` and saveas must give: S3's own, else VFRAME_BUCKET."""
    if settings.s3:
        from ..sources.s3 import split_s3_url

        return split_s3_url(settings.s3)[0]
    return settings.bucket
