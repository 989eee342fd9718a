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

from ..metrics import Metrics
from ..settings import Settings
from .notify import notify
from .runner import Runner
from .status import DONE, FAILED, FINAL, NOTIFY_FAILED, RUNNING, STATES, WAITING, Record, qiniu_status
from .store import JobStore

log = logging.getLogger("vframe.jobs")
TASK = "vframe_job"
QUEUE_NAME = "vframe"


def make_huey(settings: Settings) -> Huey:
    if settings.queue:
        return RedisHuey(QUEUE_NAME, url=settings.queue, results=False, utc=True)
    folder = Path(settings.state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(QUEUE_NAME, filename=str(folder / "jobs.db"), results=False, utc=True)


class Engine:
    """Submits jobs (any process) and runs them (a process with a Runner: serve, or worker)."""

    def __init__(self, settings: Settings, metrics: Metrics, runner: Runner | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self.runner = runner
        self.huey = make_huey(settings)
        self.store = JobStore(self.huey.storage, settings.job_retention)
        self._task = self.huey.task(name=TASK)(self._run)
        self._consumer: Consumer | None = None
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    # -- submitting ----------------------------------------------------------------------------

    def submit(self, record: Record) -> None:
        self.store.put(record)
        self._task(record["id"])
        log.info("job %s submitted: %s %s, %d commands", record["id"], record["bucket"], record["key"],
                 len(record["items"]))

    def queue_depth(self) -> int:
        return int(self.huey.pending_count())

    # -- running -------------------------------------------------------------------------------

    def start(self, workers: int, *, embedded: bool) -> None:
        """huey's consumer with `workers` threads, and the sweep. Embedded (in `vframe serve`):
        the consumer's signal handlers are left to uvicorn."""
        consumer_class = _EmbeddedConsumer if embedded else Consumer
        self._consumer = consumer_class(self.huey, workers=workers, worker_type="thread", periodic=False,
                                        initial_delay=0.05, backoff=1.5, max_delay=0.5, check_worker_health=True)
        self.start_sweep()
        if embedded:
            self._consumer.start()

    def start_sweep(self) -> None:
        """The sweep, now and every half lease (a front end that runs no jobs sweeps too: it keeps
        the state gauges, and one more sweeper only finds lapsed jobs sooner)."""
        self.sweep()
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
        while not self._stop.wait(interval):
            try:
                self.sweep()
            except Exception:  # Redis away for a moment: the next sweep tries again
                log.exception("the job sweep failed")

    def sweep(self) -> None:
        """Queue again the jobs no consumer runs (lease lapsed, or waiting in no queue); count the states."""
        now = time.time()
        queued = {task.args[0] for task in self.huey.pending() if task.args}
        states = dict.fromkeys(STATES.values(), 0)
        for record in self.store.all():
            states[STATES[record["code"]]] += 1
            lapsed = record["code"] == RUNNING and record["lease_until"] < now
            lost = (record["code"] == WAITING and record["id"] not in queued
                    and record["updated"] < now - self.settings.job_lease_seconds)
            if lapsed or lost:
                fresh = self.store.get(record["id"])  # as it is now, not as the scan read it
                if fresh is None or fresh["code"] != record["code"] or fresh["lease_until"] != record["lease_until"]:
                    continue
                fresh["code"] = WAITING
                self.store.put(fresh)
                self._task(fresh["id"])
                log.warning("job %s queued again (%s)", fresh["id"], "its lease lapsed" if lapsed else "in no queue")
        for state, count in states.items():
            self.metrics.jobs.labels(state).set(count)

    def _run(self, job_id: str) -> None:
        """The huey task: run one job, holding its lease."""
        assert self.runner is not None, "this process only submits jobs"
        record = self.store.get(job_id)
        if record is None or record["code"] in FINAL:
            return
        if record["code"] == RUNNING and record["lease_until"] > time.time():
            return  # queued twice (two sweeps at once): the consumer holding the lease runs it
        started = time.monotonic()
        lock = threading.Lock()
        lease = self.settings.job_lease_seconds

        def save() -> None:
            with lock:
                record["lease_until"] = time.time() + lease
                self.store.put(record)

        record["code"] = RUNNING
        record["runs"] += 1
        save()
        log.info("job %s running, run %d", job_id, record["runs"])
        done = threading.Event()
        renewer = threading.Thread(target=_renew, args=(done, save, lease), name=f"vframe-lease-{job_id}", daemon=True)
        renewer.start()
        try:
            self.runner.run(record, save)
            failed = any(item["code"] != DONE for item in record["items"])
            code = FAILED if failed else DONE
            if record["notifyURL"]:
                status = qiniu_status({**record, "code": code})
                if not notify(record["notifyURL"], status, self.settings) and code == DONE:
                    code = NOTIFY_FAILED
        except Exception:
            log.exception("job %s failed", job_id)
            code = FAILED
        finally:
            done.set()
            renewer.join()
        record["code"] = code
        save()
        seconds = time.monotonic() - started
        self.metrics.job_seconds.observe(seconds)
        self.metrics.jobs_finished.labels(STATES[code]).inc()
        log.info("job %s code %d run %d %.2fs %s", job_id, code, record["runs"], seconds, record["key"])


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
