"""The floors of bench.py's many-frames figures, in bare PyAV, knowing the answer beforehand (the
bench's own videos say which frame is shown when, and where the keyframes are):

* keyframe-pass floor - a sprite sheet of keyframes: each keyframe a tile needs (the one at or before
                        its sample time) decoded once, the decoder skipping every other frame
                        (skip_frame NONKEY), seeking only when the next keyframe needed is not the one
                        just decoded; each scaled to the tile size (swscale), pasted, and the sheet
                        encoded as a JPEG at vframe's quality. The least a fast-mode storyboard can do.
* exact multi-frame floor - the same sheet of the frames shown at the sample times: each GOP that holds
                        a sample decoded once, from its keyframe up to its last sample (no packet decoded
                        after it), skipping the non-reference frames that are not a sample (they cannot
                        be shown), on frame threads as peers.py's exact floor; a seek to each such GOP.
* exact floor in processes - peers.py's exact floor over a list of frames, run by N processes side by
                        side, each taking the next frame when it is done (as the service's decode
                        workers do), on one thread each (as the service gives a request while the other
                        workers are busy). Frames per second: what the exact floor allows N processes.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import time
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from peers import JPEG_QUALITY, exact_floor_jpeg
from PIL import Image


def _sheet(pictures: Sequence[np.ndarray], tile: tuple[int, int], columns: int) -> bytes:
    """Tiles (HxWx3 rgb24 arrays of `tile` size) left to right, top to bottom, on black; a JPEG."""
    width, height = tile
    rows = -(-len(pictures) // columns)
    canvas = np.zeros((rows * height, min(columns, len(pictures)) * width, 3), np.uint8)
    for number, picture in enumerate(pictures):
        row, column = divmod(number, columns)
        canvas[row * height:(row + 1) * height, column * width:(column + 1) * width] = picture
    out = io.BytesIO()
    Image.fromarray(canvas).save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def _rgb(frame: av.VideoFrame, tile: tuple[int, int]) -> np.ndarray:
    return frame.reformat(width=tile[0], height=tile[1], format="rgb24").to_ndarray()


def keyframe_pass_floor(path: Path, keys: Sequence[Fraction], tile: tuple[int, int], columns: int) -> bytes:
    """The keyframe-pass floor: `keys[i]` is the time (from the stream's start) of tile i's keyframe."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        start = stream.start_time or 0
        stream.codec_context.skip_frame = "NONKEY"
        made: dict[Fraction, np.ndarray] = {}
        for key in sorted(set(keys)):
            container.seek(start + round(key / time_base), stream=stream, backward=True, any_frame=False)
            frame = None
            for packet in container.demux(stream):
                if packet.size and packet.is_keyframe:
                    frames = [*stream.decode(packet), *stream.decode(None)]  # flushed: the frame at once
                    frame = frames[0] if frames else None
                    break
            if frame is None or frame.pts != start + round(key / time_base):
                raise RuntimeError(f"{path}: the keyframe at {float(key):.3f} s was not decoded "
                                   f"(got {frame.pts if frame else None})")
            made[key] = _rgb(frame, tile)
        return _sheet([made[key] for key in keys], tile, columns)


def exact_multi_floor(path: Path, samples: Sequence[tuple[Fraction, Fraction, Fraction]], tile: tuple[int, int],
                      columns: int) -> bytes:
    """The exact multi-frame floor: `samples[i]` is tile i's (sample time, time of the frame shown
    then, time of that frame's keyframe), all from the stream's start."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        time_base = stream.time_base
        assert time_base is not None
        start = stream.start_time or 0
        decoder = stream.codec_context
        cores = len(os.sched_getaffinity(0))
        decoder.thread_type, decoder.thread_count = ("FRAME", cores + 1) if cores >= 2 else ("SLICE", 1)

        def pts(seconds: Fraction) -> int:
            return start + round(seconds / time_base)

        gops: dict[Fraction, list[tuple[Fraction, Fraction, Fraction]]] = {}
        for sample in samples:
            gops.setdefault(sample[2], []).append(sample)
        made: dict[int, np.ndarray] = {}
        for key, held in sorted(gops.items()):
            wanted = {pts(shown) for _, shown, _ in held}
            last = start + int(max(at for at, _, _ in held) / time_base)
            container.seek(pts(key), stream=stream, backward=True, any_frame=False)
            frames: list[av.VideoFrame] = []
            for packet in container.demux(stream):
                if packet.dts is not None and packet.dts > last:
                    break  # decoded after the GOP's last sample: never shown by then
                if packet.size:
                    decoder.skip_frame = "DEFAULT" if packet.pts in wanted else "NONREF"
                    frames += [f for f in decoder.decode(packet) if f.pts in wanted]
            frames += [f for f in decoder.decode(None) if f.pts in wanted]
            made.update((frame.pts, _rgb(frame, tile)) for frame in frames if frame.pts is not None)
            if wanted - made.keys():
                raise RuntimeError(f"{path}: frames at pts {sorted(wanted - made.keys())} not decoded")
        return _sheet([made[pts(shown)] for _, shown, _ in samples], tile, columns)


# -- the exact floor in N processes ----------------------------------------------------------------

_barrier: Any = None


def _worker_start(barrier: Any, path: str, warm: tuple[Fraction, Fraction]) -> None:
    global _barrier
    _barrier = barrier
    exact_floor_jpeg(Path(path), *warm, threads=1)  # imports, opens the file: not counted


def _meet(_: int) -> None:
    _barrier.wait(timeout=60)  # every worker holds one of these at once: all are started and warm


def _one(job: tuple[str, Fraction, Fraction]) -> tuple[bytes, float, float]:
    cpu, started = time.process_time(), time.perf_counter()
    data = exact_floor_jpeg(Path(job[0]), job[1], job[2], threads=1)
    return data, (time.perf_counter() - started) * 1000, time.process_time() - cpu


def exact_floor_in_processes(path: Path, frames: Sequence[tuple[Fraction, Fraction]], processes: int,
                             warm: tuple[Fraction, Fraction]) -> tuple[float, list[tuple[bytes, float, float]]]:
    """Each (sample time, time of the frame shown) of `frames` by peers.py's exact floor on one thread,
    `processes` processes at once taking the next frame when done; the wall seconds from the first
    frame handed out to the last made (the processes started and warmed up on `warm` before), and for
    each frame, in `frames`' order, its JPEG, its wall ms and its CPU seconds in its process."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    barrier = context.Barrier(processes)
    with context.Pool(processes, initializer=_worker_start, initargs=(barrier, str(path), warm)) as pool:
        pool.map(_meet, range(processes), chunksize=1)
        started = time.perf_counter()
        made = pool.map(_one, [(str(path), at, shown) for at, shown in frames], chunksize=1)
        wall = time.perf_counter() - started
    return wall, made
