"""A seekable reader over a remote video that fetches only the byte ranges FFmpeg reads.

FFmpeg reads through this object (never a URL). A read that misses fetches one range starting
exactly where it is needed and `block_bytes` long (less where bytes already fetched follow), so
the bytes fetched for a frame are the container's index, the frame's GOP and at most about a
block of overshoot at the end of each run of reads. Fetched ranges are kept (least recently used
out, within `keep_bytes`), so FFmpeg's back-and-forth while probing and seeking costs nothing twice.
Every fetch is counted against the request's budget: bytes (413) and deadline (504)."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO, cast

from ..errors import UpstreamFailed, VframeError
from ..limits import Budget

Fetch = Callable[[int, int], bytes]  # (start, end exclusive) -> exactly those bytes, or a VframeError


@dataclass
class _Extent:
    start: int
    data: bytes
    used: int  # a tick of the reader's clock: the least recently used extent goes first

    @property
    def end(self) -> int:
        return self.start + len(self.data)


class RangedReader(io.RawIOBase):
    def __init__(self, size: int, fetch: Fetch, budget: Budget | None, *, block_bytes: int, keep_bytes: int) -> None:
        super().__init__()
        self.size = size
        self._fetch = fetch
        self._budget = budget
        self._block = block_bytes
        self._keep = max(keep_bytes, block_bytes)
        self._extents: list[_Extent] = []
        self._position = 0
        self._tick = 0
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
            extent = self._extent_at(self._position) or self._fetch_at(self._position)
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

    def _extent_at(self, position: int) -> _Extent | None:
        for extent in self._extents:
            if extent.start <= position < extent.end:
                self._tick += 1
                extent.used = self._tick
                return extent
        return None

    def _fetch_at(self, position: int) -> _Extent:
        following = min((extent.start for extent in self._extents if extent.start > position), default=self.size)
        end = min(position + self._block, following, self.size)
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
        self._tick += 1
        extent = _Extent(position, data, self._tick)
        self._extents.append(extent)
        while sum(len(kept.data) for kept in self._extents) > self._keep and len(self._extents) > 1:
            self._extents.remove(min(self._extents, key=lambda kept: kept.used))
        return extent


def open_ranged(size: int, fetch: Fetch, budget: Budget | None, block_bytes: int) -> BinaryIO:
    """A RangedReader for a remote object, keeping up to 64 blocks of what it fetched."""
    return cast(BinaryIO, RangedReader(size, fetch, budget, block_bytes=block_bytes, keep_bytes=64 * block_bytes))
