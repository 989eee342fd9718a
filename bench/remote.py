"""The remote figure of bench.py: one frame of a large video behind an HTTP origin, what it costs the
origin (bytes and requests, counted by the origin) and how long it takes, for vframe and for
`ffmpeg -ss T -i http://...` reading the same URL in the same run.

The video: a 4 s clip (1280x720, 24 fps, a keyframe every 48 frames, 2 B-frames, grainy so that a
frame weighs ~200 kB; each frame shows its index, vframe.synth) encoded once, then its packets muxed
again and again with shifted timestamps (no re-encoding) until the file passes 200 MB: 44 s of
video, once with the index (moov) last, FFmpeg's default, and once with it first (faststart).
Both are cached in bench/cache.

The origin: a small HTTP/1.1 server (this file run as `python bench/remote.py origin FOLDER`, in its
own process so that it takes no CPU or GIL from the peers) serving the folder with HEAD, byte
ranges (`bytes=A-B`, `bytes=A-`, `bytes=-N`), a strong ETag and If-Match, like a web server or a CDN.
It counts every request and the body bytes it wrote. vframe asks for closed ranges; ffmpeg asks
for open-ended ones (`bytes=A-`) and closes the connection when it has read enough, so what the
origin wrote for it includes what sat in the sockets' buffers when it did: what an origin would
send (and bill). ffmpeg's own count of the bytes it read (its AVIOContext statistics, logged at
`-loglevel verbose`) is printed beside it.

Peers, on the same seeded offsets spread over each video, interleaved offset by offset:

* vframe          - `vframe.grab("http://127.0.0.1:PORT/big.mp4", "vframe/jpg/offset/T/w/480/h/360",
                    Settings(allow_private_urls=1, origin_cache_bytes=0))` in this process, default
                    block size, warm (one grab of another offset first); nothing is kept between
                    grabs, so each costs what a first frame of the video does;
* ffmpeg          - `ffmpeg -ss T -i http://127.0.0.1:PORT/big.mp4 -frames:v 1 -vf scale=480:360 -y
                    out.jpg`, a process per frame;
* vframe serve    - `vframe serve --origin http://127.0.0.1:PORT/ --origin-cache-bytes 0`, asked over
                    HTTP by one client; every offset is a different frame, so its cache never hits;
* vframe kept     - the library with its default settings: the bytes earlier grabs of the same
                    video fetched (its index, at least) are kept, as a decode worker keeps them for
                    its next request; its budget has no index.

For each: median and p90 wall time, median bytes and requests the origin counted, and ratios to
ffmpeg's. The pictures are checked: vframe's must equal the grab of the local file, byte for byte;
ffmpeg's painted index is read back (it returns the first frame at or after T, vframe the one shown
at T). Times are noisy and never asserted.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field, replace
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import av
import httpx
import numpy as np
from PIL import Image

import vframe
from vframe_testkit import synth
from vframe_testkit.live import end_by_stdin
from vframe_testkit.stats import p90

WIDTH, HEIGHT, FPS, GOP = synth.LARGE_WIDTH, synth.LARGE_HEIGHT, synth.LARGE_FPS, synth.LARGE_GOP
BFRAMES, CLIP_FRAMES, NOISE = synth.LARGE_BFRAMES, synth.LARGE_CLIP_FRAMES, synth.LARGE_NOISE
MIN_BYTES = 200 * 1000**2
LAYOUTS = {"moov last": {}, "faststart": {"movflags": "faststart"}}
OUT_SIZE = (480, 360)
SEED = 20240601
OFFSETS = (6, 3)  # a video: full, quick
PEERS = ("ffmpeg", "vframe", "vframe serve", "vframe kept")
CHUNK = 256 * 1024  # the origin writes bodies in pieces of this size
Serve = Callable[..., AbstractContextManager[Any]]  # bench/service.py's vframe_serve(root, *flags)


# -- the video ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LargeVideo:
    layout: str
    path: Path
    size: int
    moov: int  # bytes of the top-level moov box: the index
    frames: int
    duration_s: float


def video_path(cache: Path, layout: str) -> Path:
    tag = layout.replace(" ", "-")
    return cache / (f"large-{tag}-{WIDTH}x{HEIGHT}-{FPS}fps-gop{GOP}-bf{BFRAMES}-clip{CLIP_FRAMES}-noise{NOISE}"
                    f"-{MIN_BYTES // 1000**2}MB.mp4")


def moov_size(path: Path) -> int:
    """The size of the top-level moov box (64-bit sizes and size 0, to the end, understood)."""
    size, position = path.stat().st_size, 0
    with open(path, "rb") as file:
        while position < size:
            file.seek(position)
            header = file.read(16)
            length, kind = struct.unpack(">I4s", header[:8])
            length = struct.unpack(">Q", header[8:16])[0] if length == 1 else length or size - position
            if kind == b"moov":
                return int(length)
            position += max(length, 8)
    raise ValueError(f"{path} has no moov box")


def ensure_large_videos(cache: Path) -> tuple[dict[str, LargeVideo], float | None]:
    """Both layouts, built into `cache` unless there; the seconds building took, None if reused."""
    paths = {layout: video_path(cache, layout) for layout in LAYOUTS}
    took = None
    if not all(path.exists() for path in paths.values()):
        cache.mkdir(parents=True, exist_ok=True)
        print(f"building the large videos ({MIN_BYTES // 1000**2} MB+ each, packets of a 4 s clip repeated) ...",
              flush=True)
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="vframe-bench-remote-", dir=cache) as tmp:
            partial = {Path(tmp) / f"partial-{index}.mp4": options for index, options in enumerate(LAYOUTS.values())}
            synth.make_large_mp4s(partial, MIN_BYTES, Path(tmp))
            for built, path in zip(partial, paths.values(), strict=True):
                built.replace(path)
        took = time.perf_counter() - started
    videos = {}
    for layout, path in paths.items():
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            frames, duration = stream.frames, float((stream.duration or 0) * (stream.time_base or 0))
        videos[layout] = LargeVideo(layout, path, path.stat().st_size, moov_size(path), frames, duration)
    return videos, took


# -- the origin ---------------------------------------------------------------------------------


@dataclass
class _Ledger:
    """What the origin process has answered, and how many answers are still being written."""

    log: list[dict[str, Any]] = field(default_factory=list)
    busy: int = 0
    lock: threading.Condition = field(default_factory=threading.Condition)


def _origin_handler(folder: Path, ledger: _Ledger) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_HEAD(self) -> None:  # noqa: N802
            self._answer(body=False)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/-/take":  # the bench's own question: the requests so far, then forget them
                with ledger.lock:  # once the answers still being written (a closed ffmpeg connection) are done
                    ledger.lock.wait_for(lambda: ledger.busy == 0, timeout=10)
                    taken = json.dumps(ledger.log).encode()
                    ledger.log.clear()
                self._head(200, {"Content-Type": "application/json"}, len(taken))
                self.wfile.write(taken)
                return
            self._answer(body=True)

        def _head(self, status: int, headers: dict[str, str], length: int) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def _answer(self, body: bool) -> None:
            sent, status = 0, 404
            with ledger.lock:
                ledger.busy += 1
            try:
                sent, status = self._serve(body)
            finally:
                with ledger.lock:
                    ledger.busy -= 1
                    ledger.log.append({"method": self.command, "path": self.path, "range": self.headers.get("Range"),
                                       "status": status, "bytes": sent})
                    ledger.lock.notify_all()

        def _serve(self, body: bool) -> tuple[int, int]:
            name = unquote(self.path.split("?")[0]).lstrip("/")
            path = folder / name
            if "/" in name or not name or not path.is_file():
                self._head(404, {}, 0)
                return 0, 404
            stat = path.stat()
            size = stat.st_size
            headers = {"ETag": f'"{size:x}-{stat.st_mtime_ns:x}"', "Accept-Ranges": "bytes",
                       "Last-Modified": formatdate(stat.st_mtime, usegmt=True), "Content-Type": "video/mp4"}
            if self.headers.get("If-Match") not in (None, headers["ETag"]):
                self._head(412, {}, 0)
                return 0, 412
            start, end, status = 0, size, 200
            wanted = self.headers.get("Range")
            if wanted and wanted.startswith("bytes=") and "," not in wanted:
                first, _, last = wanted[6:].partition("-")
                if first:
                    start, end = int(first), min(int(last) + 1, size) if last else size
                else:
                    start = max(size - int(last), 0)
                if start >= size or end <= start:
                    self._head(416, {"Content-Range": f"bytes */{size}"}, 0)
                    return 0, 416
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
            self._head(status, headers, end - start)
            if not body:
                return 0, status
            sent = 0
            with open(path, "rb") as file:
                try:
                    while start + sent < end:
                        chunk = os.pread(file.fileno(), min(CHUNK, end - start - sent), start + sent)
                        self.wfile.write(chunk)
                        sent += len(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client has read enough (ffmpeg does, then seeks)
            return sent, status

    return Handler


def serve_origin_forever(folder: Path) -> None:
    """The origin process: prints its URL, serves until stdin closes."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _origin_handler(folder, _Ledger()))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdin.read()
    server.shutdown()


@dataclass
class Origin:
    url: str

    def take(self) -> list[dict[str, Any]]:
        """The requests answered since the last call (never this one)."""
        return httpx.get(f"{self.url}/-/take", timeout=30).json()  # type: ignore[no-any-return]


@contextmanager
def counting_origin(folder: Path) -> Iterator[Origin]:
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "origin", str(folder)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        if not url.startswith("http://"):
            raise RuntimeError(f"the bench's origin did not start: {url!r}")
        yield Origin(url)
    finally:
        end_by_stdin(process)
        if process.stdout is not None:
            process.stdout.close()


# -- the peers ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offset:
    ms: int
    place: str  # where in the video, e.g. "50%"

    @property
    def seconds(self) -> str:
        return f"{self.ms // 1000}.{self.ms % 1000:03d}"

    @property
    def spec(self) -> str:
        return f"vframe/jpg/offset/{self.seconds}/w/{OUT_SIZE[0]}/h/{OUT_SIZE[1]}"

    @property
    def shown(self) -> int:
        """The frame shown at T (vframe's), floor(T*fps)."""
        return self.ms * FPS // 1000

    @property
    def after(self) -> int:
        """The first frame at or after T (`ffmpeg -ss`'s), ceil(T*fps)."""
        return -(-self.ms * FPS // 1000)


def gop_span(video: LargeVideo, offset: Offset) -> tuple[int, int]:
    """(start, end) in the file of the frame's GOP as tests/test_remote_bytes.py counts it: from its
    keyframe to the end of the last packet FFmpeg's decoder (slice threads, as vframe's) must be fed
    before it outputs the frame shown at T."""
    packets = synth.samples(video.path)
    target = sorted(p.pts for p in packets)[offset.shown]
    key_pos = max((p for p in packets if p.key and p.pts <= target), key=lambda p: p.pts).pos
    with av.open(str(video.path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "SLICE"
        for packet in container.demux(stream):
            if packet.size and packet.pos is not None and packet.pos >= key_pos:
                if any(frame.pts == target for frame in stream.codec_context.decode(packet)):
                    return key_pos, packet.pos + packet.size
    raise RuntimeError(f"{video.path}: the frame at {offset.seconds} s was never decoded")


@dataclass
class RemoteCall:
    layout: str
    peer: str
    offset: str
    wall_ms: float
    origin_bytes: int  # body bytes the origin wrote
    origin_gets: int
    origin_other: int  # HEADs (and anything else)
    ranges: list[str | None] = field(default_factory=list)
    ffmpeg_read: int | None = None  # the bytes ffmpeg says it read
    budget: int | None = None  # index + the frame's GOP + two blocks (tests/test_remote_bytes.py's)
    right: bool | None = None  # vframe: equal to the local grab; ffmpeg: shows ceil(T*fps)


def pick_offsets(video: LargeVideo, count: int) -> list[Offset]:
    """Seeded offsets spread over the video (the 10%..90% points, jittered by up to a GOP), whole ms."""
    rng = random.Random(f"{SEED}-remote-{video.layout}")
    gop_s, last_ms = GOP / FPS, int(video.duration_s * 1000) - 1000
    places = [0.1 + 0.8 * n / max(count - 1, 1) for n in range(count)]
    chosen: dict[int, Offset] = {}
    for place in places:
        ms = round((place * video.duration_s + rng.uniform(-gop_s, gop_s)) * 1000)
        ms = min(max(ms, 0), last_ms)
        chosen.setdefault(ms, Offset(ms, f"{place:.0%}"))
    return sorted(chosen.values(), key=lambda offset: offset.ms)


def painted_index(jpeg: bytes) -> int | None:
    try:
        with Image.open(io.BytesIO(jpeg)) as image:
            return synth.read_index(np.asarray(image.convert("RGB")))
    except (ValueError, OSError):
        return None


def _ranges(requests: list[dict[str, Any]]) -> list[str | None]:
    return [str(r["range"]) if r["range"] else None for r in requests if r["method"] == "GET"]


def _call(layout: str, peer: str, offset: Offset, wall: float, requests: list[dict[str, Any]]) -> RemoteCall:
    gets = [r for r in requests if r["method"] == "GET"]
    return RemoteCall(layout, peer, offset.seconds, wall * 1000, sum(int(r["bytes"]) for r in requests),
                      len(gets), len(requests) - len(gets), _ranges(requests))


def call_vframe(origin: Origin, video: LargeVideo, offset: Offset, local: bytes | None, kept: bool = False
                ) -> RemoteCall:
    """A grab that fetches all it needs (a first frame of the video); with `kept`, one that may use
    what this process kept of the video from earlier grabs (its index, at least)."""
    origin.take()
    settings = vframe.Settings(allow_private_urls=1)
    if not kept:
        settings = replace(settings, origin_cache_bytes=0)
    started = time.perf_counter()
    result = vframe.grab(f"{origin.url}/{video.path.name}", offset.spec, settings)
    wall = time.perf_counter() - started
    call = _call(video.layout, "vframe kept" if kept else "vframe", offset, wall, origin.take())
    call.right = None if local is None else result.data == local
    return call


_READ = re.compile(r"Statistics: (\d+) bytes read")


def call_ffmpeg(ffmpeg: str, origin: Origin, video: LargeVideo, offset: Offset, out: Path) -> RemoteCall:
    origin.take()
    command = [ffmpeg, "-hide_banner", "-loglevel", "verbose", "-ss", offset.seconds, "-i",
               f"{origin.url}/{video.path.name}", "-frames:v", "1", "-vf", f"scale={OUT_SIZE[0]}:{OUT_SIZE[1]}",
               "-y", str(out)]
    out.unlink(missing_ok=True)
    started = time.perf_counter()
    done = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    call = _call(video.layout, "ffmpeg", offset, wall, origin.take())
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    call.ffmpeg_read = sum(int(n) for n in _READ.findall(done.stderr)) or None
    call.right = painted_index(out.read_bytes()) == offset.after % CLIP_FRAMES
    return call


def call_serve(client: httpx.Client, origin: Origin, video: LargeVideo, offset: Offset,
               local: bytes | None) -> RemoteCall:
    origin.take()
    started = time.perf_counter()
    response = client.get(f"/{video.path.name}?{offset.spec}")
    wall = time.perf_counter() - started
    call = _call(video.layout, "vframe serve", offset, wall, origin.take())
    if response.status_code != 200:
        raise RuntimeError(f"vframe serve answered {response.status_code}: {response.text[:300]}")
    call.right = None if local is None else response.content == local
    return call


# -- the run ------------------------------------------------------------------------------------


@dataclass
class RemoteResult:
    videos: dict[str, LargeVideo]
    built_s: float | None
    offsets: dict[str, list[Offset]]
    calls: list[RemoteCall] = field(default_factory=list)
    gops: dict[str, tuple[int, int]] = field(default_factory=dict)  # layout offset -> the frame's GOP
    block_bytes: int = vframe.Settings().block_bytes

    def peers(self, layout: str) -> list[str]:
        return [peer for peer in PEERS if any(c.layout == layout and c.peer == peer for c in self.calls)]

    def of(self, layout: str, peer: str) -> list[RemoteCall]:
        return [c for c in self.calls if c.layout == layout and c.peer == peer]


def bench_remote(ffmpeg: str | None, cache: Path, quick: bool, serve: Serve | None = None) -> RemoteResult:
    """Build (or reuse) the videos, start the origin, and time each peer on each offset, interleaved.
    `serve` is bench/service.py's vframe_serve, to start `vframe serve --origin` (None: that peer is left out)."""
    videos, built = ensure_large_videos(cache)
    count = OFFSETS[quick]
    result = RemoteResult(videos, built, {layout: pick_offsets(video, count) for layout, video in videos.items()})
    with tempfile.TemporaryDirectory(prefix="vframe-bench-remote-") as tmp, counting_origin(cache) as origin:
        out = Path(tmp) / "out.jpg"
        with _maybe_serve(serve, origin) as server, _maybe_client(server) as client:
            for layout, video in videos.items():
                warm = Offset(round(video.duration_s * 1000 * 0.55) + 7, "warm-up")
                call_vframe(origin, video, warm, None)
                call_vframe(origin, video, warm, None, kept=True)
                if ffmpeg:
                    call_ffmpeg(ffmpeg, origin, video, warm, out)
                if client is not None:
                    call_serve(client, origin, video, warm, None)
                for offset in result.offsets[layout]:
                    local = vframe.grab(video.path, offset.spec).data
                    start, end = result.gops[f"{layout} {offset.seconds}"] = gop_span(video, offset)
                    calls = [call_ffmpeg(ffmpeg, origin, video, offset, out)] if ffmpeg else []
                    calls.append(call_vframe(origin, video, offset, local))
                    if client is not None:
                        calls.append(call_serve(client, origin, video, offset, local))
                    calls.append(call_vframe(origin, video, offset, local, kept=True))
                    for call in calls:
                        if call.peer != "ffmpeg":
                            index = 0 if call.peer == "vframe kept" else video.moov
                            call.budget = index + end - start + 2 * result.block_bytes
                    result.calls += calls
    return result


@contextmanager
def _maybe_serve(serve: Serve | None, origin: Origin) -> Iterator[Any]:
    if serve is None:
        yield None
        return
    # A later --root wins; no bytes kept between requests: each frame costs what a first one does.
    with serve(Path(""), "--root", "", "--origin", origin.url + "/", "--origin-cache-bytes", "0") as server:
        yield server


@contextmanager
def _maybe_client(server: Any) -> Iterator[httpx.Client | None]:
    if server is None:
        yield None
        return
    with httpx.Client(base_url=server.url, timeout=120) as client:
        yield client


# -- reporting ----------------------------------------------------------------------------------


def summary(calls: list[RemoteCall]) -> dict[str, float]:
    walls = [c.wall_ms for c in calls]
    read = [c.ffmpeg_read for c in calls if c.ffmpeg_read is not None]
    return {"median_ms": statistics.median(walls), "p90_ms": p90(walls),
            "median_origin_bytes": statistics.median(c.origin_bytes for c in calls),
            "median_gets": statistics.median(c.origin_gets for c in calls),
            "median_other_requests": statistics.median(c.origin_other for c in calls),
            "median_ffmpeg_read": statistics.median(read) if read else math.nan}


def describe_remote(result: RemoteResult) -> None:
    note = "reused from cache" if result.built_s is None else f"built in {result.built_s:.1f} s"
    for layout, video in result.videos.items():
        where = "first" if layout == "faststart" else "last"
        offsets = ", ".join(f"{o.seconds} ({o.place})" for o in result.offsets[layout])
        print(f"remote {layout}: {video.path.name} ({video.size / 1e6:.1f} MB, {video.duration_s:g} s, "
              f"{video.frames} frames, index {video.moov / 1e3:.1f} kB {where}) {note}; offsets (s): {offsets}")
    print(f"remote: served by a counting HTTP origin on 127.0.0.1 (its own process); vframe with its default "
          f"block of {result.block_bytes} bytes", flush=True)


def print_remote(result: RemoteResult) -> None:
    """Per layout and peer: wall time, what the origin counted, and the ratios of the medians to ffmpeg's."""
    header = (f"{'layout':<10} {'peer':<13} {'median ms':>10} {'p90 ms':>9} {'origin MB':>10} {'GETs':>5} "
              f"{'other':>5} {'read MB':>8}  vs ffmpeg (time; origin bytes; vs the bytes ffmpeg read)")
    print(header)
    print("-" * (len(header) + 8))
    for layout in result.videos:
        base = summary(result.of(layout, "ffmpeg")) if result.of(layout, "ffmpeg") else None
        for peer in result.peers(layout):
            s = summary(result.of(layout, peer))
            ratio = "" if base is None or peer == "ffmpeg" else (
                f"{s['median_ms'] / base['median_ms']:.2f}x; "
                f"{s['median_origin_bytes'] / base['median_origin_bytes']:.2f}x; "
                f"{s['median_origin_bytes'] / base['median_ffmpeg_read']:.2f}x")
            read = "" if math.isnan(s["median_ffmpeg_read"]) else f"{s['median_ffmpeg_read'] / 1e6:.2f}"
            print(f"{layout:<10} {peer:<13} {s['median_ms']:>10.1f} {s['p90_ms']:>9.1f} "
                  f"{s['median_origin_bytes'] / 1e6:>10.2f} {s['median_gets']:>5g} {s['median_other_requests']:>5g} "
                  f"{read:>8}  {ratio}")
    print("remote per offset: origin MB / GETs (ffmpeg: and MB it read; vframe: over or under the budget of "
          "index + the frame's GOP + 2 blocks, in kB):")
    for layout in result.videos:
        for offset in result.offsets[layout]:
            start, end = result.gops[f"{layout} {offset.seconds}"]
            parts = [f"GOP {(end - start) / 1e6:.2f} MB"]
            for c in result.calls:
                if c.layout == layout and c.offset == offset.seconds:
                    extra = (f" (read {c.ffmpeg_read / 1e6:.2f})" if c.ffmpeg_read is not None else
                             f" ({(c.origin_bytes - c.budget) / 1e3:+.0f})" if c.budget is not None else "")
                    parts.append(f"{c.peer} {c.origin_bytes / 1e6:.2f}/{c.origin_gets}{extra}")
            print(f"  {layout:<10} {offset.seconds:>7} ({offset.place}): " + ", ".join(parts))
    parts = []
    for peer in PEERS:
        calls = [c for c in result.calls if c.peer == peer]
        if calls:
            want = "ceil(T*fps)" if peer == "ffmpeg" else "= local-file grab"
            parts.append(f"{peer} {want} {sum(bool(c.right) for c in calls)}/{len(calls)}")
    print("remote frames: " + "; ".join(parts) + ". ffmpeg's origin bytes include what its open-ended ranges "
          "left in socket buffers when it closed them; 'read MB' is ffmpeg's own count")


def remote_record(result: RemoteResult) -> dict[str, object]:
    return {
        "videos": {layout: {**asdict(video), "path": str(video.path)} for layout, video in result.videos.items()},
        "built_s": result.built_s, "block_bytes": result.block_bytes,
        "offsets": {layout: [asdict(o) for o in offsets] for layout, offsets in result.offsets.items()},
        "summary": {layout: {peer: summary(result.of(layout, peer)) for peer in result.peers(layout)}
                    for layout in result.videos},
        "gops": {key: {"start": start, "end": end} for key, (start, end) in result.gops.items()},
        "calls": [asdict(call) for call in result.calls],
    }


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "origin":  # the origin process of counting_origin
        serve_origin_forever(Path(sys.argv[2]))
    else:
        raise SystemExit("usage: python bench/remote.py origin FOLDER (bench.py runs the remote figure)")
