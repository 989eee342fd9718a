"""How frame timestamps map onto offsets (API.md, "Which frame"): times are counted from the
start of the video stream, in integer ticks of its time base."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import av
import av.container
from av.video.frame import VideoFrame
from av.video.stream import VideoStream


@dataclass
class Timeline:
    """Integer ticks of `time_base` from `start`."""

    time_base: Fraction
    start: int | None  # the timestamp of offset 0; None until the first frame is seen
    use_dts: bool  # AVI with B-frames carries made-up pts; its decode timestamps are the real order

    @classmethod
    def of(cls, container: av.container.InputContainer, stream: VideoStream) -> Timeline:
        use_dts = container.format.name == "avi" and bool(stream.codec_context.has_b_frames)
        start = stream.start_time if not use_dts and stream.start_time is not None else None
        return cls(Fraction(stream.time_base or Fraction(1, 90000)), start, use_dts)

    def stamp(self, frame: VideoFrame, previous: int | None) -> int | None:
        """The frame's presentation timestamp; `previous` is the stamp of the frame decoded before it."""
        if not self.use_dts:
            return frame.pts if frame.pts is not None else frame.dts
        if frame.dts is not None:
            return frame.dts
        # Frames drained at the end carry no dts; an AVI tick is one frame.
        return previous + 1 if previous is not None else frame.pts

    def target(self, offset_ms: int | Fraction) -> int:
        """The largest timestamp shown at `offset_ms`: a frame is shown iff stamp <= target."""
        assert self.start is not None
        return self.start + int(offset_ms * self.time_base.denominator // (1000 * self.time_base.numerator))

    def seconds(self, stamp: int) -> Fraction:
        """The time of a frame stamped `stamp`: never before the start, which only a damaged
        timestamp (one far in the past, say) could claim."""
        assert self.start is not None
        return max(stamp - self.start, 0) * self.time_base

    def declared_end(self, container: av.container.InputContainer, stream: VideoStream) -> int:
        """Where the headers say the stream ends; -1 when they do not say."""
        assert self.start is not None
        if stream.duration:
            return self.start + stream.duration
        if container.duration:
            return self.start + int(Fraction(container.duration, av.time_base) / self.time_base)
        return -1

    def duration(self, container: av.container.InputContainer, stream: VideoStream) -> Fraction | None:
        """The stream's declared duration in seconds, if the headers give one."""
        if stream.duration:
            return stream.duration * self.time_base
        if container.duration:
            return Fraction(container.duration, av.time_base)
        return None
