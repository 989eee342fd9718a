"""The decode worker pool of `vframe serve`, each test against a real server (vframe_testkit.live).

Proven here: a worker SIGKILLed in the middle of a request fails only that request (599, JSON) and
is replaced, the server process living on; a request past its deadline gets 599 and the server goes
on serving; a worker growing past `--worker-memory-mb` is killed (599, restart reason "memory");
a full queue answers 429 at once while the running decode goes on; identical concurrent requests
are decoded once; workers are recycled after `--worker-max-jobs` frames.

A slow request is the last frame of `heavy.mp4` (1080p noise, lossless, one GOP) decoded with one
decoder thread: every frame before it must be decoded first, which takes seconds. The tests never
assert durations: they wait for /-/healthz to show the decode running before acting, and compare
only the order of events that are seconds apart by construction."""

from __future__ import annotations

import functools
import io
import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from vframe_testkit import synth
from vframe_testkit.live import LiveServer, live_server

RESTARTS = "vframe_worker_restarts_total"
MEMORY_LIMIT_MB = 128  # an idle worker is ~60 MB here; a 4K frame to PNG needs ~220 MB
HEAVY_FRAMES = 32
MAGIC = {"jpg": b"\xff\xd8\xff", "png": b"\x89PNG\r\n\x1a\n", "webp": b"RIFF"}


class Videos:
    """The module's folder of videos; each is made the first time a test asks for it."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @functools.cached_property
    def small(self) -> synth.SynthVideo:
        """320x240, 48 frames at 24 fps: quick; each frame shows its index."""
        return synth.make_video(self.root / "small.mp4", frames=48, fps=24, gop=12, bframes=2)

    @functools.cached_property
    def heavy(self) -> synth.SynthVideo:
        """1920x1080 noise, lossless, one GOP: its last frame takes seconds with one decoder thread."""
        return synth.make_video(
            self.root / "heavy.mp4", frames=HEAVY_FRAMES, fps=24, width=1920, height=1080, gop=HEAVY_FRAMES,
            bframes=0, painter=_noise_painter(1920, 1080, HEAVY_FRAMES),
            options={"preset": "ultrafast", "crf": "0", "x264-params": "cabac=1"},
        )

    @functools.cached_property
    def big(self) -> synth.SynthVideo:
        """3840x2160, one GOP: decoding its last frame to PNG needs far more than MEMORY_LIMIT_MB."""
        return synth.make_video(self.root / "big.mp4", frames=24, fps=24, width=3840, height=2160, gop=24,
                                bframes=2, options={"preset": "ultrafast"})

    def make(self, *names: str) -> None:
        """Make the named videos now, before a test starts its server and clock."""
        for name in names:
            getattr(self, name)

    def small_url(self, offset: str, format: str = "jpg") -> str:
        return f"/small.mp4?vframe/{format}/offset/{offset}"

    @property
    def heavy_last(self) -> str:
        return f"/heavy.mp4?vframe/jpg/offset/{float(self.heavy.times[-1]):.3f}"


def _noise_painter(width: int, height: int, frames: int) -> Callable[[int, int, int], np.ndarray]:
    """Each frame's index over moving noise: costly to decode, so seconds for a few dozen frames."""
    noise = np.random.default_rng(7).integers(0, 48, (height, width + 7 * frames, 3), dtype=np.uint8)

    def paint(index: int, w: int, h: int) -> np.ndarray:
        picture = synth.index_pattern(index, w, h) // 4 * 3
        picture += noise[:, 7 * index: 7 * index + w]
        return picture

    return paint


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Videos:
    return Videos(tmp_path_factory.mktemp("workers"))


# -- helpers ---------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting until {what}")


def busy(server: LiveServer) -> bool:
    frames = server.health()["busy"]
    assert isinstance(frames, int)
    return frames >= 1


def get(server: LiveServer, url: str, timeout: float = 60) -> tuple[httpx.Response, float]:
    """GET on a client of its own (for threads); the response and when it arrived (monotonic)."""
    with httpx.Client(base_url=server.url, timeout=timeout) as client:
        response = client.get(url)
    return response, time.monotonic()


def assert_error(response: httpx.Response, status: int, word: str = "") -> str:
    """The contract's error shape: JSON {"error": one sentence}, X-Reqid, never cached."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers.get("x-reqid")
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str), body
    assert word in body["error"], body
    return str(body["error"])


def assert_frame(response: httpx.Response, video: synth.SynthVideo, offset: str, format: str = "jpg") -> None:
    """200 with the image of the frame shown at `offset`: its own painted index is read back."""
    assert response.status_code == 200, (response.status_code, response.text)
    assert response.content.startswith(MAGIC[format])
    expected = max(index for index, time in enumerate(video.times) if time <= Fraction(offset))
    picture = Image.open(io.BytesIO(response.content)).convert("RGB")
    assert picture.size == (video.width, video.height)
    assert synth.read_index(np.asarray(picture)) == expected
    assert response.headers["x-vframe-time"] == f"{float(video.times[expected]):.3f}"


def assert_serves(server: LiveServer, videos: Videos, offsets: tuple[str, ...] = ("0.5", "1.25", "1.9")) -> None:
    with server.client() as client:
        for offset in offsets:
            assert_frame(client.get(videos.small_url(offset)), videos.small, offset)


def pool_is_full(server: LiveServer, size: int) -> list[int]:
    """Wait for every worker to be ready; their pids."""
    health = server.wait_ready()
    assert health["workers"] == health["workers_ready"] == size, health
    pids = server.worker_pids()
    assert len(pids) == size, pids
    return pids


@contextmanager
def frozen(server: LiveServer) -> Iterator[None]:
    """The decode workers stopped (SIGSTOP) for the block, then resumed: a decode in progress lasts
    as long as the test needs, whatever the machine's load."""
    pids = server.worker_pids()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- tests -----------------------------------------------------------------------------------


def test_killed_worker_fails_only_its_request(videos: Videos) -> None:
    """SIGKILL of the workers mid-decode: 599 for that request, then 200s, new workers, same server."""
    videos.make("small", "heavy")
    with live_server(videos.root, "--workers", "2", "--decoder-threads", "1") as server:
        server_pid = server.process.pid
        before = pool_is_full(server, 2)
        crashes = server.metric(RESTARTS, 'reason="crash"')
        with ThreadPoolExecutor(1) as pool:
            slow = pool.submit(get, server, videos.heavy_last)
            wait_until(lambda: busy(server), "a worker is decoding")
            for pid in before:
                os.kill(pid, signal.SIGKILL)
            response, _ = slow.result()
        assert_error(response, 599, "crashed")
        assert_serves(server, videos)
        after = pool_is_full(server, 2)
        assert not set(after) & set(before), (before, after)
        assert server.metric(RESTARTS, 'reason="crash"') == crashes + 2  # the busy one, then the idle one
        assert server.process.poll() is None and server.process.pid == server_pid and alive(server_pid)
        assert_serves(server, videos, ("0.1",))


def test_workers_that_die_while_idle_are_replaced_without_a_request(videos: Videos) -> None:
    """The OOM killer takes idle workers: the pool notices by itself and /-/healthz recovers,
    so a readiness probe never takes the instance out for good."""
    videos.make("small")
    with live_server(videos.root, "--workers", "2") as server:
        before = pool_is_full(server, 2)
        crashes = server.metric(RESTARTS, 'reason="crash"')
        for pid in before:
            os.kill(pid, signal.SIGKILL)
        wait_until(lambda: server.metric(RESTARTS, 'reason="crash"') == crashes + 2, "both workers replaced")
        after = pool_is_full(server, 2)
        assert not set(after) & set(before), (before, after)
        assert_serves(server, videos, ("0.5",))


def test_deadline_gives_599_and_the_server_goes_on(videos: Videos) -> None:
    """--deadline-seconds 1 and a decode of seconds: 599 naming the deadline, then normal service."""
    videos.make("small", "heavy")
    with live_server(videos.root, "--workers", "1", "--decoder-threads", "1", "--deadline-seconds", "1") as server:
        with httpx.Client(base_url=server.url, timeout=15) as client:  # a hang fails here, not the suite
            response = client.get(videos.heavy_last)
        assert_error(response, 599, "deadline")
        pool_is_full(server, 1)
        assert_serves(server, videos)
        assert server.process.poll() is None


def test_worker_over_its_memory_limit_is_replaced(videos: Videos) -> None:
    """A 4K frame to PNG under --worker-memory-mb 128: 599 "memory", a new worker, normal service."""
    videos.make("small", "big")
    limit = MEMORY_LIMIT_MB * 1024 * 1024
    flags = ("--workers", "1", "--decoder-threads", "1", "--cache-bytes", "0", "--worker-memory-mb",
             str(MEMORY_LIMIT_MB))
    with live_server(videos.root, *flags) as server:
        [before] = pool_is_full(server, 1)
        idle = server.resident_bytes(before)
        assert idle < limit * 0.75, f"an idle worker already uses {idle / 2**20:.0f} MB: raise MEMORY_LIMIT_MB"
        restarts = server.metric(RESTARTS, 'reason="memory"')
        offset = f"{float(videos.big.times[-1]):.3f}"
        with server.client() as client:
            response = client.get(f"/big.mp4?vframe/png/offset/{offset}")
        assert_error(response, 599, "memory")
        [after] = pool_is_full(server, 1)  # the restart is counted before the new worker starts
        assert after != before
        assert server.metric(RESTARTS, 'reason="memory"') == restarts + 1
        assert server.resident_bytes(after) < limit
        assert_serves(server, videos)


def test_each_worker_caps_its_own_address_space(videos: Videos) -> None:
    """RLIMIT_AS of every worker: what it mapped at start plus --worker-memory-mb, so an allocation
    past that fails at once (a 599 for its request) rather than growing the process."""
    videos.make("small")
    with live_server(videos.root, "--workers", "2", "--worker-memory-mb", "300") as server:
        for pid in pool_is_full(server, 2):
            cap = re.search(r"^Max address space +(\d+)", Path(f"/proc/{pid}/limits").read_text(), re.MULTILINE)
            assert cap is not None, "the worker's address space is unlimited"
            mapped = int(Path(f"/proc/{pid}/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
            # What the worker mapped since it set its cap (answering "ready") is a few MB at most.
            assert 300 * 2**20 - 32 * 2**20 < int(cap.group(1)) - mapped <= 300 * 2**20, (cap.group(1), mapped)
        assert_serves(server, videos)


def test_full_queue_answers_429_at_once(videos: Videos) -> None:
    """One worker busy, queue of 2: of 7 more distinct requests 2 wait and 200, 5 get 429 before the
    running decode ends; then the server serves normally."""
    videos.make("small", "heavy")
    offsets = ("0.1", "0.3", "0.5", "0.7", "0.9", "1.1", "1.3")
    flags = ("--workers", "1", "--queue-size", "2", "--decoder-threads", "1")
    with live_server(videos.root, *flags) as server:
        with ThreadPoolExecutor(1 + len(offsets)) as pool:
            # The worker stopped before the first request reaches it: its decode cannot end while the
            # others arrive, however loaded the machine (stopped only once it was decoding, a decode
            # that ended in between let a third request in: seen once in CI).
            with frozen(server):
                slow = pool.submit(get, server, videos.heavy_last)
                wait_until(lambda: busy(server), "the worker has the first request")
                others = {offset: pool.submit(get, server, videos.small_url(offset)) for offset in offsets}
                wait_until(lambda: sum(future.done() for future in others.values()) >= 5, "the 429s")
            slow_response, slow_done = slow.result()
            answers = {offset: future.result() for offset, future in others.items()}
        assert slow_response.status_code == 200, slow_response.text
        rejected = [offset for offset, (response, _) in answers.items() if response.status_code == 429]
        served = [offset for offset, (response, _) in answers.items() if response.status_code == 200]
        assert len(rejected) == 5 and len(served) == 2, {o: r.status_code for o, (r, _) in answers.items()}
        for offset in rejected:
            response, done = answers[offset]
            assert_error(response, 429, "try again")
            assert done < slow_done  # answered at once, while the first decode was still running
        for offset in served:
            assert_frame(answers[offset][0], videos.small, offset)
        health = server.health()
        assert health["queued"] == 0 and health["busy"] == 0, health
        assert_serves(server, videos, offsets)
        pool_is_full(server, 1)


def test_identical_concurrent_requests_decode_once(videos: Videos) -> None:
    """Six identical uncached requests while the first is decoding: one decode, six equal bodies."""
    videos.make("heavy")
    url = f"/heavy.mp4?vframe/png/offset/{float(videos.heavy.times[HEAVY_FRAMES * 3 // 4]):.3f}"
    count = 6
    with live_server(videos.root, "--workers", "2", "--decoder-threads", "1") as server:
        decodes = server.metric("vframe_decode_seconds_count")
        misses = server.metric("vframe_cache_misses_total")
        hits = server.metric("vframe_cache_hits_total")
        with ThreadPoolExecutor(count) as pool:
            with frozen(server):  # stopped first: the decode cannot end before the others have arrived
                first = pool.submit(get, server, url)
                wait_until(lambda: busy(server), "a worker has the first request")
                rest = [pool.submit(get, server, url) for _ in range(count - 1)]
                wait_until(lambda: server.metric("vframe_cache_misses_total") == misses + count, "all six arrived")
            responses = [first.result()[0]] + [future.result()[0] for future in rest]
        assert [response.status_code for response in responses] == [200] * count
        assert len({response.content for response in responses}) == 1
        assert len({response.headers["x-reqid"] for response in responses}) == count
        # All of them arrived before the frame was made (no cache hit), yet it was decoded once.
        assert server.metric("vframe_cache_misses_total") == misses + count
        assert server.metric("vframe_cache_hits_total") == hits
        assert server.metric("vframe_decode_seconds_count") == decodes + 1


def test_worker_is_recycled_after_max_jobs(videos: Videos) -> None:
    """--worker-max-jobs 3: after 7 frames the worker was replaced twice, every answer a 200."""
    videos.make("small")
    offsets = ("0.1", "0.4", "0.7", "1.0", "1.3", "1.6", "1.9")
    flags = ("--workers", "1", "--worker-max-jobs", "3", "--cache-bytes", "0")
    with live_server(videos.root, *flags) as server:
        [first] = pool_is_full(server, 1)
        assert_serves(server, videos, offsets)
        [last] = pool_is_full(server, 1)
        assert last != first
        assert server.metric(RESTARTS, 'reason="recycle"') == 2
        for reason in ("crash", "deadline", "memory"):
            assert server.metric(RESTARTS, f'reason="{reason}"') == 0
