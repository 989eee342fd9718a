"""The job engine: huey's queue and consumer, with a lease on each running job.

huey keeps the queue: SqliteHuey in a file under VFRAME_STATE_DIR (embedded: `vframe serve` alone),
or RedisHuey on VFRAME_QUEUE=redis://... (any number of `vframe serve` and `vframe worker` on any
number of machines). huey takes a message off the queue before it runs the task, so a consumer
killed mid-job (SIGKILL, the OOM killer, a lost machine) would lose it. Each running job therefore
holds a lease in its record, renewed while it runs; every consumer sweeps the records on start and
every half lease, and queues again a running job whose lease lapsed, or a waiting job that is in
no queue. Outputs have deterministic names and atomic writes, so a job run twice leaves the same
files: jobs are at least once."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer
from huey.storage import BaseStorage, RedisStorage, SqliteStorage

from ..metrics import Metrics
from ..settings import Settings
from .notify import notify
from .runner import Runner
from .status import DONE, FAILED, FINAL, NOTIFY_FAILED, RUNNING, STATES, WAITING, Record, qiniu_status
from .store import JobStore

log = logging.getLogger("vframe.jobs")
TASK = "vframe_job"
QUEUE_NAME = "vframe"
SQLITE_FILE = "jobs.db"
OPEN_INDEX = "vframe_open"
FULL_COUNT_SECONDS = 600.0  # how often a sweep reads every kept record: expiry, and the finished jobs' gauges


def make_huey(settings: Settings) -> Huey:
    if settings.queue:
        from redis import ConnectionPool

        # Every call is time-boxed: a Redis that stops answering fails the call (the sweep and the
        # submission report it) instead of holding a thread; above huey's 1 s blocking read.
        seconds = settings.queue_timeout_seconds
        pool = ConnectionPool.from_url(settings.queue, socket_timeout=seconds, socket_connect_timeout=seconds,
                                       health_check_interval=30)
        return RedisHuey(QUEUE_NAME, connection_pool=pool, results=False, utc=True)
    folder = Path(settings.state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=str(folder / SQLITE_FILE), results=False, utc=True)


def open_index(huey: Huey) -> BaseStorage:
    """The index of unfinished jobs (store.py): a second key-value space of huey's own storage."""
    storage = huey.storage
    if isinstance(storage, RedisStorage):
        return RedisStorage(OPEN_INDEX, connection_pool=storage.pool)
    assert isinstance(storage, SqliteStorage)
    return SqliteStorage(OPEN_INDEX, filename=storage.filename)


def has_state(settings: Settings) -> bool:
    """Whether the queue exists already: always for Redis; for the embedded queue, once its file
    does (it is made by the first job, so a server that never takes one writes nothing)."""
    return bool(settings.queue) or (Path(settings.state_dir) / SQLITE_FILE).exists()


class Engine:
    """Submits jobs (any process) and runs them (a process with a Runner: serve, or worker)."""

    def __init__(self, settings: Settings, metrics: Metrics, runner: Runner | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.runner = runner
        self.depth = 0  # jobs waiting in the queue, as the last sweep counted them
        self._finished: dict[str, int] = {}  # finished jobs kept, by state, as the last full count found
        self._next_full_count = 0.0
        self._opened: tuple[Huey, JobStore, Any] | None = None
        self._opening = threading.RLock()
        self._deferred: tuple[int, bool] | None = None
        self._consumer: Consumer | None = None
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def _open(self) -> tuple[Huey, JobStore, Any]:
        """huey, the job store and the task, made on first use; a deferred start happens then."""
        with self._opening:
            if self._opened is None:
                huey = make_huey(self.settings)
                self._opened = (huey, JobStore(huey.storage, open_index(huey), self.settings.job_retention),
                                huey.task(name=TASK)(self._run))
                if self._deferred is not None:
                    self._start(*self._deferred)
            return self._opened

    @property
    def huey(self) -> Huey:
        return self._open()[0]

    @property
    def store(self) -> JobStore:
        return self._open()[1]

    def find(self, job_id: str) -> Record | None:
        """The kept record of `job_id`, or None (without making the embedded queue's file)."""
        if self._opened is None and not has_state(self.settings):
            return None
        return self.store.get(job_id)

    def records(self) -> list[Record]:
        """Every kept record (none, without making the embedded queue's file, before the first job)."""
        if self._opened is None and not has_state(self.settings):
            return []
        return list(self.store.all())

    # -- submitting ----------------------------------------------------------------------------

    def submit(self, record: Record) -> None:
        _, store, task = self._open()
        store.put(record)
        task(record["id"])
        log.info("job %s submitted: %s %s, %d commands", record["id"], record["bucket"], record["key"],
                 len(record["items"]))

    # -- running -------------------------------------------------------------------------------

    def start(self, workers: int, *, embedded: bool) -> None:
        """huey's consumer with `workers` threads (none: only the sweep), and the sweep. Embedded
        (in `vframe serve`): the consumer's signal handlers are left to uvicorn, and with no queue
        yet, both start with the first job."""
        if embedded and self._opened is None and not has_state(self.settings):
            self._deferred = (workers, embedded)
            return
        self._open()
        with self._opening:
            self._start(workers, embedded)

    def _start(self, workers: int, embedded: bool) -> None:
        self._deferred = None
        if workers == 0:
            self.start_sweep()
            return
        consumer_class = _EmbeddedConsumer if embedded else Consumer
        self._consumer = consumer_class(self.huey, workers=workers, worker_type="thread", periodic=False,
                                        initial_delay=0.05, backoff=1.5, max_delay=0.5, check_worker_health=True)
        self.start_sweep()
        if embedded:
            self._consumer.start()

    def start_sweep(self) -> None:
        """The sweep, now and every half lease (a front end that runs no jobs sweeps too: it keeps
        the state gauges, and one more sweeper only finds lapsed jobs sooner)."""
        self._sweeper = threading.Thread(target=self._sweep_forever, name="vframe-job-sweep", daemon=True)
        self._sweeper.start()

    def run_forever(self) -> None:
        """`vframe worker`: huey's consumer loop in this (main) thread, until SIGINT or SIGTERM."""
        assert self._consumer is not None
        try:
            self._consumer.run()
        finally:
            self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._consumer is not None:
            self._consumer.stop(graceful=False)

    def _sweep_forever(self) -> None:
        interval = max(self.settings.job_lease_seconds / 2, 0.2)
        wait = 0.0
        while not self._stop.wait(wait):
            wait = interval
            try:
                self.sweep()
            except Exception:  # Redis away for a moment: the next sweep tries again
                log.exception("the job sweep failed")

    def sweep(self) -> None:
        """Queue again the unfinished jobs no consumer runs (lease lapsed, running or notifying, or
        waiting in no queue); count the states and the queue's depth. Only the index of unfinished
        jobs is read, but every FULL_COUNT_SECONDS every record is (expiry, the finished counts)."""
        now = time.time()
        huey, store, requeue = self._open()
        pending = huey.pending()
        self.depth = len(pending)
        queued = {message.args[0] for message in pending if message.args}
        if now >= self._next_full_count:  # the finished jobs' counts, and expiry: every record read
            self._finished = dict.fromkeys((STATES[code] for code in FINAL), 0)
            for record in store.all():
                if record["code"] in FINAL:
                    self._finished[STATES[record["code"]]] += 1
            self._next_full_count = now + FULL_COUNT_SECONDS
        states = {**dict.fromkeys(STATES.values(), 0), **self._finished}
        for record in store.unfinished():
            if record["code"] not in FINAL:
                states[STATES[record["code"]]] += 1
            lapsed = ((record["code"] == RUNNING or bool(record.get("notifying"))) and not _leased(record, now)
                      and record["id"] not in queued)
            lost = (record["code"] == WAITING and record["id"] not in queued
                    and record["updated"] < now - self.settings.job_lease_seconds)
            if lapsed or lost:
                fresh = store.get(record["id"])  # as it is now, not as the scan read it
                if fresh is None or fresh["code"] != record["code"] or fresh["lease_until"] != record["lease_until"]:
                    continue
                if fresh["code"] == RUNNING:
                    fresh["code"] = WAITING
                store.put(fresh)
                requeue(fresh["id"])
                log.warning("job %s queued again (%s)", fresh["id"], "its lease lapsed" if lapsed else "in no queue")
        for state, count in states.items():
            self.metrics.jobs.labels(state).set(count)

    def _run(self, job_id: str) -> None:
        """The huey task: run one job, holding its lease. Its final code is saved before the
        notifyURL is called (a receiver that asks prefop then sees what it was sent); a record
        still `notifying` after a crash is queued again by the sweep, for the notification only."""
        assert self.runner is not None, "this process only submits jobs"
        record = self.store.get(job_id)
        if record is None or (record["code"] in FINAL and not record.get("notifying")):
            return
        if _leased(record, time.time()):
            return  # queued twice (two sweeps at once): the consumer holding the lease runs it
        started = time.monotonic()
        lock = threading.Lock()
        lease = self.settings.job_lease_seconds

        def save() -> None:
            with lock:
                record["lease_until"] = time.time() + lease
                self.store.put(record)

        if record["code"] not in FINAL:
            record["code"] = RUNNING
            record["runs"] += 1
        save()
        log.info("job %s running, run %d", job_id, record["runs"])
        done = threading.Event()
        renewer = threading.Thread(target=_renew, args=(done, save, lease), name=f"vframe-lease-{job_id}", daemon=True)
        renewer.start()
        try:
            if record["code"] not in FINAL:
                try:
                    self.runner.run(record, save)
                    record["code"] = FAILED if any(item["code"] != DONE for item in record["items"]) else DONE
                except Exception:
                    log.exception("job %s failed", job_id)
                    record["code"] = FAILED
                record["notifying"] = bool(record["notifyURL"])
                save()
            if record.get("notifying"):
                if not notify(record["notifyURL"], qiniu_status(record), self.settings) and record["code"] == DONE:
                    record["code"] = NOTIFY_FAILED
                record["notifying"] = False
        finally:
            done.set()
            renewer.join()
        record["lease_until"] = 0.0
        self.store.put(record)
        code = record["code"]
        seconds = time.monotonic() - started
        self.metrics.job_seconds.observe(seconds)
        self.metrics.jobs_finished.labels(STATES[code]).inc()
        log.info("job %s code %d run %d %.2fs %s", job_id, code, record["runs"], seconds, record["key"])


def _leased(record: Record, now: float) -> bool:
    """Whether a consumer holds `record` now: running it, or calling its notifyURL."""
    return (record["code"] == RUNNING or bool(record.get("notifying"))) and record["lease_until"] > now


def _renew(done: threading.Event, save: Any, lease: float) -> None:
    """The lease, renewed every third of it until the job is done; a store away for a moment
    (Redis restarting) is tried again at the next turn, and past the lease another consumer may
    start the job again: at least once."""
    while not done.wait(lease / 3):
        try:
            save()
        except Exception:
            log.exception("a job's lease could not be renewed")


class _EmbeddedConsumer(Consumer):  # type: ignore[misc]
    def _set_signal_handlers(self) -> None:
        """uvicorn's, not huey's: `vframe serve` stops on SIGINT and SIGTERM as it always did."""
