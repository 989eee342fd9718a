"""`vframe worker`: huey's consumer against the shared queue (VFRAME_QUEUE=redis://...), running
jobs on a decode worker pool of its own, until SIGINT or SIGTERM. `vframe jobs list` and `vframe
jobs show ID`: the jobs kept in the queue's store (the same VFRAME_QUEUE or VFRAME_STATE_DIR)."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from ..errors import JobNotFound, QueueUnavailable
from ..metrics import Metrics
from ..settings import Settings
from ..sources import library
from .engine import Engine
from .outputs import bucket_of, target_for
from .runner import OwnPool, Runner
from .status import STATES, qiniu_status

log = logging.getLogger("vframe.jobs")


def worker(settings: Settings) -> int:
    from ..server import configure_logging

    configure_logging()
    if settings.job_workers == 0:
        raise ValueError("VFRAME_JOB_WORKERS must be at least 1 for a worker")
    videos = library(settings)
    metrics = Metrics()
    pool = OwnPool(settings, metrics)
    try:
        runner = Runner(settings, videos, target_for(settings, videos), bucket_of(settings), pool.make, metrics)
        engine = Engine(settings, metrics, runner)
        engine.start(settings.job_workers, embedded=False)
        print(f"vframe: worker running {settings.job_workers} jobs at a time from "
              f"{settings.queue or settings.state_dir}", flush=True)
        engine.run_forever()
    finally:
        pool.close()
    return 0


def jobs(settings: Settings, action: str, job_id: str | None) -> int:
    engine = Engine(settings, Metrics())
    try:
        records = [engine.find(job_id or "")] if action == "show" else engine.records()
    except Exception as error:
        log.warning("the job queue failed: %s: %s", type(error).__name__, error)
        raise QueueUnavailable() from None
    if action == "show":
        record = records[0]
        if record is None:
            raise JobNotFound()
        print(json.dumps({**qiniu_status(record), "record": record}, indent=2))
        return 0
    for record in sorted((record for record in records if record is not None), key=lambda record: record["created"]):
        created = datetime.fromtimestamp(record["created"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        done = sum(1 for item in record["items"] if item["code"] == 0)
        sys.stdout.write(f"{record['id']}  {STATES[record['code']]:<13} {created}  {done}/{len(record['items'])}  "
                         f"{record['bucket']}:{record['key']}\n")
    return 0
