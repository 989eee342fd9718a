"""The animated-preview section of bench.py (issue 14): a 3 s preview at 10 fps, 320 wide, of the same
span of each video, by vframe (`vpreview/gif/ss/SS/t/3` and `vpreview/webp/...`, in-process, as
`vframe.grab`) and by ffmpeg's command line, the way its users make a good GIF:

    ffmpeg -ss SS -t 3 -i IN -vf "fps=10,scale=320:-1,split[a][b];[a]palettegen[p];[b][p]paletteuse" out.gif
    ffmpeg -ss SS -t 3 -i IN -vf "fps=10,scale=320:-1" -loop 0 out.webp   (libwebp_anim, its default quality)

Videos: the bench's 20 s 1080p H.264 (synthetic: a gradient and the index cells) at 7 s, and a real
one from the shared corpus (`deb-imageio__cockatoo.mp4`, 1280x720 H.264, at 5 s) where it is there.
Each line: wall ms (median of the repetitions), bytes, frames in the file, bytes per frame, and for
the synthetic video how many frames show the painted index the moment asks for (vframe: frame k at
SS + k/10 s; ffmpeg's fps filter picks the frame nearest each slot, so it is counted, not judged).

    python bench/previews.py [--quick]   # this section alone
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from videos import BY_NAME, Video, ensure

import vframe
from vframe_testkit import synth

SPAN_S = 3
FPS = 10
WIDTH = 320
REPEATS = (3, 1)  # full, quick
CORPUS = Path(os.environ.get("VFRAME_TEST_VIDEOS", Path(__file__).resolve().parents[2] / "shared" / "videos"))
REAL = ("02_h264_mp4_moov_at_end/deb-imageio__cockatoo.mp4", 5)
PALETTE_FILTER = f"fps={FPS},scale={WIDTH}:-1,split[a][b];[a]palettegen[p];[b][p]paletteuse"


@dataclass
class Attempt:
    peer: str
    ms: list[float] = field(default_factory=list)
    data: bytes = b""
    frames: int = 0
    right: int | None = None  # frames showing the index asked for (synthetic video, vframe only)

    @property
    def per_frame(self) -> float:
        return len(self.data) / self.frames if self.frames else 0.0


@dataclass
class Span:
    label: str
    path: Path
    ss: int
    video: Video | None  # the synthetic one: its frames paint their index
    attempts: dict[str, Attempt] = field(default_factory=dict)


def frames_of(data: bytes) -> list[np.ndarray]:
    image = Image.open(io.BytesIO(data))
    frames = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        image.load()
        frames.append(np.asarray(image.convert("RGB")))
    return frames


def _timed(attempt: Attempt, make: Any) -> None:
    started = time.perf_counter()
    attempt.data = make()
    attempt.ms.append((time.perf_counter() - started) * 1000)


def run_vframe(span: Span, fmt: str, attempt: Attempt) -> None:
    spec = f"vpreview/{fmt}/ss/{span.ss}/t/{SPAN_S}/fps/{FPS}/w/{WIDTH}"
    _timed(attempt, lambda: vframe.grab(span.path, spec).data)


def run_ffmpeg(ffmpeg: str, span: Span, fmt: str, attempt: Attempt, workdir: Path) -> None:
    out = workdir / f"ffmpeg.{fmt}"
    filters = PALETTE_FILTER if fmt == "gif" else f"fps={FPS},scale={WIDTH}:-1"
    command = [ffmpeg, "-v", "error", "-y", "-ss", str(span.ss), "-t", str(SPAN_S), "-i", str(span.path),
               "-vf", filters, *(["-loop", "0"] if fmt == "webp" else []), str(out)]

    def make() -> bytes:
        subprocess.run(command, check=True, capture_output=True, timeout=120, start_new_session=True)
        return out.read_bytes()

    _timed(attempt, make)


def judge(span: Span, attempt: Attempt, exact: bool) -> None:
    frames = frames_of(attempt.data)
    attempt.frames = len(frames)
    if span.video is None or not exact:
        return
    video, right = span.video, 0
    for k, rgb in enumerate(frames):
        try:
            index = synth.read_index(rgb)
        except ValueError:
            continue
        right += index == video.painted(video.shown(span.ss * 1000 + k * 1000 // FPS))
    attempt.right = right


def bench_previews(ffmpeg: str | None, quick: bool) -> list[Span]:
    hd = BY_NAME["1080p H.264"]
    ensure(hd)
    spans = [Span("1080p H.264 (synthetic)", hd.path, 7, hd)]
    real = CORPUS / REAL[0]
    if real.is_file():
        spans.append(Span(f"{real.name} (real, 1280x720)", real, REAL[1], None))
    else:
        print(f"  (the shared corpus is not at {CORPUS}: the real video is left out)")
    with tempfile.TemporaryDirectory(prefix="vframe-bench-previews-") as tmp:
        for span in spans:
            for fmt in ("gif", "webp"):
                peers = [(f"vframe {fmt}", None)] + ([(f"ffmpeg {fmt}", ffmpeg)] if ffmpeg else [])
                for name, _ in peers:
                    span.attempts[name] = Attempt(name)
                for _ in range(REPEATS[quick]):
                    for name, binary in peers:
                        if binary is None:
                            run_vframe(span, fmt, span.attempts[name])
                        else:
                            run_ffmpeg(binary, span, fmt, span.attempts[name], Path(tmp))
                for name, binary in peers:
                    judge(span, span.attempts[name], exact=binary is None)
    return spans


def print_previews(spans: list[Span]) -> None:
    for span in spans:
        print(f"  {span.label}, {SPAN_S} s from {span.ss} s at {FPS} fps, {WIDTH} wide")
        for attempt in span.attempts.values():
            right = f", {attempt.right}/{attempt.frames} frames the ones shown" if attempt.right is not None else ""
            print(f"    {attempt.peer:<12} {statistics.median(attempt.ms):7.0f} ms {len(attempt.data):9,d} bytes "
                  f"{attempt.frames:3d} frames {attempt.per_frame:9,.0f} bytes/frame{right}")
        for fmt in ("gif", "webp"):
            ours, theirs = span.attempts.get(f"vframe {fmt}"), span.attempts.get(f"ffmpeg {fmt}")
            if ours and theirs and theirs.per_frame:
                print(f"    {fmt}: vframe/ffmpeg bytes per frame {ours.per_frame / theirs.per_frame:.2f}x, "
                      f"time {statistics.median(ours.ms) / statistics.median(theirs.ms):.2f}x")


def record(spans: list[Span]) -> list[dict[str, Any]]:
    return [{"video": span.label, "ss": span.ss, "t": SPAN_S, "fps": FPS, "width": WIDTH,
             "peers": {a.peer: {"ms": statistics.median(a.ms), "bytes": len(a.data), "frames": a.frames,
                                "bytes_per_frame": a.per_frame, "right": a.right} for a in span.attempts.values()}}
            for span in spans]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{REPEATS[1]} repetition, not {REPEATS[0]}")
    args = parser.parse_args(argv)
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        print("!!! ffmpeg is missing: vframe's figures only (make bench installs it)")
    print_previews(bench_previews(ffmpeg, args.quick))
    return 0


if __name__ == "__main__":
    sys.exit(main())
