"""Persistent processing: Qiniu's pfop / prefop / saveas on a real job queue (huey: a SQLite file
embedded in `vframe serve`, or Redis shared by `vframe worker` on many machines).

    api      the routes: POST /pfop/, GET /status/get/prefop
    auth     Qiniu management tokens (QBox, Qiniu) against VFRAME_SIGNING_KEYS
    fops     the commands of a job and where each writes (saveas, savePattern)
    status   a job's record and Qiniu's status JSON of it
    store    the records, in the queue's own storage
    engine   huey's queue and consumer, leases and the sweep (at least once)
    runner   one job's commands through the decode worker pool, with retries
    outputs  atomic writes to the folder, S3 or VFRAME_OUTPUT
    notify   the final status POSTed to notifyURL
    cli      `vframe worker`, `vframe jobs list|show`"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from .api import PATHS as JOB_PATHS
from .api import JobsApi
from .auth import NO_KEYS
from .engine import Engine
from .outputs import NoOutput, Target, bucket_of, target_for
from .runner import Runner, on_loop

if TYPE_CHECKING:
    from ..server import Service
    from ..workers import WorkerPool


class Jobs:
    """The jobs side of one `vframe serve`: the routes, and (unless VFRAME_JOB_WORKERS=0) the
    embedded consumer, which runs jobs on the service's own decode worker pool."""

    def __init__(self, service: Service, target: Target) -> None:
        settings = service.settings
        self.settings = settings
        self.bucket = bucket_of(settings)
        self.target = target
        self.service = service
        self.engine = Engine(settings, service.metrics)
        self.api = JobsApi(settings, service.library, self.engine, self.bucket, service._lookups)
        # as the last sweep counted: a scrape never waits on the queue's storage
        service.metrics.gauge("vframe_job_queue_depth", "Jobs waiting in the job queue.", lambda: self.engine.depth)

    def start(self, pool: WorkerPool, loop: asyncio.AbstractEventLoop) -> None:
        if self.settings.job_workers:
            self.engine.runner = Runner(self.settings, self.service.library, self.target, self.bucket,
                                        on_loop(pool, loop), self.service.metrics)
        self.engine.start(self.settings.job_workers, embedded=True)

    def stop(self) -> None:
        self.engine.stop()


def jobs_of(service: Service) -> Jobs | str:
    """The service's jobs when it can take them, else why not (what /pfop/ answers, with 403):
    it needs signing keys to check management tokens against, and somewhere to write."""
    if not service.settings.signing_keys.strip():
        return NO_KEYS
    try:
        target = target_for(service.settings, service.library)
    except NoOutput as error:
        return str(error)
    return Jobs(service, target)


__all__ = ["JOB_PATHS", "Jobs", "jobs_of"]
