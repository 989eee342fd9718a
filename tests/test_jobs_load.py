"""A bounded job load, loopback only: 100 jobs from 4 submitters on each queue mode (embedded;
Redis with a `vframe worker`), tiny videos. Every job ends in the state it should (posters done,
an undecodable video failed), the queue drains, and the consumer's memory is flat (its process
group's resident bytes after the load against those after a warm-up, with a generous margin)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest

from vframe_testkit import synth
from vframe_testkit.jobs import Process, Qiniu, saveas, serve, undecodable_copy, wait_for, worker
from vframe_testkit.redisserver import RedisServer

SUBMITTERS, PER_SUBMITTER, WARM_UP = 4, 25, 12
POSTER = "vframe/jpg/offset/0.5/w/64/h/48"
MEMORY_MARGIN = 48 * 1024**2  # bytes the consumers' group may grow by between warm-up and the end


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("jobs-load")
    synth.make_video(folder / "v.mp4", frames=25, fps=25, gop=5, width=128, height=96)
    undecodable_copy(folder / "v.mp4", folder / "broken.mp4")
    return folder


SWEEP = {"VFRAME_JOB_LEASE_SECONDS": "10"}  # a sweep (and the depth gauge) every 5 s


@contextmanager
def mode(name: str, root: Path, tmp_path: Path, redis_server: RedisServer) -> Iterator[tuple[str, Process]]:
    """(the URL to submit to, the process group that runs the jobs)."""
    flags = ("--workers", "1", "--decoder-threads", "1")
    with ExitStack() as stack:
        if name == "embedded":
            env = {"VFRAME_STATE_DIR": str(tmp_path / "state"), "VFRAME_JOB_RETRIES": "1", **SWEEP}
            front = stack.enter_context(serve(root, *flags, "--job-workers", "2", env=env))
            yield front.url, front
            return
        redis_server.flush()
        env = {"VFRAME_QUEUE": redis_server.url, "VFRAME_JOB_RETRIES": "1", **SWEEP}
        front = stack.enter_context(serve(root, "--workers", "1", "--job-workers", "0", env=env))
        consumer = stack.enter_context(worker("--root", str(root), *flags, "--job-workers", "2", env=env))
        yield front.url, consumer


def submit_all(client: Qiniu, tag: str, count: int, submitters: int) -> dict[str, int]:
    """`count` jobs from `submitters` threads; job id -> the code it must end with (every 10th fails)."""
    def one(index: int) -> tuple[str, int]:
        key = "broken.mp4" if index % 10 == 9 else "v.mp4"
        job_id = client.submit(key, [POSTER + saveas(f"out/{tag}/{index}.jpg")])
        return job_id, 3 if key == "broken.mp4" else 0

    with ThreadPoolExecutor(submitters) as pool:
        return dict(pool.map(one, range(count)))


@pytest.mark.parametrize("name", ["embedded", "redis"])
def test_job_load(name: str, root: Path, tmp_path: Path, redis_server: RedisServer) -> None:
    with mode(name, root, tmp_path, redis_server) as (url, consumer):
        client = Qiniu(url)
        tag = f"{name}-{os.urandom(3).hex()}"
        warm = submit_all(client, tag + "-warm", WARM_UP, 2)
        assert {job_id: client.wait(job_id)["code"] for job_id in warm} == warm
        memory_before = consumer.group_resident_bytes()
        wanted = submit_all(client, tag, SUBMITTERS * PER_SUBMITTER, SUBMITTERS)
        assert len(wanted) == SUBMITTERS * PER_SUBMITTER
        codes = {job_id: client.wait(job_id, timeout=120)["code"] for job_id in wanted}
        assert codes == wanted
        # the gauge is the last sweep's count (every half lease): it reaches 0 once the queue has drained
        wait_for(lambda: "vframe_job_queue_depth 0.0" in httpx.get(f"{url}/-/metrics", timeout=10).text,
                 "the queue depth gauge at 0")
        memory_after = consumer.group_resident_bytes()
        assert memory_after < memory_before + MEMORY_MARGIN, (memory_before, memory_after)
    made = {path.name for path in (root / "out" / tag).iterdir()}
    assert made == {f"{index}.jpg" for index in range(SUBMITTERS * PER_SUBMITTER) if index % 10 != 9}
