"""The result cache: made frames kept in memory, bounded in bytes, least recently used first out.
Its key names the video, the version of its bytes (the source's validator), the normalized spec
and the engine version, so a changed video or a new engine never answers from an old entry."""

from __future__ import annotations

from collections import OrderedDict

from .pipeline import Grab

Key = tuple[str, str, str, str]  # (source identity, validator, canonical spec, engine version)


class ResultCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._entries: OrderedDict[Key, Grab] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Key) -> Grab | None:
        grab = self._entries.get(key)
        if grab is not None:
            self._entries.move_to_end(key)
        return grab

    def put(self, key: Key, grab: Grab) -> None:
        """Keep `grab`, evicting the least recently used entries to stay within max_bytes.
        An entry bigger than an eighth of the cache is not kept: one huge PNG must not empty it."""
        size = len(grab.data)
        if size > self.max_bytes // 8:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= len(old.data)
        self._entries[key] = grab
        self.bytes += size
        while self.bytes > self.max_bytes:
            _, evicted = self._entries.popitem(last=False)
            self.bytes -= len(evicted.data)
