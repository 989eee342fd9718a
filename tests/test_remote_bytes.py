"""What one frame of a large remote video costs the origin, counted by the origin itself.

The requirement: for a large video (over 200 MB, with its index first and with its index last),
one frame near the middle costs at most the size of the index, plus the frame's GOP, plus two
blocks of bytes from the origin. Three frames of the GOP at the video's middle (its keyframe, a
quarter and half way into it) are asked for in exact mode through `vframe.grab` over a real HTTP
origin (vframe_testkit.origin), and the half-way one through a live `vframe serve --origin` too (its
decode workers read exactly as the library does), with the default block and with 256 KiB blocks.
The picture must be the one vframe makes from the local file, byte for byte.

The video is made quickly: a 4 s clip (1280x720, 24 fps, a keyframe every 48 frames, 2 B-frames,
grainy so that frames weigh ~200 kB) is encoded once, then its packets are muxed again and again
with shifted timestamps (no re-encoding) until the file passes 200 MB (about 10 s in all), once
with the moov last (FFmpeg's default) and once with `movflags=faststart`. The encoder's input is
made in integers and its thread count is fixed, so the file is the same on every machine.

The budget is computed from the file, independently of vframe:

* the index: the size of the top-level `moov` box;
* the frame's GOP: the bytes from the position of the keyframe at or before the frame to the end
  of the last packet a decoder must be fed (in decode order, from that keyframe) before it outputs
  the frame, found by feeding FFmpeg's H.264 decoder, set up as vframe sets it up (slice threads),
  one packet at a time. With B-frames this runs past the packets whose dts are at or before the
  frame's (also printed): the decoder holds a frame back until it is sure nothing shown earlier is
  still to come (here 2 packets past a keyframe, 4, ~780 kB, past a P-frame). It is the least a
  reader can stop at without the frames' presentation times, which FFmpeg's index
  (stream.index_entries: positions and decode times) does not give;
* two blocks: 2 x block_bytes.

vframe stops demuxing at the last packet decoded at or before the target (MP4 durations give the
next decode time without reading it), so it never fetches the packet after the GOP.
"""

from __future__ import annotations

import fcntl
import functools
import math
import mmap
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path, PosixPath
from typing import Any, ClassVar

import av
import av.video.stream
import pytest

import vframe
from vframe.sources.ranged import KEPT
from vframe_testkit import mp4, synth
from vframe_testkit import origin as origin_module
from vframe_testkit.live import LiveServer, live_server
from vframe_testkit.origin import Origin, Request, serve_origin

MB = 1_000_000
MIN_BYTES = 200 * MB
DEFAULT_BLOCK = vframe.Settings().block_bytes
SMALL_BLOCK = 262_144
BLOCKS = {"default-block": DEFAULT_BLOCK, "256k-block": SMALL_BLOCK}
LAYOUTS = {"moov-last": {}, "faststart": {"movflags": "faststart"}}
FPS, GOP = synth.LARGE_FPS, synth.LARGE_GOP
BUILD = "v2"  # change whenever the video built changes, so that a worker never reuses an old one
PLACES = {"keyframe": 0, "quarter-GOP": GOP // 4, "half-GOP": GOP // 2}  # frames after the middle GOP's keyframe
OUT = "w/480/h/360"
REQUESTS_SLACK = 3  # GETs besides one a block of budget: the video's start, the moov, a partial block


class OverBudget(AssertionError):
    """The origin sent more bytes than the budget: the product's failure, not the test's."""


@dataclass(frozen=True)
class Frame:
    """One frame near the middle of a large video and what it needs, read from the file itself."""

    place: str
    seconds: Fraction  # its presentation time
    keyframe_pos: int  # file position of the keyframe at or before it
    dts_end: int  # end of the last packet whose dts is at or before the frame's
    decoded_end: int  # end of the last packet fed before the decoder outputs the frame
    local: bytes = b""  # the picture vframe makes from the local file

    @property
    def spec(self) -> str:
        return f"vframe/jpg/offset/{math.ceil(self.seconds * 1000) / 1000:.3f}/{OUT}"

    @property
    def gop(self) -> int:
        return self.decoded_end - self.keyframe_pos


@dataclass(frozen=True)
class LargeVideo:
    path: Path
    size: int
    moov: int  # bytes of the top-level moov box
    boxes: tuple[str, ...]  # top-level box types in file order
    frames: dict[str, Frame]

    @property
    def name(self) -> str:
        return self.path.name

    def budget(self, frame: Frame, block: int) -> int:
        return self.moov + frame.gop + 2 * block


def time_base(stream: av.video.stream.VideoStream) -> Fraction:
    assert stream.time_base is not None
    return Fraction(stream.time_base)


# -- building the video ---------------------------------------------------------------------------


def frame_facts(path: Path) -> dict[str, Frame]:
    """The frames at PLACES in the GOP that holds the video's middle, and the two ends of their GOPs
    (see the module docstring), from the packets' positions and a decoder fed one packet at a time."""
    with av.open(str(path)) as container:
        tick = time_base(container.streams.video[0])
    packets = synth.samples(path)
    shown = sorted(p.pts for p in packets)  # presentation order: frame n has pts shown[n]
    middle_key = len(shown) // 2 // GOP * GOP
    frames = {}
    for place, after in PLACES.items():
        target = shown[middle_key + after]
        dts = next(p.dts for p in packets if p.pts == target)
        key_pos = max((p for p in packets if p.key and p.pts <= target), key=lambda p: p.pts).pos
        dts_end = max(p.pos + p.size for p in packets if p.dts <= dts)
        frames[place] = Frame(place, target * tick, key_pos, dts_end, decoded_end(path, key_pos, target))
    return frames


def decoded_end(path: Path, key_pos: int, target: int) -> int:
    """The end of the packet after which FFmpeg's decoder, fed from the keyframe at `key_pos` on,
    outputs the frame with pts `target`."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        decoder = stream.codec_context
        decoder.thread_type = "SLICE"  # as vframe: frame threads would hold frames back longer
        decoder.thread_count = 0
        fed = False
        for packet in container.demux(stream):
            if packet.pos is None or packet.pos < key_pos or not packet.size:
                continue
            assert fed or packet.pos == key_pos
            fed = True
            if any(frame.pts == target for frame in decoder.decode(packet)):
                return packet.pos + packet.size
    raise AssertionError(f"{path}: the decoder never output the frame with pts {target}")


def build(folder: Path) -> dict[str, Path]:
    """Both layouts in `folder` (built once: a marker file says they are complete)."""
    paths = {layout: folder / f"big-{layout}.mp4" for layout in LAYOUTS}
    done = folder / f"built-{BUILD}"
    if not done.exists():
        synth.make_large_mp4s({paths[layout]: options for layout, options in LAYOUTS.items()}, MIN_BYTES, folder)
        done.touch()
    return paths


@pytest.fixture(scope="session")
def large_videos(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[dict[str, LargeVideo]]:
    """Both layouts, built once per run: xdist workers share one folder, under a lock, each noting
    there that it uses the videos; the last one done deletes them (pytest keeps its last three runs'
    temporary folders, and these are 400 MB)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if worker_id != "master" else base) / "remote-bytes"
    folder.mkdir(exist_ok=True)
    user = folder / f"user-{worker_id}"
    with open(folder / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        paths = build(folder)
        user.touch()
    try:
        videos = {}
        for layout, path in paths.items():
            boxes = [(box.type.decode("latin-1"), box.start, box.size) for box in mp4.top_level(path)]
            frames = {}
            for place, frame in frame_facts(path).items():
                local = vframe.grab(path, frame.spec)
                assert local.time == frame.seconds
                frames[place] = replace(frame, local=local.data)
            moov = sum(size for kind, _, size in boxes if kind == "moov")
            videos[layout] = LargeVideo(path, path.stat().st_size, moov, tuple(kind for kind, _, _ in boxes), frames)
        yield videos
    finally:
        with open(folder / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            user.unlink()
            if not any(folder.glob("user-*")):
                for built in (*paths.values(), folder / f"built-{BUILD}"):
                    built.unlink(missing_ok=True)


class MappedPath(PosixPath):
    """A path whose read_bytes maps the file, once, instead of copying it: vframe_testkit.origin reads the
    whole file for every request it answers (and hashes it for the ETag), which for 200 MB would be
    most of this module's time. Given as the origin's root, so that every path under it is one."""

    maps: ClassVar[dict[str, mmap.mmap]] = {}

    def read_bytes(self) -> bytes:
        key = str(self)
        if key not in self.maps:
            with open(self, "rb") as file:
                self.maps[key] = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        return self.maps[key]  # type: ignore[return-value]  # sliced, measured and hashed like bytes


@pytest.fixture(scope="module")
def origin(large_videos: dict[str, LargeVideo]) -> Iterator[Origin]:
    """vframe_testkit.origin serving both videos; its ETag is computed once a mapped file (a map is hashed by
    identity), which is still the SHA-1 of all the file's bytes."""
    folder = MappedPath(next(iter(large_videos.values())).path.parent)
    try:
        with pytest.MonkeyPatch.context() as patch, serve_origin(folder) as served:
            patch.setattr(origin_module, "_etag", functools.cache(origin_module._etag))
            yield served
    finally:
        for mapped in MappedPath.maps.values():
            mapped.close()
        MappedPath.maps.clear()


class Servers:
    """`vframe serve --origin ORIGIN --block-bytes B`, one for each block size, started on first use."""

    def __init__(self, origin: Origin, stack: ExitStack) -> None:
        self._origin, self._stack = origin, stack
        self._started: dict[int, LiveServer] = {}

    def __getitem__(self, block: int) -> LiveServer:
        if block not in self._started:
            flags = ("--root", "", "--origin", self._origin.url + "/", "--block-bytes", str(block),
                     "--origin-cache-bytes", "0")  # each frame asked for is a first frame for its worker
            self._started[block] = self._stack.enter_context(live_server(Path(""), *flags))
        return self._started[block]


@pytest.fixture(scope="module")
def servers(origin: Origin) -> Iterator[Servers]:
    with ExitStack() as stack:
        yield Servers(origin, stack)


# -- the figures ----------------------------------------------------------------------------------


def check_origin(video: LargeVideo, frame: Frame, block: int, requests: list[Request], how: str) -> None:
    """What the origin counted for one frame: only ranged GETs of this video, none of the whole file,
    a modest number of them, and at most the budget of bytes (else OverBudget)."""
    gets = [r for r in requests if r.method == "GET"]
    sent, budget = sum(r.length for r in requests), video.budget(frame, block)
    ranges = ", ".join(f"{r.range} ({r.length})" for r in gets)
    print(f"\n{how}, {video.name} at {float(frame.seconds):.3f} s ({frame.place}), block {block}: {sent} bytes in "
          f"{len(gets)} GETs and {len(requests) - len(gets)} other requests; budget {budget} = moov {video.moov} "
          f"+ GOP {frame.gop} (dts-ordered {frame.dts_end - frame.keyframe_pos}) + 2 x {block}; "
          f"{sent - budget:+d} vs budget\n  keyframe at {frame.keyframe_pos}, GOP to {frame.decoded_end}; "
          f"GETs: {ranges}")
    assert {r.path for r in requests} == {f"/{video.name}"}
    assert all(r.range is not None and r.range.startswith("bytes=") for r in gets), ranges
    assert all(r.length < video.size for r in gets), ranges
    assert len(gets) <= math.ceil(budget / block) + REQUESTS_SLACK, ranges
    if sent > budget:
        raise OverBudget(f"{how} fetched {sent} bytes of {video.name} at {frame.place} with {block}-byte blocks, "
                         f"{sent - budget} over the budget of {budget}: {ranges}")


def cases(places: tuple[str, ...] = tuple(PLACES)) -> list[Any]:
    """(layout, place, block) for each frame asked for."""
    params = []
    for layout in LAYOUTS:
        for place in places:
            for block_name, block in BLOCKS.items():
                params.append(pytest.param(layout, place, block, id=f"{layout}-{place}-{block_name}"))
    return params


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_video_is_large_with_its_index_where_the_layout_says(large_videos: dict[str, LargeVideo],
                                                                  layout: str) -> None:
    video = large_videos[layout]
    assert video.size >= MIN_BYTES
    if layout == "faststart":
        assert video.boxes.index("moov") < video.boxes.index("mdat")
    else:
        assert video.boxes[-1] == "moov"
    for frame in video.frames.values():
        assert frame.keyframe_pos < video.size / 2 < frame.decoded_end + 10 * MB
        assert frame.dts_end <= frame.decoded_end


@pytest.mark.parametrize(("layout", "place", "block"), cases())
def test_a_frame_from_the_library_costs_the_index_its_gop_and_two_blocks(
    large_videos: dict[str, LargeVideo], origin: Origin, layout: str, place: str, block: int
) -> None:
    video = large_videos[layout]
    frame = video.frames[place]
    origin.reset()
    KEPT.clear()  # the first frame of this video in this process
    settings = vframe.Settings(allow_private_urls=1, block_bytes=block)
    result = vframe.grab(f"{origin.url}/{video.name}", frame.spec, settings)
    requests = list(origin.requests)
    assert result.time == frame.seconds
    assert result.data == frame.local
    check_origin(video, frame, block, requests, "vframe.grab")


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_second_frame_of_the_same_video_fetches_nothing_twice(
    large_videos: dict[str, LargeVideo], origin: Origin, layout: str
) -> None:
    """The origin's ETag is strong, so what the first frame fetched (the index, the start of the
    GOP) serves the second: it costs its own part of the GOP and at most two blocks, no index."""
    video = large_videos[layout]
    first, second = video.frames["keyframe"], video.frames["half-GOP"]
    url, settings = f"{origin.url}/{video.name}", vframe.Settings(allow_private_urls=1)
    KEPT.clear()
    origin.reset()
    assert vframe.grab(url, first.spec, settings).data == first.local
    fetched_first = [fetched_range(r) for r in origin.requests if r.method == "GET"]
    origin.reset()
    result = vframe.grab(url, second.spec, settings)
    requests = list(origin.requests)
    assert result.data == second.local
    check_second_frame(video, second, fetched_first, requests)


def test_with_a_weak_etag_nothing_is_kept_between_requests(large_videos: dict[str, LargeVideo], origin: Origin) -> None:
    """A weak ETag does not name exact bytes: the second frame fetches the index again."""
    video = large_videos["faststart"]
    frame = video.frames["keyframe"]
    url, settings = f"{origin.url}/{video.name}", vframe.Settings(allow_private_urls=1)
    KEPT.clear()
    origin.reset()
    origin.faults.weak_etag = True
    assert vframe.grab(url, frame.spec, settings).data == frame.local
    assert KEPT.bytes == 0
    origin.requests.clear()
    assert vframe.grab(url, frame.spec, settings).data == frame.local
    assert sum(r.length for r in origin.requests) >= video.moov


def test_what_a_process_keeps_between_requests_is_bounded(large_videos: dict[str, LargeVideo],
                                                          origin: Origin) -> None:
    video = large_videos["moov-last"]
    frame = video.frames["half-GOP"]
    settings = vframe.Settings(allow_private_urls=1, block_bytes=SMALL_BLOCK, origin_cache_bytes=3 * SMALL_BLOCK)
    KEPT.clear()
    origin.reset()
    assert vframe.grab(f"{origin.url}/{video.name}", frame.spec, settings).data == frame.local
    assert 0 < KEPT.bytes <= 3 * SMALL_BLOCK


def check_second_frame(video: LargeVideo, frame: Frame, fetched_first: list[tuple[int, int]],
                       requests: list[Request]) -> None:
    """A second frame of a video: nothing the first fetched is fetched again, and no index."""
    fetched = [fetched_range(r) for r in requests if r.method == "GET"]
    assert all(end <= start_first or end_first <= start
               for start_first, end_first in fetched_first for start, end in fetched), (fetched_first, fetched)
    sent = sum(r.length for r in requests)
    assert sent <= video.budget(frame, DEFAULT_BLOCK) - video.moov, (sent, fetched)
    assert [r.method for r in requests].count("HEAD") == 1  # the version is still looked up each time


def test_a_second_frame_from_the_same_worker_fetches_nothing_twice(
    large_videos: dict[str, LargeVideo], origin: Origin
) -> None:
    """The same through `vframe serve` (one decode worker, so both frames meet the same one)."""
    video = large_videos["moov-last"]
    first, second = video.frames["keyframe"], video.frames["half-GOP"]
    with live_server(Path(""), "--root", "", "--origin", origin.url + "/", "--workers", "1") as server, \
            server.client() as client:
        origin.reset()
        assert client.get(f"/{video.name}?{first.spec}").content == first.local
        fetched_first = [fetched_range(r) for r in origin.requests if r.method == "GET"]
        origin.reset()
        response = client.get(f"/{video.name}?{second.spec}")
        requests = list(origin.requests)
    assert response.status_code == 200, response.text
    assert response.content == second.local
    check_second_frame(video, second, fetched_first, requests)


def fetched_range(request: Request) -> tuple[int, int]:
    """[start, end) of a ranged GET the origin answered."""
    assert request.range is not None
    start, _, last = request.range.removeprefix("bytes=").partition("-")
    return int(start), int(start) + request.length


@pytest.mark.parametrize(("layout", "place", "block"), cases(("half-GOP",)))
def test_a_frame_from_the_service_costs_the_index_its_gop_and_two_blocks(
    large_videos: dict[str, LargeVideo], origin: Origin, servers: Servers, layout: str, place: str, block: int
) -> None:
    video = large_videos[layout]
    frame = video.frames[place]
    server = servers[block]
    origin.reset()
    with server.client() as client:
        response = client.get(f"/{video.name}?{frame.spec}")
    requests = list(origin.requests)
    assert response.status_code == 200, response.text
    assert response.headers["X-Vframe-Time"] == f"{float(frame.seconds):.3f}"
    assert response.content == frame.local
    check_origin(video, frame, block, requests, "vframe serve")
