"""The command-line cold start of bench.py (issue 13's target 7): one frame by a fresh process,

* vframe grab - `vframe grab FILE vframe/jpg/offset/7/w/480/h/360 -o out.jpg` (the venv's console script);
* ffmpeg -ss  - `ffmpeg -ss 7 -i FILE -frames:v 1 -vf scale=480:360 out.jpg` (peers.py's command line),

on the bench's 1080p H.264 video, each run once first (not counted: the file and the programs are
then in the page cache, as for every other figure), then alternately, the first of each pair
alternating too. Each is timed by peers.py's launcher (fork, exec, wait), its CPU time and peak RSS
read from its rusage, its picture read back (both must give frame 175: 7 s falls on a frame).
"""

from __future__ import annotations

import os
import statistics
import sys
from pathlib import Path

import peers
from peers import Call
from videos import Video

OFFSET = "7"
RUNS = (10, 5)  # full, quick
VFRAME = "vframe grab"
FFMPEG = "ffmpeg -ss"


def vframe_command() -> list[str]:
    script = Path(os.path.normpath(sys.executable)).with_name("vframe")
    return [str(script)] if script.exists() else [sys.executable, "-m", "vframe"]


def bench_cold_start(ffmpeg: str | None, video: Video, runs: int, workdir: Path) -> dict[str, list[Call]]:
    out = {VFRAME: workdir / "cold-vframe.jpg", FFMPEG: workdir / "cold-ffmpeg.jpg"}
    commands = {VFRAME: [*vframe_command(), "grab", str(video.path), peers.spec(OFFSET), "-o", str(out[VFRAME])]}
    if ffmpeg is not None:
        commands[FFMPEG] = peers.ffmpeg_command(ffmpeg, video.path, OFFSET, out[FFMPEG])
    for name, command in commands.items():  # once each, not counted
        peers.call_command(command, OFFSET, out[name], workdir)
    calls: dict[str, list[Call]] = {name: [] for name in commands}
    names = list(commands)
    for run in range(runs):
        for name in names[run % len(names):] + names[:run % len(names)]:
            calls[name].append(peers.call_command(commands[name], OFFSET, out[name], workdir))
    return calls


def print_cold_start(calls: dict[str, list[Call]], video: Video, want: int) -> None:
    runs = len(next(iter(calls.values()), []))
    print(f"command-line cold start: a fresh process for frame {OFFSET} s of {video.name} ({video.path.name}) -> jpg "
          f"480x360, {runs} runs each, interleaved")
    print(f"  {'peer':<12} {'median ms':>9} {'min ms':>7} {'max ms':>7} {'cpu ms':>7} {'peak MB':>7}  frames")
    for name, made in calls.items():
        walls = sorted(c.wall_ms for c in made)
        cpu = sorted(c.cpu_ms or 0 for c in made)
        rss = max((c.max_rss_kb or 0) for c in made) / 1024
        right = sum(c.frame == want for c in made)
        print(f"  {name:<12} {statistics.median(walls):>9.0f} {walls[0]:>7.0f} {walls[-1]:>7.0f} "
              f"{statistics.median(cpu):>7.0f} {rss:>7.0f}  frame {want} {right}/{len(made)}")
    print(f"  (vframe: {' '.join(vframe_command()[:1])})")
