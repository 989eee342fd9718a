"""Opening a video over our own reader, within the safety rules: only the demuxers of real-world
video and the decoders the codec policy allows (vframe/decoders.py), no second input, frame sizes
refused before they are allocated, the default video stream, and its decoder."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from fractions import Fraction
from typing import BinaryIO, cast

import av
import av.container
import av.error
import av.logging
import av.stream
from av.codec.context import CodecContext
from av.video.codeccontext import VideoCodecContext
from av.video.stream import VideoStream

from ..errors import DecoderNotAllowed, OutOfMemory, Unsupported
from ..limits import check_frame_pixels
from ..settings import Settings

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
# VP8/VP9 alpha travels beside the picture (Matroska BlockAdditional): only libvpx decodes it.
ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}
_REFUSED_SIZE = re.compile(r"Picture size (\d+)x(\d+) (?:is invalid|exceeds)")  # libavutil/imgutils.c
_ANALYZE_MICROSECONDS = 5_000_000  # of stream time FFmpeg may read to find the streams (its default, pinned)


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


def codec_options(settings: Settings) -> dict[str, str]:
    """The stream's header is checked against the limit before decoding, and each decoded frame
    after. This stops a bitstream that declares a far larger frame before FFmpeg allocates it.
    Twice the limit (and a little): coded frames are padded to whole blocks (a 32x24 H.264 frame
    is coded 32x32); the exact limit is the other checks'."""
    return {"max_pixels": str(2 * settings.max_frame_pixels + 65536)}


def open_container(reader: BinaryIO, settings: Settings) -> tuple[av.container.InputContainer, VideoStream]:
    """The container read from the start, and its video stream (see pick_stream)."""
    container = _open(reader, settings, refused=None)
    try:
        stream = pick_stream(container)
        context = stream.codec_context
        if context is not None and not (context.width and context.height):
            # A decoder may have refused a frame's size while the streams were read, which left
            # it unknown: only FFmpeg's log says which size, so open again, listening to it.
            container.close()
            refused: list[tuple[int, int]] = []
            container = _open(reader, settings, refused)
            stream = pick_stream(container)
            for width, height in refused:
                check_frame_pixels(width, height, settings)
    except BaseException:
        container.close()
        raise
    return container, stream


def _open(reader: BinaryIO, settings: Settings, refused: list[tuple[int, int]] | None) -> av.container.InputContainer:
    """With `refused`, the frame sizes FFmpeg refused meanwhile are added to it (listening to
    FFmpeg's log costs time on every message, some 50 ms for a big MP4 index, so only when needed)."""
    reader.seek(0)
    try:
        with _refused_sizes(refused) if refused is not None else nullcontext():
            return av.open(
                reader,
                mode="r",
                container_options={
                    "format_whitelist": ALLOWED_DEMUXERS,
                    "protocol_whitelist": "none",
                    "probesize": str(settings.probe_bytes),
                    "analyzeduration": str(_ANALYZE_MICROSECONDS),
                    # Reading the streams opens their decoders and feeds them packets (AVI gives
                    # no pixel format, say): only the decoders the policy allows may be opened.
                    "codec_whitelist": ",".join(sorted(settings.allowed_decoders)),
                },
                options=codec_options(settings),  # the decoders FFmpeg runs while finding the streams
                io_open=_refuse_nested_open,
            )
    except (av.error.FFmpegError, OSError, ValueError):
        # Including FFmpeg's ENOMEM: what it refuses to allocate here is a table whose size a
        # damaged header made absurd (the frames come later).
        raise Unsupported("The file is not a video vframe can read: its format is unknown or damaged.") from None
    except MemoryError:
        raise OutOfMemory() from None


def pick_stream(container: av.container.InputContainer) -> VideoStream:
    """The default video stream; cover art (attached pictures) is not a video stream."""
    videos = [
        s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic
    ]
    if not videos:
        raise Unsupported("The file has no video stream (it may be audio only).")
    defaults = [s for s in videos if s.disposition & av.stream.Disposition.default]
    return (defaults or videos)[0]


def make_decoder(stream: VideoStream, settings: Settings) -> VideoCodecContext:
    """The stream's decoder, if the codec policy lets it run and the frame size is within the limits."""
    context = stream.codec_context
    if context is None or context.codec is None:
        raise Unsupported("The video's codec is not one vframe can decode.")
    allowed = settings.allowed_decoders  # the operator's codec policy (vframe/decoders.py)
    if context.name not in allowed:
        raise DecoderNotAllowed(context.name)
    check_frame_pixels(context.width, context.height, settings)
    alpha_decoder = ALPHA_DECODERS.get(context.name)
    if alpha_decoder and stream.metadata.get("alpha_mode") == "1":
        if alpha_decoder not in allowed:
            raise DecoderNotAllowed(alpha_decoder)
        decoder = cast(VideoCodecContext, CodecContext.create(alpha_decoder, "r"))
        decoder.width, decoder.height = context.width, context.height
        return decoder
    context.options = codec_options(settings)
    return context


def sample_aspect(stream: VideoStream) -> Fraction:
    """The pixel aspect: the container's if it has one, else the codec's, else square."""
    for ratio in (stream.sample_aspect_ratio, stream.codec_context.sample_aspect_ratio):
        if ratio and ratio > 0:
            return Fraction(ratio)
    return Fraction(1)
