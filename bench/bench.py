"""`make bench`: how fast vframe cuts one frame and a storyboard of many, next to the tools people use
instead and to the floors, on videos the bench makes itself, in one run on one machine; then printed
against issue 13's targets (target 6 being issue 6's that still hold).

Videos (bench/videos.py, made once with PyAV into bench/cache; every frame shows its own index):
1080p H.264 High with B-frames and an 8 s GOP (20 s, and 120 s for the storyboards), 4K HEVC Main 10,
720p VP9, and a 2-hour MP4 whose index holds 180,000 samples. Offsets are fixed and seeded, each some
seconds past a keyframe.

1. Per frame, one at a time (10 offsets a video; 3 with --quick), peers interleaved offset by offset
   in a rotating order (bench/peers.py): vframe in-process (exact and /mode/fast), vframe HTTP (a
   `vframe serve` started here, default settings, asked by one keep-alive client; every spec is asked
   once, so nothing comes from its cache, which /-/metrics confirms), `ffmpeg -ss T -i FILE -frames:v 1
   -vf scale=480:360 out.jpg` (Debian's), ffmpegthumbnailer (Debian's, keyframe-grade), the floor
   (one keyframe decoded, scaled, encoded, in PyAV) and the exact floor (the keyframe and the
   reference frames up to the frame shown at T, which it knows beforehand, in PyAV: the least an
   exact in-process decode can do). Each peer is warmed up on other offsets first. Medians, p90,
   CPU per frame, peak RSS of the processes, ratios to ffmpeg and to the floor. Target 4 judges
   exact HTTP against the exact floor; its ratio to ffmpeg is printed per depth past the keyframe.
2. Throughput: 60 uncached exact 480x360 frames of the 1080p video (16 with --quick), distinct and
   seeded: a fresh `vframe serve` (default: a decode worker per core) asked by 16 concurrent clients,
   against the exact floor over the same frames in 2 processes side by side, one thread each
   (bench/floors.py; the target), and the same ffmpeg command line run 2 at a time. Frames per second.
3. Cached hits: `wrk -t2 -c16 --latency` for 10 s (3 s with --quick) on one frame that server has
   cached, then the same with 8 connections (median latency is about connections / rate, Little's
   law: with 16 connections a median under 3 ms needs over 5,300 requests/s). Without wrk, the
   bench's own asyncio client (bench/service.py), said so.
4. Memory: a fresh `vframe serve` asked for 24 uncached exact 4K HEVC frames (8 with --quick) by 16
   concurrent clients, each decode worker's peak RSS (VmHWM in /proc, sampled every 0.2 s so a
   replaced worker counts); the peak of a fresh process grabbing 4K frames in-process; ffmpeg's.
5. Storyboards (bench/storyboard.py; 3 repetitions, 1 with --quick, a fresh `vframe serve` each): a
   60-tile 160x90 sprite sheet of the 120 s 1080p video (a tile every 2 s) and a 100-tile one of the
   2-hour MP4 (`vsample/jpg/...`), vframe exact and fast through HTTP, against ffmpeg's one pass
   (`fps,scale,tile`), ffmpeg -ss once per tile, the same tiles as single vframe frames through HTTP,
   and two floors in bare PyAV (bench/floors.py): a keyframe pass, and an exact multi-frame pass. Every
   tile is cropped and its index read (for vframe, where its JSON twin says it is, and its time checked).
6. Command-line cold start (bench/coldstart.py): `vframe grab` and `ffmpeg -ss` as fresh processes for
   one 480x360 frame of the 1080p video, 10 runs each (5 with --quick), interleaved.
7. Posters (bench/poster.py): `offset/auto` on the 1080p H.264 video and on a 720p one that opens on
   3 s of black with an 8 s GOP (the exact candidates walked too), in-process and as a fresh `vframe
   grab`, against the fast single frame at the poster's time and `ffmpegthumbnailer -s 320` (its smart
   mode), 10 runs each (3 with --quick), interleaved; every picture's index read back.
8. Exactness: every frame vframe returned, in every section, read back from its picture.
9. Jobs (bench/jobs.py): pfop jobs per second and seconds per job for posters and 60-tile
   storyboards, embedded (`vframe serve`'s SQLite queue) and on Redis with 2 `vframe worker`s, next
   to the synchronous GETs of the same work; 2 decode workers in every mode.
10. Animated previews (bench/previews.py; 3 repetitions, 1 with --quick): a 3 s, 10 fps, 320-wide GIF and
    WebP of the same span, vframe's `vpreview` in-process against ffmpeg's palettegen/paletteuse command
    line and its libwebp_anim: time, bytes per frame, and (synthetic video) each frame's painted index.

Every section ends with its targets, the measured figure and PASS or MISS. It is a report: the exit
code is 0 unless the bench itself failed. Wall times on a shared machine are noisy: compare figures
of the same run.

    .venv/bin/python bench/bench.py [--quick] [--json PATH] [--remote]

--remote adds bench/remote.py's figure (one frame of a 200 MB video behind an HTTP origin: bytes and
requests the origin served, vframe next to `ffmpeg -ss T -i http://...`), not part of issue 6.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import quote

import av
import coldstart  # bench/coldstart.py
import httpx
import jobs  # bench/jobs.py
import peers  # bench/peers.py
import poster  # bench/poster.py
import previews  # bench/previews.py
import storyboard  # bench/storyboard.py
from floors import exact_floor_in_processes
from peers import OUT_SIZE, Call, painted, spec
from service import Run, Server, WorkerMemory, load_in_processes, load_threads, run_commands, run_wrk, vframe_serve
from videos import BY_NAME, CACHE_DIR, STORYBOARD_1080P, VIDEOS, Offset, Video, ensure, pick_offsets

import vframe
from vframe_testkit import system
from vframe_testkit.stats import p90

BENCH_DIR = Path(__file__).resolve().parent
OFFSETS = (10, 3)  # a video, per frame: full, quick
THROUGHPUT_FRAMES = (60, 16)
THROUGHPUT_CLIENTS = 16
FFMPEG_PARALLEL = 2
FLOOR_PROCESSES = 2  # the exact floor's processes side by side, for the throughput target
WRK_SECONDS = (10, 3)
WRK_RUNS = ((2, 16), (2, 8))  # (threads, connections); the first is the one judged
FALLBACK_REQUESTS = (5000, 1000)  # cached hits without wrk
MEMORY_FRAMES = (24, 8)
MEMORY_CLIENTS = 16
INPROCESS_PEAK_FRAMES = 4

EXACT = "vframe"
EXACT_HTTP = "vframe HTTP"
FFMPEG = "ffmpeg -ss"
FAST = "vframe fast"
FAST_HTTP = "vframe fast HTTP"
THUMBNAILER = "ffmpegthumbnailer"
FLOOR = "floor"
EXACT_FLOOR = "exact floor"
PEERS = (EXACT, EXACT_HTTP, FFMPEG, FAST, FAST_HTTP, THUMBNAILER, FLOOR, EXACT_FLOOR)

# issue 13's targets (1-5, 7) and issue 6's that still hold (6)
TARGET_BOARD_FAST_FLOOR = 1.5  # 1. fast 60-tile 1080p storyboard, at most this times the keyframe-pass floor
TARGET_BOARD_FAST_FFMPEG = 15.0  # 1. ... and at least this many times faster than ffmpeg's one pass
TARGET_BOARD_EXACT_FFMPEG = 0.7  # 2. exact 60-tile 1080p storyboard, at most this times ffmpeg's one pass
TARGET_BOARD_EXACT_FLOOR = 1.2  # 2. ... and at most this times the exact multi-frame floor
TARGET_BOARD_LONG = 2.0  # 3. the 2-hour 100-tile fast storyboard per tile, at most this times the 1080p one's
TARGET_EXACT_FLOOR = 1.1  # 4. exact 1080p H.264 and 4K HEVC 10-bit through HTTP, at most this times the exact floor
TARGET_THROUGHPUT_FLOOR = 0.9  # 5. frames/s with 16 clients over the exact floor's in 2 processes
TARGET_FAST = 1.5  # 6. fast mode at most this times the floor's median, and faster than ffmpegthumbnailer
TARGET_CACHED_PER_S, TARGET_CACHED_MEDIAN_MS = 3000.0, 3.0  # 6.
TARGET_WORKER_MB = 300.0  # 6.
TARGET_COLD_START = 0.9  # 7. vframe grab as a fresh process, at most this times ffmpeg -ss's


# -- set-up -------------------------------------------------------------------------------------


def ensure_tool(binary: str, package: str) -> str | None:
    """The path of `binary`, installed from Debian's `package` if missing (vframe_testkit.system, as
    `make test` does); None when it cannot be had (its figures are then left out, and said so loudly)."""
    found = system.ensure(binary, package)
    if found is None:
        missing(binary, f"it is not installed and apt-get install {package} could not be run or failed")
    return found


MISSING: list[str] = []  # peers left out of this run, said again in the summary


def missing(binary: str, why: str) -> None:
    MISSING.append(binary)
    bar = "!" * 100
    print(f"{bar}\n!!! {binary} IS MISSING ({why}): every figure of {binary} is left out of this run\n{bar}",
          flush=True)


def tool_version(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError:
        return None
    lines = (done.stdout or done.stderr).splitlines()
    return lines[0].strip() if lines else None


# -- statistics and printing ------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def times(ratio: float) -> str:
    if ratio != ratio:  # NaN
        return "n/a"
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x"


@dataclass
class Target:
    section: str
    what: str
    target: str
    measured: str
    passed: bool | None  # None: could not be measured

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else "PASS" if self.passed else "MISS"


def print_targets(targets: list[Target], title: str) -> list[Target]:
    """Print `targets` under `title` and give them back (to add to the summary)."""
    width = max(len(t.what) for t in targets)
    target_width = max(len(t.target) for t in targets)
    print(f"{title}:")
    for t in targets:
        print(f"  {t.what:<{width}}  target {t.target:<{target_width}}  measured {t.measured:<40} {t.verdict}")
    return targets


def ratio_target(section: str, what: str, value: float, base: float, limit: float, strict: bool = False) -> Target:
    """value/base against `limit` (at most, or below it when `strict`)."""
    if value != value or base != base or not base:
        return Target(section, what, f"{'<' if strict else '<='} {limit:g}x", "n/a", None)
    ratio = value / base
    passed = ratio < limit if strict else ratio <= limit
    measured = f"{times(ratio)} ({value:.0f} / {base:.0f} ms)"
    return Target(section, what, f"{'<' if strict else '<='} {limit:g}x", measured, passed)


def least_target(section: str, what: str, value: float, base: float, limit: float, unit: str = "ms") -> Target:
    """value/base against `limit`, at least (a rate over a rate, or a slower peer's time over ours)."""
    if value != value or base != base or not base:
        return Target(section, what, f">= {limit:g}x", "n/a", None)
    ratio = value / base
    figures = f"{value:.2f} / {base:.2f}" if unit == "per s" else f"{value:.0f} / {base:.0f}"
    return Target(section, what, f">= {limit:g}x", f"{times(ratio)} ({figures} {unit})", ratio >= limit)


# -- 1. per frame ---------------------------------------------------------------------------------


@dataclass
class VideoResult:
    video: Video
    offsets: list[Offset]
    calls: dict[str, list[Call]] = field(default_factory=dict)
    misses: float | None = None  # the server's cache misses over its HTTP calls (warm-ups included)
    http_calls: int = 0

    def wall(self, peer: str) -> list[float]:
        return [call.wall_ms for call in self.calls.get(peer, [])]

    def summary(self, peer: str) -> dict[str, Any]:
        calls = self.calls.get(peer, [])
        cpu = [c.cpu_ms for c in calls if c.cpu_ms is not None]
        rss = [c.max_rss_kb for c in calls if c.max_rss_kb]
        return {"median_ms": median(self.wall(peer)), "p90_ms": p90(self.wall(peer)) if calls else float("nan"),
                "cpu_median_ms": median(cpu), "peak_rss_mb": max(rss) / 1024 if rss else None}


def expected(video: Video, peer: str, offset: Offset) -> dict[str, int]:
    """The frames (painted indices) a peer may be judged by, by rule: the first is the right one."""
    if peer in (EXACT, EXACT_HTTP, EXACT_FLOOR):
        return {"shown at T": video.painted(video.shown(offset.ms))}
    if peer == FFMPEG:
        return {"shown at T": video.painted(video.shown(offset.ms)),
                "first at or after T": video.painted(video.after(offset.ms))}
    if peer == THUMBNAILER:
        whole = offset.ms // 1000 * 1000  # it is given whole seconds
        after = video.key_after(whole)  # none: it says "will use first frame"
        return {"key at or before T": video.painted(video.key_before(whole)),
                "key at or after T (else frame 0)": video.painted(after) if after is not None else 0}
    return {"key at or before T": video.painted(video.key_before(offset.ms))}


def frame_counts(result: VideoResult, peer: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for offset, call in zip(result.offsets, result.calls.get(peer, []), strict=False):
        for rule, frame in expected(result.video, peer, offset).items():
            counts[rule] = counts.get(rule, 0) + (call.frame == frame)
    return counts


@dataclass
class Tools:
    ffmpeg: str | None
    thumbnailer: str | None
    wrk: str | None


def runners(video: Video, tools: Tools, server: Server, client: httpx.Client,
            workdir: Path) -> dict[str, Callable[[Offset], Call]]:
    key = f"/{quote(video.path.name)}"
    made: dict[str, Callable[[Offset], Call]] = {
        EXACT: lambda o: peers.call_vframe(video.path, o.seconds, fast=False),
        EXACT_HTTP: lambda o: peers.call_http(client, f"{key}?{spec(o.seconds)}", o.seconds, server.cpu_seconds),
        FAST: lambda o: peers.call_vframe(video.path, o.seconds, fast=True),
        FAST_HTTP: lambda o: peers.call_http(client, f"{key}?{spec(o.seconds, True)}", o.seconds, server.cpu_seconds),
        FLOOR: lambda o: peers.call_floor(video.path, o.seconds),
        EXACT_FLOOR: lambda o: peers.call_exact_floor(video.path, o.seconds, Fraction(video.shown(o.ms), video.fps)),
    }
    if tools.ffmpeg:
        ffmpeg = tools.ffmpeg
        out = workdir / "ffmpeg.jpg"
        made[FFMPEG] = lambda o: peers.call_command(peers.ffmpeg_command(ffmpeg, video.path, o.seconds, out),
                                                    o.seconds, out, workdir)
    if tools.thumbnailer:
        thumbnailer = tools.thumbnailer
        thumb = workdir / "thumbnailer.jpg"
        made[THUMBNAILER] = lambda o: peers.call_command(
            peers.thumbnailer_command(thumbnailer, video.path, o.hhmmss, thumb), o.seconds, thumb, workdir)
    return {peer: made[peer] for peer in PEERS if peer in made}


def bench_video(video: Video, count: int, tools: Tools, server: Server, client: httpx.Client,
                workdir: Path) -> VideoResult:
    offsets = pick_offsets(video, count)
    result = VideoResult(video, offsets)
    run = runners(video, tools, server, client, workdir)
    warm = pick_offsets(video, 2, salt="warm-up", taken={o.ms for o in offsets})
    misses = server.metric("vframe_cache_misses_total")
    for peer, call in run.items():
        for offset in warm if "HTTP" in peer else warm[:1]:  # both workers, through HTTP
            call(offset)
            result.http_calls += "HTTP" in peer
    names = list(run)
    for number, offset in enumerate(offsets):
        order = names[number % len(names):] + names[:number % len(names)]
        for peer in order:
            result.calls.setdefault(peer, []).append(run[peer](offset))
            result.http_calls += "HTTP" in peer
        print(f"  {video.name} {offset.seconds} s ({offset.past_key_ms / 1000:.2f} s past its keyframe): "
              + ", ".join(f"{peer} {result.calls[peer][-1].wall_ms:.0f}" for peer in names) + " ms", flush=True)
    for peer in names:  # back to PEERS order
        result.calls[peer] = result.calls.pop(peer)
    result.misses = server.metric("vframe_cache_misses_total") - misses
    return result


def print_video(result: VideoResult) -> None:
    video = result.video
    print(f"{video.name} ({video.label}; {video.width}x{video.height}, {video.duration:g} s) -> jpg "
          f"{OUT_SIZE[0]}x{OUT_SIZE[1]}; offsets (s): " + ", ".join(o.seconds for o in result.offsets))
    header = (f"  {'peer':<18} {'median ms':>9} {'p90 ms':>8} {'cpu ms':>7} {'peak MB':>7} {'vs ffmpeg':>9} "
              f"{'vs floor':>8}  frames")
    print(header)
    base = result.summary(FFMPEG)["median_ms"] if FFMPEG in result.calls else float("nan")
    floor = result.summary(FLOOR)["median_ms"] if FLOOR in result.calls else float("nan")
    n = len(result.offsets)
    for peer in result.calls:
        s = result.summary(peer)
        med = s["median_ms"]
        rss = f"{s['peak_rss_mb']:.0f}" if s["peak_rss_mb"] else ""
        frames = ", ".join(f"{rule} {count}/{n}" for rule, count in frame_counts(result, peer).items())
        print(f"  {peer:<18} {med:>9.1f} {s['p90_ms']:>8.1f} {s['cpu_median_ms']:>7.1f} {rss:>7} "
              f"{times(med / base) if peer != FFMPEG else '':>9} {times(med / floor) if peer != FLOOR else '':>8}  "
              f"{frames}")
    sizes = {peer: calls[0].size for peer, calls in result.calls.items() if calls and calls[0].size != OUT_SIZE}
    notes = [f"{peer} gives {w}x{h}" for peer, (w, h) in ((p, s) for p, s in sizes.items() if s)]
    if result.misses is not None:
        notes.append(f"server cache misses {result.misses:g} of {result.http_calls} HTTP requests (warm-ups included)")
    print("  (" + "; ".join(notes) + "; HTTP cpu: the server and its workers, in 10 ms clock ticks)")


def per_frame_targets(results: dict[str, VideoResult]) -> list[Target]:
    section = "per frame"
    targets = []

    def med(name: str, peer: str) -> float:
        result = results.get(name)
        return median(result.wall(peer)) if result else float("nan")

    for name in ("1080p H.264", "4K HEVC 10-bit"):
        targets.append(ratio_target(section, f"4. exact {name}, HTTP / exact floor", med(name, EXACT_HTTP),
                                    med(name, EXACT_FLOOR), TARGET_EXACT_FLOOR))
    for name in ("1080p H.264", "4K HEVC 10-bit"):
        if name in results:  # not judged: what the ffmpeg command line takes, by depth past the keyframe
            targets.append(Target(section, f"4. (info) exact, HTTP / ffmpeg -ss, {name}", "info",
                                  by_depth(results[name]), None))
    for name in results:
        targets.append(ratio_target(section, f"6. fast, in-process / floor, {name}", med(name, FAST), med(name, FLOOR),
                                    TARGET_FAST))
    for name in results:
        targets.append(ratio_target(section, f"6. fast, HTTP / ffmpegthumbnailer, {name}", med(name, FAST_HTTP),
                                    med(name, THUMBNAILER), 1.0, strict=True))
    return targets


def by_depth(result: VideoResult) -> str:
    """vframe HTTP's and the exact floor's time over ffmpeg -ss's, per offset, by its depth past the keyframe."""
    calls = result.calls
    if not all(peer in calls for peer in (EXACT_HTTP, EXACT_FLOOR, FFMPEG)):
        return "n/a"
    rows = sorted(zip(result.offsets, calls[EXACT_HTTP], calls[EXACT_FLOOR], calls[FFMPEG], strict=False),
                  key=lambda row: row[0].past_key_ms)
    overall = median(result.wall(EXACT_HTTP)) / median(result.wall(FFMPEG))
    return f"median {times(overall)}; by depth, HTTP (floor): " + ", ".join(
        f"{o.past_key_ms / 1000:.1f} s {times(http.wall_ms / ffmpeg.wall_ms)} ({times(floor.wall_ms / ffmpeg.wall_ms)})"
        for o, http, floor, ffmpeg in rows)


# -- 2 and 3. throughput and cached hits ----------------------------------------------------------


@dataclass
class Throughput:
    video: Video
    offsets: list[Offset]
    runs: list[Run] = field(default_factory=list)
    frames: dict[str, list[int | None]] = field(default_factory=dict)
    misses: float | None = None

    def targets(self) -> list[str]:
        return [f"/{quote(self.video.path.name)}?{spec(o.seconds)}" for o in self.offsets]


@dataclass
class Cached:
    tool: str
    url: str
    runs: list[dict[str, Any]] = field(default_factory=list)  # wrk's: threads, connections, per_s, latency_ms, ...
    hits: float | None = None


def bench_ffmpeg_parallel(ffmpeg: str, result: Throughput, workdir: Path) -> None:
    video = result.video
    warm = pick_offsets(video, 1, salt="ffmpeg warm-up", taken={o.ms for o in result.offsets})[0]
    run_commands("warm-up", [peers.ffmpeg_command(ffmpeg, video.path, warm.seconds, workdir / "warm.jpg")], 1)
    outs = [workdir / f"throughput-{number}.jpg" for number in range(len(result.offsets))]
    commands = [peers.ffmpeg_command(ffmpeg, video.path, o.seconds, out)
                for o, out in zip(result.offsets, outs, strict=True)]
    run = run_commands(f"ffmpeg -ss, {FFMPEG_PARALLEL} at a time", commands, FFMPEG_PARALLEL)
    result.runs.append(run)
    result.frames[run.name] = [painted(out.read_bytes())[0] if out.exists() else None for out in outs]


def bench_floor_parallel(result: Throughput) -> None:
    """The exact floor over the same frames, FLOOR_PROCESSES processes side by side (bench/floors.py)."""
    video = result.video

    def frame(offset: Offset) -> tuple[Fraction, Fraction]:
        return Fraction(offset.seconds), Fraction(video.shown(offset.ms), video.fps)

    warm = pick_offsets(video, 1, salt="floor warm-up", taken={o.ms for o in result.offsets})[0]
    wall, made = exact_floor_in_processes(video.path, [frame(o) for o in result.offsets], FLOOR_PROCESSES, frame(warm))
    run = Run(f"exact floor, {FLOOR_PROCESSES} processes", FLOOR_PROCESSES, len(made), wall,
              [ms for _, ms, _ in made], [], sum(cpu for _, _, cpu in made))
    result.runs.append(run)
    result.frames[run.name] = [painted(data)[0] for data, _, _ in made]


def bench_throughput_and_cached(result: Throughput, tools: Tools, quick: bool) -> tuple[Cached, dict[str, Any]]:
    """A fresh server: warmed up (two frames, not measured ones, one a worker), then every frame once
    by THROUGHPUT_CLIENTS clients; then cached hits on the first of those frames."""
    video = result.video
    warm = pick_offsets(video, 2, salt="serve warm-up", taken={o.ms for o in result.offsets})
    with vframe_serve(CACHE_DIR) as server:
        workers = server.health()["workers"]
        load_threads(server, "warm-up", [f"/{quote(video.path.name)}?{spec(o.seconds)}" for o in warm], 2)
        misses = server.metric("vframe_cache_misses_total")
        run, responses = load_threads(server, f"vframe serve, {THROUGHPUT_CLIENTS} clients", result.targets(),
                                      THROUGHPUT_CLIENTS)
        result.misses = server.metric("vframe_cache_misses_total") - misses
        result.runs.append(run)
        result.frames[run.name] = [painted(r.body)[0] if r and r.status == 200 else None for r in responses]
        target = result.targets()[0]
        cached = Cached("wrk" if tools.wrk else "bench/service.py asyncio client", server.url + target)
        hits = server.metric("vframe_cache_hits_total")
        if tools.wrk:
            for threads, connections in WRK_RUNS:
                wrk = run_wrk(tools.wrk, server.url + target, threads, connections, WRK_SECONDS[quick])
                record = asdict(wrk)
                record.pop("output")
                cached.runs.append(record)
        else:
            body = responses[0].body if responses[0] else b""
            for _, connections in WRK_RUNS:
                fallback = load_in_processes(server, f"cached, {connections} connections", {target: len(body)},
                                             FALLBACK_REQUESTS[quick], connections, 2)
                s = fallback.summary()
                cached.runs.append({"threads": 2, "connections": connections, "seconds": s["wall_s"],
                                    "requests": fallback.requests, "per_s": s["per_s"],
                                    "latency_ms": {"50%": s["median_ms"], "90%": s["p90_ms"]},
                                    "errors": "; ".join(fallback.failures[:3])})
        cached.hits = server.metric("vframe_cache_hits_total") - hits
        peak = server.peak_rss_mb() | {"workers_count": workers}
    return cached, peak


def print_throughput(result: Throughput) -> list[Target]:
    n = len(result.offsets)
    print(f"throughput: {n} uncached exact frames of {result.video.name}, distinct, each asked once (jpg "
          f"{OUT_SIZE[0]}x{OUT_SIZE[1]})")
    print(f"  {'run':<28} {'frames':>6} {'failed':>6} {'frames/s':>8} {'median ms':>9} {'p90 ms':>8} {'cpu ms':>7}  "
          f"frames")
    want = [result.video.painted(result.video.shown(o.ms)) for o in result.offsets]
    after = [result.video.painted(result.video.after(o.ms)) for o in result.offsets]
    for run in result.runs:
        s = run.summary()
        got = result.frames.get(run.name, [])
        frames = f"shown at T {sum(g == w for g, w in zip(got, want, strict=False))}/{n}"
        if run.name.startswith("ffmpeg"):
            frames += f", first at or after T {sum(g == w for g, w in zip(got, after, strict=False))}/{n}"
        print(f"  {run.name:<28} {run.requests:>6} {len(run.failures):>6} {s['per_s']:>8.2f} {s['median_ms']:>9.0f} "
              f"{s['p90_ms']:>8.0f} {s['cpu_ms_per_request']:>7.0f}  {frames}")
        for failure in run.failures[:5]:
            print(f"  FAILED {run.name}: {failure}")
    print(f"  (server cache misses during the run: {result.misses:g} of {n}; cpu: the server and its workers, "
          f"the ffmpeg processes, or the floor's processes, per frame; the floor's processes run one thread each, "
          f"as a decode worker does while the others are busy)")

    def per_s(prefix: str) -> float:
        run = next((r for r in result.runs if r.name.startswith(prefix)), None)
        return run.summary()["per_s"] if run is not None else float("nan")

    ours, floor, ffmpeg = per_s("vframe"), per_s("exact floor"), per_s("ffmpeg")
    judged = least_target("throughput", f"5. frames/s, {THROUGHPUT_CLIENTS} clients / exact floor in "
                          f"{FLOOR_PROCESSES} processes", ours, floor, TARGET_THROUGHPUT_FLOOR, "per s")
    info = least_target("throughput", f"5. (info) frames/s, {THROUGHPUT_CLIENTS} clients / ffmpeg {FFMPEG_PARALLEL} "
                        f"at a time", ours, ffmpeg, 0, "per s")
    info.target, info.passed = "info", None
    return [judged, info]


def print_cached(cached: Cached) -> list[Target]:
    print(f"cached hits: {cached.tool} on {cached.url}")
    print(f"  {'threads':>7} {'conns':>5} {'seconds':>7} {'requests':>8} {'per s':>8} {'median ms':>9} {'p90 ms':>7} "
          f"{'p99 ms':>7}  errors")
    for run in cached.runs:
        lat = run["latency_ms"]
        print(f"  {run['threads']:>7} {run['connections']:>5} {run['seconds']:>7.1f} {run['requests']:>8} "
              f"{run['per_s']:>8.0f} {lat.get('50%', float('nan')):>9.2f} {lat.get('90%', float('nan')):>7.2f} "
              f"{lat.get('99%', float('nan')):>7.2f}  {run['errors'] or 'none'}")
    total = sum(run["requests"] for run in cached.runs)
    print(f"  (server cache hits counted: {cached.hits:g} for {total} requests; the client shares the 2 cores with "
          f"the server; median latency ~ connections / rate)")
    targets = []
    for number, run in enumerate(cached.runs):
        med = run["latency_ms"].get("50%", float("nan"))
        ok = bool(run["per_s"] >= TARGET_CACHED_PER_S and med < TARGET_CACHED_MEDIAN_MS and not run["errors"])
        measured = f"{run['per_s']:.0f}/s, median {med:.2f} ms"
        what = f"6. cached hits, {run['connections']} connections"
        if number:  # shown beside the judged run, not judged
            what, measured = what + " (info)", measured + (" (would pass)" if ok else " (would miss)")
        target = f">= {TARGET_CACHED_PER_S:.0f}/s, median < {TARGET_CACHED_MEDIAN_MS:g} ms"
        targets.append(Target("cached", what, target, measured, ok if number == 0 else None))
    return targets


# -- 4. memory ------------------------------------------------------------------------------------


@dataclass
class Memory:
    video: Video
    offsets: list[Offset]
    run: Run | None = None
    frames: list[int | None] = field(default_factory=list)
    workers_mb: dict[int, float] = field(default_factory=dict)
    server_mb: float | None = None
    restarts: float | None = None
    inprocess: dict[str, float] = field(default_factory=dict)
    bench_process_mb: float | None = None
    ffmpeg_mb: float | None = None  # the 4K ffmpeg -ss processes' peak (section 1)


def bench_memory(memory: Memory) -> None:
    video = memory.video
    targets = [f"/{quote(video.path.name)}?{spec(o.seconds)}" for o in memory.offsets]
    with vframe_serve(CACHE_DIR) as server:
        restarts = _restarts(server)
        watch = WorkerMemory(server).start()
        memory.run, responses = load_threads(server, f"vframe serve, {MEMORY_CLIENTS} clients, 4K", targets,
                                             MEMORY_CLIENTS)
        memory.workers_mb = watch.stop()
        memory.server_mb = server.peak_rss_mb()["server"]
        memory.restarts = _restarts(server) - restarts
        memory.frames = [painted(r.body)[0] if r and r.status == 200 else None for r in responses]
    specs = [spec(o.seconds) for o in memory.offsets[:INPROCESS_PEAK_FRAMES]]
    memory.inprocess = peers.inprocess_peak(video.path, specs)


def _restarts(server: Server) -> float:
    total = 0.0
    for line in httpx.get(f"{server.url}/-/metrics", timeout=10).text.splitlines():
        if line.startswith("vframe_worker_restarts_total"):
            total += float(line.rpartition(" ")[2])
    return total


def print_memory(memory: Memory) -> list[Target]:
    run = memory.run
    assert run is not None
    s = run.summary()
    n = len(memory.offsets)
    want = [memory.video.painted(memory.video.shown(o.ms)) for o in memory.offsets]
    right = sum(g == w for g, w in zip(memory.frames, want, strict=False))
    print(f"memory: {n} uncached exact frames of {memory.video.name} by {MEMORY_CLIENTS} clients: {s['per_s']:.2f} "
          f"frames/s, median {s['median_ms']:.0f} ms, {len(run.failures)} failed, shown at T {right}/{n}, "
          f"worker restarts {memory.restarts:g}")
    for failure in run.failures[:5]:
        print(f"  FAILED: {failure}")
    workers = ", ".join(f"{mb:.0f}" for _, mb in sorted(memory.workers_mb.items()))
    print(f"  peak RSS: decode workers {workers or 'none seen'} MB; server process {memory.server_mb:.0f} MB")
    inproc = memory.inprocess
    print(f"  peak RSS: a fresh process grabbing {inproc.get('grabs', 0):g} 4K frames in-process "
          f"{inproc.get('peak_mb', float('nan')):.0f} MB ({inproc.get('after_import_mb', float('nan')):.0f} MB after "
          f"import vframe); ffmpeg -ss on 4K (section 1) "
          f"{f'{memory.ffmpeg_mb:.0f} MB' if memory.ffmpeg_mb else 'n/a'}; this bench process "
          f"{memory.bench_process_mb:.0f} MB (in-process peers and the floor, all videos)")
    peak = max(memory.workers_mb.values(), default=float("nan"))
    return [Target("memory", "6. decode worker peak RSS, 4K HEVC under load", f"< {TARGET_WORKER_MB:.0f} MB",
                   f"{peak:.0f} MB (max of {len(memory.workers_mb)})" if peak == peak else "n/a",
                   peak < TARGET_WORKER_MB if peak == peak else None)]


# -- 5. exactness ---------------------------------------------------------------------------------


def exactness(results: dict[str, VideoResult], throughput: Throughput | None, memory: Memory | None,
              others: Sequence[tuple[str, int, int]] = ()) -> list[Target]:
    """`others`: (what, right, total) of the later sections (storyboard tiles, cold-start frames)."""
    right = total = 0
    parts = []
    for what, count, of in others:
        right, total = right + count, total + of
        if count != of:
            parts.append(f"{what} {count}/{of}")
    for name, result in results.items():
        for peer in (EXACT, EXACT_HTTP, FAST, FAST_HTTP):
            if peer in result.calls:
                count = next(iter(frame_counts(result, peer).values()), 0)  # the first rule is the right one
                right, total = right + count, total + len(result.calls[peer])
                if count != len(result.calls[peer]):
                    parts.append(f"{name} {peer} {count}/{len(result.calls[peer])}")
    if throughput is not None:
        want = [throughput.video.painted(throughput.video.shown(o.ms)) for o in throughput.offsets]
        for run_name, got in throughput.frames.items():
            if run_name.startswith("vframe"):
                count = sum(g == w for g, w in zip(got, want, strict=False))
                right, total = right + count, total + len(want)
                if count != len(want):
                    parts.append(f"throughput {count}/{len(want)}")
    if memory is not None:
        want = [memory.video.painted(memory.video.shown(o.ms)) for o in memory.offsets]
        count = sum(g == w for g, w in zip(memory.frames, want, strict=False))
        right, total = right + count, total + len(want)
        if count != len(want):
            parts.append(f"memory {count}/{len(want)}")
    print(f"exactness: {right} of {total} frames vframe returned were the frame asked for (exact: the frame shown at "
          f"T; fast: the keyframe at or before T), read back from each picture's painted index (a storyboard "
          f"tile's, and its time in the JSON twin, count one each)"
          + (f"; wrong: {', '.join(parts)}" if parts else ""))
    return [Target("exactness", "6. vframe's frames right, every section", "all", f"{right}/{total}",
                   right == total if total else None)]


# -- 6 and 7. storyboards (bench/storyboard.py) and the command-line cold start (bench/coldstart.py) --------


def storyboard_targets(section: storyboard.Storyboards) -> list[Target]:
    name = "storyboards"
    hd, long = section.board(STORYBOARD_1080P), section.board(BY_NAME["long MP4"])
    fast, exact = hd.median(storyboard.SHEET_FAST), hd.median(storyboard.SHEET_EXACT)
    one_pass = hd.median(storyboard.FFMPEG_PASS)
    targets = [
        ratio_target(name, "1. fast 60-tile 1080p sheet / keyframe-pass floor", fast,
                     hd.median(storyboard.KEY_FLOOR), TARGET_BOARD_FAST_FLOOR),
        least_target(name, "1. ffmpeg one pass / fast 60-tile 1080p sheet", one_pass, fast, TARGET_BOARD_FAST_FFMPEG),
        ratio_target(name, "2. exact 60-tile 1080p sheet / ffmpeg one pass", exact, one_pass,
                     TARGET_BOARD_EXACT_FFMPEG),
        ratio_target(name, "2. exact 60-tile 1080p sheet / exact multi-frame floor", exact,
                     hd.median(storyboard.EXACT_FLOOR), TARGET_BOARD_EXACT_FLOOR),
    ]
    counts = hd.counts(storyboard.SHEET_EXACT)
    targets.append(Target(name, "2. exact 60-tile 1080p sheet, every tile the frame shown at T", "all",
                          "; ".join(f"{rule} {right}/{total}" for rule, (right, total) in counts.items())
                          if hd.attempts.get(storyboard.SHEET_EXACT) else "n/a",
                          hd.all_right(storyboard.SHEET_EXACT)))
    long_tile = long.median(storyboard.SHEET_FAST) / len(long.board.times_ms)
    hd_tile = fast / len(hd.board.times_ms)
    per_tile = ratio_target(name, "3. fast 100-tile 2-hour sheet / fast 60-tile 1080p sheet, per tile", long_tile,
                            hd_tile, TARGET_BOARD_LONG)
    if per_tile.passed is not None:
        per_tile.measured = f"{times(long_tile / hd_tile)} ({long_tile:.1f} / {hd_tile:.1f} ms a tile)"
    targets.append(per_tile)
    return targets


def cold_start_target(calls: dict[str, list[Call]]) -> Target:
    walls = {name: [c.wall_ms for c in made] for name, made in calls.items()}
    return ratio_target("cold start", "7. vframe grab / ffmpeg -ss, a fresh process, 1080p",
                        median(walls.get(coldstart.VFRAME, [])), median(walls.get(coldstart.FFMPEG, [])),
                        TARGET_COLD_START)


# -- the run --------------------------------------------------------------------------------------


@contextmanager
def http_client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=120) as client:
        client.get("/-/healthz")
        yield client


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="vframe next to ffmpeg, ffmpegthumbnailer and the floors "
                                                 "(issue 6's and 13's benchmark; figures are reported, never "
                                                 "asserted).")
    parser.add_argument("--quick", action="store_true",
                        help=f"{OFFSETS[1]} offsets a video (not {OFFSETS[0]}), {THROUGHPUT_FRAMES[1]} throughput "
                             f"frames (not {THROUGHPUT_FRAMES[0]}), wrk {WRK_SECONDS[1]} s (not {WRK_SECONDS[0]}), "
                             f"{MEMORY_FRAMES[1]} 4K frames under load (not {MEMORY_FRAMES[0]}), "
                             f"{storyboard.REPEATS[1]} storyboard repetition (not {storyboard.REPEATS[0]}), "
                             f"{coldstart.RUNS[1]} cold starts each (not {coldstart.RUNS[0]})")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the full record as JSON")
    parser.add_argument("--remote", action="store_true", help="also run bench/remote.py's figure (HTTP origin)")
    args = parser.parse_args(argv)
    quick = args.quick
    started = time.perf_counter()

    tools = Tools(ensure_tool("ffmpeg", "ffmpeg"), ensure_tool("ffmpegthumbnailer", "ffmpegthumbnailer"),
                  ensure_tool("wrk", "wrk"))
    made = {video.name: ensure(video) for video in (*VIDEOS, STORYBOARD_1080P)}
    versions = {"python": platform.python_version(), "vframe": vframe.__version__, "pyav": av.__version__,
                "pyav_ffmpeg": av.ffmpeg_version_info,
                "ffmpeg": tool_version([tools.ffmpeg, "-version"]) if tools.ffmpeg else None,
                "ffmpegthumbnailer": tool_version([tools.thumbnailer, "-v"]) if tools.thumbnailer else None,
                "wrk": tool_version([tools.wrk, "--version"]) if tools.wrk else None}
    print(f"{os.cpu_count()} CPUs, {platform.platform()}; Python {versions['python']}, vframe {versions['vframe']}, "
          f"PyAV {versions['pyav']} (FFmpeg {versions['pyav_ffmpeg']})")
    print(f"ffmpeg: {versions['ffmpeg'] or 'left out'}; ffmpegthumbnailer: "
          f"{versions['ffmpegthumbnailer'] or 'left out'}; wrk: {versions['wrk'] or 'left out'}")
    for video in (*VIDEOS, STORYBOARD_1080P):
        note = "reused" if made[video.name] is None else f"made in {made[video.name]:.0f} s"
        print(f"video {video.name}: bench/cache/{video.path.name} ({video.path.stat().st_size / 1e6:.1f} MB, "
              f"{video.label}) {note}")
    print(flush=True)

    targets: list[Target] = []
    print(f"1. per frame, one at a time, {OFFSETS[quick]} offsets a video; each line: wall ms per peer", flush=True)
    results: dict[str, VideoResult] = {}
    with tempfile.TemporaryDirectory(prefix="vframe-bench-") as tmp, vframe_serve(CACHE_DIR) as server, \
            http_client(server) as client:
        for video in VIDEOS:
            results[video.name] = bench_video(video, OFFSETS[quick], tools, server, client, Path(tmp))
    print()
    for result in results.values():
        print_video(result)
    targets += print_targets(per_frame_targets(results), "targets, per frame")
    print(flush=True)

    hd = VIDEOS[0]
    throughput = Throughput(hd, pick_offsets(hd, THROUGHPUT_FRAMES[quick], salt="throughput",
                                             taken={o.ms for o in results[hd.name].offsets}))
    print(f"2. throughput ({len(throughput.offsets)} frames) and 3. cached hits ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="vframe-bench-") as tmp:
        if tools.ffmpeg:
            bench_ffmpeg_parallel(tools.ffmpeg, throughput, Path(tmp))
    bench_floor_parallel(throughput)
    cached, serve_peak = bench_throughput_and_cached(throughput, tools, quick)
    targets += print_targets(print_throughput(throughput), "targets, throughput")
    print()
    targets += print_targets(print_cached(cached), "targets, cached hits")
    print(flush=True)

    uhd = VIDEOS[1]
    memory = Memory(uhd, pick_offsets(uhd, MEMORY_FRAMES[quick], salt="memory",
                                      taken={o.ms for o in results[uhd.name].offsets}))
    print(f"4. memory ({len(memory.offsets)} 4K frames, {MEMORY_CLIENTS} clients) ...", flush=True)
    bench_memory(memory)
    memory.bench_process_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ffmpeg_4k = [c.max_rss_kb for c in results[uhd.name].calls.get(FFMPEG, []) if c.max_rss_kb]
    memory.ffmpeg_mb = max(ffmpeg_4k) / 1024 if ffmpeg_4k else None
    targets += print_targets(print_memory(memory), "targets, memory")
    print()

    print(f"5. storyboards ({storyboard.REPEATS[quick]} repetition(s)); each line: wall ms per peer", flush=True)
    with tempfile.TemporaryDirectory(prefix="vframe-bench-") as tmp:
        boards = storyboard.bench_storyboards(tools.ffmpeg, quick, Path(tmp))
    print()
    storyboard.print_storyboards(boards)
    targets += print_targets(storyboard_targets(boards), "targets, storyboards")
    print()

    print(f"6. command-line cold start ({coldstart.RUNS[quick]} runs each) ...", flush=True)
    cold_frame = hd.painted(hd.shown(int(coldstart.OFFSET) * 1000))
    with tempfile.TemporaryDirectory(prefix="vframe-bench-") as tmp:
        cold = coldstart.bench_cold_start(tools.ffmpeg, hd, coldstart.RUNS[quick], Path(tmp))
    coldstart.print_cold_start(cold, hd, cold_frame)
    targets += print_targets([cold_start_target(cold)], "targets, cold start")
    print()

    print(f"7. posters ({poster.RUNS[quick]} runs each) ...", flush=True)
    with tempfile.TemporaryDirectory(prefix="vframe-bench-") as tmp:
        posters = poster.bench_posters(tools.thumbnailer, hd, quick, Path(tmp))
    poster.print_posters(posters)
    print()

    print(f"9. jobs ({jobs.POSTERS[quick]} posters, {jobs.STORYBOARDS[quick]} 60-tile storyboards a mode) ...",
          flush=True)
    job_runs = jobs.bench_jobs(CACHE_DIR, quick)
    jobs.print_jobs(job_runs)
    print()

    cold_right = [(f"cold start {coldstart.VFRAME}", sum(c.frame == cold_frame for c in cold[coldstart.VFRAME]),
                   len(cold[coldstart.VFRAME]))]
    targets += print_targets(exactness(results, throughput, memory, boards.vframe_tiles() + cold_right),
                             "targets, exactness")
    print()

    print(f"10. animated previews ({previews.REPEATS[quick]} repetition(s)) ...", flush=True)
    spans = previews.bench_previews(tools.ffmpeg, quick)
    previews.print_previews(spans)
    print()

    remote = None
    if args.remote:
        from remote import bench_remote, describe_remote, print_remote, remote_record

        remote_result = bench_remote(tools.ffmpeg, CACHE_DIR, quick, serve=vframe_serve)
        describe_remote(remote_result)
        print()
        print_remote(remote_result)
        remote = remote_record(remote_result)
        print()

    total = time.perf_counter() - started
    print_targets(sorted(targets, key=lambda t: t.what[:2]), f"summary of issue 13's targets, 6 being issue 6's "
                  f"others ({'quick' if quick else 'full'} run, {total:.0f} s; medians of this run on this machine)")
    passed = sum(t.passed is True for t in targets)
    judged = sum(t.passed is not None for t in targets)
    if MISSING:
        print(f"!!! MISSING from this run: {', '.join(MISSING)} (see the start of the run): their figures and "
              f"the targets judged against them are left out")
    print(f"{passed} of {judged} judged targets met. Wall times are noisy on a shared machine; this is a report, "
          f"not a test.")

    if args.json:
        record = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": platform.platform(), "cpus": os.cpu_count(),
            "versions": versions, "quick": quick, "output": f"jpg {OUT_SIZE[0]}x{OUT_SIZE[1]}", "total_s": total,
            "videos": {v.name: asdict(v) | {"path": str(v.path), "made_s": made[v.name]} for v in VIDEOS},
            "per_frame": {name: {"offsets": [asdict(o) for o in r.offsets], "cache_misses": r.misses,
                                 "http_requests": r.http_calls,
                                 "peers": {peer: {"summary": r.summary(peer), "frames": frame_counts(r, peer),
                                                  "calls": [asdict(c) for c in calls]}
                                           for peer, calls in r.calls.items()}}
                          for name, r in results.items()},
            "throughput": {"offsets": [asdict(o) for o in throughput.offsets], "cache_misses": throughput.misses,
                           "runs": {run.name: run.summary() | {"latencies_ms": run.latencies_ms,
                                                               "failures": run.failures} for run in throughput.runs},
                           "frames": throughput.frames, "server_peak_rss_mb": serve_peak},
            "cached": asdict(cached),
            "memory": {"offsets": [asdict(o) for o in memory.offsets],
                       "run": memory.run.summary() if memory.run else None,
                       "workers_peak_mb": memory.workers_mb, "server_peak_mb": memory.server_mb,
                       "restarts": memory.restarts, "inprocess": memory.inprocess,
                       "bench_process_mb": memory.bench_process_mb, "ffmpeg_4k_mb": memory.ffmpeg_mb,
                       "frames": memory.frames},
            "storyboards": storyboard.record(boards),
            "cold_start": {name: [asdict(c) for c in made] for name, made in cold.items()},
            "posters": poster.record(posters),
            "previews": previews.record(spans),
            "jobs": jobs.record(job_runs),
            "targets": [asdict(t) | {"verdict": t.verdict} for t in targets],
            "remote": remote,
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
