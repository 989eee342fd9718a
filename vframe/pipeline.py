"""The one way a frame is made, for the HTTP service, the CLI and the library alike:
limits -> open -> find the frame -> picture -> encode, with the deadline checked between steps."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction

from . import picture
from .decode import Video
from .errors import Unsupported
from .limits import Budget, check_output_bytes, check_source_size
from .settings import DEFAULT, Settings
from .sources import Source, open_source
from .spec import FrameSpec, parse


@dataclass(frozen=True)
class Grab:
    """An encoded frame: its bytes, media type, size and the time of the frame it shows."""

    data: bytes
    media_type: str
    width: int
    height: int
    time: Fraction  # seconds from the start of the video stream
    seconds: dict[str, float] = field(default_factory=dict, compare=False)  # wall time per step: open, decode, encode

    @property
    def time_header(self) -> str:
        """The frame's time as X-Vframe-Time gives it: seconds with 3 decimals."""
        return f"{float(self.time):.3f}"


def grab(
    input: str | os.PathLike[str] | Source, spec: str | FrameSpec, settings: Settings = DEFAULT,
    *, started: float | None = None,
) -> Grab:
    """Cut the frame `spec` asks for out of `input` (a path or a Source) and encode it.
    Raises a VframeError subclass, carrying its HTTP status, for every failure. The deadline runs
    from `started` (a time.monotonic() reading, e.g. when the HTTP request arrived), else from now."""
    budget = Budget(settings, started)
    frame_spec = spec if isinstance(spec, FrameSpec) else parse(spec, settings)
    clock = _Clock()
    with open_video(input, settings, budget) as video:
        clock.lap("open")
        budget.check_time()
        found = video.find(frame_spec.offset_ms, budget, keyframe=frame_spec.mode == "fast")
        budget.check_time()
        geometry = picture.plan(found.frame, sample_aspect(video), frame_spec, settings)
        image = picture.render(found.frame, geometry, previous=found.previous, next=found.next)
        clock.lap("decode")
        if budget.fetch_seconds:  # a remote video: time waiting for the origin, within the above
            clock.seconds["fetch"] = budget.fetch_seconds
    budget.check_time()
    data = picture.encode(image, frame_spec.format, settings)
    check_output_bytes(len(data), settings)
    clock.lap("encode")
    return Grab(data, frame_spec.media_type, image.width, image.height, found.time, clock.seconds)


@contextmanager
def open_video(
    input: str | os.PathLike[str] | Source, settings: Settings, budget: Budget | None = None
) -> Iterator[Video]:
    """The video behind a path, URL or Source, opened within the limits (remote reads count against `budget`)."""
    source = open_source(input, settings) if isinstance(input, (str, os.PathLike)) else input
    if source.size == 0:
        raise Unsupported("The file is empty: there is no video in it.")
    check_source_size(source.size, settings)
    with source.open(budget) as reader:
        try:
            with Video(reader, settings) as video:
                yield video
        except Exception as error:
            _raise_fetch_failure(reader, error)
            raise
        _raise_fetch_failure(reader, None)


def _raise_fetch_failure(reader: object, error: BaseException | None) -> None:
    """A remote read that failed is the cause of whatever FFmpeg made of it (a damaged-looking
    stream, an earlier frame): report the origin's failure (502/504/413), not a decoding one."""
    failure = getattr(reader, "failure", None)
    if failure is not None and failure is not error:
        raise failure from None


def sample_aspect(video: Video) -> Fraction:
    """The pixel aspect: the container's if it has one, else the codec's, else square."""
    for ratio in (video.stream.sample_aspect_ratio, video.stream.codec_context.sample_aspect_ratio):
        if ratio and ratio > 0:
            return Fraction(ratio)
    return Fraction(1)


class _Clock:
    """Wall time spent in each step of one grab, for the service's metrics."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, step: str) -> None:
        now = time.perf_counter()
        self.seconds[step] = now - self._last
        self._last = now
