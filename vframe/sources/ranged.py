"""A seekable reader over a remote video that fetches only the byte ranges FFmpeg reads.

FFmpeg reads through this object (never a URL). A read that misses fetches one range starting
exactly where it is needed and `block_bytes` long (less where bytes already fetched follow), so
the bytes fetched for a frame are the container's index, the frame's GOP and at most about a
block of overshoot at the end of each run of reads. Fetched ranges are kept (least recently used
out), so FFmpeg's back-and-forth while probing and seeking costs nothing twice. Where the object's
version is certain (a strong ETag), what was fetched is kept for the process's later requests for
that version too (KEPT, within Reading.kept_bytes between requests): the next frame of the same
video fetches neither its index nor GOP bytes already read. Every fetch is counted against the
request's budget: bytes (413) and deadline (504)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import BinaryIO, cast

from ..errors import UpstreamFailed, VframeError
from ..limits import Budget
from ..settings import Settings

Fetch = Callable[[int, int], bytes]  # (start, end exclusive) -> exactly those bytes, or a VframeError
BLOCKS_KEPT_IN_A_REQUEST = 64  # a request keeps at least this many blocks of what it fetched


@dataclass(frozen=True)
class Reading:
    """How a remote video is read: bytes asked for in each fetch, and bytes fetched that a process
    keeps between requests for the same version of a video (0: none)."""

    block_bytes: int
    kept_bytes: int


def reading_of(settings: Settings) -> Reading:
    return Reading(settings.block_bytes, settings.origin_cache_bytes)


@dataclass
class _Extent:
    start: int
    data: bytes
    used: int  # a tick of its store's clock: the least recently used extent goes first

    @property
    def end(self) -> int:
        return self.start + len(self.data)


class KeptRanges:
    """Byte ranges fetched, by object version, least recently used out; shared by the readers of
    one process (the decode workers read one request at a time; library callers may use threads)."""

    def __init__(self) -> None:
        self._ranges: dict[Hashable, list[_Extent]] = {}
        self._lock = threading.Lock()
        self._tick = 0
        self.bytes = 0

    def at(self, version: Hashable, position: int) -> _Extent | None:
        with self._lock:
            for extent in self._ranges.get(version, ()):
                if extent.start <= position < extent.end:
                    self._tick += 1
                    extent.used = self._tick
                    return extent
            return None

    def next_start(self, version: Hashable, position: int) -> int | None:
        """Where the first range kept after `position` starts."""
        with self._lock:
            return min((e.start for e in self._ranges.get(version, ()) if e.start > position), default=None)

    def add(self, version: Hashable, start: int, data: bytes, limit: int) -> _Extent:
        with self._lock:
            self._tick += 1
            extent = _Extent(start, data, self._tick)
            self._ranges.setdefault(version, []).append(extent)
            self.bytes += len(data)
            self._trim(limit, keep=extent)
            return extent

    def trim(self, limit: int) -> None:
        with self._lock:
            self._trim(limit, keep=None)

    def clear(self) -> None:
        with self._lock:
            self._ranges.clear()
            self.bytes = 0

    def _trim(self, limit: int, keep: _Extent | None) -> None:
        while self.bytes > limit:
            candidates = [(e.used, version, e) for version, kept in self._ranges.items() for e in kept if e is not keep]
            if not candidates:
                return
            _, version, oldest = min(candidates, key=lambda c: c[0])
            self._ranges[version].remove(oldest)
            if not self._ranges[version]:
                del self._ranges[version]
            self.bytes -= len(oldest.data)


KEPT = KeptRanges()  # this process's, across requests


class RangedReader(io.RawIOBase):
    def __init__(self, size: int, fetch: Fetch, budget: Budget | None, reading: Reading,
                 version: Hashable | None) -> None:
        """`version`: what identifies these exact bytes (the object and its strong ETag), to keep what
        is fetched in KEPT for later requests; None: kept for this reader only."""
        super().__init__()
        self.size = size
        self._fetch = fetch
        self._budget = budget
        self._block = reading.block_bytes
        shared = version is not None and reading.kept_bytes > 0
        self._kept, self._version = (KEPT, version) if shared else (KeptRanges(), None)
        self._kept_after = reading.kept_bytes if shared else 0  # what stays once this reader is closed
        self._keep = max(BLOCKS_KEPT_IN_A_REQUEST * self._block, self._kept_after)  # while reading
        self._position = 0
        self.failure: VframeError | None = None  # the fetch that failed, if one did

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the video")
        self._position = base + offset
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        wanted = self.size - self._position if size is None or size < 0 else size
        wanted = min(wanted, self.size - self._position)
        if wanted <= 0 or self.failure is not None:
            return b""
        parts = []
        while wanted > 0:
            extent = self._kept.at(self._version, self._position) or self._fetch_at(self._position)
            offset = self._position - extent.start
            part = extent.data[offset : offset + wanted]
            parts.append(part)
            self._position += len(part)
            wanted -= len(part)
        return b"".join(parts)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._kept.trim(self._kept_after)
        super().close()

    def _fetch_at(self, position: int) -> _Extent:
        following = self._kept.next_start(self._version, position)
        end = min(position + self._block, following if following is not None else self.size, self.size)
        started = time.perf_counter()
        try:
            if self._budget is not None:
                self._budget.check_fetch_time()
                self._budget.spend_fetch_bytes(end - position)
            data = self._fetch(position, end)
            if len(data) != end - position:
                raise UpstreamFailed("The video's origin sent a different number of bytes than asked for.")
        except VframeError as error:
            # FFmpeg may read again after a failed read, or take it for the end of the data; either
            # way the failure is kept here, later reads see the end, and the pipeline raises it.
            self.failure = error
            raise
        finally:
            if self._budget is not None:
                self._budget.fetch_seconds += time.perf_counter() - started
        return self._kept.add(self._version, position, data, self._keep)


def open_ranged(size: int, fetch: Fetch, budget: Budget | None, reading: Reading,
                version: Hashable | None) -> BinaryIO:
    """A RangedReader for a remote object (see RangedReader)."""
    return cast(BinaryIO, RangedReader(size, fetch, budget, reading, version))
