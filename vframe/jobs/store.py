"""Job records, in the queue's own storage (huey's key-value store: a table of the SQLite file,
or a hash in Redis), so that the embedded and the shared mode keep jobs in one place each and
every consumer sees every job. A record is JSON under `vframe.job.<id>`.

Beside the records, an index of the jobs not finished yet (waiting, running, or notifying): a
second key-value space of the same storage (huey's `vframe_open`), one key per such job. The
sweep reads only that index, so its cost follows the jobs in flight, not the 10 days kept. The
index is written before a record opens and cleared after it closes, so a crash between the two
leaves at most an index entry with no open record, which the next read of the index removes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

from huey.constants import EmptyData
from huey.storage import BaseStorage

from .status import FINAL, Record

PREFIX = "vframe.job."


class JobStore:
    def __init__(self, storage: BaseStorage, open_index: BaseStorage, retention_seconds: float) -> None:
        self.storage = storage
        self.open_index = open_index
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
        closed = _closed(record)
        if not closed:
            self.open_index.put_data(record["id"], b"")
        self.storage.put_data(PREFIX + record["id"], json.dumps(record, separators=(",", ":")).encode())
        if closed:
            self.open_index.delete_data(record["id"])

    def delete(self, job_id: str) -> None:
        self.storage.delete_data(PREFIX + job_id)
        self.open_index.delete_data(job_id)

    def unfinished(self) -> Iterator[Record]:
        """Every job not finished yet, from the index (entries left by a crash are removed)."""
        for key in self.open_index.result_items():
            job_id = key.decode() if isinstance(key, bytes) else str(key)
            record = self.get(job_id)
            if record is None or _closed(record):
                self.open_index.delete_data(job_id)
                continue
            yield record

    def all(self) -> Iterator[Record]:
        """Every kept job (expired ones are deleted on the way): a read of every record, for the
        CLI's list and the sweep's occasional full count."""
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


def _closed(record: Record) -> bool:
    return record["code"] in FINAL and not record.get("notifying")
