"""A bounded load test of `vframe serve` over loopback (vframe_testkit.live): 480 requests from 16
concurrent clients, a seeded random mix of valid uncached frames (formats, sizes, rotations, fast
mode), cached repeats, HEAD, conditional requests, the videos themselves (whole and ranged),
malformed specs, unsupported formats, missing files, broken files, keys escaping the root and
other methods.

Proven: every response has the status its request calls for (frames also the right X-Vframe-Time,
type and size; errors the JSON shape), every response has its own X-Reqid, no worker had to be
killed, and at the end the server is alive with every worker ready and its memory back near where
it started: its RSS at most its RSS after a warm-up plus what the result cache grew by plus 64 MB,
and each worker under its memory limit."""

from __future__ import annotations

import io
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from vframe_testkit import synth
from vframe_testkit.live import LiveServer, live_server

CLIENTS = 16
REQUESTS = 480
SEED = 20240611
WORKERS = 2
WORKER_MEMORY_MB = 512
SLACK_BYTES = 64 * 1024 * 1024
SETTLE_SECONDS = 1.0
RESTARTS = "vframe_worker_restarts_total"

# name: make_video's arguments; all small, each frame shows its index
VIDEOS: dict[str, dict[str, Any]] = {
    "a.mp4": dict(codec="libx264", frames=48, fps=24, gop=12, bframes=2),
    "b.mkv": dict(codec="libx264", frames=75, fps=25, gop=25, bframes=3),
    "c.webm": dict(codec="libvpx-vp9", frames=60, fps=30, gop=15, bframes=0),
    "sub/d.mp4": dict(codec="libx264", frames=96, fps=24, gop=24, bframes=2, width=240, height=320),
}
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
MALFORMED = (
    "vframe/jpg/offset/-1", "vframe/jpg/offset/7s", "vframe/jpg/offset/1e3", "vframe/jpg/offset/nan",
    "vframe/jpg/offset/inf", "vframe/jpg/offset/", "vframe/jpg", "vframe/jpg/offset/1/w/0",
    "vframe/jpg/offset/1/offset/2", "vframe/jpg/offset/1/x/2", "vframe/jpg/offset/1/rotate/45",
    "vframe/jpg/offset/1/mode/slow", "vframe/jpg/offset/1/w/99999", "vframe", "frame/jpg/offset/1",
    "vframe/jpg/offset/1/w", "vframe/png/offset/0x10", "vframe/jpg/offset/1/w/3000/h/3000",
)
UNSUPPORTED_FORMATS = ("gif", "bmp", "tiff", "JPG", "heic")
MISSING = ("/nope.mp4", "/sub/nope.mkv", "/a.mp4/x", "/sub", "/sub/", "/A.MP4")
ESCAPES = (
    "/%2e%2e/etc/passwd", "/sub/%2e%2e/a.mp4", "/%2e%2e%2fetc%2fpasswd", "/%2fetc%2fpasswd", "/a.mp4%00",
    "/.hidden.mp4", "/sub/.hidden.mp4", "/-/secret", "/sub%5c..%5ca.mp4", "/%252e%252e/a.mp4",
)
OTHER_METHODS = ("POST", "PUT", "DELETE", "PATCH", "OPTIONS")


@dataclass(frozen=True)
class Root:
    path: Path
    videos: dict[str, synth.SynthVideo]
    cut_fast: synth.SynthVideo  # the source of cut-fast.mp4: its times


@dataclass
class Call:
    """One request and what its response must be."""

    kind: str
    method: str
    url: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    frame_time: str | None = None  # X-Vframe-Time of a frame
    format: str | None = None
    size: tuple[int, int] | None = None  # the image's size when it is known exactly
    length: int | None = None  # the body's length (the video, a range)


@dataclass
class Answer:
    call: Call
    status: int
    reqid: str
    problems: list[str]


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Root:
    folder = tmp_path_factory.mktemp("load")
    (folder / "sub").mkdir()
    videos = {name: synth.make_video(folder / name, **kwargs) for name, kwargs in VIDEOS.items()}
    (folder / ".hidden.mp4").write_bytes((folder / "a.mp4").read_bytes())
    (folder / "sub" / ".hidden.mp4").write_bytes((folder / "a.mp4").read_bytes())
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "text.mp4").write_text("This is not a video.\n" * 50)
    sources = tmp_path_factory.mktemp("load-sources")
    whole = synth.make_video(sources / "whole.mp4", frames=72, fps=24, gop=24, bframes=2)
    synth.remux_faststart(whole.path, sources / "faststart.mp4")
    data = (sources / "faststart.mp4").read_bytes()
    (folder / "cut-fast.mp4").write_bytes(data[: len(data) // 2])  # the index and the first half of the frames
    data = videos["a.mp4"].path.read_bytes()
    (folder / "cut-end.mp4").write_bytes(data[: len(data) // 2])  # the index was at the end: gone
    return Root(folder, videos, whole)


def shown_at(video: synth.SynthVideo, offset: Fraction) -> int:
    """The index of the frame shown at `offset`: the last one at or before it (the last one past the end)."""
    return max((index for index, time in enumerate(video.times) if time <= offset), default=0)


def frame_call(root: Root, rng: random.Random, kind: str = "fresh") -> Call:
    """A valid frame request for a random video, offset, format, size, rotation and mode."""
    name = rng.choice(sorted(root.videos))
    video = root.videos[name]
    duration = float(video.times[-1])
    offset_ms = rng.randrange(0, int(duration * 1000) + 600)
    offset = f"{offset_ms / 1000:g}"
    format = rng.choice(("jpg", "png", "webp"))
    spec = f"vframe/{format}/offset/{offset}"
    index = shown_at(video, Fraction(offset_ms, 1000))
    if rng.random() < 0.2:
        spec += "/mode/fast"
        index = index // VIDEOS[name]["gop"] * VIDEOS[name]["gop"]
    size: tuple[int, int] | None = (video.width, video.height)
    rotate = rng.choice(("auto", "auto", "0", "90", "180", "270"))
    if rotate != "auto":
        spec += f"/rotate/{rotate}"
        if rotate in ("90", "270"):
            size = (video.height, video.width)
    shape = rng.choice(("native", "w", "h", "wh"))
    if shape == "w":
        spec += f"/w/{rng.randrange(16, 400)}"
        size = None
    elif shape == "h":
        spec += f"/h/{rng.randrange(16, 400)}"
        size = None
    elif shape == "wh":
        size = (rng.randrange(16, 400), rng.randrange(16, 400))
        spec += f"/w/{size[0]}/h/{size[1]}"
    return Call(kind, "GET", f"/{name}?{spec}", 200, frame_time=f"{float(video.times[index]):.3f}", format=format,
                size=size)


def plan(root: Root, cached: list[Call], etags: dict[str, str], rng: random.Random) -> list[Call]:
    """REQUESTS calls: a seeded mix of every kind, shuffled."""
    a_size = root.videos["a.mp4"].path.stat().st_size
    first, last = root.cut_fast.times[0], root.cut_fast.times[-1]
    kinds: list[tuple[int, Callable[[], Call]]] = [
        (30, lambda: frame_call(root, rng)),
        (14, lambda: rng.choice(cached)),
        (6, lambda: _head(rng.choice(cached + [frame_call(root, rng)]))),
        (4, lambda: _conditional(rng.choice(cached), etags)),
        (3, lambda: Call("video", "GET", "/a.mp4", 200, length=a_size)),
        (3, lambda: Call("range", "GET", "/a.mp4", 206, {"Range": "bytes=100-1099"}, length=1000)),
        (10, lambda: Call("malformed", "GET", f"/a.mp4?{rng.choice(MALFORMED)}", 400)),
        (6, lambda: Call("format", "GET", f"/b.mkv?vframe/{rng.choice(UNSUPPORTED_FORMATS)}/offset/1", 415)),
        (6, lambda: Call("missing", "GET", f"{rng.choice(MISSING)}?vframe/jpg/offset/1", 404)),
        (3, lambda: Call("broken", "GET", "/empty.mp4?vframe/jpg/offset/0", 415)),
        (3, lambda: Call("broken", "GET", "/text.mp4?vframe/png/offset/1", 415)),
        (3, lambda: Call("broken", "GET", f"/cut-end.mp4?vframe/jpg/offset/{rng.randrange(0, 1900) / 1000:g}", 415)),
        (3, lambda: Call("broken", "GET", f"/cut-fast.mp4?vframe/jpg/offset/{float(last):.3f}", 599)),
        (2, lambda: Call("broken", "GET", "/cut-fast.mp4?vframe/jpg/offset/0", 200, frame_time=f"{float(first):.3f}",
                         format="jpg", size=(root.cut_fast.width, root.cut_fast.height))),
        (6, lambda: Call("escape", "GET", f"{rng.choice(ESCAPES)}?vframe/jpg/offset/1", 404)),
        (5, lambda: Call("method", rng.choice(OTHER_METHODS), "/a.mp4?vframe/jpg/offset/1", 405)),
        (2, lambda: Call("health", "GET", "/-/healthz", 200)),
    ]
    weights = [weight for weight, _ in kinds]
    calls = [rng.choices(kinds, weights)[0][1]() for _ in range(REQUESTS)]
    for _, make in kinds:  # every kind at least once, whatever the draw
        calls.append(make())
    rng.shuffle(calls)
    return calls


def _head(call: Call) -> Call:
    return Call("head", "HEAD", call.url, 200, frame_time=call.frame_time, format=call.format)


def _conditional(call: Call, etags: dict[str, str]) -> Call:
    return Call("conditional", "GET", call.url, 304, {"If-None-Match": etags[call.url]})


def check(call: Call, response: httpx.Response) -> list[str]:
    """What is wrong with `response` for `call`, beyond its status (checked by the caller)."""
    problems = []
    headers = response.headers
    if call.frame_time is not None and headers.get("x-vframe-time") != call.frame_time:
        problems.append(f"X-Vframe-Time {headers.get('x-vframe-time')}, expected {call.frame_time}")
    if call.format is not None and headers.get("content-type") != MEDIA_TYPES[call.format]:
        problems.append(f"Content-Type {headers.get('content-type')}")
    if call.method == "HEAD":
        if response.content or int(headers.get("content-length", "0")) <= 0:
            length = headers.get("content-length")
            problems.append(f"HEAD: body of {len(response.content)} bytes, Content-Length {length}")
    elif call.size is not None and response.status_code == 200:
        size = Image.open(io.BytesIO(response.content)).size
        if size != call.size:
            problems.append(f"image {size}, expected {call.size}")
    if call.length is not None and len(response.content) != call.length:
        problems.append(f"body of {len(response.content)} bytes, expected {call.length}")
    if call.status >= 400:
        try:
            body = response.json()
        except ValueError:
            body = None
        if headers.get("content-type") != "application/json" or not isinstance(body, dict) or list(body) != ["error"]:
            problems.append(f"not a JSON error: {headers.get('content-type')} {response.content[:40]!r}")
        if headers.get("cache-control") != "no-store":
            problems.append(f"Cache-Control {headers.get('cache-control')}")
        if call.status == 405 and headers.get("allow") != "GET, HEAD":
            problems.append(f"Allow {headers.get('allow')}")
    return problems


def run(server: LiveServer, calls: list[Call], clients: int) -> list[Answer]:
    """The calls from `clients` threads, each with its own connection, taking the next call when free."""
    todo: queue.SimpleQueue[Call] = queue.SimpleQueue()
    for call in calls:
        todo.put(call)
    answers: list[Answer] = []
    failures: list[str] = []

    def client() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            while True:
                try:
                    call = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    response = http.request(call.method, call.url, headers=call.headers)
                except httpx.HTTPError as error:
                    failures.append(f"{call.method} {call.url}: {error!r}")
                    continue
                problems = check(call, response)
                answers.append(Answer(call, response.status_code, response.headers.get("x-reqid", ""), problems))

    threads = [threading.Thread(target=client, name=f"client-{index}") for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, "\n".join(failures)
    return answers


def memory(server: LiveServer) -> tuple[int, list[int]]:
    """The server's RSS and its workers' (bytes)."""
    return server.resident_bytes(), [server.resident_bytes(pid) for pid in server.worker_pids()]


def test_load(root: Root) -> None:
    """480 requests of every kind from 16 clients: each answered as it should be; the server alive,
    its workers all ready and never killed, its memory back near where it started."""
    rng = random.Random(SEED)
    flags = ("--workers", str(WORKERS), "--worker-memory-mb", str(WORKER_MEMORY_MB))
    with live_server(root.path, *flags) as server:
        # Warm-up: some of each kind, so that first-use allocations are in the starting figure.
        cached = [frame_call(root, rng, "cached") for _ in range(8)]
        etags: dict[str, str] = {}
        with server.client() as http:
            for call in cached:
                response = http.get(call.url)
                assert response.status_code == 200 and not check(call, response), (call, response.text)
                etags[call.url] = response.headers["etag"]
        warm_up = plan(root, cached, etags, random.Random(SEED + 1))[:60]
        warm = run(server, warm_up, 4)
        assert [a.status for a in warm] == [a.call.status for a in warm]
        time.sleep(SETTLE_SECONDS)
        server_start, workers_start = memory(server)
        cache_start = int(server.metric("vframe_cache_bytes"))

        calls = plan(root, cached, etags, rng)
        answers = run(server, calls, CLIENTS)

        assert len(answers) == len(calls)
        wrong = [a for a in answers if a.status != a.call.status or a.problems]
        assert not wrong, f"{len(wrong)} of {len(answers)} responses are wrong:\n" + "\n".join(
            f"  {a.call.kind}: {a.call.method} {a.call.url} -> {a.status} (expected {a.call.status}) {a.problems}"
            for a in wrong
        )
        reqids = [a.reqid for a in answers + warm]
        assert all(reqids), "a response without X-Reqid"
        assert len(set(reqids)) == len(reqids), "X-Reqid repeated"
        statuses = {a.status for a in answers}
        assert statuses == {200, 206, 304, 400, 404, 405, 415, 599}, statuses

        health = server.wait_ready(timeout=30)
        assert health["status"] == "ok" and health["workers_ready"] == WORKERS, health
        assert server.process.poll() is None
        for reason in ("crash", "deadline", "memory"):
            assert server.metric(RESTARTS, f'reason="{reason}"') == 0, (reason, server.log()[-3000:])
        time.sleep(SETTLE_SECONDS)
        server_end, workers_end = memory(server)
        cache_end = int(server.metric("vframe_cache_bytes"))
        mb = 1024 * 1024
        figures = (
            f"server RSS {server_start / mb:.1f} MB after warm-up -> {server_end / mb:.1f} MB after {len(answers)} "
            f"requests (result cache {cache_start / mb:.1f} -> {cache_end / mb:.1f} MB); workers "
            f"{[round(w / mb, 1) for w in workers_start]} -> {[round(w / mb, 1) for w in workers_end]} MB"
        )
        print(figures)
        assert server_end <= server_start + (cache_end - cache_start) + SLACK_BYTES, figures
        assert len(workers_end) == WORKERS, figures
        assert all(rss < WORKER_MEMORY_MB * mb for rss in workers_end), figures
