"""Videos in an S3 bucket (AWS, or an S3-compatible store: MinIO, R2, Wasabi... via s3_endpoint).

Credentials come from boto3's standard chain: environment, config files, instance roles. An
object is found with HeadObject (size, ETag, Last-Modified); FFmpeg reads it through a
RangedReader whose every fetch is a ranged GetObject with IfMatch on that ETag, so a video
replaced mid-request fails (502) instead of giving a mixed frame. botocore retries throttling,
5xx and dropped connections a bounded number of times (its "standard" mode)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions

from ..errors import SourceNotFound, UpstreamFailed, UpstreamTimeout
from ..limits import Budget
from ..settings import Settings
from .keys import NOT_FOUND, check_key
from .ranged import Reading, open_ranged, reading_of

_GONE = {"404", "403", "NoSuchKey", "NotFound", "NoSuchBucket", "AccessDenied", "Forbidden", "InvalidObjectState"}
_CHANGED = {"412", "PreconditionFailed"}

_clients: dict[tuple[str, str, float], Any] = {}
_clients_lock = threading.Lock()


def s3_client(endpoint: str, region: str, timeout: float) -> Any:
    """One boto3 client per process and endpoint (clients are thread-safe and keep connections)."""
    key = (endpoint, region, timeout)
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            config = botocore.config.Config(
                connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 3, "mode": "standard"},
                s3={"addressing_style": "path"} if endpoint else {}, max_pool_connections=32,
            )
            found = boto3.session.Session().client(
                "s3", endpoint_url=endpoint or None, region_name=region or None, config=config
            )
            _clients[key] = found
        return found


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int
    etag: str
    last_modified: float | None
    endpoint: str
    region: str
    timeout: float
    reading: Reading

    @property
    def identity(self) -> str:
        return f"s3://{self.bucket}/{self.key}@{self.endpoint}"

    @property
    def validator(self) -> str:
        return self.etag

    @property
    def modified(self) -> float | None:
        return self.last_modified

    def open(self, budget: Budget | None = None) -> BinaryIO:
        # S3's ETag names these exact bytes, so what is fetched may serve later requests.
        return open_ranged(self.size, self.fetch, budget, self.reading, ("s3", self.identity, self.etag, self.size))

    def fetch(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of this version of the object."""
        client = s3_client(self.endpoint, self.region, self.timeout)
        with _failures():
            answer = client.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{end - 1}",
                                       IfMatch=self.etag)
            body = answer["Body"]
            try:
                data: bytes = body.read()
            finally:
                body.close()
        content_range = answer.get("ContentRange", "")
        if content_range != f"bytes {start}-{end - 1}/{self.size}":
            raise UpstreamFailed("S3 answered a byte range other than the one asked for.")
        return data


@dataclass(frozen=True)
class S3Bucket:
    """The videos under s3://bucket/prefix: a key is appended to the prefix."""

    bucket: str
    prefix: str
    endpoint: str
    region: str
    timeout: float
    reading: Reading

    @classmethod
    def at(cls, location: str, settings: Settings) -> S3Bucket:
        bucket, prefix = split_s3_url(location)
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(bucket, prefix, settings.s3_endpoint, settings.s3_region, settings.origin_timeout_seconds,
                   reading_of(settings))

    def find(self, key: str) -> S3Object:
        return find_s3_object(self.bucket, self.prefix + check_key(key), self.endpoint, self.region, self.timeout,
                              self.reading)


def split_s3_url(location: str) -> tuple[str, str]:
    parts = urlsplit(location)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"{location!r} is not an s3://bucket/key location")
    return parts.netloc, parts.path.lstrip("/")


def find_s3_object(bucket: str, key: str, endpoint: str, region: str, timeout: float, reading: Reading) -> S3Object:
    client = s3_client(endpoint, region, timeout)
    with _failures():
        head = client.head_object(Bucket=bucket, Key=key)
    modified = head.get("LastModified")
    return S3Object(bucket, key, int(head["ContentLength"]), head["ETag"],
                    modified.timestamp() if modified is not None else None, endpoint, region, timeout, reading)


def s3_object(location: str, settings: Settings) -> S3Object:
    """An s3://bucket/key input of the CLI or the library."""
    bucket, key = split_s3_url(location)
    if not key:
        raise SourceNotFound(NOT_FOUND)
    return find_s3_object(bucket, key, settings.s3_endpoint, settings.s3_region, settings.origin_timeout_seconds,
                          reading_of(settings))


@contextmanager
def _failures() -> Iterator[None]:
    """botocore's exceptions as vframe's failure classes."""
    try:
        yield
    except botocore.exceptions.ClientError as error:
        code = str(error.response.get("Error", {}).get("Code", ""))
        status = str(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _GONE or status in _GONE:
            raise SourceNotFound(NOT_FOUND) from None
        if code in _CHANGED or status in _CHANGED:
            raise UpstreamFailed("The video changed in S3 while it was being read.") from None
        raise UpstreamFailed(f"S3 failed ({code or status}).") from None
    except (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError):
        raise UpstreamTimeout("S3 was too slow to answer.") from None
    except botocore.exceptions.NoCredentialsError:
        raise UpstreamFailed("No S3 credentials are configured on this server.") from None
    except botocore.exceptions.BotoCoreError:
        raise UpstreamFailed("S3 could not be reached or broke off its answer.") from None
