"""The soak: a real `vframe serve` (vframe_testkit.live, 2 workers, default settings otherwise) under a
bounded mixed load for a given number of minutes, watched for lost requests, worker restarts and
memory growth.

    python tools/soak.py --minutes 10 [--clients 8] [--seed 1] [--json soak.json]

It builds its own folder of videos (small synthetic H.264 MP4s, index at the end and first, VP9
WebM, a 16 MB+ MP4 for slow and ranged reads; every frame paints its index, vframe_testkit.synth) plus
the hostile corpus of vframe_testkit.hostile, whose playlists point at a canary TCP listener that must
never see a connection. Then `--clients` threads send a seeded mix for `--minutes`: valid uncached
frames (random offsets, sizes, formats, rotations, modes), cached repeats, HEAD, conditional
requests (304), the plain video whole and by Range, malformed specs (400), unsupported formats
(415), missing and escaping keys (404), other methods (405) and the hostile cases (their status).
Two more clients stay slow all along: one sends its request headers a byte at a time over
seconds, one reads a large response through a tiny receive window.

Every request has an expected status. A request is *lost* when it gets no answer, a connection
error or another status; *wrong* when its status is right but its answer is not (the frame's time,
painted index, type or size, a body's length, the JSON error shape). A line is printed every
REPORT_SECONDS, a summary at the end. Memory is *flat* when, at rest after the load, each worker's
RSS is within WORKER_SLACK_MB of the largest after the warm-up (the first WARM_UP_SECONDS, or a
quarter of a short run) and the server's within SERVER_SLACK_MB plus what its result cache grew
by. Exit code 0 only with nothing lost or wrong, the same server process alive and healthy, no
canary connection and memory flat."""

from __future__ import annotations

import argparse
import functools
import io
import json
import os
import random
import socket
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import numpy as np
from PIL import Image

from vframe_testkit import synth
from vframe_testkit.hostile import Canary, Case, build_corpus
from vframe_testkit.live import LiveServer, live_server
from vframe_testkit.stats import percentile

WORKERS = 2
CLIENT_TIMEOUT_SECONDS = 60  # no answer by then: lost (the server's deadline is 30 s)
REPORT_SECONDS = 12
SETTLE_SECONDS = 1.0
WARM_UP_SECONDS = 30  # of mixed load before the memory figure that the end is compared with
WORKER_SLACK_MB = 50  # flat: each worker at the end within this of the largest after warm-up
SERVER_SLACK_MB = 64  # and the server within this of after warm-up, plus what the result cache grew by
INDEX_SAMPLE = 0.3  # share of frames whose painted index is read back
MIN_INDEX_SIDE = 64  # pictures smaller than this are not read back (the cells blur)
RECENT_FRAMES = 256  # frames remembered for cached repeats, HEAD and conditional requests
SLOW_SEND_SECONDS = 4.0  # the slow sender spreads its request headers over this
SLOW_READ_BYTES = 3 * 1024 * 1024  # the slow reader's range of large.mp4
SLOW_READ_CHUNK = 8192  # ... read this many bytes at a time
SLOW_READ_PAUSE = 0.02  # ... with this pause between reads: about 400 kB/s
SLOW_RECEIVE_BUFFER = 8192
SHOWN = 12  # kinds of lost and of wrong requests printed (the JSON has them all)
MB = 1024 * 1024
RESTARTS = "vframe_worker_restarts_total"
CHEAP_KINDS = ("cached", "head", "conditional", "malformed", "format", "missing", "escape", "method")
MEDIA_TYPES = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
UNDO_ROTATION = {"90": Image.Transpose.ROTATE_90, "180": Image.Transpose.ROTATE_180,
                 "270": Image.Transpose.ROTATE_270}  # PIL turns counter-clockwise, vframe clockwise

# key under the root: make_video's arguments; every frame paints its index
VIDEOS: dict[str, dict[str, Any]] = {
    "soak/h264-moov-end-320x240.mp4": dict(codec="libx264", frames=96, fps=24, gop=24, bframes=2),
    "soak/sub/h264-moov-end-640x360.mp4": dict(codec="libx264", frames=50, fps=25, gop=25, bframes=3, width=640,
                                               height=360),
    "soak/vp9-480x270.webm": dict(codec="libvpx-vp9", frames=60, fps=30, gop=15, bframes=0, width=480, height=270),
    "soak/vp9-1280x720.webm": dict(codec="libvpx-vp9", frames=36, fps=24, gop=12, bframes=0, width=1280, height=720),
}
# key under the root: make_video's arguments of a video remuxed with its index first
FASTSTART_VIDEOS: dict[str, dict[str, Any]] = {
    "soak/h264-faststart-1280x720.mp4": dict(codec="libx264", frames=72, fps=24, gop=24, bframes=2, width=1280,
                                             height=720),
}
LARGE_KEY = "soak/large.mp4"
LARGE_MIN_BYTES = 16 * MB
MALFORMED_SPECS = (
    "vframe/jpg/offset/-1", "vframe/jpg/offset/7s", "vframe/jpg/offset/1e3", "vframe/jpg/offset/nan",
    "vframe/jpg/offset/inf", "vframe/jpg/offset/", "vframe/jpg", "vframe/jpg/offset/1/w/0",
    "vframe/jpg/offset/1/offset/2", "vframe/jpg/offset/1/x/2", "vframe/jpg/offset/1/rotate/45",
    "vframe/jpg/offset/1/mode/slow", "vframe", "frame/jpg/offset/1", "vframe/jpg/offset/1/w",
    "vframe/png/offset/0x10", "vframe/jpg/offset/.5", "vframe/jpg//offset/1", "vframe/jpg/offset/1/",
)
UNSUPPORTED_FORMATS = ("gif", "bmp", "tiff", "heic", "avi")
MISSING_KEYS = ("/nope.mp4", "/soak/nope.webm", "/soak/sub", "/soak/sub/", "/SOAK/VP9-480X270.WEBM",
                "/soak/vp9-480x270.webm/x")
ESCAPING_KEYS = ("/%2e%2e/etc/passwd", "/soak/%2e%2e/soak/vp9-480x270.webm", "/%2fetc%2fpasswd",
                 "/soak/vp9-480x270.webm%00", "/.hidden.mp4", "/-/secret", "/soak%5c..%5cvp9-480x270.webm",
                 "/%252e%252e/x.mp4", "/soak//vp9-480x270.webm")
OTHER_METHODS = ("POST", "PUT", "DELETE", "PATCH", "OPTIONS")


# -- the folder ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Video:
    key: str
    times: tuple[Fraction, ...]
    width: int
    height: int
    gop: int


@dataclass(frozen=True)
class Corpus:
    root: Path
    videos: list[Video]
    hostile: list[Case]
    large: Path


def build_folder(root: Path, scratch: Path, canary_port: int) -> Corpus:
    """The soak's videos under root/soak/, the hostile corpus beside them."""
    (root / "soak" / "sub").mkdir(parents=True)
    videos = []
    for key, arguments in VIDEOS.items():
        made = synth.make_video(root / key, **arguments)
        videos.append(Video(key, made.times, made.width, made.height, arguments["gop"]))
    for key, arguments in FASTSTART_VIDEOS.items():
        made = synth.make_video(scratch / Path(key).name, **arguments)
        synth.remux_faststart(made.path, root / key)
        videos.append(Video(key, made.times, made.width, made.height, arguments["gop"]))
    synth.make_large_mp4s({root / LARGE_KEY: {}}, LARGE_MIN_BYTES, scratch)
    hostile = build_corpus(root, canary_port)
    return Corpus(root, videos, hostile, root / LARGE_KEY)


# -- the canary ------------------------------------------------------------------------------------


# -- calls: what is sent and what must come back ---------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """What a frame answer must be."""

    time: str | None  # X-Vframe-Time, when known
    format: str
    index: int  # the index painted in it
    rotate: str
    size: tuple[int, int] | None  # when known exactly


@dataclass(frozen=True)
class Call:
    kind: str
    method: str
    target: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    frame: Frame | None = None
    length: int | None = None  # the body's exact length
    words: tuple[str, ...] = ()  # each in the error sentence (lower case)
    raw: bool = False  # sent exactly as written on a connection of its own (no client normalizing `..`)


@dataclass(frozen=True)
class Made:
    """A frame that was answered right: its call and validators, for repeats."""

    call: Call
    etag: str
    last_modified: str


def shown_at(video: Video, offset: Fraction) -> int:
    """The index of the frame shown at `offset`: the last one at or before it (the last one past the end)."""
    return max((index for index, time in enumerate(video.times) if time <= offset), default=0)


def fresh_frame(videos: list[Video], rng: random.Random) -> Call:
    """A valid frame of a random video, offset, format, size, rotation and mode: most likely never made yet."""
    video = rng.choice(videos)
    offset_ms = rng.randrange(0, int(video.times[-1] * 1000) + 600)
    format = rng.choice(("jpg", "png", "webp"))
    spec = f"vframe/{format}/offset/{offset_ms / 1000:g}"
    index = shown_at(video, Fraction(offset_ms, 1000))
    if rng.random() < 0.2:
        spec += "/mode/fast"
        index = index // video.gop * video.gop
    size: tuple[int, int] | None = (video.width, video.height)
    rotate = rng.choice(("auto", "auto", "auto", "0", "90", "180", "270"))
    if rotate != "auto":
        spec += f"/rotate/{rotate}"
        size = (video.height, video.width) if rotate in ("90", "270") else size
    shape = rng.choice(("native", "w", "h", "wh"))
    if shape == "w":
        spec += f"/w/{rng.randrange(16, 1281)}"
        size = None
    elif shape == "h":
        spec += f"/h/{rng.randrange(16, 721)}"
        size = None
    elif shape == "wh":
        size = (rng.randrange(16, 1281), rng.randrange(16, 721))
        spec += f"/w/{size[0]}/h/{size[1]}"
    frame = Frame(f"{float(video.times[index]):.3f}", format, index, rotate, size)
    return Call("fresh", "GET", f"/{quote(video.key)}?{spec}", 200, frame=frame)


def repeat(made: Made) -> Call:
    return Call("cached", "GET", made.call.target, 200, frame=made.call.frame)


def head(made: Made) -> Call:
    return Call("head", "HEAD", made.call.target, 200, frame=made.call.frame)


def conditional(made: Made, rng: random.Random) -> Call:
    """If-None-Match with its ETag or `*`, or If-Modified-Since its date: 304; another ETag: 200."""
    choice = rng.randrange(4)
    if choice == 3:
        return Call("conditional", "GET", made.call.target, 200, {"If-None-Match": '"another"'}, made.call.frame)
    headers = [{"If-None-Match": made.etag}, {"If-None-Match": "*"}, {"If-Modified-Since": made.last_modified}]
    return Call("conditional", "GET", made.call.target, 304, headers[choice])


def plain_video(corpus: Corpus, rng: random.Random) -> Call:
    """The video itself: whole, a range, the last bytes, or a range past its end (416)."""
    key = rng.choice([video.key for video in corpus.videos] + [LARGE_KEY])
    size = (corpus.root / key).stat().st_size
    target = f"/{quote(key)}"
    choice = rng.randrange(5)
    if choice == 0 and key != LARGE_KEY:
        return Call("video", "GET", target, 200, length=size)
    if choice == 1:
        return Call("range", "GET", target, 416, {"Range": f"bytes={size + rng.randrange(0, 1000)}-"})
    if choice == 2:
        count = rng.randrange(1, 65536)
        return Call("range", "GET", target, 206, {"Range": f"bytes=-{count}"}, length=min(count, size))
    start = rng.randrange(0, size)
    end = min(start + rng.randrange(1, 256 * 1024), size)
    return Call("range", "GET", target, 206, {"Range": f"bytes={start}-{end - 1}"}, length=end - start)


def hostile_call(case: Case) -> Call:
    """A case of vframe_testkit.hostile: its key is the target's path exactly as sent, its frame the index shown."""
    target = f"/{case.key}" + (f"?{case.spec}" if case.spec else "")
    frame = None
    if case.status == 200 and case.spec is not None and case.frame is not None:
        frame = Frame(None, case.spec.split("/")[1], case.frame, "auto", None)
    return Call(f"hostile:{case.name}", "GET", target, case.status, frame=frame,
                words=tuple(word.lower() for word in case.words), raw=True)


def error_call(kind: str, corpus: Corpus, rng: random.Random) -> Call:
    """A request that must fail: malformed spec, unsupported format, missing or escaping key, other method."""
    video = f"/{quote(rng.choice(corpus.videos).key)}"
    if kind == "malformed":
        return Call(kind, "GET", f"{video}?{rng.choice(MALFORMED_SPECS)}", 400)
    if kind == "format":
        return Call(kind, "GET", f"{video}?vframe/{rng.choice(UNSUPPORTED_FORMATS)}/offset/1", 415)
    if kind == "missing":
        return Call(kind, "GET", f"{rng.choice(MISSING_KEYS)}?vframe/jpg/offset/1", 404)
    if kind == "escape":
        return Call(kind, "GET", f"{rng.choice(ESCAPING_KEYS)}?vframe/jpg/offset/1", 404)
    return Call(kind, rng.choice(OTHER_METHODS), f"{video}?vframe/jpg/offset/1", 405)


# kind: weight in the mix
MIX = {"fresh": 30, "cached": 14, "head": 5, "conditional": 6, "plain": 7, "malformed": 8, "format": 3,
       "missing": 4, "escape": 3, "method": 4, "hostile": 8}


def draw(corpus: Corpus, recent: deque[Made], rng: random.Random) -> Call:
    """The next call of a client: a seeded draw from MIX."""
    kind = rng.choices(list(MIX), list(MIX.values()))[0]
    made = rng.choice(recent) if recent else None  # deque reads are atomic; a stale pick is still valid
    if kind == "fresh" or (kind in ("cached", "head", "conditional") and made is None):
        return fresh_frame(corpus.videos, rng)
    if made is not None and kind == "cached":
        return repeat(made)
    if made is not None and kind == "head":
        return head(made)
    if made is not None and kind == "conditional":
        return conditional(made, rng)
    if kind == "plain":
        return plain_video(corpus, rng)
    if kind == "hostile":
        return hostile_call(rng.choice(corpus.hostile))
    return error_call(kind, corpus, rng)


# -- checking an answer ----------------------------------------------------------------------------


def problems(call: Call, response: httpx.Response) -> list[str]:
    """What is wrong with `response` for `call`, its status being right."""
    found = [] if response.headers.get("x-reqid") else ["no X-Reqid"]
    if call.frame is not None and response.status_code == 200:
        found += frame_problems(call, response)
    if call.length is not None and len(response.content) != call.length:
        found.append(f"body of {len(response.content)} bytes, expected {call.length}")
    if call.status >= 400:
        found += error_problems(call, response)
    return found


def frame_problems(call: Call, response: httpx.Response) -> list[str]:
    assert call.frame is not None
    frame, headers, found = call.frame, response.headers, []
    if frame.time is not None and headers.get("x-vframe-time") != frame.time:
        found.append(f"X-Vframe-Time {headers.get('x-vframe-time')}, expected {frame.time}")
    if headers.get("content-type") != MEDIA_TYPES[frame.format]:
        found.append(f"Content-Type {headers.get('content-type')}, expected {MEDIA_TYPES[frame.format]}")
    found += [f"no {name}" for name in ("ETag", "Last-Modified") if not headers.get(name)]
    if call.method == "HEAD":
        if response.content or int(headers.get("content-length", "0")) <= 0:
            found.append(f"HEAD: body of {len(response.content)} bytes, Content-Length {headers.get('content-length')}")
        return found
    size = Image.open(io.BytesIO(response.content)).size
    if frame.size is not None and size != frame.size:
        found.append(f"image {size}, expected {frame.size}")
    return found


def index_to_read(call: Call, response: httpx.Response, rng: random.Random) -> Image.Image | None:
    """The picture of a sample of the frames answered, large enough for its index to be read back."""
    if call.frame is None or call.method != "GET" or response.status_code != 200 or rng.random() >= INDEX_SAMPLE:
        return None
    picture = Image.open(io.BytesIO(response.content))
    return picture if min(picture.size) >= MIN_INDEX_SIDE else None


def index_problems(picture: Image.Image, frame: Frame) -> list[str]:
    """The painted index, read back with vframe's rotation undone."""
    upright = picture.convert("RGB")
    if frame.rotate in UNDO_ROTATION:
        upright = upright.transpose(UNDO_ROTATION[frame.rotate])
    try:
        shown = synth.read_index(np.asarray(upright))
    except ValueError as error:
        return [f"painted index unreadable: {error}"]
    return [] if shown == frame.index else [f"painted index {shown}, expected {frame.index}"]


def error_problems(call: Call, response: httpx.Response) -> list[str]:
    """The one shape of an error: JSON with one sentence, no-store, Allow on a 405, the case's words."""
    headers, found = response.headers, []
    try:
        body = response.json()
    except ValueError:
        body = None
    if headers.get("content-type") != "application/json" or not isinstance(body, dict) or list(body) != ["error"]:
        found.append(f"not a JSON error: {headers.get('content-type')} {response.content[:60]!r}")
    elif call.method != "HEAD":
        sentence = str(body["error"]).lower()
        found += [f"error {body['error']!r} lacks {word!r}" for word in call.words if word not in sentence]
    if headers.get("cache-control") != "no-store":
        found.append(f"Cache-Control {headers.get('cache-control')}")
    if response.status_code == 405 and headers.get("allow") != "GET, HEAD":
        found.append(f"Allow {headers.get('allow')}")
    return found


# -- the tally -------------------------------------------------------------------------------------


@dataclass
class Failure:
    kind: str
    request: str
    expected: int
    got: int | None
    detail: str
    reqid: str


class Tally:
    """Every request's outcome, shared by the clients."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.kinds: Counter[str] = Counter()
        self.seconds: dict[str, list[float]] = {}
        self.lost: list[Failure] = []
        self.wrong: list[Failure] = []
        self.indices_read = 0  # frames whose painted index was read back

    def count_index_read(self) -> None:
        with self.lock:
            self.indices_read += 1

    @property
    def requests(self) -> int:
        return sum(self.kinds.values())

    def record(self, call: Call, status: int | None, seconds: float, reqid: str = "", detail: str = "",
               found: list[str] | None = None) -> None:
        kind = call.kind.partition(":")[0]
        with self.lock:
            self.kinds[kind] += 1
            self.seconds.setdefault(kind, []).append(seconds)
            if status is not None:
                self.statuses[status] += 1
            if status != call.status:
                got = f"{status}" if status is not None else "no answer"
                self.lost.append(Failure(call.kind, describe(call), call.status, status, detail or got, reqid))
            elif found:
                self.wrong.append(Failure(call.kind, describe(call), call.status, status, "; ".join(found), reqid))


def describe(call: Call) -> str:
    headers = "".join(f" [{name}: {value}]" for name, value in call.headers.items())
    return f"{call.method} {call.target}{headers}"


# -- the clients -----------------------------------------------------------------------------------


@dataclass
class Load:
    server: LiveServer
    corpus: Corpus
    tally: Tally
    recent: deque[Made]
    ready: float  # time.monotonic() when the server was ready: memory samples are timed from there
    started: float = 0.0  # when the load began, warm-up included: progress lines are timed from there
    finish: float = 0.0  # when the whole load ends
    end: float = 0.0  # when the current phase ends: no request is started past it
    next_line: float = 0.0  # when the next progress line is due


def exchange(load: Load, call: Call, perform: Callable[[], httpx.Response], rng: random.Random,
             body: bytes | None = None) -> None:
    """One request made by `perform`, checked and recorded; a frame answered right is remembered for repeats."""
    started = time.monotonic()
    try:
        response = perform()
    except (httpx.HTTPError, OSError, ValueError, IndexError) as error:
        load.tally.record(call, None, time.monotonic() - started, detail=f"{type(error).__name__}: {error}")
        return
    seconds = time.monotonic() - started
    reqid = response.headers.get("x-reqid", "")
    if response.status_code != call.status:
        load.tally.record(call, response.status_code, seconds, reqid, answer(response))
        return
    found = checked(call, response, load.tally, rng, body)
    load.tally.record(call, response.status_code, seconds, reqid, found=found)
    if call.kind == "fresh" and not found:
        load.recent.append(Made(call, response.headers["etag"], response.headers["last-modified"]))


def answer(response: httpx.Response) -> str:
    """An unexpected answer in a few words: its error sentence, or what its body is."""
    if response.headers.get("content-type") == "application/json":
        return f"{response.status_code} {response.text[:200]}"
    return f"{response.status_code} {response.headers.get('content-type')}, {len(response.content)} bytes"


def checked(call: Call, response: httpx.Response, tally: Tally, rng: random.Random,
            body: bytes | None = None) -> list[str]:
    """problems(), the painted index of a sample of frames, and the body compared with `body` when
    given; a check that fails is a problem too."""
    try:
        found = problems(call, response)
        picture = index_to_read(call, response, rng)
        if picture is not None and call.frame is not None:
            found += index_problems(picture, call.frame)
            tally.count_index_read()
    except Exception as error:  # an answer so wrong that checking it broke (an image that is not one...)
        found = [f"the answer could not be checked: {error!r}"]
    if body is not None and response.content != body:
        found.append("the bytes differ from the file's")
    return found


def perform(http: httpx.Client, load: Load, call: Call, rng: random.Random) -> None:
    """`call` on the client's kept-alive connection, or on a raw one of its own."""
    if call.raw:
        pace = functools.partial(send_at_once, raw_request(call))
        exchange(load, call, functools.partial(raw_exchange, load.server, pace), rng)
    else:
        exchange(load, call, functools.partial(http.request, call.method, call.target, headers=call.headers), rng)


def client(load: Load, rng: random.Random) -> None:
    """One client with its own connection: calls from its own seeded draw until the phase ends."""
    with httpx.Client(base_url=load.server.url, timeout=CLIENT_TIMEOUT_SECONDS) as http:
        while time.monotonic() < load.end:
            perform(http, load, draw(load.corpus, load.recent, rng), rng)


def raw_exchange(server: LiveServer, pace: Callable[[socket.socket], bytes],
                 receive_buffer: int | None = None) -> httpx.Response:
    """A new connection on which `pace` sends a request and returns what it read until the server
    closed; parsed into an httpx.Response for the usual checks."""
    address = urlsplit(server.url)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as connection:
        if receive_buffer is not None:
            connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        connection.settimeout(CLIENT_TIMEOUT_SECONDS)
        connection.connect((address.hostname, address.port))
        received = pace(connection)
    if not received:
        raise ConnectionError("the server closed the connection without an answer")
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines)]
    return httpx.Response(int(status_line.split()[1]), headers=headers, content=body)


def read_all(connection: socket.socket, chunk: int = 65536, pause: float = 0.0) -> bytes:
    received = bytearray()
    while data := connection.recv(chunk):
        received += data
        time.sleep(pause)
    return bytes(received)


def send_at_once(request: bytes, connection: socket.socket) -> bytes:
    connection.sendall(request)
    return read_all(connection)


def send_byte_by_byte(request: bytes, connection: socket.socket) -> bytes:
    for byte in request:
        connection.sendall(bytes([byte]))
        time.sleep(SLOW_SEND_SECONDS / len(request))
    return read_all(connection)


def read_slowly(request: bytes, connection: socket.socket) -> bytes:
    connection.sendall(request)
    return read_all(connection, SLOW_READ_CHUNK, SLOW_READ_PAUSE)


def raw_request(call: Call) -> bytes:
    headers = "".join(f"{name}: {value}\r\n" for name, value in call.headers.items())
    return f"{call.method} {call.target} HTTP/1.1\r\nHost: soak\r\n{headers}Connection: close\r\n\r\n".encode()


def slow_sender(load: Load, rng: random.Random) -> None:
    """Sends the headers of a frame request a byte at a time over SLOW_SEND_SECONDS, again and again."""
    while time.monotonic() < load.end:
        frame = fresh_frame(load.corpus.videos, rng)
        call = Call("slow-send", frame.method, frame.target, frame.status, frame=frame.frame)
        pace = functools.partial(send_byte_by_byte, raw_request(call))
        exchange(load, call, functools.partial(raw_exchange, load.server, pace), rng)


def slow_reader(load: Load, rng: random.Random) -> None:
    """Reads SLOW_READ_BYTES of the large video through a tiny receive window, again and again."""
    call = Call("slow-read", "GET", f"/{quote(LARGE_KEY)}", 206, {"Range": f"bytes=0-{SLOW_READ_BYTES - 1}"},
                length=SLOW_READ_BYTES)
    body = load.corpus.large.read_bytes()[:SLOW_READ_BYTES]
    perform = functools.partial(raw_exchange, load.server, functools.partial(read_slowly, raw_request(call)),
                                SLOW_RECEIVE_BUFFER)
    while time.monotonic() < load.end:
        exchange(load, call, perform, rng, body)


# -- watching the server ---------------------------------------------------------------------------


@dataclass
class Memory:
    elapsed: float
    server_mb: float
    workers_mb: list[float]
    cache_mb: float
    machine_load: float  # the 1-minute load average: the machine is shared, figures are read with it


@dataclass
class Gauges:
    restarts: dict[str, int]
    cache_bytes: int


def gauges(server: LiveServer) -> Gauges:
    """Worker restarts by reason and the result cache's size, from one read of /-/metrics (none if it fails)."""
    restarts: dict[str, int] = {}
    cache_bytes = 0
    try:
        text = server.metrics()
    except httpx.HTTPError:
        return Gauges(restarts, cache_bytes)
    for line in text.splitlines():
        name, _, value = line.rpartition(" ")
        if name.startswith(RESTARTS + "{"):
            reason = name.partition('reason="')[2].partition('"')[0]
            restarts[reason] = int(float(value))
        elif name == "vframe_cache_bytes":
            cache_bytes = int(float(value))
    return Gauges(restarts, cache_bytes)


def resident_mb(server: LiveServer, pid: int | None = None) -> float | None:
    try:
        return round(int(server.resident_bytes(pid)) / MB, 1)
    except (OSError, IndexError, ValueError):  # gone (a worker replaced meanwhile)
        return None


def memory(load: Load) -> Memory:
    workers = [mb for pid in load.server.worker_pids() if (mb := resident_mb(load.server, pid)) is not None]
    return Memory(round(time.monotonic() - load.ready, 1), resident_mb(load.server) or 0.0, workers,
                  round(gauges(load.server).cache_bytes / MB, 1), round(os.getloadavg()[0], 1))


def progress_line(load: Load, elapsed: float, sample: Memory, restarts: dict[str, int]) -> str:
    with load.tally.lock:
        requests, statuses = load.tally.requests, sorted(load.tally.statuses.items())
        lost, wrong = len(load.tally.lost), len(load.tally.wrong)
    histogram = " ".join(f"{status}:{count}" for status, count in statuses)
    restarted = ",".join(f"{reason}={count}" for reason, count in sorted(restarts.items())) or "none"
    workers = "/".join(f"{mb:.0f}" for mb in sample.workers_mb)
    return (f"[{elapsed:5.0f}s] {requests} requests ({requests / max(elapsed, 1e-9):.1f}/s) {histogram} | "
            f"lost {lost} wrong {wrong} | restarts {restarted} | RSS server {sample.server_mb:.0f} MB, "
            f"workers {workers} MB, cache {sample.cache_mb:.0f} MB | load {sample.machine_load}")


def watch(load: Load, samples: dict[str, Memory]) -> None:
    """Until the phase ends: a line every REPORT_SECONDS of the load, and the memory at its half."""
    while (now := time.monotonic()) < load.end:
        time.sleep(min(0.5, load.end - now))
        now = time.monotonic()
        if "mid" not in samples and now >= (load.started + load.finish) / 2:
            samples["mid"] = memory(load)
        if now >= load.next_line:
            print(progress_line(load, now - load.started, memory(load), gauges(load.server).restarts), flush=True)
            load.next_line += REPORT_SECONDS


def run_phase(load: Load, rngs: list[random.Random], seconds: float, samples: dict[str, Memory]) -> None:
    """A thread per seeded generator, for `seconds`, watched: clients, then the slow sender and the slow reader."""
    load.end = time.monotonic() + seconds
    roles = [client] * (len(rngs) - 2) + [slow_sender, slow_reader]
    threads = [threading.Thread(target=role, args=(load, rng), name=f"{role.__name__}-{index}", daemon=True)
               for index, (role, rng) in enumerate(zip(roles, rngs, strict=True))]
    for thread in threads:
        thread.start()
    watch(load, samples)
    for thread in threads:
        thread.join()


def every_kind_once(load: Load, rng: random.Random) -> None:
    """Every kind of request, every hostile case and a few frames of each video, one after another:
    the start of the warm-up."""
    calls = [fresh_frame([video], rng) for video in load.corpus.videos for _ in range(4)]
    calls += [hostile_call(case) for case in load.corpus.hostile]
    calls += [error_call(kind, load.corpus, rng) for kind in ("malformed", "format", "missing", "escape", "method")]
    calls += [plain_video(load.corpus, rng) for _ in range(6)]
    with httpx.Client(base_url=load.server.url, timeout=CLIENT_TIMEOUT_SECONDS) as http:
        for call in calls:
            perform(http, load, call, rng)
        for _ in range(20):
            perform(http, load, draw(load.corpus, load.recent, rng), rng)


# -- the summary -----------------------------------------------------------------------------------


def memory_verdict(samples: dict[str, Memory]) -> tuple[bool, str]:
    warm, end = samples["after warm-up"], samples["end"]
    worker_limit = max(warm.workers_mb, default=0.0) + WORKER_SLACK_MB
    server_limit = warm.server_mb + max(0.0, end.cache_mb - warm.cache_mb) + SERVER_SLACK_MB
    workers_flat = bool(end.workers_mb) and max(end.workers_mb) <= worker_limit
    server_flat = end.server_mb <= server_limit
    text = (f"workers {end.workers_mb} MB at the end, limit {worker_limit:.0f} MB (largest after warm-up + "
            f"{WORKER_SLACK_MB}); server {end.server_mb:.0f} MB, limit {server_limit:.0f} MB (after warm-up + "
            f"cache growth + {SERVER_SLACK_MB})")
    return workers_flat and server_flat, f"{'flat' if workers_flat and server_flat else 'GROWING'}: {text}"


def grouped(failures: list[Failure]) -> list[dict[str, Any]]:
    """The failures by kind, expected and got: how many, and the first one's details."""
    groups: dict[tuple[str, int, int | None], list[Failure]] = {}
    for failure in failures:
        groups.setdefault((failure.kind, failure.expected, failure.got), []).append(failure)
    return [{"count": len(group), **asdict(group[0])} for group in groups.values()]


def log_lines(server: LiveServer, failures: list[dict[str, Any]]) -> list[str]:
    """The server's log lines of these failures' requests (the access line, and any error logged with it)."""
    reqids = {failure["reqid"] for failure in failures if failure["reqid"]}
    return [line for line in server.log().splitlines() if any(reqid in line for reqid in reqids)]


def final_health(server: LiveServer) -> dict[str, object]:
    try:
        return dict(server.wait_ready(timeout=30))
    except AssertionError:
        try:
            return dict(server.health())
        except httpx.HTTPError as error:
            return {"status": f"no answer: {error!r}"}


def summarize(load: Load, seconds: float, samples: dict[str, Memory], canary: Canary,
              health: dict[str, object]) -> dict[str, Any]:
    tally = load.tally
    flat, verdict = memory_verdict(samples)
    restarts = gauges(load.server).restarts
    alive = load.server.process.poll() is None  # the process started at the beginning: never restarted
    healthy = health.get("status") == "ok" and health.get("workers_ready") == WORKERS
    lost, wrong = grouped(tally.lost), grouped(tally.wrong)
    cheap = [seconds for kind in CHEAP_KINDS for seconds in tally.seconds.get(kind, [])]
    latency = {kind: {"p50": round(percentile(values, 0.5), 3), "p99": round(percentile(values, 0.99), 3),
                      "max": round(max(values), 3)} for kind, values in sorted(tally.seconds.items())}
    return {
        "seconds": round(seconds, 1), "requests": tally.requests,
        "requests_per_second": round(tally.requests / seconds, 1),
        "statuses": {str(status): count for status, count in sorted(tally.statuses.items())},
        "kinds": dict(sorted(tally.kinds.items())), "latency_seconds": latency,
        "cheap_latency_seconds": {"p99": round(percentile(cheap, 0.99), 3), "max": round(max(cheap, default=0), 3)},
        "indices_read": tally.indices_read, "lost": len(tally.lost), "wrong": len(tally.wrong),
        "lost_by_kind": lost, "wrong_by_kind": wrong,
        "log_of_failures": log_lines(load.server, lost[:SHOWN] + wrong[:SHOWN]),
        "worker_restarts": restarts, "server_pid": load.server.process.pid, "server_alive": alive,
        "health": health, "healthy": healthy,
        "canary_connections": canary.connections,
        "memory_mb": {moment: asdict(sample) for moment, sample in samples.items()},
        "memory_flat": flat, "memory_verdict": verdict,
        "passed": not tally.lost and not tally.wrong and alive and healthy and canary.connections == 0 and flat,
    }


def print_summary(summary: dict[str, Any]) -> None:
    print(f"\nsoak: {summary['requests']} requests in {summary['seconds']:.0f} s "
          f"({summary['requests_per_second']}/s)")
    print("  by status: " + " ".join(f"{status}:{count}" for status, count in summary["statuses"].items()))
    print("  by kind:   " + " ".join(f"{kind}:{count}" for kind, count in summary["kinds"].items()))
    print(f"  frames whose painted index was read back: {summary['indices_read']}")
    print("  latency (s) p50/p99/max: " + "  ".join(
        f"{kind} {figures['p50']}/{figures['p99']}/{figures['max']}" for kind, figures in
        summary["latency_seconds"].items()))
    slow, cheap = summary["kinds"], summary["cheap_latency_seconds"]
    print(f"  slow clients: {slow.get('slow-send', 0)} requests sent a byte at a time, {slow.get('slow-read', 0)} "
          f"large answers read slowly; meanwhile cheap requests (no decoding) took p99 {cheap['p99']} s, "
          f"max {cheap['max']} s")
    for label in ("lost", "wrong"):
        print(f"  {label}: {summary[label]}")
        for failure in summary[f"{label}_by_kind"][:SHOWN]:
            print(f"    {failure['count']} x {failure['kind']}: {failure['request']} expected {failure['expected']}, "
                  f"got {failure['got'] or 'no answer'}: {failure['detail']} (first reqid {failure['reqid'] or '-'})")
    for line in summary["log_of_failures"]:
        print(f"    log: {line}")
    print(f"  worker restarts: {summary['worker_restarts'] or 'none'}")
    print(f"  server pid {summary['server_pid']}: {'alive, the same process' if summary['server_alive'] else 'GONE'}")
    print(f"  health: {'ok' if summary['healthy'] else 'NOT OK'} {summary['health']}")
    print(f"  canary connections: {summary['canary_connections']}")
    print("  memory (MB)        server  cache  workers")
    for moment, sample in summary["memory_mb"].items():
        print(f"    {moment:<15} {sample['server_mb']:7.1f} {sample['cache_mb']:6.1f}  {sample['workers_mb']}"
              f"  (at {sample['elapsed']:.0f} s, machine load {sample['machine_load']})")
    print(f"  memory: {summary['memory_verdict']}")
    print(f"soak: {'PASSED' if summary['passed'] else 'FAILED'}")


# -- the command -----------------------------------------------------------------------------------


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tools/soak.py", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long the load runs (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients besides the 2 slow ones")
    parser.add_argument("--seed", type=int, default=1, help="seed of every client's draw")
    parser.add_argument("--json", type=Path, help="write the summary here as JSON")
    args = parser.parse_args(argv)
    if args.minutes <= 0 or args.clients < 1:
        parser.error("--minutes must be above 0 and --clients at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    canary = Canary()
    try:
        with tempfile.TemporaryDirectory(prefix="vframe-soak-") as temporary:
            root, scratch = Path(temporary) / "root", Path(temporary) / "scratch"
            scratch.mkdir()
            print(f"soak: building the videos and the hostile corpus in {root}", flush=True)
            corpus = build_folder(root, scratch, canary.port)
            with live_server(root, "--workers", str(WORKERS)) as server:
                summary = soak(server, corpus, canary, args)
    finally:
        canary.close()
    print_summary(summary)
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["passed"] else 1


def soak(server: LiveServer, corpus: Corpus, canary: Canary, args: argparse.Namespace) -> dict[str, Any]:
    """Warm-up (every kind once, then the mixed load for WARM_UP_SECONDS or a quarter of the time),
    the mixed load for the rest of the time, each followed by a memory sample at rest."""
    print(f"soak: server pid {server.process.pid} on {server.url}, {len(corpus.videos)} videos, "
          f"{len(corpus.hostile)} hostile cases, canary port {canary.port}; {args.clients} clients + 2 slow for "
          f"{args.minutes:g} min", flush=True)
    load = Load(server, corpus, Tally(), deque(maxlen=RECENT_FRAMES), ready=time.monotonic())
    samples = {"start": memory(load)}
    rngs = [random.Random(args.seed * 1000 + index) for index in range(args.clients + 2)]
    load.started = load.end = time.monotonic()
    load.finish = load.started + args.minutes * 60
    load.next_line = load.started + REPORT_SECONDS
    every_kind_once(load, random.Random(args.seed))
    warm_up_end = load.started + min(WARM_UP_SECONDS, args.minutes * 60 / 4)
    run_phase(load, rngs, warm_up_end - time.monotonic(), samples)
    time.sleep(SETTLE_SECONDS)
    samples["after warm-up"] = memory(load)
    run_phase(load, rngs, load.finish - time.monotonic(), samples)
    seconds = time.monotonic() - load.started
    health = final_health(server)
    time.sleep(SETTLE_SECONDS)
    samples["end"] = memory(load)
    return summarize(load, seconds, samples, canary, health)


if __name__ == "__main__":
    raise SystemExit(main())
