"""Job records, in the queue's own storage (huey's key-value store: a table of the SQLite file,
or a hash in Redis), so that the embedded and the shared mode keep jobs in one place each and
every consumer sees every job. A record is JSON under `vframe.job.<id>`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from huey.constants import EmptyData
from huey.storage import BaseStorage

from .status import FINAL, Record

PREFIX = "vframe.job."


class JobStore:
    def __init__(self, storage: BaseStorage, retention_seconds: float) -> None:
        self.storage = storage
        self.retention_seconds = retention_seconds

    def get(self, job_id: str) -> Record | None:
        value = self.storage.peek_data(PREFIX + job_id)
        if value is EmptyData:
            return None
        record: Record = json.loads(value)
        if self._expired(record, time.time()):
            return None
        return record

    def put(self, record: Record) -> None:
        record["updated"] = time.time()
        self.storage.put_data(PREFIX + record["id"], json.dumps(record, separators=(",", ":")).encode())

    def delete(self, job_id: str) -> None:
        self.storage.delete_data(PREFIX + job_id)

    def all(self) -> Iterator[Record]:
        """Every kept job (expired ones are deleted on the way)."""
        now = time.time()
        for key, value in self.storage.result_items().items():
            name = key.decode() if isinstance(key, bytes) else str(key)
            if not name.startswith(PREFIX):
                continue
            record: Record = json.loads(value)
            if self._expired(record, now):
                self.delete(record["id"])
                continue
            yield record

    def _expired(self, record: Record, now: float) -> bool:
        return record["code"] in FINAL and record["updated"] + self.retention_seconds < now
