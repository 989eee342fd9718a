"""The benchmark's videos and offsets: made once with PyAV (vframe.synth paints every frame's own
index, so any peer's picture says which frame it is) and kept in bench/cache, then picked from at
fixed, seeded offsets.

* 1080p H.264  - 1920x1080, H.264 High (libx264), 2 B-frames, 25 fps, a keyframe every 8 s, 20 s;
* 4K HEVC 10   - 3840x2160, HEVC Main 10 (libx265, yuv420p10le), 2 B-frames, 25 fps, a keyframe every 2 s, 6 s;
* 720p VP9     - 1280x720, VP9 (libvpx-vp9) in WebM, 24 fps, a keyframe every 4 s, 20 s;
* 120 s 1080p  - the 1080p H.264's encoding, 120 s (3,000 frames), for the storyboard section only;
* long MP4     - 2 hours at 25 fps (180,000 samples in the index, moov at the end as FFmpeg writes it),
                 256x144 H.264 with 2 B-frames and a keyframe every 2 s: a 4 s clip encoded once and
                 its packets muxed again with shifted timestamps; frame n shows n mod 100.

The videos are clean synthetic pictures (a gradient and the index cells), so their bitrates are
low (about 1.5 Mbit/s at 1080p): a frame costs less to decode than real footage of that size.

    python bench/videos.py make NAME   # make one video (bench.py runs this in a child process)
"""

from __future__ import annotations

import json
import random
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import av

BENCH_DIR = Path(__file__).resolve().parent
CACHE_DIR = BENCH_DIR / "cache"
SEED = 20240601


@dataclass(frozen=True)
class Video:
    """A synthetic video to make once (cached under a name made of these parameters)."""

    name: str
    label: str  # what it is, for the reports
    codec: str  # the PyAV encoder
    width: int
    height: int
    fps: int
    gop: int  # frames from one keyframe to the next
    frames: int  # frames encoded (the clip's, for a repeated one)
    bframes: int = 2
    pix_fmt: str = "yuv420p"
    container: str = "mp4"
    repeat: int = 1  # the clip's packets muxed this many times (its frames show index mod `frames`)
    options: dict[str, str] = field(default_factory=dict, hash=False, compare=False)  # over vframe.synth's

    @property
    def path(self) -> Path:
        tag = {"libx264": "h264", "libx265": f"hevc-{self.pix_fmt}", "libvpx-vp9": "vp9"}[self.codec]
        repeated = f"x{self.repeat}" if self.repeat > 1 else ""
        extra = re.sub(r"[^0-9A-Za-z.-]", "", "".join(f"-{key}{value}" for key, value in sorted(self.options.items())))
        return CACHE_DIR / (f"{'long-' if self.repeat > 1 else ''}{tag}-{self.width}x{self.height}-{self.fps}fps"
                            f"-gop{self.gop}-bf{self.bframes}-{self.frames}f{repeated}{extra}.{self.container}")

    @property
    def total_frames(self) -> int:
        return self.frames * self.repeat

    @property
    def duration(self) -> float:
        return self.total_frames / self.fps

    @property
    def gop_s(self) -> float:
        return self.gop / self.fps

    def shown(self, ms: int) -> int:
        """The frame a player shows at `ms` (the last one starting at or before it): what vframe must return."""
        return min(ms * self.fps // 1000, self.total_frames - 1)

    def after(self, ms: int) -> int:
        """The first frame starting at or after `ms`: what `ffmpeg -ss` keeps."""
        return min(-(-ms * self.fps // 1000), self.total_frames - 1)

    def key_before(self, ms: int) -> int:
        shown = self.shown(ms)
        return shown - shown % self.gop

    def key_after(self, ms: int) -> int | None:
        """The first keyframe at or after `ms`; None if there is none."""
        key = -(-self.after(ms) // self.gop) * self.gop
        return key if key < self.total_frames else None

    def painted(self, frame: int) -> int:
        """The index frame `frame` shows."""
        return frame % self.frames


VIDEOS = (
    # One slice a frame, as x264 writes by default (PyAV's encoders default to slice threads).
    Video("1080p H.264", "H.264 High, 2 B-frames, GOP 8 s", "libx264", 1920, 1080, fps=25, gop=200, frames=500,
          options={"x264-params": "b-adapt=0:sliced-threads=0"}),
    Video("4K HEVC 10-bit", "HEVC Main 10, 2 B-frames, GOP 2 s", "libx265", 3840, 2160, fps=25, gop=50, frames=150,
          pix_fmt="yuv420p10le"),
    Video("720p VP9", "VP9 in WebM, GOP 4 s", "libvpx-vp9", 1280, 720, fps=24, gop=96, frames=480, bframes=0,
          container="webm"),
    Video("long MP4", "2 h, 180,000 samples, H.264, 2 B-frames, GOP 2 s", "libx264", 256, 144, fps=25, gop=50,
          frames=100, repeat=1800, options={"crf": "30"}),
)
# The storyboard section's (bench/storyboard.py): the 1080p video's encoding, 120 s long.
STORYBOARD_1080P = Video("120 s 1080p H.264", "H.264 High, 2 B-frames, GOP 8 s, 120 s", "libx264", 1920, 1080,
                         fps=25, gop=200, frames=3000, options={"x264-params": "b-adapt=0:sliced-threads=0"})
BY_NAME = {video.name: video for video in (*VIDEOS, STORYBOARD_1080P)}


@dataclass(frozen=True, order=True)
class Offset:
    """A moment to cut at, in whole milliseconds; `past_key_ms` is how far past its keyframe it is."""

    ms: int
    past_key_ms: int = 0

    @property
    def seconds(self) -> str:
        return f"{self.ms // 1000}.{self.ms % 1000:03d}"

    @property
    def hhmmss(self) -> str:
        """Whole seconds as hh:mm:ss (ffmpegthumbnailer's -t takes no fractions)."""
        whole = self.ms // 1000
        return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def pick_offsets(video: Video, count: int, salt: str = "", taken: set[int] | None = None) -> list[Offset]:
    """`count` distinct seeded offsets, each some time past a keyframe: a keyframe drawn at random,
    then a time drawn uniformly from 0.2 s past it to the frame before the next one (or the end).
    The first is 1.2 s past its keyframe, the issue's example. Offsets in `taken` (ms) are avoided."""
    rng = random.Random(f"{SEED}-{video.name}-{salt}")
    keys = [index / video.fps for index in range(0, video.total_frames, video.gop)]
    last = video.duration - 1 / video.fps
    chosen: dict[int, Offset] = {}
    avoid = taken or set()
    while len(chosen) < count:
        key = rng.choice([k for k in keys if k + 0.3 < last])
        span = min(video.gop_s, last - key) - 1 / video.fps
        past = 1.2 if not chosen and not salt and span > 1.2 else rng.uniform(0.2, max(span, 0.2))
        ms = round((key + past) * 1000)
        if ms not in avoid:
            chosen.setdefault(ms, Offset(ms, ms - round(key * 1000)))
    return sorted(chosen.values())


# -- making them ----------------------------------------------------------------------------------


def ensure(video: Video) -> float | None:
    """Make the video unless it is in the cache; the seconds it took, None if reused. It is made in
    a child process, so that its memory does not count in the bench's own peak."""
    if video.path.exists():
        return None
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    print(f"making {video.path.name} ({video.name}: {video.label}) ...", flush=True)
    started = time.perf_counter()
    import subprocess  # only here: the child is this file

    subprocess.run([sys.executable, str(Path(__file__).resolve()), "make", video.name], check=True)
    return time.perf_counter() - started


def make(video: Video) -> None:
    """Encode (vframe.synth.make_video checks every frame's index, the keyframes and the B-frames),
    then, for a repeated video, mux the clip's packets `repeat` times; written to a partial file first."""
    from vframe_testkit.synth import make_video, repeat_clip

    partial = video.path.with_name(video.path.stem + ".part." + video.container)
    clip = partial if video.repeat == 1 else video.path.with_name(video.path.stem + ".clip." + video.container)
    try:
        make_video(clip, codec=video.codec, frames=video.frames, fps=video.fps, width=video.width,
                   height=video.height, gop=video.gop, bframes=video.bframes, pix_fmt=video.pix_fmt,
                   options=video.options or None)
        if video.repeat > 1:
            repeat_clip(clip, partial, rounds=video.repeat)
            check_repeated(partial, video)
        partial.replace(video.path)
    finally:
        partial.unlink(missing_ok=True)
        if clip != partial:
            clip.unlink(missing_ok=True)


def check_repeated(path: Path, video: Video) -> None:
    """The index says `total_frames` samples and the duration; a frame late in the video decodes."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = float((stream.duration or 0) * (stream.time_base or 0))
        if stream.frames != video.total_frames or abs(duration - video.duration) > 1:
            raise RuntimeError(f"{path}: {stream.frames} frames, {duration:.1f} s; expected "
                               f"{video.total_frames} frames, {video.duration:.1f} s")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "make":
        make(BY_NAME[sys.argv[2]])
    elif len(sys.argv) == 2 and sys.argv[1] == "list":
        print(json.dumps({video.name: str(video.path) for video in VIDEOS}, indent=2))
    else:
        raise SystemExit("usage: python bench/videos.py make NAME | list")
