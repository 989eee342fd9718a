"""Where a job writes its results: the source the video came from (a folder: under its root; S3:
the same bucket and prefix), or VFRAME_OUTPUT (a folder or s3://) for a read-only HTTP origin.

A write is atomic: a folder gets a hidden temporary file in the final folder, renamed over the
final name (a crash leaves at most a hidden `.name.*.part`, which no request can name); S3 gets
one PutObject. Keys follow the request key rules (sources/keys.py), and a folder's write never
follows a symlink out of its root."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import botocore.exceptions

from ..errors import InvalidSpec
from ..settings import Settings
from ..sources import Library, LocalFolder
from ..sources.keys import check_key

OUTSIDE = "The output key leads outside the source (through a symlink), so nothing was written."


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
        path = self.root / check_key(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path = self._path(key)  # checked once the folders exist: none may be a symlink out
        if path.is_symlink():
            raise InvalidSpec(OUTSIDE)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.part")
        try:
            with open(temporary, "xb") as file:
                file.write(data)
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)


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
        raise ValueError("jobs on an HTTP origin need VFRAME_OUTPUT: a folder or s3://bucket/prefix to write to")
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
