"""Ground truth: what a plain sequential decode from the start (no seeking) says is shown
at each moment. Written from the definition in API.md, not from the engine's code."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import av.stream
from av.codec.context import CodecContext
from av.video.frame import VideoFrame


@dataclass(frozen=True)
class TruthFrame:
    stamp: int  # timestamp in the stream's time base
    digest: str  # of the decoded pixels
    key: bool


@dataclass(frozen=True)
class Truth:
    frames: tuple[TruthFrame, ...]  # in presentation order
    time_base: Fraction
    start: int  # the timestamp of offset 0
    cut_at: int | None = None  # the data ends inside the packet shown from here (the file was cut)
    declared_end: int | None = None  # where the stream's header says it ends

    def missing_at(self, offset_ms: int) -> bool:
        """The frame shown at this moment is lost: the file was cut inside a packet at or before it,
        no frame comes after it, and the stream's header says the video goes on (API.md: 599)."""
        if self.cut_at is None or self.declared_end is None:
            return False
        limit = self.start + Fraction(offset_ms, 1000) / self.time_base
        return self.cut_at <= limit < self.declared_end and self.frames[-1].stamp < limit

    def shown_at(self, offset_ms: int) -> TruthFrame:
        """The last frame whose time is <= offset; before the first frame, the first."""
        limit = self.start + Fraction(offset_ms, 1000) / self.time_base
        shown = [frame for frame in self.frames if frame.stamp <= limit]
        return max(shown, key=lambda frame: frame.stamp) if shown else self.frames[0]

    def keyframe_at(self, offset_ms: int) -> TruthFrame:
        limit = self.start + Fraction(offset_ms, 1000) / self.time_base
        keys = [frame for frame in self.frames if frame.key and frame.stamp <= limit]
        return keys[-1] if keys else self.frames[0]

    def seconds(self, frame: TruthFrame) -> Fraction:
        return (frame.stamp - self.start) * self.time_base

    def offsets(self) -> list[int]:
        """Offsets in ms that probe every kind of moment: start, frame boundaries and 1 ms either
        side, keyframes and the frames before them, mid-GOP, the last frame, past the end."""
        times = [self.seconds(frame) for frame in self.frames]
        picks = {0, 1, len(times) // 3, len(times) // 2, (2 * len(times)) // 3, len(times) - 2, len(times) - 1}
        keys = [i for i, frame in enumerate(self.frames) if frame.key]
        for k in keys[:4] + keys[-2:]:
            picks |= {k - 1, k, k + 1}
        for a, b in zip(keys, keys[1:], strict=False):
            picks.add((a + b) // 2)
        offsets = {0}
        for i in sorted(p for p in picks if 0 <= p < len(times)):
            boundary = -(-times[i] * 1000 // 1)  # ceil: the first ms at which frame i is shown
            offsets |= {int(boundary) - 1, int(boundary), int(boundary) + 1}
        last = int(times[-1] * 1000)
        offsets |= {last + 10_000, 999_999_999}
        return sorted(o for o in offsets if o >= 0)


def digest(frame: VideoFrame) -> str:
    try:
        pixels = frame.to_ndarray()
    except (AssertionError, ValueError, NotImplementedError, av.error.FFmpegError):  # odd sizes, rare formats
        pixels = frame.reformat(format="rgb48le").to_ndarray()
    return hashlib.sha1(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()


def sequential(path: Path) -> Truth | None:
    """Decode every frame of the default video stream from the first byte; None if none decodes."""
    with av.open(str(path)) as container:
        streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
        stream = ([s for s in streams if s.disposition & av.stream.Disposition.default] or streams)[0]
        decoder = stream.codec_context
        if stream.metadata.get("alpha_mode") == "1" and decoder.name in ("vp8", "vp9"):
            decoder = CodecContext.create("libvpx" if decoder.name == "vp8" else "libvpx-vp9", "r")
        # AVI stores no presentation times: with B-frames its pts are made up, the decode order is real.
        use_dts = container.format.name == "avi" and bool(stream.codec_context.has_b_frames)
        frames: list[TruthFrame] = []

        def take(packet: av.Packet | None) -> None:
            try:
                decoded = decoder.decode(packet)
            except (av.error.FFmpegError, ValueError):
                return  # a player skips a packet its decoder refuses
            for frame in decoded:
                if use_dts:  # frames drained at the end have no dts: one AVI tick after the last
                    stamp = frame.dts if frame.dts is not None else (frames[-1].stamp + 1 if frames else None)
                else:
                    stamp = frame.pts if frame.pts is not None else frame.dts
                if stamp is not None:
                    frames.append(TruthFrame(stamp, digest(frame), bool(frame.key_frame)))

        last_packet = None
        try:
            for packet in container.demux(stream):
                if packet.size:
                    last_packet = packet
                    take(packet)
        except (av.error.FFmpegError, OSError):
            pass
        cut_at = last_packet.pts if last_packet is not None and last_packet.is_corrupt else None
        take(None)
        if not frames:
            return None
        start = stream.start_time if stream.start_time is not None and not use_dts else frames[0].stamp
        ordered = tuple(sorted(frames, key=lambda frame: frame.stamp))
        declared_end = start + stream.duration if stream.duration else None
        return Truth(ordered, Fraction(stream.time_base), start, cut_at, declared_end)
