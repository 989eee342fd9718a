"""The result cache: made products (frames, sheets, storyboards) kept in memory, bounded in bytes,
least recently used first out.
Its key names the video, the version of its bytes (the source's validator), the normalized spec
and the engine version (and, for a storyboard, how it names its sheets), so a changed video or a
new engine never answers from an old entry."""

from __future__ import annotations

from collections import OrderedDict

from .products import Result

Key = tuple[str, ...]  # server.cache_key: video, version, spec, engine[, storyboard links], output settings, limits


class ResultCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[Key, Result] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Result | None:
        result = self._entries.get(key)
        if result is not None:
            self._entries.move_to_end(key)
        return result

    def put(self, key: Key, result: Result) -> None:
        """Keep `result`, evicting the least recently used entries to stay within max_bytes.
        An entry bigger than an eighth of the cache is not kept: one huge PNG must not empty it."""
        size = len(result.data)
        if size > self.max_bytes // 8:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old.data)
        self._entries[key] = result
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= len(evicted.data)
