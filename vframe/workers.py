"""Decoding off the event loop, in worker processes that may die without taking the server along.

Each worker is a process that makes one product (a frame, a sheet, a storyboard) at a time for
jobs sent down a pipe. The server
keeps one slot per worker: a slot takes the next job from a bounded queue (full: 429 at once),
hands it to its worker and watches it from a thread. A worker that crashes (a decoder segfault),
runs past the request's deadline or grows past its memory limit is killed and replaced, and only
its own request fails, with 599. Memory is capped twice: each worker limits its own address space
(RLIMIT_AS) to what it maps at start plus `worker_memory_mb`, so that an allocation past it fails
at once instead of growing the process, and its slot kills it if its resident memory passes that.
Workers are also replaced after `worker_max_jobs` frames, so that slow leaks in native libraries
cannot accumulate."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import resource
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import Any

from .errors import Busy, OutOfMemory, ProcessingFailed, VframeError
from .media import threads
from .metrics import Metrics
from .pipeline import grab, sample
from .probe import ProbeJob, probe_result
from .products import Links, Result
from .settings import Settings
from .sources import Source
from .spec import SampleSpec, Spec

log = logging.getLogger("vframe.workers")

_SPAWN = multiprocessing.get_context("spawn")  # a fresh interpreter: no copy of the server's threads or loop
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_WATCH_SECONDS = 0.02  # how often a slot looks at its busy worker's health
_GRACE_SECONDS = 1.0  # past the deadline, the worker's own deadline checks had their chance
_START_SECONDS = 60.0  # a worker that is not ready by then is broken
_IDLE_CHECK_SECONDS = 1.0  # how often an idle slot checks that its worker is still alive

CRASHED = "The decoder crashed on this video."


def past_deadline(seconds: float) -> str:
    return f"Making this frame ran past the deadline of {seconds:g} seconds."


@dataclass(frozen=True)
class Job:
    """A product to make: `spec` out of `source`."""

    source: Source
    spec: Spec | ProbeJob
    started: float  # time.monotonic() when the request arrived: its deadline runs from there
    links: Links | None = None  # how a storyboard names its sheets
    decoder_threads: int = 0  # 0: the settings' own
    each: bool = False  # a vsample's every frame as its own image (pfop's savePattern), not the sheet
    deadline_seconds: float = 0.0  # 0: the settings' own (a job's command has a deadline of its own)


Made = Result | tuple[Result, ...]  # one product, or each frame of a vsample


def _limit_address_space(extra_bytes: int) -> None:
    """Cap this process's address space at what it maps now (the interpreter, FFmpeg's and the
    other libraries, mostly never touched) plus `extra_bytes` for frames, buffers and threads."""
    with open("/proc/self/statm", "rb") as statm:
        mapped = int(statm.read().split()[0]) * _PAGE_BYTES
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    wanted = mapped + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (wanted if hard == resource.RLIM_INFINITY else min(wanted, hard), hard))


def _work(connection: Connection, settings: Settings) -> None:
    """A worker's life: make the product of each job that arrives, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the server's to handle, not ours
    _limit_address_space(settings.worker_memory_mb * 1024 * 1024)
    connection.send("ready")
    while True:
        try:
            job: Job = connection.recv()
        except (EOFError, OSError):  # the server closed the pipe or died
            return
        result: Made | VframeError
        try:
            job_settings = replace(settings, decoder_threads=job.decoder_threads) if job.decoder_threads else settings
            if job.deadline_seconds:
                job_settings = replace(job_settings, deadline_seconds=job.deadline_seconds)
            if isinstance(job.spec, ProbeJob):
                result = probe_result(job.source, job_settings)
            elif job.each:
                assert isinstance(job.spec, SampleSpec)
                result = tuple(frame for _, frame in sample(job.source, job.spec, job_settings, started=job.started))
            else:
                result = grab(job.source, job.spec, job_settings, started=job.started, links=job.links)
        except VframeError as error:
            result = error
        except MemoryError:  # an allocation past the address-space limit, outside FFmpeg
            result = OutOfMemory()
        except Exception:  # a failure we did not foresee: the request fails, the worker goes on
            log.exception("the pipeline failed on %s", job.spec)
            result = ProcessingFailed("The decoder failed on this video.")
        connection.send(result)


class Worker:
    """One decode process and the server's end of its pipe."""

    def __init__(self, settings: Settings) -> None:
        self.memory_limit = settings.worker_memory_mb * 1024 * 1024
        self.deadline_seconds = settings.deadline_seconds
        self.jobs = 0
        self.connection, child = _SPAWN.Pipe()
        self.process = _SPAWN.Process(target=_work, args=(child, settings), name="vframe-worker", daemon=True)
        self.process.start()
        child.close()
        if not self.connection.poll(_START_SECONDS) or self.connection.recv() != "ready":
            self.kill()
            raise RuntimeError("a decode worker did not start")

    @property
    def pid(self) -> int:
        return self.process.pid or 0

    def alive(self) -> bool:
        return self.process.is_alive()

    def resident_bytes(self) -> int:
        try:
            with open(f"/proc/{self.pid}/statm", "rb") as statm:
                return int(statm.read().split()[1]) * _PAGE_BYTES
        except (OSError, IndexError, ValueError):
            return 0

    def run(self, job: Job, kill_at: float) -> tuple[Made | VframeError, str | None]:
        """Blocking (a slot's thread): the job's result and, when the worker must be replaced, why."""
        self.jobs += 1
        try:
            self.connection.send(job)
        except OSError:
            return ProcessingFailed(CRASHED), "crash"
        while True:
            if self.connection.poll(_WATCH_SECONDS):
                try:
                    result: Made | VframeError = self.connection.recv()
                except (EOFError, OSError):
                    return ProcessingFailed(CRASHED), "crash"
                return result, None
            if not self.process.is_alive():
                return ProcessingFailed(CRASHED), "crash"
            if time.monotonic() > kill_at:
                return ProcessingFailed(past_deadline(job.deadline_seconds or self.deadline_seconds)), "deadline"
            if self.resident_bytes() > self.memory_limit:
                return OutOfMemory(), "memory"

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.connection.close()


@dataclass
class _Waiting:
    job: Job
    deadline: float  # time.monotonic() past which the request has failed
    queued_at: float
    future: asyncio.Future[Made]


class WorkerPool:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.size = settings.worker_count
        self._cores = threads.cores()
        self.busy = 0
        self.workers: list[Worker | None] = []
        self._queue: asyncio.Queue[_Waiting] = asyncio.Queue(settings.queue_size)
        self._threads = ThreadPoolExecutor(self.size, thread_name_prefix="vframe-slot")
        self._slots: list[asyncio.Task[None]] = []

    @property
    def ready(self) -> int:
        return sum(1 for worker in self.workers if worker is not None and worker.alive())

    @property
    def queued(self) -> int:
        return self._queue.qsize()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        starting = [loop.run_in_executor(self._threads, Worker, self.settings) for _ in range(self.size)]
        self.workers = list(await asyncio.gather(*starting))
        self._slots = [asyncio.create_task(self._serve(index)) for index in range(self.size)]

    async def close(self) -> None:
        for slot in self._slots:
            slot.cancel()
        for worker in self.workers:
            if worker is not None:
                worker.kill()
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def make(self, source: Source, spec: Spec | ProbeJob, started: float, links: Links | None = None) -> Result:
        """The product, made by the next free worker within the deadline that runs from `started`
        (time.monotonic() when the request arrived); Busy (429) at once when the queue is full."""
        made = await self.make_job(Job(source, spec, started, links))
        assert isinstance(made, Result)
        return made

    async def make_job(self, job: Job) -> Made:
        """What `job` asks for (each frame of a vsample with `each`), as `make` does."""
        deadline = job.started + (job.deadline_seconds or self.settings.deadline_seconds)
        future: asyncio.Future[Made] = asyncio.get_running_loop().create_future()
        waiting = _Waiting(job, deadline, time.monotonic(), future)
        try:
            self._queue.put_nowait(waiting)
        except asyncio.QueueFull:
            raise Busy() from None
        return await waiting.future

    async def _serve(self, index: int) -> None:
        """One slot: forever, the next waiting job to this slot's worker."""
        while True:
            try:
                waiting = await asyncio.wait_for(self._queue.get(), _IDLE_CHECK_SECONDS)
            except TimeoutError:  # idle: a worker that died meanwhile (the OOM killer...) is replaced now
                worker = self.workers[index]
                if worker is None or not worker.alive():
                    await self._replace(index, "crash")
                continue
            try:
                await self._serve_one(index, waiting)
            except Exception:  # a bug of ours must cost one request, not a slot
                log.exception("decode slot %d failed", index)
                if not waiting.future.done():
                    waiting.future.set_exception(ProcessingFailed())

    async def _serve_one(self, index: int, waiting: _Waiting) -> None:
        if waiting.future.done():  # its requester gave up
            return
        now = time.monotonic()
        self.metrics.queued_seconds.observe(now - waiting.queued_at)
        seconds = waiting.job.deadline_seconds or self.settings.deadline_seconds
        if now >= waiting.deadline:
            waiting.future.set_exception(ProcessingFailed(past_deadline(seconds)))
            return
        result, why = await self._run(index, waiting.job, waiting.deadline + _GRACE_SECONDS)
        if not waiting.future.done():
            if isinstance(result, VframeError):
                waiting.future.set_exception(result)
            else:
                waiting.future.set_result(result)
        if why is None:
            why = "memory" if isinstance(result, OutOfMemory) else self._retire_reason(index)
        if why is not None:
            await self._replace(index, why)

    async def _run(self, index: int, job: Job, kill_at: float) -> tuple[Made | VframeError, str | None]:
        worker = self.workers[index]
        if worker is None or not worker.alive():
            await self._replace(index, "crash")
            worker = self.workers[index]
            if worker is None:
                return ProcessingFailed("No decode worker could be started."), None
        job = replace(job, decoder_threads=self.settings.decoder_threads or self._decoder_threads())
        self.busy += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, worker.run, job, kill_at)
        finally:
            self.busy -= 1

    def _decoder_threads(self) -> int:
        """Threads for a job starting now: the idle cores (plus one, which keeps frame threads fed)
        when other jobs leave at least two, else one. Under load every core decodes a request of
        its own, which costs no thread hand-offs and no pictures held by threads."""
        return threads.threads_for(self._cores - self.busy)

    def _retire_reason(self, index: int) -> str | None:
        """Why a healthy worker that just finished should still be replaced, if it should."""
        worker = self.workers[index]
        if worker is None:
            return None
        if worker.resident_bytes() > worker.memory_limit:
            return "memory"
        if self.settings.worker_max_jobs and worker.jobs >= self.settings.worker_max_jobs:
            return "recycle"
        return None

    async def _replace(self, index: int, why: str) -> None:
        old = self.workers[index]
        self.workers[index] = None
        loop = asyncio.get_running_loop()
        if old is not None:
            await loop.run_in_executor(self._threads, old.kill)
            log.warning("decode worker %d replaced (%s)", old.pid, why)
        self.metrics.worker_restarts.labels(why).inc()
        try:
            self.workers[index] = await loop.run_in_executor(self._threads, Worker, self.settings)
        except Exception:  # the next job on this slot tries again
            log.exception("a decode worker could not be started")

    def status(self) -> dict[str, Any]:
        return {"workers": self.size, "workers_ready": self.ready, "busy": self.busy, "queued": self.queued}
