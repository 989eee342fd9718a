"""Benchmark: how long vframe takes to cut one frame, next to the `ffmpeg` command doing the same.

For each generated video (vframe.synth: H.264 High with B-frames, a 1080p one with a long GOP and
a 720p one), on the same fixed, seeded offsets and the same output (480x360 JPEG), it times:

* vframe exact  - `vframe.grab(path, "vframe/jpg/offset/T/w/480/h/360")` in this process, warm
                  (one call before the timed ones): open, seek, decode up to the frame shown at T,
                  scale, encode;
* ffmpeg        - `ffmpeg -hide_banner -loglevel error -ss T -i FILE -frames:v 1 -vf scale=480:360
                  -y out.jpg` as a subprocess per call, process start-up included (Debian's
                  ffmpeg, installed with apt-get when missing and running as root, else skipped);
* vframe fast   - the same grab with `/mode/fast` (the keyframe at or before T): the floor, what
                  it costs to open, seek, decode one keyframe, scale and encode.

Peers are interleaved offset by offset, so a slow moment of the machine hits all of them. It
prints the median and p90 wall time per call, CPU time per call, the ratio of each vframe mode to
ffmpeg, which frame each peer returned (read back from the picture's painted index), and peak
memory: this process (resource.getrusage RUSAGE_SELF; the videos are generated in a child so they
do not count) and the largest ffmpeg process (the children's rusage, from wait4).

Each ffmpeg is forked by a minimal launcher (`python -I -S`, under 10 MB) that times it and reads its
rusage. Linux carries a process's peak RSS across fork and exec, so a child of this ~100 MB
process, and RUSAGE_CHILDREN here, would report at least ~100 MB whatever ffmpeg really used.
The launcher's fork+exec+wait4 is what is timed, as a shell would start ffmpeg.

Then the service figure (the mechanics are in bench/service.py), on another seeded set of exact
frames from both videos (20 a video; 6 with --quick), in one shuffled order:

* ffmpeg command - the same command line run once per frame, 2 at a time (one per core), as a
                   service that starts ffmpeg per request would;
* vframe serve uncached - `vframe serve --root bench/cache` with default settings (one decode
                   worker per core), started fresh for each run so its cache is empty and warmed
                   up on other frames, asked for each frame once by 4, then 16, concurrent clients
                   (an httpx.Client per thread);
* vframe serve cached hits - the last server asked for the same URLs again, 5000 times (1000 with
                   --quick) over 16 keep-alive connections from 2 client processes.

For each: requests per second over the run's wall time, median and p90 latency, CPU time per
request (the server and its workers, or the ffmpeg processes; never the clients, which share the
cores with the server), and the ratios to ffmpeg's. Every answer must be a 200 (the cached ones
also of the uncached answer's length); failures are counted and printed. The frames that came
back are read as above, and the servers' /-/metrics show that the uncached runs missed the cache
and the cached run hit it.

Then the remote figure (bench/remote.py): one frame of a large video (over 200 MB, built once into
bench/cache by repeating a clip's packets, with its index last and first) behind a counting HTTP
origin on 127.0.0.1, on seeded offsets spread over the video (6 a layout; 3 with --quick): vframe
in-process (`vframe.grab` of the http:// URL), `vframe serve --origin`, and `ffmpeg -ss T -i
http://...` reading the same URL, each with the bytes and requests the origin counted, the time, and
the ratios to ffmpeg's.

The two sides do not do identical work: vframe scales with Lanczos and accurate rounding and
encodes with Pillow at quality 85; ffmpeg scales bicubic and uses its mjpeg defaults. Figures
are wall times on whatever machine runs this, noisy on shared machines: they are reported,
never asserted.

    .venv/bin/python bench/bench.py [--quick] [--json PATH]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import av
import numpy as np
from PIL import Image
from remote import OFFSETS as OFFSETS_REMOTE  # bench/remote.py
from remote import bench_remote, describe_remote, print_remote, remote_record
from service import Run, load_in_processes, load_threads, run_commands, vframe_serve  # bench/service.py

import vframe
from vframe.synth import read_index

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / "cache"
OUT_SIZE = (480, 360)
SEED = 20240601
FULL_OFFSETS = 10
QUICK_OFFSETS = 4
PEERS = ("vframe exact", "ffmpeg", "vframe fast")
# The service figure: frames a video (full, quick), concurrent clients of each uncached run, cached hits.
SERVICE_FRAMES = (20, 6)
SERVICE_CLIENTS = (4, 16)
CACHED_REQUESTS = (5000, 1000)
CACHED_CLIENTS = 16
CLIENT_PROCESSES = 2  # the cached run's client processes, CACHED_CLIENTS connections in all
FFMPEG_PARALLEL = 2  # one ffmpeg per core


@dataclass(frozen=True)
class VideoPlan:
    """A synthetic H.264 video to generate (once; it is cached by these parameters)."""

    name: str
    width: int
    height: int
    fps: int
    frames: int
    gop: int
    bframes: int = 2

    @property
    def path(self) -> Path:
        return CACHE_DIR / (f"h264-{self.width}x{self.height}-{self.fps}fps-gop{self.gop}"
                            f"-bf{self.bframes}-{self.frames}f.mp4")

    @property
    def duration(self) -> float:
        return self.frames / self.fps

    @property
    def keyframe_times(self) -> list[float]:
        return [index / self.fps for index in range(0, self.frames, self.gop)]


VIDEOS = (
    VideoPlan("1080p", 1920, 1080, fps=25, frames=500, gop=200),  # 20 s, a keyframe every 8 s
    VideoPlan("720p", 1280, 720, fps=24, frames=480, gop=48),  # 20 s, a keyframe every 2 s
)


@dataclass(frozen=True, order=True)
class Offset:
    """A moment to cut at: whole milliseconds, and why it was picked."""

    ms: int
    kind: str

    @property
    def seconds(self) -> str:
        whole, millis = divmod(self.ms, 1000)
        return f"{whole}.{millis:03d}"


@dataclass
class Call:
    """One timed call of one peer."""

    offset: str
    wall_ms: float
    cpu_ms: float
    frame: int | None  # the painted index read back from the picture; None if unreadable
    max_rss_kb: int | None = None  # ffmpeg only: the child's peak


@dataclass
class PeerResult:
    peer: str
    calls: list[Call] = field(default_factory=list)

    def wall(self) -> list[float]:
        return [call.wall_ms for call in self.calls]

    def summary(self) -> dict[str, float]:
        wall, cpu = self.wall(), [call.cpu_ms for call in self.calls]
        return {"median_ms": statistics.median(wall), "p90_ms": p90(wall), "cpu_median_ms": statistics.median(cpu)}


# -- set-up -------------------------------------------------------------------------------


def ensure_ffmpeg() -> str | None:
    """The ffmpeg command, installed from Debian with apt-get if missing and root; None: skip it."""
    found = shutil.which("ffmpeg")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        print("ffmpeg is not installed and apt-get cannot be run as root here: the ffmpeg peer is skipped")
        return None
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "ffmpeg"]):
        print("ffmpeg is missing; running:", " ".join(command), flush=True)
        if subprocess.run(command, env=env, stdout=subprocess.DEVNULL).returncode != 0:
            print(f"{' '.join(command)} failed: the ffmpeg peer is skipped")
            return None
    found = shutil.which("ffmpeg")
    if found is None:
        print("ffmpeg still not found after apt-get install: the ffmpeg peer is skipped")
    return found


def ffmpeg_version(ffmpeg: str) -> str:
    result = subprocess.run([ffmpeg, "-version"], capture_output=True, text=True, check=False)
    return result.stdout.splitlines()[0] if result.stdout else "unknown"


def ensure_video(plan: VideoPlan) -> float | None:
    """Generate the video into the cache unless present; the seconds it took, None if reused.
    It is made in a child process so that its memory does not count as this process's peak."""
    if plan.path.exists():
        return None
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = plan.path.with_suffix(".part.mp4")
    kwargs = {"path": str(partial), "codec": "libx264", "frames": plan.frames, "fps": plan.fps,
              "width": plan.width, "height": plan.height, "gop": plan.gop, "bframes": plan.bframes}
    code = "import json, sys; from vframe.synth import make_video; make_video(**json.loads(sys.argv[1]))"
    print(f"generating {plan.path.name} ({plan.frames} frames, verified by vframe.synth) ...", flush=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, json.dumps(kwargs)], check=True)
    partial.replace(plan.path)
    return time.perf_counter() - started


def pick_offsets(plan: VideoPlan, count: int, seed: int = SEED) -> list[Offset]:
    """Fixed, seeded offsets: about two thirds at chosen places in a GOP (1.2 s after a keyframe,
    mid-GOP, the last frame before the next keyframe: the most decoding), the rest anywhere."""
    rng = random.Random(f"{seed}-{plan.name}")
    gop_s, last = plan.gop / plan.fps, plan.duration - 1 / plan.fps
    places: list[tuple[str, Callable[[float], float]]] = [
        ("key+1.2s", lambda key: key + 1.2),
        ("mid-GOP", lambda key: key + gop_s / 2),
        ("GOP end", lambda key: key + gop_s - 1 / plan.fps),
    ]
    chosen: dict[int, Offset] = {}
    structured = count - count // 3
    attempts = 0
    while len(chosen) < structured and attempts < 100:
        kind, place = places[attempts % len(places)]
        ms = round(place(rng.choice(plan.keyframe_times)) * 1000)
        if ms <= last * 1000:
            chosen.setdefault(ms, Offset(ms, kind))
        attempts += 1
    while len(chosen) < count:
        ms = round(rng.uniform(0, last) * 1000)
        chosen.setdefault(ms, Offset(ms, "random"))
    return sorted(chosen.values(), key=lambda offset: offset.ms)


# -- the peers ------------------------------------------------------------------------------


def spec_for(offset: Offset, fast: bool) -> str:
    width, height = OUT_SIZE
    return f"vframe/jpg/offset/{offset.seconds}/w/{width}/h/{height}" + ("/mode/fast" if fast else "")


def shown_frame(jpeg: bytes) -> int | None:
    """The frame index painted into a (scaled, lossy) picture by vframe.synth."""
    try:
        with Image.open(io.BytesIO(jpeg)) as image:
            return read_index(np.asarray(image.convert("RGB")))
    except (ValueError, OSError):
        return None


def call_vframe(path: Path, offset: Offset, fast: bool) -> Call:
    spec = spec_for(offset, fast)
    cpu, started = time.process_time(), time.perf_counter()
    result = vframe.grab(path, spec)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    if (result.width, result.height) != OUT_SIZE:
        raise RuntimeError(f"{spec}: got {result.width}x{result.height}")
    return Call(offset.seconds, wall * 1000, cpu * 1000, shown_frame(result.data))


# Runs argv[2:] and writes "wall_s cpu_s maxrss_kb exit_code" to argv[1]. Being small and fresh,
# it passes no inflated peak RSS on to the command (see the module docstring).
_LAUNCHER = """\
import os, sys, time
result, command = sys.argv[1], sys.argv[2:]
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(command[0], command)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - started
with open(result, "w") as out:
    out.write(f"{wall} {usage.ru_utime + usage.ru_stime} {usage.ru_maxrss} {os.waitstatus_to_exitcode(status)}")
"""


def ffmpeg_command(ffmpeg: str, path: Path, offset: Offset, out: Path) -> list[str]:
    return [ffmpeg, "-hide_banner", "-loglevel", "error", "-ss", offset.seconds, "-i", str(path),
            "-frames:v", "1", "-vf", f"scale={OUT_SIZE[0]}:{OUT_SIZE[1]}", "-y", str(out)]


def call_ffmpeg(ffmpeg: str, path: Path, offset: Offset, workdir: Path) -> Call:
    """One ffmpeg process, started, timed and measured by the launcher."""
    out, log, result = workdir / "out.jpg", workdir / "ffmpeg.log", workdir / "launcher.txt"
    command = ffmpeg_command(ffmpeg, path, offset, out)
    result.unlink(missing_ok=True)
    with open(log, "wb") as stderr:
        subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(result), *command],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, check=False)
    fields = result.read_text().split() if result.exists() else []
    if len(fields) != 4 or fields[3] != "0":
        raise RuntimeError(f"ffmpeg failed ({fields[3:] or 'no result'}): {log.read_text(errors='replace').strip()}")
    wall, cpu, max_rss_kb = float(fields[0]), float(fields[1]), int(fields[2])
    return Call(offset.seconds, wall * 1000, cpu * 1000, shown_frame(out.read_bytes()), max_rss_kb)


def bench_video(plan: VideoPlan, offsets: list[Offset], ffmpeg: str | None, workdir: Path) -> dict[str, PeerResult]:
    """Warm each peer up once (mid-video, not a measured offset), then time them offset by offset."""
    runners: dict[str, Callable[[Offset], Call]] = {
        "vframe exact": lambda offset: call_vframe(plan.path, offset, fast=False),
        "vframe fast": lambda offset: call_vframe(plan.path, offset, fast=True),
    }
    if ffmpeg:
        runners["ffmpeg"] = lambda offset: call_ffmpeg(ffmpeg, plan.path, offset, workdir)
    warm_up = Offset(round(plan.duration * 500) + 1, "warm-up")
    results = {peer: PeerResult(peer) for peer in PEERS if peer in runners}
    for peer in results:
        runners[peer](warm_up)
    for offset in offsets:
        for peer, result in results.items():
            result.calls.append(runners[peer](offset))
    return results


# -- reporting ------------------------------------------------------------------------------


def p90(values: list[float]) -> float:
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[-1]


def peak_rss_mb(who: int) -> float:
    return resource.getrusage(who).ru_maxrss / 1024  # Linux reports KiB


def matches(frames: list[int | None], wanted: list[int]) -> int:
    return sum(frame == want for frame, want in zip(frames, wanted, strict=True))


def frame_line(plan: VideoPlan, offsets: list[Offset], results: dict[str, PeerResult]) -> str:
    """Which frames came back. A player shows floor(T*fps) at T; `ffmpeg -ss T` keeps the first
    frame at or after T, ceil(T*fps): the two differ when T falls between frames."""
    shown = [offset.ms * plan.fps // 1000 for offset in offsets]
    after = [-(-offset.ms * plan.fps // 1000) for offset in offsets]
    n = len(offsets)
    parts = []
    for peer, result in results.items():
        frames = [call.frame for call in result.calls]
        if peer == "vframe fast":
            wanted = [index - index % plan.gop for index in shown]
            parts.append(f"{peer} = keyframe at or before T {matches(frames, wanted)}/{n}")
        elif peer == "ffmpeg":
            parts.append(f"{peer} = floor(T*fps) {matches(frames, shown)}/{n}, "
                         f"ceil(T*fps) {matches(frames, after)}/{n}")
        else:
            parts.append(f"{peer} = floor(T*fps) {matches(frames, shown)}/{n}")
    return "frames: " + "; ".join(parts)


def print_table(plans: list[VideoPlan], results: dict[str, dict[str, PeerResult]]) -> None:
    """Per video and peer: wall median and p90, CPU median, and the medians' ratio to ffmpeg
    (CPU time suffers less than wall time from other work on the machine)."""
    header = f"{'video':<7} {'peer':<13} {'median ms':>10} {'p90 ms':>9} {'cpu ms':>9}  vs ffmpeg (medians)"
    print(header)
    print("-" * (len(header) + 12))
    for plan in plans:
        peers = results[plan.name]
        base = peers["ffmpeg"].summary() if "ffmpeg" in peers else None
        for peer, result in peers.items():
            s = result.summary()
            ratio = "" if base is None or peer == "ffmpeg" else (
                f"{peer}: {s['median_ms'] / base['median_ms']:.2f}x ffmpeg "
                f"(cpu {s['cpu_median_ms'] / base['cpu_median_ms']:.2f}x)")
            print(f"{plan.name:<7} {peer:<13} {s['median_ms']:>10.1f} {s['p90_ms']:>9.1f} "
                  f"{s['cpu_median_ms']:>9.1f}  {ratio}")


def describe_videos(generated: dict[str, float | None]) -> None:
    for plan in VIDEOS:
        took = generated[plan.name]
        note = "reused from cache" if took is None else f"generated in {took:.1f} s"
        print(f"{plan.name}: {plan.path.relative_to(BENCH_DIR.parent)} ({plan.path.stat().st_size / 1e6:.1f} MB, "
              f"{plan.duration:g} s, GOP {plan.gop / plan.fps:g} s, B-frames {plan.bframes}) {note}")


def versions(ffmpeg: str | None) -> dict[str, str | None]:
    return {"python": platform.python_version(), "vframe": vframe.__version__, "pyav": av.__version__,
            "pyav_ffmpeg": av.ffmpeg_version_info, "ffmpeg": ffmpeg_version(ffmpeg) if ffmpeg else None}


def memory_record(results: dict[str, dict[str, PeerResult]], after_imports_mb: float) -> dict[str, float | None]:
    ffmpeg_kb = [call.max_rss_kb for peers in results.values() if "ffmpeg" in peers
                 for call in peers["ffmpeg"].calls if call.max_rss_kb]
    return {"self_peak_mb": peak_rss_mb(resource.RUSAGE_SELF), "self_after_imports_mb": after_imports_mb,
            "ffmpeg_child_peak_mb": max(ffmpeg_kb) / 1024 if ffmpeg_kb else None}


def print_memory(memory: dict[str, float | None]) -> None:
    child = memory["ffmpeg_child_peak_mb"]
    print(f"peak RSS: this process (vframe in-process) {memory['self_peak_mb']:.0f} MB "
          f"({memory['self_after_imports_mb']:.0f} MB after imports); "
          f"largest ffmpeg child {f'{child:.0f} MB' if child else 'n/a'}")


# -- the service ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One exact frame asked of the service, and of the ffmpeg command."""

    plan: VideoPlan
    offset: Offset

    @property
    def target(self) -> str:
        return f"/{quote(self.plan.path.name)}?{spec_for(self.offset, fast=False)}"

    @property
    def shown(self) -> int:
        """The frame a player shows at T, floor(T*fps), which vframe returns."""
        return self.offset.ms * self.plan.fps // 1000

    @property
    def after(self) -> int:
        """The first frame at or after T, ceil(T*fps), which `ffmpeg -ss T` returns."""
        return -(-self.offset.ms * self.plan.fps // 1000)


@dataclass
class ServiceResult:
    frames: list[Frame]
    runs: list[Run] = field(default_factory=list)  # ffmpeg's first, when it runs
    shown: dict[str, list[int | None]] = field(default_factory=dict)  # run -> frames read back, in frames' order
    cache: dict[str, float] = field(default_factory=dict)  # what the servers' /-/metrics counted
    workers: int = 0
    peak_rss_mb: dict[str, Any] = field(default_factory=dict)  # of the last server


def service_frames(per_video: int) -> list[Frame]:
    """Distinct seeded offsets in both videos (picked as for the in-process figure, another seed), in a
    seeded shuffled order so that the two videos' frames are mixed."""
    frames = [Frame(plan, offset) for plan in VIDEOS for offset in pick_offsets(plan, per_video, seed=SEED + 1)]
    random.Random(SEED).shuffle(frames)
    return frames


def warm_up_frames(frames: list[Frame], per_video: int) -> list[Frame]:
    """Frames from the middle of each video on, 41 ms apart, that `frames` does not ask for."""
    taken = {(frame.plan.name, frame.offset.ms) for frame in frames}
    warm = []
    for plan in VIDEOS:
        ms = round(plan.duration * 500) + 1
        for _ in range(per_video):
            while (plan.name, ms) in taken:
                ms += 41
            warm.append(Frame(plan, Offset(ms, "warm-up")))
            ms += 41
    return warm


def bench_ffmpeg_per_request(ffmpeg: str, result: ServiceResult, workdir: Path) -> None:
    """One ffmpeg process per frame, FFMPEG_PARALLEL at a time, after one warm-up run."""
    warm = warm_up_frames(result.frames, 1)[0]
    run_commands("warm-up", [ffmpeg_command(ffmpeg, warm.plan.path, warm.offset, workdir / "warm.jpg")], 1)
    outs = [workdir / f"service-{number}.jpg" for number in range(len(result.frames))]
    commands = [ffmpeg_command(ffmpeg, frame.plan.path, frame.offset, out)
                for frame, out in zip(result.frames, outs, strict=True)]
    run = run_commands(f"ffmpeg command, {FFMPEG_PARALLEL} at a time", commands, FFMPEG_PARALLEL)
    result.runs.append(run)
    result.shown[run.name] = [shown_frame(out.read_bytes()) if out.exists() else None for out in outs]


def bench_service(result: ServiceResult, cached_requests: int) -> None:
    """For each number of clients, a fresh `vframe serve` (default settings, so an empty cache),
    warmed up (two frames a video, not among the measured ones, two at a time), then every frame
    once: uncached. The last server then answers the same URLs again, from its cache."""
    targets = [frame.target for frame in result.frames]
    warm_targets = [frame.target for frame in warm_up_frames(result.frames, 2)]
    for clients in SERVICE_CLIENTS:
        with vframe_serve(CACHE_DIR) as server:
            result.workers = server.health()["workers"]
            load_threads(server, "warm-up", warm_targets, 2)
            misses = server.metric("vframe_cache_misses_total")
            run, responses = load_threads(server, f"vframe serve uncached, {clients} clients", targets, clients)
            result.runs.append(run)
            result.cache[f"misses, uncached {clients} clients"] = server.metric("vframe_cache_misses_total") - misses
            result.shown[run.name] = [shown_frame(r.body) if r and r.status == 200 else None for r in responses]
            if clients == SERVICE_CLIENTS[-1]:
                lengths = {r.target: len(r.body) for r in responses if r and r.status == 200}
                hits, misses = server.metric("vframe_cache_hits_total"), server.metric("vframe_cache_misses_total")
                result.runs.append(load_in_processes(server, f"vframe serve cached hits, {CACHED_CLIENTS} clients",
                                                     lengths, cached_requests, CACHED_CLIENTS, CLIENT_PROCESSES))
                result.cache["hits, cached"] = server.metric("vframe_cache_hits_total") - hits
                result.cache["misses, cached"] = server.metric("vframe_cache_misses_total") - misses
                result.peak_rss_mb = server.peak_rss_mb()


def times(ratio: float) -> str:
    return f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2f}x" if ratio >= 0.1 else f"{ratio:.3f}x"


CLIENTS = (f"uncached runs: one httpx.Client (keep-alive) per client thread in this process; cached hits: "
           f"{CLIENT_PROCESSES} processes of bench/service.py's asyncio HTTP/1.1 client, {CACHED_CLIENTS} keep-alive "
           f"connections in all. The clients share the CPUs with the server, so the cached figure is what server "
           f"and clients reach together")


def describe_service(result: ServiceResult, cached_requests: int) -> None:
    frames = result.frames
    print(f"service: vframe serve --root {CACHE_DIR.relative_to(BENCH_DIR.parent)}, default settings (one decode "
          f"worker per core), a fresh server for each uncached run; {len(frames)} exact frames, each asked once "
          f"per uncached run, then {cached_requests} times in all from the cache; ffmpeg run once per frame, "
          f"{FFMPEG_PARALLEL} at a time", flush=True)
    for plan in VIDEOS:
        listed = ", ".join(offset.seconds for offset in sorted(f.offset for f in frames if f.plan == plan))
        print(f"service {plan.name} offsets (s): {listed}", flush=True)


def print_service(result: ServiceResult) -> None:
    """Per run: requests (or commands) per second over the run's wall time, median and p90 latency,
    CPU per request (server and workers, or ffmpeg; not the clients), and their ratios to ffmpeg's."""
    runs, frames = result.runs, result.frames
    header = (f"{'run':<36} {'clients':>7} {'requests':>8} {'failed':>6} {'per s':>8} {'median ms':>9} "
              f"{'p90 ms':>8} {'cpu ms':>7}  vs ffmpeg (per s; median, p90 latency; cpu)")
    print(header)
    print("-" * len(header))
    base = runs[0].summary() if runs and runs[0].name.startswith("ffmpeg") else None
    for run in runs:
        s = run.summary()
        ratios = "" if base is None or run is runs[0] else "; ".join(
            ", ".join(times(s[key] / base[key]) for key in keys)
            for keys in (("per_s",), ("median_ms", "p90_ms"), ("cpu_ms_per_request",)))
        print(f"{run.name:<36} {run.clients:>7} {run.requests:>8} {len(run.failures):>6} {s['per_s']:>8.1f} "
              f"{s['median_ms']:>9.1f} {s['p90_ms']:>8.1f} {s['cpu_ms_per_request']:>7.1f}  {ratios}")
    for run in runs:
        for failure in run.failures[:10]:
            print(f"FAILED {run.name}: {failure}")
        if len(run.failures) > 10:
            print(f"FAILED {run.name}: ... and {len(run.failures) - 10} more")
    n = len(frames)
    parts = []
    for name, shown in result.shown.items():
        part = f"{name} = floor(T*fps) {matches(shown, [frame.shown for frame in frames])}/{n}"
        if name.startswith("ffmpeg"):
            part += f", ceil(T*fps) {matches(shown, [frame.after for frame in frames])}/{n}"
        parts.append(part)
    print("service frames: " + "; ".join(parts))
    print("service cache (/-/metrics): " + ", ".join(f"{name} {value:g}" for name, value in result.cache.items())
          + f" (the cached run's {CACHED_CLIENTS} connections each asked once before the clock started)")
    rss = result.peak_rss_mb
    if rss:
        workers = ", ".join(f"{mb:.0f}" for mb in rss["workers"])
        print(f"service peak RSS: server process {rss['server']:.0f} MB, decode workers {workers} MB")
    print(f"service clients: {CLIENTS}. Latency with more clients than the {result.workers} workers includes "
          f"waiting for one; ffmpeg's runs {FFMPEG_PARALLEL} at a time and never waits")


def service_record(result: ServiceResult) -> dict[str, object]:
    return {
        "frames": [{"video": f.plan.name, "offset": asdict(f.offset), "target": f.target, "floor_frame": f.shown,
                    "ceil_frame": f.after} for f in result.frames],
        "workers": result.workers, "clients": CLIENTS,
        "runs": {run.name: {"summary": run.summary(), "failures": run.failures, "latencies_ms": run.latencies_ms}
                 for run in result.runs},
        "frames_read_back": result.shown, "cache": result.cache, "peak_rss_mb": result.peak_rss_mb,
    }


def write_json(path: Path, record: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Time vframe.grab against the ffmpeg command (noisy, never asserted).")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_OFFSETS} offsets a video, not {FULL_OFFSETS}; for the service, "
                             f"{SERVICE_FRAMES[1]} frames a video, not {SERVICE_FRAMES[0]}, and "
                             f"{CACHED_REQUESTS[1]} cached hits, not {CACHED_REQUESTS[0]}; for the remote figure, "
                             f"{OFFSETS_REMOTE[1]} offsets a layout, not {OFFSETS_REMOTE[0]}")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the full record as JSON")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    after_imports_mb = peak_rss_mb(resource.RUSAGE_SELF)

    ffmpeg = ensure_ffmpeg()
    generated = {plan.name: ensure_video(plan) for plan in VIDEOS}
    describe_videos(generated)
    versions_seen = versions(ffmpeg)
    print(f"PyAV {av.__version__} (FFmpeg {av.ffmpeg_version_info}); "
          f"ffmpeg command: {versions_seen['ffmpeg'] or 'skipped'}; {os.cpu_count()} CPUs")

    count = QUICK_OFFSETS if args.quick else FULL_OFFSETS
    offsets = {plan.name: pick_offsets(plan, count) for plan in VIDEOS}
    results: dict[str, dict[str, PeerResult]] = {}
    with tempfile.TemporaryDirectory(prefix="vframe-bench-") as tmp:
        for plan in VIDEOS:
            listed = ", ".join(f"{offset.seconds} ({offset.kind})" for offset in offsets[plan.name])
            print(f"{plan.name} offsets (s): {listed}", flush=True)
            results[plan.name] = bench_video(plan, offsets[plan.name], ffmpeg, Path(tmp))

    print()
    print_table(list(VIDEOS), results)
    print()
    for plan in VIDEOS:
        print(f"{plan.name} {frame_line(plan, offsets[plan.name], results[plan.name])}")
    memory = memory_record(results, after_imports_mb)
    print_memory(memory)

    print()
    service = ServiceResult(service_frames(SERVICE_FRAMES[args.quick]))
    cached_requests = CACHED_REQUESTS[args.quick]
    describe_service(service, cached_requests)
    with tempfile.TemporaryDirectory(prefix="vframe-bench-") as tmp:
        if ffmpeg:
            bench_ffmpeg_per_request(ffmpeg, service, Path(tmp))
    bench_service(service, cached_requests)
    print()
    print_service(service)

    print()
    remote = bench_remote(ffmpeg, CACHE_DIR, args.quick, serve=vframe_serve)
    describe_remote(remote)
    print()
    print_remote(remote)
    total = time.perf_counter() - started
    print(f"total {total:.1f} s; wall times are noisy on shared machines and never asserted")

    if args.json:
        write_json(args.json, {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": platform.platform(), "cpus": os.cpu_count(),
            "versions": versions_seen, "quick": args.quick, "output": f"jpg {OUT_SIZE[0]}x{OUT_SIZE[1]}",
            "videos": [asdict(plan) | {"path": str(plan.path), "generated_s": generated[plan.name],
                                       "offsets": [asdict(o) for o in offsets[plan.name]]} for plan in VIDEOS],
            "results": {name: {peer: {"summary": r.summary(), "calls": [asdict(c) for c in r.calls]}
                               for peer, r in peers.items()} for name, peers in results.items()},
            "memory": memory, "service": service_record(service), "remote": remote_record(remote), "total_s": total,
        })
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
