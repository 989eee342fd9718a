"""One thread policy for decoding, used by the decoder (how many threads of which kind) and by the
service (how many threads a request starting now may take).

An exact frame is decoded on frame threads, which put every core on one request, until a pass
looks damaged (see walk.Video). Each frame thread holds a picture, so their number is bounded by
FRAME_THREAD_BYTES (4K 10-bit: 2); a picture too large for two, and a stream timed by the decoder's
delay (which frame threads lengthen), are decoded on slice threads. A keyframe (fast mode) is
decoded on one thread: slice threads made it no faster on the bench's videos or the shared
corpus's largest, and with them FFmpeg's H.264 decoder neither conceals nor reports a damaged
slice, so damage would go unseen and the picture would depend on the load."""

from __future__ import annotations

import os
from contextlib import suppress

from av.video.codeccontext import VideoCodecContext
from av.video.format import VideoFormat

# Memory the pictures held by frame threads may take (one each): 1080p gets one thread per core
# plus one, 4K 10-bit two; a larger picture is decoded on slice threads.
FRAME_THREAD_BYTES = 64 * 1024**2


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0))


def threads_for(idle_cores: int) -> int:
    """Threads for one decode given the cores it may have: one a core plus one, which keeps frame
    threads fed, when there are two or more; else one (frame threads would only hold pictures)."""
    return idle_cores + 1 if idle_cores >= 2 else 1


def picture_bytes(context: VideoCodecContext) -> int:
    """The bytes of one decoded picture (3 bytes a pixel when the format is not known yet)."""
    width, height = max(context.width, 1), max(context.height, 1)
    if context.format is None:
        return 3 * width * height
    components = VideoFormat(context.format.name, width, height).components
    return max(1, sum(c.width * c.height * (2 if c.bits > 8 else 1) for c in components))


def configure(decoder: VideoCodecContext, wanted: int, *, single: bool, timed_by_delay: bool) -> str | None:
    """Set the decoder's threads before it opens; gives "FRAME" or "SLICE" when it has more than
    one, else None. `wanted`: the operator's count (0: threads_for every core); `single`: one
    thread whatever else is true (a keyframe, or a pass that looked damaged); `timed_by_delay`: the
    stream is timed by when frames leave the decoder (AVI with B-frames)."""
    count = wanted or threads_for(cores())
    frame_threads = min(count, FRAME_THREAD_BYTES // picture_bytes(decoder))
    with suppress(ValueError, AttributeError):  # decoders without threads (libvpx: its own)
        if single:  # one thread, whose answer on damaged data is the same everywhere
            decoder.thread_type, decoder.thread_count = "SLICE", 1
        elif not timed_by_delay and frame_threads >= 2:
            decoder.thread_type, decoder.thread_count = "FRAME", frame_threads
            return "FRAME"
        else:  # (0: FFmpeg's choice, one a core)
            decoder.thread_type, decoder.thread_count = "SLICE", wanted
            return "SLICE" if (wanted or cores()) > 1 else None
    return None
