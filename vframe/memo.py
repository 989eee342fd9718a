"""A bounded memo for values that are cheap to make again (parsed specs, ETags, files found):
emptied when full, which keeps it simpler and faster per lookup than an LRU."""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Memo(dict[K, V], Generic[K, V]):
    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def keep(self, key: K, value: V) -> V:
        """Remember `value` under `key` (emptying the memo first when it is full); give it back."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value
