"""The poster section of bench.py (issue 14): what `offset/auto` costs, on two videos,

* 1080p H.264  - the bench's 20 s 1080p video (an 8 s GOP): the window is its first 2 s, one keyframe;
* black 720p   - 1280x720 H.264, 20 s at 25 fps, an 8 s GOP, its first 3 s black
                 (vframe_testkit.openings): every keyframe candidate is black, so the 12 exact
                 frames of the first 10 s are walked too, the dearest case;

against, in the same run, interleaved,

* vframe fast    - `vframe/jpg/offset/<the poster's time>/w/320/mode/fast` in-process: one keyframe;
* vframe auto    - `vframe/jpg/offset/auto/w/320` in-process;
* vframe grab    - the same poster by a fresh `vframe grab` process;
* ffmpegthumbnailer - `ffmpegthumbnailer -i IN -o OUT -s 320` (Debian's; its default is its smart
                 mode: seek to 10 %, 25 frames, the histogram nearest their average), a process too.

Each peer runs once first (not counted), then RUNS times in a rotating order. Ratios: auto / fast
(the price of choosing), vframe grab / ffmpegthumbnailer (both fresh processes). Each picture's
painted index is read back: the poster must not be the black opening.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import coldstart
import peers
from peers import Call
from videos import CACHE_DIR, Video

import vframe

RUNS = (10, 3)  # full, quick
SIZE = 320
AUTO = "vframe auto"
FAST = "vframe fast"
GRAB = "vframe grab auto"
THUMBNAILER = "ffmpegthumbnailer"
NAMES = (FAST, AUTO, GRAB, THUMBNAILER)
BLACK_SECONDS = 3
BLACK_720P = CACHE_DIR / f"black{BLACK_SECONDS}s-h264-1280x720-25fps-gop200-bf2-500f.mp4"


@dataclass
class Posters:
    """One video's calls, by peer."""

    name: str
    path: Path
    first_good: int  # the first frame after the bad opening
    calls: dict[str, list[Call]] = field(default_factory=dict)

    def median(self, peer: str) -> float | None:
        walls = [c.wall_ms for c in self.calls.get(peer, [])]
        return statistics.median(walls) if walls else None


def ensure_black_720p() -> float | None:
    """Make the black-opening video unless it is in the cache; the seconds it took, None if reused."""
    if BLACK_720P.exists():
        return None
    from vframe_testkit.openings import opening
    from vframe_testkit.synth import make_video

    started = time.perf_counter()
    partial = BLACK_720P.with_name(BLACK_720P.stem + ".part.mp4")
    make_video(partial, frames=500, fps=25, width=1280, height=720, gop=200, bframes=2,
               painter=opening("black", BLACK_SECONDS * 25))
    partial.rename(BLACK_720P)
    return time.perf_counter() - started


def _in_process(spec: str, path: Path, offset: str) -> Call:
    started = time.perf_counter()
    cpu = time.process_time()
    result = vframe.grab(path, spec)
    wall, used = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
    frame, size = peers.painted(result.data)
    return Call(offset, wall, used, frame, size, seconds=result.seconds)


def bench_posters(thumbnailer: str | None, hd: Video, quick: bool, workdir: Path) -> list[Posters]:
    made = ensure_black_720p()
    if made is not None:
        print(f"made {BLACK_720P.name} in {made:.0f} s", flush=True)
    boards = [Posters(hd.name, hd.path, 0), Posters("black 720p", BLACK_720P, BLACK_SECONDS * 25)]
    out = {GRAB: workdir / "poster-vframe.jpg", THUMBNAILER: workdir / "poster-thumbnailer.jpg"}
    for board in boards:
        auto = vframe.grab(board.path, f"vframe/jpg/offset/auto/w/{SIZE}")
        assert auto.time_header is not None
        time_ = auto.time_header
        runs = {
            FAST: lambda b=board, t=time_: _in_process(f"vframe/jpg/offset/{t}/w/{SIZE}/mode/fast", b.path, t),
            AUTO: lambda b=board: _in_process(f"vframe/jpg/offset/auto/w/{SIZE}", b.path, "auto"),
            GRAB: lambda b=board: peers.call_command(
                [*coldstart.vframe_command(), "grab", str(b.path), f"vframe/jpg/offset/auto/w/{SIZE}", "-o",
                 str(out[GRAB])], "auto", out[GRAB], workdir),
        }
        if thumbnailer is not None:
            runs[THUMBNAILER] = lambda b=board: peers.call_command(
                [thumbnailer, "-i", str(b.path), "-o", str(out[THUMBNAILER]), "-s", str(SIZE)], "smart",
                out[THUMBNAILER], workdir)
        for run in runs.values():  # once each, not counted
            run()
        names = list(runs)
        board.calls = {name: [] for name in names}
        for round_ in range(RUNS[quick]):
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                board.calls[name].append(runs[name]())
    return boards


def print_posters(boards: list[Posters]) -> None:
    runs = max((len(calls) for b in boards for calls in b.calls.values()), default=0)
    print(f"posters: a {SIZE}-pixel-wide jpg, {runs} runs each, interleaved")
    for board in boards:
        print(f"  {board.name} ({board.path.name})")
        print(f"    {'peer':<18} {'median ms':>9} {'min ms':>7} {'max ms':>7} {'cpu ms':>7}  frames")
        for name, made in board.calls.items():
            walls = sorted(c.wall_ms for c in made)
            cpu = sorted(c.cpu_ms or 0 for c in made)
            shown = sorted({c.frame for c in made}, key=lambda f: -1 if f is None else f)
            good = sum(c.frame is not None and c.frame >= board.first_good for c in made)
            print(f"    {name:<18} {statistics.median(walls):>9.1f} {walls[0]:>7.1f} {walls[-1]:>7.1f} "
                  f"{statistics.median(cpu):>7.1f}  frame {', '.join(map(str, shown))}; after the opening "
                  f"{good}/{len(made)}")
        fast, auto = board.median(FAST), board.median(AUTO)
        grab, thumb = board.median(GRAB), board.median(THUMBNAILER)
        if fast and auto:
            print(f"    auto / fast: {auto / fast:.2f}x")
        if grab and thumb:
            print(f"    vframe grab auto / ffmpegthumbnailer: {grab / thumb:.2f}x")


def record(boards: list[Posters]) -> dict[str, object]:
    return {b.name: {"path": str(b.path), "medians_ms": {name: b.median(name) for name in b.calls},
                     "frames": {name: [c.frame for c in calls] for name, calls in b.calls.items()}}
            for b in boards}
