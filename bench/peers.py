"""The peers of bench.py's per-frame figure, each asked for one frame at a time and timed per frame:

* vframe          - `vframe.grab(path, "vframe/jpg/offset/T/w/480/h/360")` in the bench's process (exact);
* vframe fast     - the same with `/mode/fast`: the keyframe at or before T;
* vframe HTTP, vframe fast HTTP - the same specs asked of a `vframe serve` (bench/service.py) by one
                    keep-alive httpx client, one request at a time, timed from the client;
* ffmpeg -ss      - `ffmpeg -hide_banner -loglevel error -ss T -i FILE -frames:v 1 -vf scale=480:360 -y
                    out.jpg`, Debian's ffmpeg, a process per frame (start-up included);
* ffmpegthumbnailer - `ffmpegthumbnailer -i FILE -o out.jpg -s 480 -t hh:mm:ss -q 8` (Debian's), a process
                    per frame. Its -t takes a percentage or whole seconds; it seeks to a keyframe
                    (FFmpeg's seek without AVSEEK_FLAG_BACKWARD: in an MP4 the keyframe at or *after* T)
                    and keeps the first keyframe it decodes; -s is the longer side, so 16:9 gives 480x270;
* floor           - what any tool must do at the least, written here with PyAV: open the file, seek to
                    the keyframe at or before T, decode that one packet (then flush the decoder so it
                    gives the frame at once), convert straight to 480x360 rgb24 (swscale, bilinear) and
                    encode a JPEG with Pillow at vframe's quality (85);
* exact floor     - what any bit-exact tool must do at the least for the frame shown at T, in PyAV,
                    knowing the answer beforehand (the frame's time, from the bench's own video): seek
                    to the keyframe at or before T, decode every packet whose decode time is at or
                    before T with the decoder skipping non-reference frames other than the one shown,
                    on frame threads (one per core plus one, as vframe), then convert and encode as
                    the floor does. vframe over it is vframe's own cost of finding the frame; it over
                    ffmpeg is the least any in-process exact decode could reach on this machine.

Processes are started by a minimal launcher (`python -I -S`, under 10 MB) that forks, execs, waits and
reads the child's rusage: Linux carries a process's peak RSS across fork and exec, so a child forked
straight from the ~100 MB bench would report that much whatever the tool used. What is timed is the
launcher's fork + exec + wait, as a shell starts a command.

    python bench/peers.py peak PATH SPEC...   # a child that grabs in-process and prints its VmHWM
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import httpx
import numpy as np
from PIL import Image

OUT_SIZE = (480, 360)
JPEG_QUALITY = 85  # vframe's default (VFRAME_JPEG_QUALITY)


@dataclass
class Call:
    """One timed call of one peer for one frame."""

    offset: str
    wall_ms: float
    cpu_ms: float | None  # this process's, the server's and its workers', or the child's CPU time
    frame: int | None  # the index painted into the picture; None if unreadable
    size: tuple[int, int] | None = None
    max_rss_kb: int | None = None  # a child process's peak
    status: int | None = None  # HTTP
    seconds: dict[str, float] | None = None  # vframe's own time per step (in-process)


def painted(image_bytes: bytes) -> tuple[int | None, tuple[int, int] | None]:
    """The frame index vframe.synth painted into a (scaled, lossy) picture, and the picture's size."""
    from vframe_testkit.synth import read_index

    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            size = image.size
            rgb = np.asarray(image.convert("RGB"))
    except (ValueError, OSError):
        return None, None
    try:
        return read_index(rgb), size
    except ValueError:
        return None, size


def spec(offset: str, fast: bool = False) -> str:
    return f"vframe/jpg/offset/{offset}/w/{OUT_SIZE[0]}/h/{OUT_SIZE[1]}" + ("/mode/fast" if fast else "")


# -- in this process -------------------------------------------------------------------------------


def call_vframe(path: Path, offset: str, fast: bool) -> Call:
    import vframe

    cpu, started = time.process_time(), time.perf_counter()
    result = vframe.grab(path, spec(offset, fast))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    frame, size = painted(result.data)
    return Call(offset, wall * 1000, cpu * 1000, frame, size, seconds=dict(result.seconds))


def floor_jpeg(path: Path, seconds: Fraction) -> bytes:
    """The floor: the keyframe at or before `seconds` (from the stream's start), decoded alone,
    converted to 480x360 rgb24 and encoded as a JPEG."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        start = stream.start_time or 0
        container.seek(start + int(seconds / time_base), stream=stream, backward=True, any_frame=False)
        frame = None
        for packet in container.demux(stream):
            if not packet.size or not packet.is_keyframe:
                continue
            frames = [*stream.decode(packet), *stream.decode(None)]
            if frames:
                frame = frames[0]
                break
        if frame is None:
            raise RuntimeError(f"{path}: no keyframe decoded after seeking to {float(seconds):.3f} s")
        return _jpeg(frame)


def exact_floor_jpeg(path: Path, seconds: Fraction, shown: Fraction, threads: int | None = None) -> bytes:
    """The exact floor (see the module's text): the frame shown at `seconds`, whose own time is
    `shown` (both from the stream's start); `threads=1`: on one thread (bench/floors.py's processes)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        start = stream.start_time or 0
        target, shown_pts = start + int(seconds / time_base), start + round(shown / time_base)
        decoder = stream.codec_context
        cores = len(os.sched_getaffinity(0))
        frame_threads = cores >= 2 and threads != 1
        decoder.thread_type, decoder.thread_count = ("FRAME", cores + 1) if frame_threads else ("SLICE", 1)
        container.seek(target, stream=stream, backward=True, any_frame=False)
        frames = []
        for packet in container.demux(stream):
            if packet.dts is not None and packet.dts > target:
                break  # decoded after T: never shown by then
            if packet.size:
                decoder.skip_frame = "DEFAULT" if packet.pts == shown_pts else "NONREF"
                frames += [f for f in decoder.decode(packet) if f.pts == shown_pts]
        frames += [f for f in decoder.decode(None) if f.pts == shown_pts]
        if not frames:
            raise RuntimeError(f"{path}: no frame at {float(shown):.3f} s decoded for {float(seconds):.3f} s")
        return _jpeg(frames[0])


def _jpeg(frame: av.VideoFrame) -> bytes:
    """A floor's last steps: straight to 480x360 rgb24 (swscale), then a JPEG at vframe's quality."""
    rgb = frame.reformat(width=OUT_SIZE[0], height=OUT_SIZE[1], format="rgb24").to_ndarray()
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def call_floor(path: Path, offset: str) -> Call:
    return _timed(offset, lambda: floor_jpeg(path, Fraction(offset)))


def call_exact_floor(path: Path, offset: str, shown: Fraction) -> Call:
    return _timed(offset, lambda: exact_floor_jpeg(path, Fraction(offset), shown))


def _timed(offset: str, make: Callable[[], bytes]) -> Call:
    """One floor's picture made in this process, timed (wall and CPU) and read back."""
    cpu, started = time.process_time(), time.perf_counter()
    data = make()
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    frame, size = painted(data)
    return Call(offset, wall * 1000, cpu * 1000, frame, size)


# -- over HTTP ----------------------------------------------------------------------------------------


def call_http(client: httpx.Client, target: str, offset: str, server_cpu: object = None) -> Call:
    """One GET, timed from the client; `server_cpu`, if given, a callable giving the server's CPU seconds."""
    before = server_cpu() if callable(server_cpu) else None
    started = time.perf_counter()
    response = client.get(target)
    body = response.content
    wall = time.perf_counter() - started
    cpu = (server_cpu() - before) * 1000 if callable(server_cpu) and before is not None else None
    if response.status_code != 200:
        raise RuntimeError(f"GET {target}: {response.status_code} {body[:300]!r}")
    frame, size = painted(body)
    return Call(offset, wall * 1000, cpu, frame, size, status=response.status_code)


# -- as processes -----------------------------------------------------------------------------------

# Runs argv[2:] and writes "wall_s cpu_s maxrss_kb exit_code" to argv[1]; small and fresh, so it
# passes no inflated peak RSS on to the command.
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


def ffmpeg_command(ffmpeg: str, path: Path, offset: str, out: Path) -> list[str]:
    return [ffmpeg, "-hide_banner", "-loglevel", "error", "-ss", offset, "-i", str(path), "-frames:v", "1",
            "-vf", f"scale={OUT_SIZE[0]}:{OUT_SIZE[1]}", "-y", str(out)]


def thumbnailer_command(thumbnailer: str, path: Path, hhmmss: str, out: Path) -> list[str]:
    return [thumbnailer, "-i", str(path), "-o", str(out), "-s", str(max(OUT_SIZE)), "-t", hhmmss, "-q", "8"]


def call_command(command: list[str], offset: str, out: Path, workdir: Path) -> Call:
    """Run `command` (which writes `out`) under the launcher: wall time, CPU time and peak RSS."""
    log, result = workdir / "command.log", workdir / "launcher.txt"
    result.unlink(missing_ok=True)
    out.unlink(missing_ok=True)
    with open(log, "wb") as stderr:
        subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(result), *command],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr, check=False)
    fields = result.read_text().split() if result.exists() else []
    if len(fields) != 4 or fields[3] != "0" or not out.exists():
        message = log.read_text(errors="replace").strip()[-500:]
        raise RuntimeError(f"{' '.join(command)} failed ({fields[3:] or 'no result'}): {message}")
    frame, size = painted(out.read_bytes())
    return Call(offset, float(fields[0]) * 1000, float(fields[1]) * 1000, frame, size, int(fields[2]))


# -- the in-process peak, in a child of its own ---------------------------------------------------


def vm_hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def inprocess_peak(path: Path, specs: list[str]) -> dict[str, float]:
    """Peak RSS (MB) of a fresh Python process that imports vframe and grabs `specs` from `path`."""
    done = subprocess.run([sys.executable, str(Path(__file__).resolve()), "peak", str(path), *specs],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the in-process peak child failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _peak_main(path: str, specs: list[str]) -> None:
    import vframe

    after_import = vm_hwm_kb()
    for item in specs:
        vframe.grab(path, item)
    print(json.dumps({"after_import_mb": after_import / 1024, "peak_mb": vm_hwm_kb() / 1024, "grabs": len(specs)}))


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "peak":
        _peak_main(sys.argv[2], sys.argv[3:])
    else:
        raise SystemExit("usage: python bench/peers.py peak PATH SPEC...")
