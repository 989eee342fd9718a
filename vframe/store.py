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
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any, Protocol
from urllib.parse import urlsplit

from .cache import Key
from .front import Tally
from .metrics import Metrics
from .products import Result, Tile
from .settings import Settings

log = logging.getLogger("vframe.store")

ENTRY_VERSION = 1  # the entry format's own version (in every name)


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


def encode_entry(result: Result) -> bytes:
    head = {
        "media_type": result.media_type, "width": result.width, "height": result.height,
        "times": [str(time) for time in result.times],
        "tiles": [[tile.x, tile.y, tile.width, tile.height, tile.page,
                   None if tile.time is None else str(tile.time), str(tile.start), str(tile.end)]
                  for tile in result.tiles],
        "animated": result.animated,
    }
    return json.dumps(head, separators=(",", ":")).encode() + b"\n" + result.data


def decode_entry(entry: bytes) -> Result:
    """The Result an entry keeps; ValueError (or KeyError, TypeError) when it is not one of ours."""
    head_bytes, newline, data = entry.partition(b"\n")
    if not newline:
        raise ValueError("no head")
    head = json.loads(head_bytes)
    tiles = tuple(Tile(int(x), int(y), int(w), int(h), int(page), None if time is None else Fraction(time),
                       Fraction(start), Fraction(end)) for x, y, w, h, page, time, start, end in head["tiles"])
    return Result(data, str(head["media_type"]), int(head["width"]), int(head["height"]),
                  tuple(Fraction(time) for time in head["times"]), tiles, bool(head.get("animated", False)))


class Backend(Protocol):
    name: str

    def get(self, name: str) -> bytes | None: ...

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

    def get(self, name: str) -> bytes | None:
        found = self.client.get(name)
        return None if found is None else bytes(found)

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

    def get(self, name: str) -> bytes | None:
        import datetime

        import botocore.exceptions

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(name))
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        age = datetime.datetime.now(datetime.UTC) - answer["LastModified"]
        if age.total_seconds() > self.ttl:
            answer["Body"].close()
            return None
        return bytes(answer["Body"].read())

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
        entry = await self._call("get", self.backend.get, entry_name(key))
        if entry is None:
            self.misses.inc()
            return None
        try:
            result = decode_entry(entry)
        except (ValueError, KeyError, TypeError):
            self._failed("corrupt", "an entry that is not one of vframe's")
            self.misses.inc()
            return None
        self.hits.inc()
        return result

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
