"""The jobs section of bench.py (issue 15): pfop jobs per second and seconds per job, for posters
and for 60-tile storyboards, next to the synchronous figure for the same work.

* posters      - `vframe/jpg/offset/<T>/w/480/h/270` of the 20 s 1080p H.264 video, a distinct T
                 each (POSTERS jobs; fewer with --quick);
* storyboards  - `vsample/jpg/ss/<S>/interval/2/s/160x90` of the 120 s 1080p video: 60 tiles, a
                 distinct S each (a few ms apart, so that nothing comes from a cache);

each made three ways, with 2 decode workers in all:

* synchronous  - GETs to a `vframe serve --workers 2`, 2 clients at a time (the response is the work);
* embedded     - pfop to a `vframe serve --workers 2 --job-workers 2` (its SQLite queue, its own pool);
* redis        - pfop to a `vframe serve --job-workers 0`, run by 2 `vframe worker --workers 1
                 --job-workers 1` on Debian's redis-server (started here on 127.0.0.1).

Jobs are submitted with the Qiniu SDK, all at once, and polled every 50 ms: jobs per second is
count / (the last one done - the first submitted); seconds per job is the median from submission to
the first poll that saw it done (so up to 50 ms high). Each job writes with saveas into a folder.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from videos import BY_NAME, STORYBOARD_1080P

from vframe.signing import sign
from vframe_testkit import system
from vframe_testkit.jobs import ACCESS_KEY, SECRET_KEY, Qiniu, saveas, serve, worker
from vframe_testkit.redisserver import run_redis_server

POSTERS = (24, 8)  # full, quick
STORYBOARDS = (6, 2)
MODES = ("synchronous", "embedded", "redis")


@dataclass
class Run:
    work: str
    mode: str
    count: int
    wall_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    failures: int = 0

    @property
    def per_second(self) -> float:
        return self.count / self.wall_s if self.wall_s else 0.0

    @property
    def median_s(self) -> float:
        return statistics.median(self.latencies_s) if self.latencies_s else 0.0


def specs(work: str, count: int) -> list[str]:
    """`count` distinct specs of the same cost (nothing comes from a cache)."""
    if work == "posters":
        return [f"vframe/jpg/offset/{1 + index * 0.7:.2f}/w/480/h/270" for index in range(count)]
    return [f"vsample/jpg/ss/{index * 0.04:.2f}/interval/2/s/160x90" for index in range(count)]


def key_of(work: str) -> str:
    return BY_NAME["1080p H.264"].path.name if work == "posters" else STORYBOARD_1080P.path.name


def run_sync(url: str, work: str, count: int) -> Run:
    run = Run(work, "synchronous", count)
    key = key_of(work)
    texts = specs(work, count)

    def one(text: str) -> float:
        target = sign(f"{url}/{key}?{text}", ACCESS_KEY, SECRET_KEY, int(time.time()) + 3600)
        started = time.perf_counter()
        response = httpx.get(target, timeout=300)
        if response.status_code != 200:
            run.failures += 1
        return time.perf_counter() - started

    started = time.perf_counter()
    with ThreadPoolExecutor(2) as pool:
        run.latencies_s = list(pool.map(one, texts))
    run.wall_s = time.perf_counter() - started
    return run


def run_jobs(url: str, work: str, mode: str, count: int, tag: str) -> Run:
    run = Run(work, mode, count)
    client = Qiniu(url)
    key = key_of(work)
    started = time.perf_counter()
    submitted: dict[str, float] = {}
    for index, spec in enumerate(specs(work, count)):
        submitted[client.submit(key, [spec + saveas(f"bench-jobs/{tag}/{work}-{index}.jpg")])] = (
            time.perf_counter())
    waiting = dict(submitted)
    end = time.perf_counter() + 600
    while waiting and time.perf_counter() < end:
        for job_id in list(waiting):
            status = client.status(job_id)
            if status["code"] in (0, 3, 4):
                run.latencies_s.append(time.perf_counter() - waiting.pop(job_id))
                run.failures += status["code"] != 0
        time.sleep(0.05)
    run.failures += len(waiting)
    run.wall_s = time.perf_counter() - started
    return run


def bench_jobs(root: Path, quick: bool) -> list[Run]:
    """Every work in every mode; redis left out (said so) when redis-server cannot be had."""
    counts = {"posters": POSTERS[quick], "storyboards": STORYBOARDS[quick]}
    runs: list[Run] = []
    have_redis = system.ensure("redis-server", "redis-server") is not None
    try:
        _bench(root, counts, have_redis, runs)
    finally:
        shutil.rmtree(root / "bench-jobs", ignore_errors=True)
    return runs


def _bench(root: Path, counts: dict[str, int], have_redis: bool, runs: list[Run]) -> None:
    with tempfile.TemporaryDirectory(prefix="vframe-bench-jobs-") as state, ExitStack() as stack:
        env = {"VFRAME_STATE_DIR": state}
        sync = stack.enter_context(serve(root, "--workers", "2", "--job-workers", "0", env=env))
        for work, count in counts.items():
            runs.append(run_sync(sync.url, work, count))
        stack.close()
        with serve(root, "--workers", "2", "--job-workers", "2", env=env) as embedded:
            for work, count in counts.items():
                runs.append(run_jobs(embedded.url, work, "embedded", count, f"embedded-{time.time_ns()}"))
        if not have_redis:
            print("!!! redis-server is missing: the redis figures are left out")
            return
        with run_redis_server() as redis, ExitStack() as workers:
            env = {"VFRAME_QUEUE": redis.url}
            front = workers.enter_context(serve(root, "--workers", "1", "--job-workers", "0", env=env))
            for _ in range(2):
                workers.enter_context(worker("--root", str(root), "--workers", "1", "--job-workers", "1", env=env))
            for work, count in counts.items():
                runs.append(run_jobs(front.url, work, "redis", count, f"redis-{time.time_ns()}"))


def print_jobs(runs: list[Run]) -> None:
    print(f"{'work':<12} {'mode':<12} {'jobs':>5} {'jobs/s':>8} {'s/job (median)':>15} {'vs sync':>8} failures")
    sync = {run.work: run for run in runs if run.mode == "synchronous"}
    for run in runs:
        base = sync.get(run.work)
        ratio = f"{run.per_second / base.per_second:.2f}x" if base and base.per_second and run is not base else ""
        print(f"{run.work:<12} {run.mode:<12} {run.count:>5} {run.per_second:>8.2f} {run.median_s:>15.3f} "
              f"{ratio:>8} {run.failures}")


def record(runs: list[Run]) -> list[dict[str, Any]]:
    return [{"work": run.work, "mode": run.mode, "count": run.count, "wall_s": run.wall_s,
             "jobs_per_s": run.per_second, "median_s": run.median_s, "failures": run.failures} for run in runs]


if __name__ == "__main__":
    import argparse

    from videos import CACHE_DIR, ensure

    parser = argparse.ArgumentParser(description="bench.py's jobs section alone")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    ensure(BY_NAME["1080p H.264"])
    ensure(STORYBOARD_1080P)
    print_jobs(bench_jobs(CACHE_DIR, args.quick))
