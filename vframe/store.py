"""Where made products are kept (VFRAME_RESULT_STORE): `memory` (this process's ResultCache only,
the default), `redis://host:port/db` or `s3://bucket/prefix`, shared by every replica (thumbor's
"result storage"). The memory cache stays in front of a shared store; single flight stays per
replica (server.Service.product).

A shared store is a help, never a dependency: every call is time-boxed (VFRAME_STORE_TIMEOUT_SECONDS),
and a store that is down, slow or answers nonsense is counted (vframe_store_errors_total by kind),
logged once in a while, and skipped: the frame is decoded as if the store were empty.

An entry is the product's bytes after a JSON head of everything its response needs (media type,
size, frame times, tiles, whether it is an animation), never a pickle: what comes back from a
shared store is only data. Its name is a hash of the cache key, which covers everything that
changes the bytes (server.cache_key)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any, Protocol
from urllib.parse import urlsplit

from .cache import Key
from .formats import ANIMATIONS, IMAGES, STORYBOARDS
from .front import Tally
from .metrics import Metrics
from .products import Result, Tile
from .settings import Settings

log = logging.getLogger("vframe.store")
MEDIA_TYPES = frozenset(f.media_type for f in (*IMAGES.values(), *STORYBOARDS.values(), *ANIMATIONS.values()))

ENTRY_VERSION = 2  # the entry format's own version (in every name)


def check_store_url(url: str) -> None:
    """ValueError naming VFRAME_RESULT_STORE when `url` is none of memory, redis://..., s3://bucket/..."""
    parts = urlsplit(url)
    if url == "memory" or (parts.scheme in ("redis", "rediss") and parts.hostname) or (
        parts.scheme == "s3" and parts.netloc
    ):
        return
    raise ValueError(f"VFRAME_RESULT_STORE must be memory, redis://host:port/db or s3://bucket/prefix, not {url!r}")


def entry_name(key: Key) -> str:
    return f"vframe/r{ENTRY_VERSION}/" + hashlib.sha256("\0".join(key).encode("utf-8", "surrogateescape")).hexdigest()


MAX_HEAD_BYTES = 4 * 1024 * 1024  # an entry's JSON head: 5000 tiles take well under 1 MiB
_RATIONAL = re.compile(r"(-?[0-9]{1,19})/([0-9]{1,19})")


class CorruptEntry(ValueError):
    """What came back from the store is not an entry of ours (a bug elsewhere, or a hostile writer)."""


def encode_entry(result: Result) -> bytes:
    head = {
        "media_type": result.media_type, "width": result.width, "height": result.height,
        "times": [_text(time) for time in result.times],
        "tiles": [[tile.x, tile.y, tile.width, tile.height, tile.page,
                   None if tile.time is None else _text(tile.time), _text(tile.start), _text(tile.end)]
                  for tile in result.tiles],
        "animated": result.animated,
    }
    return json.dumps(head, separators=(",", ":")).encode() + b"\n" + result.data


def decode_entry(entry: bytes, max_data_bytes: int) -> Result:
    """The Result an entry keeps; CorruptEntry for anything else. Nothing in it is trusted: the head
    is bounded, every number checked (times are integer ratios, never parsed as decimals of any
    length), and the media type must be one vframe makes."""
    head_bytes, newline, data = entry.partition(b"\n")
    if not newline or len(head_bytes) > MAX_HEAD_BYTES or len(data) > max_data_bytes:
        raise CorruptEntry("no head, or too large")
    try:
        head = json.loads(head_bytes)
        tiles = tuple(Tile(_size(x), _size(y), _size(w), _size(h), _size(page),
                           None if time is None else _rational(time), _rational(start), _rational(end))
                      for x, y, w, h, page, time, start, end in head["tiles"])
        media_type = head["media_type"]
        if media_type not in MEDIA_TYPES:
            raise CorruptEntry(f"a media type vframe does not make: {str(media_type)[:40]!r}")
        return Result(data, media_type, _size(head["width"]), _size(head["height"]),
                      tuple(_rational(time) for time in head["times"]), tiles, head.get("animated", False) is True)
    except CorruptEntry:
        raise
    except Exception as error:  # any shape of nonsense (RecursionError from a deep nesting included)
        raise CorruptEntry(f"{type(error).__name__}") from None


def _text(value: Fraction) -> str:
    return f"{value.numerator}/{value.denominator}"


def _rational(text: object) -> Fraction:
    match = _RATIONAL.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match.group(2)) == 0:
        raise CorruptEntry("a time that is not an integer ratio")
    return Fraction(int(match.group(1)), int(match.group(2)))


def _size(value: object) -> int:
    if type(value) is not int or not 0 <= value <= 1 << 20:
        raise CorruptEntry("a size or position that is not a small whole number")
    return value


class Backend(Protocol):
    name: str

    def get(self, name: str, most: int) -> bytes | None:
        """The entry `name`, or None; CorruptEntry rather than read one of more than `most` bytes."""

    def put(self, name: str, entry: bytes) -> None: ...


class RedisBackend:
    name = "redis"

    def __init__(self, url: str, settings: Settings) -> None:
        import redis  # the `redis` extra: loaded only when a Redis store is configured

        timeout = settings.store_timeout_seconds
        self.ttl = settings.store_ttl_seconds
        self.client: Any = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, retry_on_timeout=False,
            health_check_interval=0,
        )

    def get(self, name: str, most: int) -> bytes | None:
        found = self.client.getrange(name, 0, most)  # at most one byte more than an entry may have
        if not found:  # no such key (GETRANGE gives b"" for it)
            return None
        if len(found) > most:
            raise CorruptEntry("an entry larger than any vframe stores")
        return bytes(found)

    def put(self, name: str, entry: bytes) -> None:
        self.client.set(name, entry, ex=self.ttl)


class S3Backend:
    """Entries as objects under the prefix. Their lifetime is the bucket's lifecycle rule (S3 has no
    per-object TTL): an entry older than VFRAME_STORE_TTL_SECONDS is treated as absent all the same."""

    name = "s3"

    def __init__(self, url: str, settings: Settings) -> None:
        import boto3
        import botocore.config

        parts = urlsplit(url)
        self.bucket = parts.netloc
        self.prefix = parts.path.strip("/")
        self.ttl = settings.store_ttl_seconds
        timeout = settings.store_timeout_seconds
        config = botocore.config.Config(  # no retries: the call is time-boxed, a miss costs only a decode
            connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": "path"} if settings.s3_endpoint else {}, max_pool_connections=16,
        )
        self.client: Any = boto3.session.Session().client(
            "s3", endpoint_url=settings.s3_endpoint or None, region_name=settings.s3_region or None, config=config
        )

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def get(self, name: str, most: int) -> bytes | None:
        import datetime

        import botocore.exceptions

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        age = datetime.datetime.now(datetime.UTC) - answer["LastModified"]
        if age.total_seconds() > self.ttl or int(answer.get("ContentLength", 0)) > most:
            answer["Body"].close()
            if age.total_seconds() > self.ttl:
                return None
            raise CorruptEntry("an entry larger than any vframe stores")
        return bytes(answer["Body"].read(most + 1))

    def put(self, name: str, entry: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=entry)


class SharedStore:
    """A shared backend, called off the event loop and time-boxed; every failure is a miss."""

    def __init__(self, backend: Backend, settings: Settings, metrics: Metrics) -> None:
        self.backend = backend
        self.timeout = settings.store_timeout_seconds
        self.max_entry_bytes = settings.store_max_entry_bytes
        self.metrics = metrics
        self._calls = ThreadPoolExecutor(16, thread_name_prefix="vframe-store")
        self._tally = Tally(log)
        self._pending: set[asyncio.Task[None]] = set()
        self.hits = metrics.store_hits.labels(backend.name)
        self.misses = metrics.store_misses.labels(backend.name)

    async def get(self, key: Key) -> Result | None:
        result: Result | None = await self._call("get", self._read, entry_name(key))
        if result is None:
            self.misses.inc()
            return None
        self.hits.inc()
        return result

    def _read(self, name: str) -> Result | None:
        """In a store thread: the entry, read (never more than an entry may be) and checked."""
        entry = self.backend.get(name, self.max_entry_bytes + MAX_HEAD_BYTES + 1)
        return None if entry is None else decode_entry(entry, self.max_entry_bytes)

    def put_later(self, key: Key, result: Result) -> None:
        """Keep `result` in the store, in the background: the response does not wait for it."""
        if len(result.data) > self.max_entry_bytes:
            return
        task = asyncio.get_running_loop().create_task(
            self._call("put", self.backend.put, entry_name(key), encode_entry(result)))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _call(self, what: str, function: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(self._calls, function, *args), self.timeout)
        except TimeoutError:
            self._failed("timeout", f"a {what} took over {self.timeout:g} s (VFRAME_STORE_TIMEOUT_SECONDS)")
        except CorruptEntry as error:
            self._failed("corrupt", f"an entry that is not one of vframe's ({error})")
        except Exception as error:  # any failure of the store is a miss, never the request's error
            self._failed(_kind(error), f"a {what} failed: {type(error).__name__}: {error}")
        return None

    def _failed(self, kind: str, message: str) -> None:
        self.metrics.store_errors.labels(self.backend.name, kind).inc()
        self._tally.count(kind, f"result store ({self.backend.name}) skipped {{n}} times: {message}; decoding instead")

    def close(self) -> None:
        self._calls.shutdown(wait=False, cancel_futures=True)


def _kind(error: Exception) -> str:
    """timeout, connection or error: by the exception's class (redis-py's and botocore's own, or the OS's)."""
    name = type(error).__name__
    if isinstance(error, TimeoutError) or "Timeout" in name:
        return "timeout"
    if isinstance(error, (ConnectionError, OSError)) or "Connection" in name or "Endpoint" in name:
        return "connection"
    return "error"


def shared_store(settings: Settings, metrics: Metrics) -> SharedStore | None:
    """The shared store VFRAME_RESULT_STORE names, or None for `memory`."""
    url = settings.result_store
    check_store_url(url)
    if url == "memory":
        return None
    scheme = urlsplit(url).scheme
    backend: Backend = S3Backend(url, settings) if scheme == "s3" else RedisBackend(url, settings)
    return SharedStore(backend, settings, metrics)
