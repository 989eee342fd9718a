"""One job's commands, run through the same products and the same decode worker pool as the HTTP
service (vframe/workers.py): a decoder crash, a command past its deadline or over its memory costs
a worker and fails that attempt (599), never the consumer. A command that failed in decoding or at
the origin is tried again `job_retries` times; a malformed spec or a missing video is not.

A command whose output exists already counts as done unless `force` (Qiniu's returnOld), and a
command done in an earlier run of the same job (a consumer killed meanwhile) is not made again."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from urllib.parse import quote

from ..errors import Busy, ProcessingFailed, UpstreamFailed, UpstreamTimeout, VframeError
from ..metrics import Metrics
from ..products import Links, Result
from ..settings import Settings
from ..sources import Library
from ..workers import Job, Made, WorkerPool
from .fops import Command, parse_command
from .outputs import Target
from .status import DONE, FAILED, RUNNING, Record

log = logging.getLogger("vframe.jobs")

Maker = Callable[[Job], Made]
RETRYABLE = (ProcessingFailed, UpstreamFailed, UpstreamTimeout, Busy)
BUSY_BACKOFF_MAX_SECONDS = 2.0
FIRST_BACKOFF_SECONDS = 0.2
INTERNAL = "Something went wrong inside vframe; the error has been logged."


class Runner:
    def __init__(self, settings: Settings, library: Library, target: Target, bucket: str, make: Maker,
                 metrics: Metrics) -> None:
        self.settings = settings
        self.library = library
        self.target = target
        self.bucket = bucket
        self.make = make
        self.metrics = metrics

    def run(self, record: Record, save: Callable[[], None]) -> None:
        """Run every command of `record` not done yet, saving the record after each."""
        for item in record["items"]:
            if item["code"] == DONE:
                continue
            item["code"] = RUNNING
            save()
            started = time.monotonic()
            try:
                command = parse_command(item["cmd"], record["key"], self.bucket, self.settings)
                self._command(record, item, command, save)
            except VframeError as error:
                item["code"], item["error"] = FAILED, error.message
            except Exception:
                log.exception("job %s command %s failed", record["id"], item["cmd"])
                item["code"], item["error"] = FAILED, INTERNAL
            log.info("job %s command %r code %d attempts %d %.2fs%s", record["id"], item["cmd"], item["code"],
                     item["attempts"], time.monotonic() - started, f" error={item['error']!r}" if item["error"] else "")
            save()

    def _command(self, record: Record, item: dict[str, object], command: Command, save: Callable[[], None]) -> None:
        if not record["force"] and not command.pattern:
            if "old" not in item:  # asked once, saved before anything is written: a run after a crash
                item["old"] = self.target.exists(command.key)  # must not take its own output for an old one
                save()
            if item["old"]:
                item.update(code=DONE, returnOld=1, error="")
                return
        last: VframeError = ProcessingFailed()
        delay = FIRST_BACKOFF_SECONDS
        for attempt in range(self.settings.job_retries + 1):
            if attempt:
                self.metrics.job_retries.inc()
                time.sleep(delay)
                delay *= 2
            item["attempts"] = int(str(item["attempts"])) + 1
            try:
                self._make_and_write(record, item, command)
                return
            except RETRYABLE as error:
                last = error
        raise last

    def _make_and_write(self, record: Record, item: dict[str, object], command: Command) -> None:
        """One attempt. The decode worker pool being full (HTTP load, 429) is waited out, with
        backoff, up to the job deadline: it costs no retry, as the command was not tried."""
        source = self.library.find(record["key"])
        name = quote(record["key"].rsplit("/", 1)[-1])
        waited_until = time.monotonic() + self.settings.job_deadline_seconds
        delay = FIRST_BACKOFF_SECONDS
        while True:
            job = Job(source, command.spec, time.monotonic(), Links(name), each=command.pattern,
                      deadline_seconds=self.settings.job_deadline_seconds)
            try:
                made = self.make(job)
                break
            except Busy:
                if time.monotonic() + delay > waited_until:
                    raise
                self.metrics.job_busy_waits.inc()
                time.sleep(delay)
                delay = min(delay * 2, BUSY_BACKOFF_MAX_SECONDS)
        self._write(item, command, made)

    def _write(self, item: dict[str, object], command: Command, made: Made) -> None:
        if isinstance(made, Result):
            self.target.write(command.key, made.data, made.media_type)
            item.update(code=DONE, returnOld=0, error="")
            return
        keys = [command.frame_key(index) for index in range(len(made))]
        for key, frame in zip(keys, made, strict=True):
            self.target.write(key, frame.data, frame.media_type)
        item.update(code=DONE, returnOld=0, error="", keys=keys)


def on_loop(pool: WorkerPool, loop: asyncio.AbstractEventLoop) -> Maker:
    """A Maker for a consumer thread: the job goes to `pool`, which lives on `loop`."""

    def make(job: Job) -> Made:
        future: Future[Made] = asyncio.run_coroutine_threadsafe(pool.make_job(job), loop)
        return future.result()

    return make


class OwnPool:
    """A decode worker pool of its own, on an event loop in a thread: for `vframe worker`, which
    has no HTTP service whose pool it could share."""

    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.loop = asyncio.new_event_loop()
        self.pool = WorkerPool(settings, metrics)
        self._thread = threading.Thread(target=self.loop.run_forever, name="vframe-pool", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.pool.start(), self.loop).result()

    @property
    def make(self) -> Maker:
        return on_loop(self.pool, self.loop)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.pool.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
