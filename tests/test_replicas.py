"""Several replicas behind nginx (issue 16, point 4): Debian's nginx with the shipped
deploy/nginx.conf (its marked lines pointed at 127.0.0.1), three `vframe serve` replicas sharing a
real Redis result store. A frame made through one replica is a store hit on the others (their
metrics say so); with a replica SIGKILLed during a bounded load, no client request is lost (nginx
tries the next replica); with Redis stopped, frames are still made and the store errors counted."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from vframe.signing import sign
from vframe_testkit import synth
from vframe_testkit.live import LiveServer, live_server, wait_for
from vframe_testkit.nginxserver import NOT_INSTALLED, Nginx, nginx_binary, run_nginx
from vframe_testkit.redisserver import NOT_INSTALLED as REDIS_NOT_INSTALLED
from vframe_testkit.redisserver import RedisServer, run_redis_server

pytestmark = [pytest.mark.skipif(nginx_binary() is None, reason=NOT_INSTALLED),
              pytest.mark.skipif(shutil.which("redis-server") is None, reason=REDIS_NOT_INSTALLED)]

FRAME = "/clip.mp4?vframe/jpg/offset/1/w/64"  # a width no other test here asks for
LOAD_REQUESTS = 240
LOAD_THREADS = 8


@dataclass
class Cluster:
    redis: RedisServer
    replicas: list[LiveServer]
    nginx: Nginx

    def total(self, name: str, labels: str) -> float:
        return sum(replica.metric(name, labels) for replica in self.replicas if replica.process.poll() is None)


def redis_entries(redis: RedisServer) -> int:
    reply = redis.command(b"DBSIZE")
    assert reply is not None and reply.startswith(b":"), reply
    return int(reply[1:])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("replicas")
    synth.make_video(folder / "clip.mp4", frames=96, fps=24, gop=24, width=320, height=240)
    with ExitStack() as stack:
        redis = stack.enter_context(run_redis_server())
        env = {"VFRAME_WORKERS": "1", "VFRAME_RESULT_STORE": redis.url, "VFRAME_STORE_TIMEOUT_SECONDS": "0.3"}
        replicas = [stack.enter_context(live_server(folder, env=env)) for _ in range(3)]
        ports = [int(urlsplit(replica.url).port or 0) for replica in replicas]
        yield Cluster(redis, replicas, stack.enter_context(run_nginx(ports)))


def test_a_frame_made_by_one_replica_is_a_store_hit_on_the_others(cluster: Cluster) -> None:
    alive = [replica for replica in cluster.replicas if replica.process.poll() is None]
    misses = {id(r): r.metric("vframe_store_misses_total", 'backend="redis"') for r in alive}
    hits = {id(r): r.metric("vframe_store_hits_total", 'backend="redis"') for r in alive}
    decodes = {id(r): r.metric("vframe_decode_seconds_count") for r in alive}
    entries = redis_entries(cluster.redis)
    with httpx.Client(base_url=cluster.nginx.url, timeout=30) as client:
        first = client.get(FRAME)
        assert first.status_code == 200, first.text
        assert first.headers["x-cache-status"] == "MISS"
        again = client.get(FRAME)
        assert again.headers["x-cache-status"] == "HIT" and again.content == first.content  # nginx's cache
    # The replica that made it stores it after answering: wait for the entry.
    wait_for(lambda: redis_entries(cluster.redis) > entries, "the frame's entry in Redis", 10)
    made = [r for r in alive if r.metric("vframe_store_misses_total", 'backend="redis"') == misses[id(r)] + 1]
    assert len(made) == 1, "one replica missed the store and made the frame"
    assert len(alive) >= 2
    for replica in alive:
        if replica is made[0]:
            continue
        with replica.client() as direct:
            shared = direct.get(FRAME)
        assert shared.status_code == 200 and shared.content == first.content
        assert shared.headers["etag"] == first.headers["etag"]
        assert replica.metric("vframe_store_hits_total", 'backend="redis"') == hits[id(replica)] + 1
        assert replica.metric("vframe_decode_seconds_count") == decodes[id(replica)], "it decoded nothing"


def test_plain_video_ranges_pass_through(cluster: Cluster) -> None:
    whole = (cluster.replicas[0].root / "clip.mp4").read_bytes()
    with httpx.Client(base_url=cluster.nginx.url, timeout=30) as client:
        part = client.get("/clip.mp4", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole)}"


def test_no_request_lost_when_a_replica_is_killed(cluster: Cluster) -> None:
    victim = cluster.replicas[2]
    statuses: list[int] = []
    done = threading.Event()
    lock = threading.Lock()
    counter = iter(range(LOAD_REQUESTS))

    def load() -> None:
        with httpx.Client(base_url=cluster.nginx.url, timeout=60) as client:
            for n in counter:
                # a new URI each time (nginx's cache cannot answer); a few offsets, so replicas share
                response = client.get(f"/clip.mp4?vframe/jpg/offset/{(n % 8) / 4:g}/w/{100 + n}")
                with lock:
                    statuses.append(response.status_code)
                    if len(statuses) == LOAD_REQUESTS // 4:
                        done.set()

    threads = [threading.Thread(target=load) for _ in range(LOAD_THREADS)]
    for thread in threads:
        thread.start()
    done.wait(60)
    workers = victim.worker_pids()
    os.kill(victim.process.pid, signal.SIGKILL)
    for pid in workers:  # its decode workers too, as a machine that dies takes them along
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    victim.process.wait(10)
    assert len(statuses) == LOAD_REQUESTS
    assert statuses.count(200) == LOAD_REQUESTS, {s: statuses.count(s) for s in set(statuses)}
    assert f'upstream: "{victim.url}/' in cluster.nginx.log(), "nginx met the dead replica (and tried the next)"


def test_redis_stopped_requests_still_succeed(cluster: Cluster) -> None:
    cluster.redis.stop()
    try:
        with httpx.Client(base_url=cluster.nginx.url, timeout=30) as client:
            answers = [client.get(f"/clip.mp4?vframe/jpg/offset/3/w/{90 + n}") for n in range(6)]
        assert [answer.status_code for answer in answers] == [200] * 6
        assert all(answer.headers["content-type"] == "image/jpeg" for answer in answers)
        assert cluster.total("vframe_store_errors_total", 'backend="redis",kind="connection"') >= 6
    finally:
        cluster.redis.start_again()


def test_signed_urls_through_nginx(tmp_path: Path) -> None:
    """With signing on, nginx passes the Host the client signed for the plain video as for a
    frame (a location of its own must not lose the server's headers), ranges go through, and a
    signed frame is cached no longer than its URL's deadline."""
    synth.make_video(tmp_path / "clip.mp4", frames=48, fps=24, gop=24, width=320, height=240)
    with live_server(tmp_path, "--workers", "1", "--signing-keys", "ak:sk") as replica, \
            run_nginx([int(urlsplit(replica.url).port or 0)]) as nginx:
        deadline = int(time.time()) + 60
        with httpx.Client(timeout=30) as client:
            part = client.get(sign(f"{nginx.url}/clip.mp4", "ak", "sk", deadline), headers={"Range": "bytes=0-99"})
            assert part.status_code == 206, part.text
            assert part.content == (tmp_path / "clip.mp4").read_bytes()[:100]
            frame = client.get(sign(f"{nginx.url}/clip.mp4?vframe/jpg/offset/1", "ak", "sk", deadline))
            assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg", frame.text
            max_age = int(frame.headers["cache-control"].rpartition("max-age=")[2])
            assert max_age <= deadline - int(time.time()) + 1
            unsigned = client.get(f"{nginx.url}/clip.mp4?vframe/jpg/offset/1")
            assert unsigned.status_code == 403  # not answered from nginx's cache of the signed one
