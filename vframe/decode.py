"""Open a video over a reader, pick its stream and find the frame a player shows at an offset
(API.md, "Which frame"): the last frame whose presentation time is <= the offset, times
counted from the start of the video stream."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, BinaryIO, cast

import av
import av.container
import av.error
import av.logging
import av.stream
from av.codec.context import CodecContext
from av.video.codeccontext import VideoCodecContext
from av.video.format import VideoFormat
from av.video.frame import VideoFrame
from av.video.stream import VideoStream

from .errors import OutOfMemory, ProcessingFailed, Unsupported
from .limits import Budget, check_frame_pixels
from .settings import Settings

# Demuxers a video may be read with. Playlists (hls, dash, concat), image sequences, tty and
# every other format that can open a second input or is not a video container are left out.
ALLOWED_DEMUXERS = ",".join(
    [
        "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi", "flv", "mpegts", "mpeg", "mpegvideo",
        "m4v", "h264", "hevc", "vvc", "h261", "h263", "ogg", "dv", "asf", "rm", "ivf", "obu", "nut",
        "mxf", "gxf", "yuv4mpegpipe", "wtv", "nsv", "smjpeg", "cavsvideo", "vc1", "mjpeg",
        # audio-only formats: read so that the answer can say "audio only" rather than "unknown"
        "mp3", "aac", "ac3", "eac3", "flac", "wav", "aiff", "amr",
    ]
)
# Decoders a video may be decoded with: the codecs of real-world video files. FFmpeg has some
# 200 more (old game and screen-capture codecs and the like), rarely used, little exercised and
# the usual home of decoder bugs; a video in one of them is refused (415) before it is decoded.
ALLOWED_DECODERS = frozenset(
    {
        "h264", "hevc", "vvc", "vp8", "vp9", "libvpx", "libvpx-vp9", "libdav1d", "av1",
        "mpeg1video", "mpeg2video", "mpeg4", "msmpeg4", "msmpeg4v1", "msmpeg4v2", "h261", "h263", "h263i",
        "h263p", "flv", "vp6", "vp6a", "vp6f", "theora", "vc1", "wmv1", "wmv2", "wmv3", "rv10", "rv20",
        "rv30", "rv40", "svq1", "svq3", "mjpeg", "dvvideo", "prores", "dnxhd", "cfhd", "hap", "ffv1",
        "huffyuv", "ffvhuff", "utvideo", "rawvideo", "png", "qtrle", "rpza", "cinepak", "cavs",
    }
)
# VP8/VP9 alpha travels beside the picture (Matroska BlockAdditional): only libvpx decodes it.
ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
# libvpx does not flag the frames it decodes from keyframes; it has no delay (one packet, one
# frame), so the packet's flag is the frame's.
UNFLAGGED_KEYFRAMES = set(ALPHA_DECODERS.values())
# Decoders that read skip_frame for each frame they decode (libdav1d reads it once, at start).
SKIPPERS = {"h264", "hevc", "mpeg2video", "mpeg1video"}
_REFUSED_SIZE = re.compile(r"Picture size (\d+)x(\d+) (?:is invalid|exceeds)")  # libavutil/imgutils.c
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)  # "from before the first frame"
_ANALYZE_MICROSECONDS = 5_000_000  # of stream time FFmpeg may read to find the streams (its default, pinned)
# Memory the pictures held by frame threads may take (one each): 1080p gets one thread per core
# plus one, 4K 10-bit two; a larger picture is decoded on slice threads.
FRAME_THREAD_BYTES = 64 * 1024**2
_MAX_STEPS_BACK = 5  # times to step back after a seek overshoots, before decoding from the start
# Formats whose timestamps after a seek are guessed by a parser resyncing mid-stream (MPEG-PS
# and raw elementary streams): exact only when read from the start.
SEQUENTIAL_FORMATS = {"mpeg", "mpegvideo", "m4v", "h264", "hevc", "vvc", "h261", "h263", "cavsvideo", "vc1"}


@contextmanager
def _refused_sizes(refused: list[tuple[int, int]]) -> Iterator[None]:
    """Adds to `refused` the frame sizes FFmpeg refused to allocate in this thread meanwhile (over
    `max_pixels`, or over its own limit of about 16384x16384): such a refusal leaves the stream's
    size unknown, and only FFmpeg's log says what it was."""
    previous = av.logging.get_level(), av.logging.get_skip_repeated()
    av.logging.set_level(av.logging.ERROR)  # the capture sees only what the level lets through
    av.logging.set_skip_repeated(False)  # or the same refusal, met again, would not be seen
    try:
        with av.logging.Capture() as logs:  # this thread's messages, kept from the log
            yield
    finally:
        av.logging.set_level(previous[0])
        av.logging.set_skip_repeated(previous[1])
        for _, _, message in logs:
            if match := _REFUSED_SIZE.match(message):
                refused.append((int(match[1]), int(match[2])))


def _refuse_nested_open(url: str, flags: int, options: dict[str, str]) -> BinaryIO:
    raise PermissionError("vframe reads exactly one input")


@dataclass
class Timeline:
    """How frame timestamps map onto offsets: integer ticks of `time_base` from `start`."""

    time_base: Fraction
    start: int | None  # the timestamp of offset 0; None until the first frame is seen
    use_dts: bool  # AVI with B-frames carries made-up pts; its decode timestamps are the real order

    def stamp(self, frame: VideoFrame, previous: int | None) -> int | None:
        """The frame's presentation timestamp; `previous` is the stamp of the frame decoded before it."""
        if not self.use_dts:
            return frame.pts if frame.pts is not None else frame.dts
        if frame.dts is not None:
            return frame.dts
        # Frames drained at the end carry no dts; an AVI tick is one frame.
        return previous + 1 if previous is not None else frame.pts

    def target(self, offset_ms: int) -> int:
        """The largest timestamp shown at `offset_ms`: a frame is shown iff stamp <= target."""
        assert self.start is not None
        return self.start + offset_ms * self.time_base.denominator // (1000 * self.time_base.numerator)

    def seconds(self, stamp: int) -> Fraction:
        """The time of a frame stamped `stamp`: never before the start, which only a damaged
        timestamp (one far in the past, say) could claim."""
        assert self.start is not None
        return max(stamp - self.start, 0) * self.time_base


@dataclass
class Window:
    """What one decoding pass saw around the target."""

    first: VideoFrame | None = None
    first_stamp: int | None = None
    first_packet_dts: int | None = None
    previous: VideoFrame | None = None
    frame: VideoFrame | None = None
    stamp: int | None = None
    next: VideoFrame | None = None
    missing_from: int | None = None  # frames from this timestamp on may be missing (damaged data)
    latest_packet: int | None = None  # the latest presentation time <= the target among the packets read
    concealed: bool = False  # the decoder hid damage in a frame it gave

    def doubt(self, stamp: int) -> None:
        self.missing_from = stamp if self.missing_from is None else min(self.missing_from, stamp)


@dataclass(frozen=True)
class Found:
    frame: VideoFrame
    time: Fraction  # seconds from the start of the stream
    previous: VideoFrame | None
    next: VideoFrame | None


@dataclass
class Video:
    """An opened video: container, chosen stream, its decoder and its timeline."""

    reader: BinaryIO
    settings: Settings
    container: av.container.InputContainer = field(init=False)
    stream: VideoStream = field(init=False)
    decoder: VideoCodecContext = field(init=False)
    timeline: Timeline = field(init=False)
    _fresh: bool = field(init=False, default=True)  # nothing read since opening: we are at the start
    _interlaced: bool = field(init=False, default=False)  # an interlaced frame was seen
    _threads_allowed: bool = field(init=False, default=True)  # more than one, until a pass looks damaged (see find)
    _suspect: bool = field(init=False, default=False)  # a pass on threads may have lost or hidden damage
    _threaded: str | None = field(init=False, default=None)  # "FRAME" or "SLICE": the decoder has more than one thread
    _keyframe_asked: bool = field(init=False, default=False)  # the frame asked for is a keyframe (fast mode)

    def __post_init__(self) -> None:
        self._open()
        self.timeline = Timeline(
            time_base=Fraction(self.stream.time_base or Fraction(1, 90000)),
            start=None,
            use_dts=self.container.format.name == "avi" and bool(self.stream.codec_context.has_b_frames),
        )
        if not self.timeline.use_dts and self.stream.start_time is not None:
            self.timeline.start = self.stream.start_time

    def _open(self) -> None:
        self._fresh = True
        self.container = self._open_container(refused=None)
        try:
            self.stream = pick_stream(self.container)
            context = self.stream.codec_context
            if context is not None and not (context.width and context.height):
                # A decoder may have refused a frame's size while the streams were read, which left
                # it unknown: only FFmpeg's log says which size, so open again, listening to it.
                self.container.close()
                refused: list[tuple[int, int]] = []
                self.container = self._open_container(refused)
                self.stream = pick_stream(self.container)
                for width, height in refused:
                    check_frame_pixels(width, height, self.settings)
            self.decoder = self._make_decoder()
        except BaseException:
            self.container.close()
            raise

    def _open_container(self, refused: list[tuple[int, int]] | None) -> av.container.InputContainer:
        """The container read from the start; with `refused`, the frame sizes FFmpeg refused
        meanwhile are added to it (listening to FFmpeg's log costs time on every message, some
        50 ms for a big MP4 index, so only when needed)."""
        self.reader.seek(0)
        try:
            with _refused_sizes(refused) if refused is not None else nullcontext():
                container = av.open(
                    self.reader,
                    mode="r",
                    container_options={
                        "format_whitelist": ALLOWED_DEMUXERS,
                        "protocol_whitelist": "none",
                        "probesize": str(self.settings.probe_bytes),
                        "analyzeduration": str(_ANALYZE_MICROSECONDS),
                    },
                    options=self._codec_options,  # the decoders FFmpeg runs while finding the streams
                    io_open=_refuse_nested_open,
                )
        except (av.error.FFmpegError, OSError, ValueError):
            # Including FFmpeg's ENOMEM: what it refuses to allocate here is a table whose size a
            # damaged header made absurd (the frames come later).
            raise Unsupported("The file is not a video vframe can read: its format is unknown or damaged.") from None
        except MemoryError:
            raise OutOfMemory() from None
        return container

    @property
    def _codec_options(self) -> dict[str, str]:
        # The stream's header is checked against the limit before decoding, and each decoded frame
        # after. This stops a bitstream that declares a far larger frame before FFmpeg allocates
        # it. Twice the limit (and a little): coded frames are padded to whole blocks (a 32x24
        # H.264 frame is coded 32x32); the exact limit is the other checks'.
        return {"max_pixels": str(2 * self.settings.max_frame_pixels + 65536)}

    def _make_decoder(self) -> VideoCodecContext:
        context = self.stream.codec_context
        if context is None or context.codec is None:
            raise Unsupported("The video's codec is not one vframe can decode.")
        if context.name not in ALLOWED_DECODERS:
            raise Unsupported(f"The video's codec ({context.name}) is not one this server decodes.")
        check_frame_pixels(context.width, context.height, self.settings)
        alpha_decoder = ALPHA_DECODERS.get(context.name)
        if alpha_decoder and self.stream.metadata.get("alpha_mode") == "1":
            decoder = cast(VideoCodecContext, CodecContext.create(alpha_decoder, "r"))
            decoder.width, decoder.height = context.width, context.height
            return decoder
        context.options = self._codec_options
        return context

    def _choose_threads(self) -> None:
        """Before the decoder's first frame. An exact frame is decoded on frame threads, which put
        every core on one request, until a pass looks damaged (see find). Each frame thread holds a
        picture, so their number is bounded by FRAME_THREAD_BYTES (4K 10-bit: 2); a picture too large
        for two, and a stream timed by the decoder's delay (which frame threads lengthen), are
        decoded on slice threads. One keyframe (fast mode) is decoded on one thread: slice threads
        made it no faster on the bench's videos or the shared corpus's largest, and with them
        FFmpeg's H.264 decoder neither conceals nor reports a damaged slice, so damage would go
        unseen and the picture would depend on the load."""
        if self.decoder.is_open:
            return  # chosen once, when the decoder opens
        cores = len(os.sched_getaffinity(0))
        wanted = self.settings.decoder_threads or (cores + 1 if cores >= 2 else 1)
        frame_threads = min(wanted, FRAME_THREAD_BYTES // _picture_bytes(self.decoder))
        with suppress(ValueError, AttributeError):  # decoders without threads (libvpx: its own)
            if not self._threads_allowed or self._keyframe_asked:  # one thread, whose answer on damaged data is
                self.decoder.thread_type, self.decoder.thread_count = "SLICE", 1  # the same everywhere
            elif not self.timeline.use_dts and frame_threads >= 2:
                self.decoder.thread_type, self.decoder.thread_count = "FRAME", frame_threads
                self._threaded = "FRAME"
            else:  # (0: FFmpeg's choice, one a core)
                self.decoder.thread_type, self.decoder.thread_count = "SLICE", self.settings.decoder_threads
                self._threaded = "SLICE" if (self.settings.decoder_threads or cores) > 1 else None

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> Video:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- finding the frame ---------------------------------------------------------------

    def find(self, offset_ms: int, budget: Budget, *, keyframe: bool = False) -> Found:
        """The frame shown at `offset_ms` (or, with `keyframe`, the keyframe at or before it).

        Frame threads decode on every core, but on damaged data they drop the frames in flight
        without a word, or conceal errors depending on timing; and the thread count, of frame or
        slice threads, changes what some decoders (VP9's, dav1d) make of damaged data. So an answer
        decoded on threads stands only if its pass met no damage, the decoder concealed nothing,
        and (exact frames) the frame found is the latest one the packets read say is shown by then;
        otherwise the frame is found again on one thread, whose answer does not depend on the
        machine or the load."""
        self._keyframe_asked = keyframe
        try:
            found = self._find(offset_ms, budget, keyframe=keyframe)
            if not self._suspect:
                return found
        except ProcessingFailed:  # no frame, or a truncation: what threads may have made up
            if not self._threaded:
                raise
        self._threads_allowed = self._suspect = False
        self._threaded = None
        self.container.close()
        self._open()
        return self._find(offset_ms, budget, keyframe=keyframe)

    def _find(self, offset_ms: int, budget: Budget, *, keyframe: bool) -> Found:
        if self.timeline.start is None:
            window = self._decode(None, None, keyframe=False, budget=budget)
            if window.first_stamp is None:
                raise _nothing_decodable()
            self.timeline.start = window.first_stamp
        target = self.timeline.target(offset_ms)
        if self.container.format.name not in SEQUENTIAL_FORMATS:
            seek_to = min(target, _INT64_MAX)
            for step in range(_MAX_STEPS_BACK + 1):
                window = self._decode(seek_to, target, keyframe=keyframe, budget=budget)
                if window.frame is not None:
                    return self._found(window, target)
                if window.first_stamp is None:
                    break  # nothing decodable after this seek point: try from the start
                if window.first_stamp <= self.timeline.start:
                    return self._found(_first_as_frame(window), target)  # offset before the first frame
                # The seek landed after the target: step back past where it landed, further each
                # time (an index lands exactly on keyframes; MPEG-TS seeks by searching timestamps).
                landed = min(s for s in (window.first_packet_dts, window.first_stamp) if s is not None)
                seek_to = min(landed, seek_to) - 1 - int((2**step - 1) / self.timeline.time_base)
        window = self._decode(None, target, keyframe=keyframe, budget=budget)
        if window.frame is None and window.first is not None:
            window = _first_as_frame(window)
        if window.frame is None:
            raise _nothing_decodable()
        return self._found(window, target)

    def _found(self, window: Window, target: int) -> Found:
        assert window.frame is not None and window.stamp is not None
        # The data ended before a frame past the target. If a refused packet or data lost to a read
        # error could hold a frame shown at the target, the frame asked for is missing.
        doubtful = window.missing_from is not None and window.stamp < target and target >= window.missing_from
        if doubtful and window.next is None and target < self._declared_end():
            raise ProcessingFailed("The video is truncated or corrupt before the requested moment.")
        return Found(window.frame, self.timeline.seconds(window.stamp), window.previous, window.next)

    def _declared_end(self) -> int:
        assert self.timeline.start is not None
        if self.stream.duration:
            return self.timeline.start + self.stream.duration
        if self.container.duration:
            return self.timeline.start + int(Fraction(self.container.duration, av.time_base) / self.timeline.time_base)
        return -1  # unknown: whatever could be decoded is the whole video

    def _decode(self, seek_to: int | None, target: int | None, *, keyframe: bool, budget: Budget) -> Window:
        """Seek to the keyframe at or before `seek_to` (None: from the very first byte, as a plain
        sequential player reads), decode forward and keep the frames around `target` (None: stop
        at the first frame). With `keyframe`, only keyframes count."""
        seeked = seek_to is not None and self._seek(seek_to)
        if not seeked and not self._fresh:
            self.container.close()
            self._open()
        self._fresh = False
        self._choose_threads()  # (the first pass, which finds where the video starts, included)
        self.decoder.flush_buffers()
        # AVI with B-frames is timed by the decode timestamp a frame leaves the decoder with, which
        # depends on its delay: skipping frames would change it, so every frame is decoded there.
        self._skip_nonkey(keyframe and not self.timeline.use_dts)
        window = Window()
        fed_through = target if target is not None and not keyframe and self._exact_durations else None
        # Skipping non-reference frames changes when the others leave the decoder: not where that
        # times them (AVI's decode timestamps), and only for decoders that honour it frame by frame.
        skipping = target is not None and not keyframe and not self.timeline.use_dts and self.decoder.name in SKIPPERS
        frames = self._frames(window, budget, stop_after=target if keyframe else None, fed_through=fed_through,
                              target=target, skip_unshown=skipping,
                              keyframes=self._keyframe_packets(keyframe, seeked and seek_to == target))
        try:
            return self._keep(window, frames, target, keyframe=keyframe, keyed=not seeked)
        finally:
            self._suspect = self._suspect or (
                self._threaded is not None and _looks_damaged(window, target, keyframe, self._threaded == "FRAME"))

    def _keep(
        self, window: Window, frames: Iterator[tuple[VideoFrame, bool]], target: int | None, *, keyframe: bool,
        keyed: bool,
    ) -> Window:
        """The frames of one pass kept around `target` (see _decode)."""
        stamp = None
        for frame, key in frames:
            stamp = self.timeline.stamp(frame, stamp)
            keyed = keyed or key
            if stamp is None or not keyed or (keyframe and not key):
                continue  # before the first keyframe after a seek, a frame lacks its references
            if window.first_stamp is None:
                window.first, window.first_stamp = frame, stamp
            if target is None:
                return window
            if stamp > target:
                window.next = frame
                return window
            # Only frames still needed are held: each one held keeps a picture buffer from the
            # decoder's pool (25 MB at 4K 10-bit), which then allocates another. The first frame
            # stands in when none is shown by the target; deinterlacing an interlaced frame uses
            # the one before it.
            window.previous = window.frame if frame.interlaced_frame else None
            window.frame, window.stamp, window.first = frame, stamp, None
        return window

    def _keyframe_packets(self, keyframe: bool, seeked_to_target: bool) -> str | None:
        """Which packets keyframe mode decodes: a keyframe needs no other frame, so in containers that
        flag keyframes reliably (MP4, Matroska) only keyframe packets ("all"). An MP4 seek lands on
        the last keyframe whose decode time is at or before the target, and a later keyframe is
        decoded, so shown, later: there the first keyframe read is the answer when it is shown by
        the target ("first"; find() steps back when it is not). None: every packet is decoded (AVI
        with B-frames is timed by the decoder's delay, which skipped packets would change)."""
        if not keyframe or self.timeline.use_dts or not self.container.format.name.startswith(("mov,", "matroska")):
            return None
        return "first" if seeked_to_target and self._exact_durations else "all"

    @property
    def _exact_durations(self) -> bool:
        """The container's packet durations are the exact gaps between decode times (MP4's stts)."""
        return self.container.format.name.startswith("mov,")

    def _seek(self, seek_to: int) -> bool:
        if not _INT64_MIN <= seek_to <= _INT64_MAX:
            return False  # past what FFmpeg can be asked (a damaged start time near -2^63): from the start
        try:
            self.container.seek(seek_to, stream=self.stream, backward=True, any_frame=False)
            return True
        except av.error.FFmpegError:
            return False  # a format that cannot seek is read from the start

    def _skip_nonkey(self, keyframe: bool) -> None:
        """Keyframe mode: let the decoder skip every other frame (libvpx ignores this; frames are
        filtered by their flag anyway)."""
        with suppress(ValueError, AttributeError, av.error.FFmpegError):
            self.decoder.skip_frame = "NONKEY" if keyframe else "DEFAULT"

    def _frames(
        self, window: Window, budget: Budget, stop_after: int | None, fed_through: int | None = None,
        target: int | None = None, skip_unshown: bool = False, keyframes: str | None = None,
    ) -> Iterator[tuple[VideoFrame, bool]]:
        """Decoded frames from here to the end; with `stop_after`, up to the first packet decoded
        after that timestamp (no frame from it can be shown earlier); with `fed_through`, up to the
        last packet whose decode time is at or before it, then the decoder is drained. A frame is
        never shown before it is decoded, so no later packet holds a frame shown by then, and its
        bytes (a remote read) are never fetched. With `skip_unshown`, the decoder skips the
        non-reference frames that cannot be the one shown at `target` (see _may_skip). With
        `keyframes`, only keyframe packets are decoded ("all"), or only the first one ("first")."""
        packets = self.container.demux(self.stream)
        last_dts: int | None = None
        while True:
            budget.check_time()
            try:
                packet = next(packets)
            except StopIteration:
                break
            except MemoryError:
                raise OutOfMemory() from None
            except (av.error.FFmpegError, OSError, IndexError):
                # IndexError: PyAV's demux, meeting a stream that appeared mid-file (MPEG-TS, FLV),
                # looks past its list of streams; what follows is unreadable to us all the same.
                # What was not read has decode timestamps after the last one read, and a frame is
                # never shown before it is decoded.
                window.doubt(last_dts + 1 if last_dts is not None else _INT64_MIN)
                break
            last_dts = packet.dts if packet.dts is not None else last_dts
            if packet.is_corrupt:  # partial data: a file cut inside this packet, or damaged transport
                window.doubt(packet.pts if packet.pts is not None else last_dts if last_dts is not None else _INT64_MIN)
            if window.first_packet_dts is None:
                window.first_packet_dts = packet.dts
            if packet.size == 0:
                continue
            if skip_unshown and target is not None:
                skip = self._may_skip(packet, target, window.latest_packet)
                self.decoder.skip_frame = "NONREF" if skip else "DEFAULT"
            if target is not None and packet.pts is not None and packet.pts <= target and not packet.is_discard:
                latest = window.latest_packet  # (packets an edit list discards are never shown)
                window.latest_packet = packet.pts if latest is None else max(latest, packet.pts)
            if keyframes is None or packet.is_keyframe:
                for item in self._decode_packet(packet, window, budget):
                    self._interlaced = self._interlaced or bool(item[0].interlaced_frame)
                    yield item
                if keyframes == "first":
                    break
            # MP4's index gives each sample's duration as the gap to the next decode time, so the
            # next packet's decode time is known without reading it. Interlaced pictures are read
            # on to the next frame, which deinterlacing uses.
            if (
                fed_through is not None and packet.dts is not None and packet.duration
                and packet.dts + packet.duration > fed_through and not self._interlaced
            ):
                break
            if stop_after is not None and packet.dts is not None and packet.dts > stop_after:
                break
        yield from self._decode_packet(None, window, budget)

    def _may_skip(self, packet: av.Packet[Any], target: int, latest_shown: int | None) -> bool:
        """Whether the frame in `packet` cannot be the one shown at `target`, so that the decoder may
        skip it if no other frame refers to it (a B-frame, typically): it is shown after the target,
        or before a frame already read that is shown by then. Not for interlaced video, whose
        deinterlacer needs the frames beside the one shown."""
        if packet.pts is None or self._interlaced:
            return False
        return packet.pts > target or (latest_shown is not None and packet.pts < latest_shown)

    def _decode_packet(
        self, packet: av.Packet[Any] | None, window: Window, budget: Budget
    ) -> Iterator[tuple[VideoFrame, bool]]:
        """The frames one packet (None: the end) gives, each with whether it is a keyframe."""
        try:
            frames = self.decoder.decode(packet)
        except MemoryError:
            raise OutOfMemory() from None
        except (av.error.FFmpegError, ValueError):
            if packet is not None:
                window.doubt(packet.pts if packet.pts is not None else _INT64_MIN)
            return
        unflagged = self.decoder.name in UNFLAGGED_KEYFRAMES and packet is not None and packet.is_keyframe
        for frame in frames:
            budget.spend_frame()
            check_frame_pixels(frame.width, frame.height, self.settings)
            window.concealed = window.concealed or frame.is_corrupt
            yield frame, bool(frame.key_frame) or unflagged


def _picture_bytes(context: VideoCodecContext) -> int:
    """The bytes of one decoded picture (3 bytes a pixel when the format is not known yet)."""
    width, height = max(context.width, 1), max(context.height, 1)
    if context.format is None:
        return 3 * width * height
    components = VideoFormat(context.format.name, width, height).components
    return max(1, sum(c.width * c.height * (2 if c.bits > 8 else 1) for c in components))


def _looks_damaged(window: Window, target: int | None, keyframe: bool, frame_threads: bool) -> bool:
    """Whether a pass on threads may have lost a frame or hidden damage (see Video.find): frame
    threads also drop the frames in flight, which the packets read show."""
    if window.missing_from is not None or window.concealed:
        return True
    if target is None or keyframe:
        return window.first_stamp is None
    return frame_threads and window.latest_packet is not None and window.stamp != window.latest_packet


def _first_as_frame(window: Window) -> Window:
    return Window(
        first=window.first, first_stamp=window.first_stamp, frame=window.first,
        stamp=window.first_stamp, next=window.next if window.next is not window.first else None,
        missing_from=window.missing_from,
    )


def _nothing_decodable() -> ProcessingFailed:
    return ProcessingFailed("No frame of the video could be decoded: it is truncated, corrupt or encrypted.")


def pick_stream(container: av.container.InputContainer) -> VideoStream:
    """The default video stream; cover art (attached pictures) is not a video stream."""
    videos = [
        s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
    ]
    if not videos:
        raise Unsupported("The file has no video stream (it may be audio only).")
    defaults = [s for s in videos if s.disposition & av.stream.Disposition.default]
    return (defaults or videos)[0]


__all__ = ["Found", "Timeline", "Video", "pick_stream"]
