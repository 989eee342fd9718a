"""The bad-input corpus: files that are not good videos, or are built to hurt a video service,
each with the status and message words the contract (API.md) gives them through HTTP.

    cases = build_corpus(folder, canary_port)   # writes the files into `folder`, returns the cases

Everything is made here from small hand-made bytes and PyAV-encoded videos, so the corpus works
on any machine; a few cases copy files from the shared video corpus (../shared/videos) and are
left out when it is absent. Every playlist, concat list and AVI trick names a decoy file outside
the served folder (`decoy_path(folder)`), /etc/passwd, and `http://127.0.0.1:<canary_port>/...`,
so that a test can prove with inotify and a TCP listener that vframe followed none of them.

The good video `GOOD_KEY` lies in the same folder: frame i shows index i (synth.py) at
i / GOOD_FPS seconds; the tests ask for it after each case to see that the server still works."""

from __future__ import annotations

import io
import os
import random
import shutil
import socket
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream
from PIL import Image

from vframe_testkit import mp4, synth

# The shared corpus lies beside the repository (this file: testkit/vframe_testkit/hostile.py).
VIDEOS = Path(os.environ.get("VFRAME_TEST_VIDEOS", Path(__file__).resolve().parents[3] / "shared" / "videos"))
# Files copied from the shared corpus (key here: path there); their cases are left out without it.
SHARED_COPIES = {
    "shared-xbin.avi": "99_hostile_DO_NOT_TRUST/npm-js-ffmpeg__etc_passwd_xbin.avi",
    "shared-audio.mp3": "17_audio_only/npm-js-ffmpeg__audio.mp3",
    "shared-short-cenc.mp4": "18_corrupt_truncated/mp4parse__short-cenc.mp4",
}
OUTSIDE_NAME = "hostile-outside"  # the folder beside the served one, holding the decoy

GOOD_KEY = "good.mp4"
GOOD_FPS, GOOD_FRAMES, GOOD_GOP = 25, 50, 10
GOOD_WIDTH, GOOD_HEIGHT = 160, 120
# The declared sizes of the huge cases. 16000x16000 (a 384 MB yuv420p frame) is one FFmpeg accepts;
# 16384x16384 (402 MB) is one FFmpeg itself calls invalid (libavutil's av_image_check_size wants
# (w + 128) * (h + 128) < INT_MAX / 8), so vframe must refuse it from the declared size alone.
HUGE_SIZES = (16000, 16384)

# The request on the faststart-truncated copies: the last frame, whose packets are cut off.
LAST_FRAME_SPEC = f"vframe/png/offset/{(GOOD_FRAMES - 1) / GOOD_FPS:.2f}"
# The damaged copies: GOP 10..19 in decode order is I10 P13 B11 B12 P16 B14 B15 P19 B17 B18.
CORRUPT_BEFORE_FRAME = 17  # asked for; P13 and P16, decoded before it and its references, are damaged
CORRUPT_AFTER_FRAME = 12  # asked for; P16 and everything after it (decoded after frame 12) are damaged
GAB2_VIDEO_FRAMES, GAB2_VIDEO_FPS, GAB2_VIDEO_FRAME = 10, 10, 5
# The files that name the decoy, /etc/passwd and the canary, and the links to the decoy and /etc/passwd.
REFERENCES = ("playlist.m3u8", "playlist.mp4", "master.m3u8", "list.ffconcat", "list.mp4", "manifest.mpd",
              "session.sdp", "gab2.avi", "gab2-video.avi", "link-decoy.mp4", "link-passwd.mp4")


@dataclass(frozen=True)
class Case:
    """One request and its documented answer.

    `key` is the request target's path without its leading "/", exactly as sent on the wire
    (percent-encoded where that is the point: traversal cases); `spec` the query (None: a plain
    GET of the video itself). `words` must all appear, lower-cased, in the JSON error message.
    For a 200, `time` is the X-Vframe-Time and `frame` the index (synth.py pattern) the image
    shows (None: a damaged picture, not read)."""

    name: str
    key: str
    spec: str | None
    status: int
    words: tuple[str, ...]
    time: str | None = None
    frame: int | None = None


NOT_A_VIDEO = ("not a video",)
NO_VIDEO_STREAM = ("no video stream",)
NOT_FOUND = ("no such video",)
TOO_LARGE = ("more than this server decodes",)
TRUNCATED = ("truncated", "corrupt")
NOTHING_DECODABLE = ("no frame", "could be decoded")
BAD_OFFSET = ("offset", "not a number of seconds")
BAD_PIXELS = ("whole number of pixels",)
SPEC = "vframe/png/offset/1"


def cases() -> list[Case]:
    """Every case, whether or not this machine has the shared corpus (see build_corpus)."""
    files = [
        Case("empty", "empty.mp4", SPEC, 415, ("empty",)),
        Case("random-1-byte", "random-1.mp4", SPEC, 415, NOT_A_VIDEO),
        Case("random-100-bytes", "random-100.mp4", SPEC, 415, NOT_A_VIDEO),
        Case("random-4k", "random-4k.mp4", SPEC, 415, NOT_A_VIDEO),
        Case("random-64k", "random-64k.mp4", SPEC, 415, NOT_A_VIDEO),
        Case("random-1m", "random-1m.mp4", SPEC, 415, NOT_A_VIDEO),
        Case("text-file", "readme.txt", SPEC, 415, NOT_A_VIDEO),
        Case("text-named-mp4", "readme.mp4", SPEC, 415, NOT_A_VIDEO),
        Case("jpeg-named-mp4", "photo.mp4", SPEC, 415, NOT_A_VIDEO),
        Case("png-named-mp4", "picture.mp4", SPEC, 415, NOT_A_VIDEO),
        Case("audio-only-m4a", "audio.m4a", SPEC, 415, NO_VIDEO_STREAM),
        Case("audio-only-named-mp4", "audio.mp4", SPEC, 415, NO_VIDEO_STREAM),
        Case("audio-only-mkv", "audio.mkv", SPEC, 415, NO_VIDEO_STREAM),
        Case("audio-only-wav", "audio.wav", SPEC, 415, NO_VIDEO_STREAM),
        Case("codec-not-allowed", "snow.avi", "vframe/jpg/offset/0", 415, ("codec", "not one this server decodes")),
    ]
    truncated = []
    for percent in (10, 50, 90):
        # Without its index (at the end, cut off) FFmpeg cannot read an MP4 at all ("moov atom not
        # found"): to vframe it is not a video it can read, as for any unknown format (415, not 599).
        truncated.append(Case(f"truncated-{percent}-moov-at-end", f"cut-{percent}-moov-at-end.mp4", LAST_FRAME_SPEC,
                              415, ("not a video", "damaged")))
        # The index survives: the last frame's packets are gone.
        truncated.append(Case(f"truncated-{percent}-faststart", f"cut-{percent}-faststart.mp4", LAST_FRAME_SPEC,
                              599, TRUNCATED))  # 10 %: no frame at all; 50, 90 %: not that one
    # Cut where the last frame's packet starts: the demuxer sees a plain end of data, yet the index
    # lists packets after it (a cut this clean once came from the 90 % cut, on one encode in many).
    truncated.append(Case("truncated-at-a-packet-boundary", "cut-at-packet-faststart.mp4", LAST_FRAME_SPEC, 599,
                          TRUNCATED))
    damaged = [
        # FFmpeg refuses the damaged P13 and P16 (avcodec_send_packet fails), yet still decodes B17
        # at its own time from what references it has; vframe counts a refused packet as missing
        # frames only when the frame it found is earlier than the one asked for, so it answers 200
        # with that frame, its picture damaged (its index unreadable, so not checked).
        Case("corrupt-before-frame", "corrupt-before.mp4", _offset(CORRUPT_BEFORE_FRAME), 200, (),
             _time(CORRUPT_BEFORE_FRAME), None),
        # In an MP4, decoding stops at the last packet decoded at or before the frame: the damage is never read.
        Case("corrupt-after-frame", "corrupt-after.mp4", _offset(CORRUPT_AFTER_FRAME), 200, (),
             _time(CORRUPT_AFTER_FRAME), CORRUPT_AFTER_FRAME),
        Case("mp4-chunk-offsets-past-end", "stco-past-end.mp4", SPEC, 599, NOTHING_DECODABLE),
        Case("mp4-moov-without-mdat", "moov-without-mdat.mp4", SPEC, 599, NOTHING_DECODABLE),
        Case("mp4-mdat-zeroed", "mdat-zeroed.mp4", SPEC, 599, NOTHING_DECODABLE),
        Case("mp4-sample-count-huge", "stsz-count-huge.mp4", SPEC, 599, NOTHING_DECODABLE),
        Case("mp4-moov-nested-deep", "moov-nested.mp4", SPEC, 415, ("not a video", "damaged")),
        Case("mp4-moov-size-7", "moov-size-7.mp4", SPEC, 415, ("not a video", "damaged")),
        # The last box may run to the end of the file (size 0) or claim more than there is: the
        # whole index is there all the same, and the frame with it.
        Case("mp4-moov-size-0", "moov-size-0.mp4", SPEC, 200, (), "1.000", GOOD_FPS),
        Case("mp4-moov-size-1-huge", "moov-size-1-huge.mp4", SPEC, 200, (), "1.000", GOOD_FPS),
        Case("mp4-moov-size-huge", "moov-size-huge.mp4", SPEC, 200, (), "1.000", GOOD_FPS),
        Case("mp4-trak-size-0", "trak-size-0.mp4", SPEC, 200, (), "1.000", GOOD_FPS),
        # Inside the file, the same sizes lose what follows: here the track, there the end of the index.
        Case("mp4-trak-size-1", "trak-size-1.mp4", SPEC, 415, NO_VIDEO_STREAM),
        Case("mp4-moov-size-short", "moov-size-short.mp4", SPEC, 599, NOTHING_DECODABLE),
    ]
    huge = [
        Case(f"huge-{size}-{kind}", f"huge-{size}.{kind}", "vframe/jpg/offset/0", 413, TOO_LARGE)
        for size in HUGE_SIZES for kind in ("avi", "mkv", "h264")
    ]
    references = [
        Case("hls-playlist", "playlist.m3u8", SPEC, 415, NOT_A_VIDEO),
        Case("hls-playlist-named-mp4", "playlist.mp4", SPEC, 415, NOT_A_VIDEO),
        Case("hls-master-playlist", "master.m3u8", "vframe/jpg/offset/0", 415, NOT_A_VIDEO),
        Case("ffconcat-list", "list.ffconcat", SPEC, 415, NOT_A_VIDEO),
        Case("ffconcat-named-mp4", "list.mp4", SPEC, 415, NOT_A_VIDEO),
        Case("dash-manifest", "manifest.mpd", SPEC, 415, NOT_A_VIDEO),
        Case("sdp-session", "session.sdp", SPEC, 415, NOT_A_VIDEO),
        Case("avi-gab2-playlist", "gab2.avi", SPEC, 415, NO_VIDEO_STREAM),
        Case("avi-gab2-playlist-beside-video", "gab2-video.avi", "vframe/png/offset/0.5", 200, (), "0.500",
             GAB2_VIDEO_FRAME),
        Case("shared-avi-gab2-etc-passwd", "shared-xbin.avi", SPEC, 415, NO_VIDEO_STREAM),
        Case("shared-avi-gab2-etc-passwd-fast", "shared-xbin.avi", "vframe/webp/offset/5/mode/fast", 415,
             NO_VIDEO_STREAM),
        Case("shared-audio-only-mp3", "shared-audio.mp3", SPEC, 415, NO_VIDEO_STREAM),
        Case("shared-encrypted-cenc", "shared-short-cenc.mp4", SPEC, 599, NOTHING_DECODABLE),
    ]
    specs = [
        Case("offset-999999999", GOOD_KEY, "vframe/png/offset/999999999", 200, (), _time(GOOD_FRAMES - 1),
             GOOD_FRAMES - 1),
        Case("offset-1000000000", GOOD_KEY, "vframe/png/offset/1000000000", 400, BAD_OFFSET),
        Case("offset-negative", GOOD_KEY, "vframe/png/offset/-1", 400, BAD_OFFSET),
        Case("offset-exponent", GOOD_KEY, "vframe/png/offset/1e3", 400, BAD_OFFSET),
        Case("offset-nan", GOOD_KEY, "vframe/png/offset/NaN", 400, BAD_OFFSET),
        Case("offset-inf", GOOD_KEY, "vframe/png/offset/inf", 400, BAD_OFFSET),
        Case("offset-hex", GOOD_KEY, "vframe/png/offset/0x10", 400, BAD_OFFSET),
        Case("offset-with-unit", GOOD_KEY, "vframe/png/offset/7s", 400, BAD_OFFSET),
        Case("offset-empty", GOOD_KEY, "vframe/png/offset/", 400, ("empty part",)),
        Case("width-0", GOOD_KEY, "vframe/png/offset/1/w/0", 400, BAD_PIXELS),
        Case("width-99999", GOOD_KEY, "vframe/png/offset/1/w/99999", 400, BAD_PIXELS),
        Case("width-3841", GOOD_KEY, "vframe/png/offset/1/w/3841", 400, BAD_PIXELS),
        Case("width-fraction", GOOD_KEY, "vframe/png/offset/1/w/1.5", 400, BAD_PIXELS),
        Case("height-negative", GOOD_KEY, "vframe/png/offset/1/h/-5", 400, BAD_PIXELS),
        Case("both-sides-over", GOOD_KEY, "vframe/png/offset/1/w/3840/h/2161", 400, ("too large",)),
        Case("unknown-key", GOOD_KEY, "vframe/png/offset/1/x/2", 400, ("unknown key",)),
        Case("repeated-key", GOOD_KEY, "vframe/png/offset/1/offset/2", 400, ("given twice",)),
        Case("no-offset", GOOD_KEY, "vframe/png", 400, ("no offset",)),
        Case("not-a-spec", GOOD_KEY, "imageView2/1/w/100", 400, ("must start with",)),
        Case("format-gif", GOOD_KEY, "vframe/gif/offset/1", 415, ("format", "not supported")),
        Case("format-unknown-word", GOOD_KEY, "vframe/mp4/offset/1", 415, ("format", "not supported")),
    ]
    outside = f"../{OUTSIDE_NAME}/passwd"
    traversal = [
        Case("missing-key", "no-such-video.mp4", SPEC, 404, NOT_FOUND),
        Case("dot-dot-etc-passwd", "../../../../etc/passwd", SPEC, 404, NOT_FOUND),
        Case("dot-dot-etc-passwd-plain", "../../../../etc/passwd", None, 404, NOT_FOUND),
        Case("dot-dot-decoy", outside, SPEC, 404, NOT_FOUND),
        Case("dot-dot-decoy-plain", outside, None, 404, NOT_FOUND),
        Case("encoded-dot-dot", "%2e%2e/%2e%2e/%2e%2e/etc/passwd", SPEC, 404, NOT_FOUND),
        Case("encoded-dot-dot-decoy-plain", f"%2e%2e%2f{OUTSIDE_NAME}%2fpasswd", None, 404, NOT_FOUND),
        Case("absolute-etc-passwd", "/etc/passwd", SPEC, 404, NOT_FOUND),
        Case("absolute-etc-passwd-plain", "/etc/passwd", None, 404, NOT_FOUND),
        Case("encoded-absolute", "%2fetc%2fpasswd", SPEC, 404, NOT_FOUND),
        Case("symlink-to-etc-passwd", "link-passwd.mp4", SPEC, 404, NOT_FOUND),
        Case("symlink-to-etc-passwd-plain", "link-passwd.mp4", None, 404, NOT_FOUND),
        Case("symlink-to-decoy", "link-decoy.mp4", SPEC, 404, NOT_FOUND),
        Case("symlink-to-decoy-plain", "link-decoy.mp4", None, 404, NOT_FOUND),
        Case("hidden-name", ".hidden.mp4", SPEC, 404, NOT_FOUND),
        Case("nul-byte", f"{GOOD_KEY}%00.txt", SPEC, 404, NOT_FOUND),
    ]
    return files + truncated + damaged + huge + references + specs + traversal


def _offset(index: int) -> str:
    return f"vframe/png/offset/{index / GOOD_FPS:.2f}"


def _time(index: int) -> str:
    return f"{index / GOOD_FPS:.3f}"


def decoy_path(folder: Path) -> Path:
    """The decoy "passwd" beside the served folder that every playlist and link names."""
    return folder.parent / OUTSIDE_NAME / "passwd"


def build_corpus(folder: Path, canary_port: int) -> list[Case]:
    """Write every file of the corpus into `folder` (and the decoy beside it: `decoy_path`) and
    return the cases. The cases that copy a file of the shared video corpus are left out when it
    is absent."""
    folder.mkdir(parents=True, exist_ok=True)
    decoy = decoy_path(folder)
    decoy.parent.mkdir(parents=True, exist_ok=True)
    decoy.write_text("decoy:x:0:0:a file vframe must never open:/decoy:/bin/false\n")
    good = synth.make_video(folder / GOOD_KEY, frames=GOOD_FRAMES, fps=GOOD_FPS, width=GOOD_WIDTH,
                            height=GOOD_HEIGHT, gop=GOOD_GOP, bframes=2)
    faststart = synth.remux_faststart(good.path, folder / "good-faststart.mp4")
    _write_not_media(folder)
    _write_audio_only(folder)
    _write_codec_not_allowed(folder / "snow.avi")
    _write_truncated(good.path, faststart, folder)
    _write_damaged(good.path, folder)
    _write_boxes(good.path, faststart, folder)
    _write_huge(folder)
    _write_references(folder, _targets(decoy, canary_port))
    for link, pointed in (("link-passwd.mp4", Path("/etc/passwd")), ("link-decoy.mp4", decoy)):
        (folder / link).unlink(missing_ok=True)  # a second build into the same folder
        (folder / link).symlink_to(pointed)
    shutil.copyfile(good.path, folder / ".hidden.mp4")
    for key, relative in SHARED_COPIES.items():
        if (VIDEOS / relative).is_file():
            shutil.copyfile(VIDEOS / relative, folder / key)
    everything = cases()
    assert len({case.name for case in everything}) == len(everything), "two cases share a name"
    files = {case.key for case in everything if "/" not in case.key and "%" not in case.key} - {"no-such-video.mp4"}
    absent = {key for key in files if not os.path.lexists(folder / key)} - set(SHARED_COPIES)
    assert not absent, f"the corpus lacks {absent}"
    return [case for case in everything if case.key not in SHARED_COPIES or (folder / case.key).is_file()]



def _targets(decoy: Path, port: int) -> list[str]:
    """What every playlist names: the decoy (as a URL and a path), /etc/passwd, and the canary."""
    return [f"file://{decoy}", str(decoy), "file:///etc/passwd", "/etc/passwd", f"http://127.0.0.1:{port}/x.ts"]


# -- not media, audio only, a codec vframe refuses ---------------------------------------------


def _write_not_media(folder: Path) -> None:
    (folder / "empty.mp4").write_bytes(b"")
    for name, seed, size in (("random-1", 1, 1), ("random-100", 2, 100), ("random-4k", 3, 4096),
                             ("random-64k", 4, 1 << 16), ("random-1m", 5, 1 << 20)):
        (folder / f"{name}.mp4").write_bytes(random.Random(seed).randbytes(size))
    text = "Hello,\nthis is plain text and not a video at all.\n" * 50
    (folder / "readme.txt").write_text(text)
    (folder / "readme.mp4").write_text(text)
    gradient = np.linspace(0, 255, 320 * 240 * 3).astype(np.uint8).reshape(240, 320, 3)
    Image.fromarray(gradient).save(folder / "photo.mp4", format="JPEG")
    Image.new("RGB", (64, 48), (10, 200, 30)).save(folder / "picture.mp4", format="PNG")


def _write_audio_only(folder: Path) -> None:
    """One second of a sine tone in four containers, no video stream."""
    for name, codec, container in (("audio.m4a", "aac", "ipod"), ("audio.mp4", "aac", "mp4"),
                                   ("audio.mkv", "flac", "matroska"), ("audio.wav", "pcm_s16le", "wav")):
        with av.open(str(folder / name), "w", format=container) as output:
            stream = output.add_stream(codec, rate=44100)
            assert isinstance(stream, AudioStream)
            samples = (np.sin(np.arange(44100) * 2 * np.pi * 440 / 44100) * 8000).astype(np.int16)
            for start in range(0, 44100, 1024):
                frame = av.AudioFrame.from_ndarray(samples[None, start:start + 1024], format="s16", layout="mono")
                frame.sample_rate, frame.pts = 44100, start
                output.mux(stream.encode(frame))
            output.mux(stream.encode(None))


def _write_codec_not_allowed(path: Path) -> None:
    """FFmpeg decodes Snow; vframe refuses it before decoding (the default codec policy, vframe/decoders.py)."""
    with av.open(str(path), "w") as output:
        stream = _video_stream(output, "snow", 10, {})
        for index in range(5):
            picture = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 40, np.uint8), format="rgb24")
            output.mux(stream.encode(picture.reformat(format=stream.pix_fmt)))
        output.mux(stream.encode(None))


def _video_stream(output: OutputContainer, codec: str, rate: int, options: dict[str, str]) -> VideoStream:
    """A 64x48 video stream in the encoder's first pixel format."""
    stream = output.add_stream(codec, rate=rate, options=options)
    assert isinstance(stream, VideoStream)
    stream.width, stream.height = 64, 48
    formats = stream.codec_context.codec.video_formats
    assert formats
    stream.pix_fmt = formats[0].name
    return stream


# -- truncated and damaged MP4s ----------------------------------------------------------------


def _write_truncated(moov_at_end: Path, faststart: Path, folder: Path) -> None:
    """Each layout cut at 10, 50 and 90 % of its bytes, and the faststart copy cut where its last
    frame's packet starts. A faststart copy is cut no later than the middle of its last frame's
    packet: that frame is always cut off (LAST_FRAME_SPEC is 599), whatever sizes the encoder gave
    the packets (x264's differ from run to run on a loaded machine)."""
    last_pos, last_size = next((pos, size) for index, pos, size in _packets(faststart) if index == GOOD_FRAMES - 1)
    last_frame_at = last_pos + last_size // 2
    (folder / "cut-at-packet-faststart.mp4").write_bytes(faststart.read_bytes()[:last_pos])
    for source, layout in ((moov_at_end, "moov-at-end"), (faststart, "faststart")):
        data = source.read_bytes()
        for percent in (10, 50, 90):
            cut = len(data) * percent // 100
            if layout == "faststart":
                cut = min(cut, last_frame_at)
            (folder / f"cut-{percent}-{layout}.mp4").write_bytes(data[:cut])


def _packets(path: Path) -> list[tuple[int, int, int]]:
    """The video packets as (presentation index, position, size), in decode order."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        found: list[tuple[int, int, int]] = []
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None and packet.pos is not None:
                found.append((packet.pts, packet.pos, packet.size))
    ranks = {pts: rank for rank, pts in enumerate(sorted(pts for pts, _, _ in found))}
    return [(ranks[pts], pos, size) for pts, pos, size in found]


def _damage(data: bytearray, pos: int, size: int, seed: int) -> None:
    """Random bytes over the middle half of a packet: its NAL length and slice header stay intact."""
    start, end = pos + size // 4, pos + 3 * size // 4
    data[start:end] = random.Random(seed).randbytes(end - start)


def _write_damaged(good: Path, folder: Path) -> None:
    """Two copies of the good video with random bytes inside packets: before the asked-for frame in
    its GOP (the P-frames 13 and 16 that frame 17 is predicted from), and after it (every packet
    decoded after frame 12 and its reference P13)."""
    packets = _packets(good)
    order = [index for index, _, _ in packets]
    assert order[GOOD_GOP: 2 * GOOD_GOP] == [10, 13, 11, 12, 16, 14, 15, 19, 17, 18], order
    data = good.read_bytes()
    before = bytearray(data)
    for index, pos, size in packets:
        if index in (13, 16):
            _damage(before, pos, size, index)
    (folder / "corrupt-before.mp4").write_bytes(before)
    after = bytearray(data)
    last_needed = max(order.index(CORRUPT_AFTER_FRAME), order.index(13))
    for index, pos, size in packets[last_needed + 1:]:
        _damage(after, pos, size, index)
    (folder / "corrupt-after.mp4").write_bytes(after)


STBL = (b"moov", b"trak", b"mdia", b"minf", b"stbl")


def _write_boxes(moov_at_end: Path, faststart: Path, folder: Path) -> None:
    fast = faststart.read_bytes()
    end = moov_at_end.read_bytes()
    # stco: every chunk offset far past the end of the file.
    patched = bytearray(fast)
    stco = mp4.find(fast, *STBL, b"stco")
    count = struct.unpack_from(">I", fast, stco.start + 12)[0]
    for entry in range(count):
        struct.pack_into(">I", patched, stco.start + 16 + 4 * entry, len(fast) + 1_000_000 + entry)
    (folder / "stco-past-end.mp4").write_bytes(patched)
    # The index, and no media data at all.
    mdat = mp4.find(fast, b"mdat")
    (folder / "moov-without-mdat.mp4").write_bytes(fast[:mdat.start] + fast[mdat.end:])
    # The media data zeroed: every sample reads as empty NAL units.
    mdat = mp4.find(end, b"mdat")
    zeroed = bytearray(end)
    zeroed[mdat.start + 8: mdat.end] = bytes(mdat.size - 8)
    (folder / "mdat-zeroed.mp4").write_bytes(zeroed)
    # moov inside moov inside moov..., 2000 deep, the real index at the bottom.
    moov = mp4.find(end, b"moov")
    nested = end[moov.start: moov.end]
    for _ in range(2000):
        nested = struct.pack(">I4s", len(nested) + 8, b"moov") + nested
    (folder / "moov-nested.mp4").write_bytes(end[:moov.start] + nested)
    # moov's size field: 0 (runs to the end of the file), 1 with a 64-bit size of 2^63-1, 0xffffffff, 7.
    for name, header in (("moov-size-0", struct.pack(">I4s", 0, b"moov")),
                         ("moov-size-1-huge", struct.pack(">I4sQ", 1, b"moov", 2**63 - 1)),
                         ("moov-size-huge", struct.pack(">I4s", 0xFFFFFFFF, b"moov")),
                         ("moov-size-7", struct.pack(">I4s", 7, b"moov"))):
        (folder / f"{name}.mp4").write_bytes(end[:moov.start] + header + end[moov.start + 8:])
    # In the faststart copy, where the index comes first: a trak running to the end of its moov
    # (size 0), a trak whose 64-bit size is read from its first child's header (size 1), and a
    # moov 100 bytes short of its index.
    trak = mp4.find(fast, b"moov", b"trak")
    moov = mp4.find(fast, b"moov")
    for name, at, size in (("trak-size-0", trak.start, 0), ("trak-size-1", trak.start, 1),
                           ("moov-size-short", moov.start, moov.size - 100)):
        patched = bytearray(fast)
        struct.pack_into(">I", patched, at, size)
        (folder / f"{name}.mp4").write_bytes(patched)
    # stsz: 60 million samples declared (240 MB of sizes) in a table that holds 50.
    patched = bytearray(end)
    stsz = mp4.find(end, *STBL, b"stsz")
    struct.pack_into(">I", patched, stsz.start + 16, 60_000_000)
    (folder / "stsz-count-huge.mp4").write_bytes(patched)


# -- huge declared resolutions -----------------------------------------------------------------


def _small_jpeg(rgb: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _huge_jpeg(size: int) -> bytes:
    """A 64x48 JPEG whose SOF0 header says `size` x `size`."""
    data = bytearray(_small_jpeg(np.full((48, 64, 3), 128, np.uint8)))
    sof = data.index(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, size, size)  # after marker, length (2), precision (1): height, width
    return bytes(data)


def _write_huge(folder: Path) -> None:
    """MJPEG in AVI and in Matroska, the container and each JPEG declaring the size; and raw H.264."""
    for size in HUGE_SIZES:
        frames = [_huge_jpeg(size)] * 3
        (folder / f"huge-{size}.avi").write_bytes(_avi([_mjpeg_stream(size, size, 10, frames)]))
        (folder / f"huge-{size}.mkv").write_bytes(_matroska_mjpeg(size, size, frames))
        (folder / f"huge-{size}.h264").write_bytes(_huge_h264(size))


# AVI (RIFF): https://learn.microsoft.com/windows/win32/directshow/avi-riff-file-reference


def _chunk(fourcc: bytes, data: bytes) -> bytes:
    return fourcc + struct.pack("<I", len(data)) + data + b"\0" * (len(data) % 2)


def _list(kind: bytes, *items: bytes) -> bytes:
    return _chunk(b"LIST", kind + b"".join(items))


@dataclass(frozen=True)
class _AviStream:
    kind: bytes  # b"vids", b"txts"
    handler: bytes
    rate: int  # chunks a second
    width: int
    height: int
    chunk_id: bytes  # the last two characters of the chunks' ids: b"dc" (video), b"tx" (text)
    chunks: list[bytes]


def _mjpeg_stream(width: int, height: int, rate: int, frames: list[bytes]) -> _AviStream:
    return _AviStream(b"vids", b"MJPG", rate, width, height, b"dc", frames)


def _avi(streams: list[_AviStream]) -> bytes:
    """A minimal AVI with an idx1 index: one strl per stream, the chunks interleaved by number."""
    width = max(stream.width for stream in streams)
    height = max(stream.height for stream in streams)
    frames = max(len(stream.chunks) for stream in streams)
    avih = struct.pack("<14I", 1_000_000 // streams[0].rate, 0, 0, 0x10, frames, 0, len(streams),
                       1 << 20, width, height, 0, 0, 0, 0)
    strls = []
    for stream in streams:
        strh = struct.pack("<4s4sIHHIIIIIIII4h", stream.kind, stream.handler, 0, 0, 0, 0, 1, stream.rate, 0,
                           len(stream.chunks), 1 << 20, 0xFFFFFFFF, 0, 0, 0, stream.width, stream.height)
        strf = struct.pack("<IiiHH4sIiiII", 40, stream.width, stream.height, 1, 24, stream.handler,
                           stream.width * stream.height * 3, 0, 0, 0, 0)
        strls.append(_list(b"strl", _chunk(b"strh", strh), _chunk(b"strf", strf)))
    hdrl = _list(b"hdrl", _chunk(b"avih", avih), *strls)
    movi, index, at = [], [], 4  # idx1 offsets count from the "movi" fourcc
    for position in range(frames):
        for number, stream in enumerate(streams):
            if position < len(stream.chunks):
                chunk_id = f"{number:02d}".encode() + stream.chunk_id
                chunk = _chunk(chunk_id, stream.chunks[position])
                index.append(struct.pack("<4sIII", chunk_id, 0x10, at, len(stream.chunks[position])))
                movi.append(chunk)
                at += len(chunk)
    body = b"AVI " + hdrl + _list(b"movi", *movi) + _chunk(b"idx1", b"".join(index))
    return b"RIFF" + struct.pack("<I", len(body)) + body


# Matroska (EBML): https://www.matroska.org/technical/elements.html


def _ebml(element: int, payload: bytes) -> bytes:
    """An element: its id, its size as an 8-byte vint, its payload."""
    size = (len(payload) | 1 << 56).to_bytes(8, "big")  # the marker bit of an 8-byte vint, then the length
    return element.to_bytes((element.bit_length() + 7) // 8, "big") + size + payload


def _uint(element: int, value: int) -> bytes:
    return _ebml(element, value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _matroska_mjpeg(width: int, height: int, frames: list[bytes]) -> bytes:
    header = _ebml(0x1A45DFA3, _uint(0x4286, 1) + _uint(0x42F7, 1) + _uint(0x42F2, 4) + _uint(0x42F3, 8)
                   + _ebml(0x4282, b"matroska") + _uint(0x4287, 4) + _uint(0x4285, 2))
    info = _ebml(0x1549A966, _uint(0x2AD7B1, 1_000_000) + _ebml(0x4D80, b"hostile.py") + _ebml(0x5741, b"hostile.py"))
    video = _ebml(0xE0, _uint(0xB0, width) + _uint(0xBA, height))
    track = _ebml(0xAE, _uint(0xD7, 1) + _uint(0x73C5, 1) + _uint(0x83, 1) + _ebml(0x86, b"V_MJPEG") + video)
    blocks = b"".join(_ebml(0xA3, b"\x81" + struct.pack(">hB", 100 * index, 0x80) + frame)
                      for index, frame in enumerate(frames))
    cluster = _ebml(0x1F43B675, _uint(0xE7, 0) + blocks)
    return header + _ebml(0x18538067, info + _ebml(0x1654AE6B, track) + cluster)


# H.264: an x264 stream of 64x48 whose sequence parameter set is rewritten to declare a huge size.


class _Bits:
    """Reads a string of "0" and "1" characters: fixed-width fields and Exp-Golomb codes."""

    def __init__(self, bits: str) -> None:
        self.bits = bits
        self.at = 0

    def read(self, count: int) -> str:
        self.at += count
        return self.bits[self.at - count: self.at]

    def golomb(self) -> int:
        zeros = self.bits.index("1", self.at) - self.at
        return int(self.read(2 * zeros + 1), 2) - 1


def _golomb(value: int) -> str:
    code = f"{value + 1:b}"
    return "0" * (len(code) - 1) + code


def _escape(payload: bytes) -> bytes:
    """Emulation prevention: a 3 after two zeros wherever a byte <= 3 would follow them."""
    out = bytearray()
    zeros = 0
    for byte in payload:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def _resize_sps(nal: bytes, width: int, height: int) -> bytes:
    """A baseline-profile SPS NAL unit (H.264 7.3.2.1.1) saying `width` x `height`, no cropping."""
    payload = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")
    content = "".join(f"{byte:08b}" for byte in payload).rstrip("0")[:-1]  # without rbsp_trailing_bits
    bits = _Bits(content)
    profile = int(bits.read(8), 2)
    assert profile == 66, f"a baseline SPS is expected, not profile {profile}"
    bits.read(16)  # constraint flags, level_idc
    bits.golomb()  # seq_parameter_set_id
    bits.golomb()  # log2_max_frame_num_minus4
    if bits.golomb() == 0:  # pic_order_cnt_type
        bits.golomb()  # log2_max_pic_order_cnt_lsb_minus4
    bits.golomb()  # max_num_ref_frames
    bits.read(1)  # gaps_in_frame_num_value_allowed_flag
    head = content[: bits.at]
    bits.golomb()  # pic_width_in_mbs_minus1
    bits.golomb()  # pic_height_in_map_units_minus1
    flags = bits.read(3)  # frame_mbs_only_flag, direct_8x8_inference_flag, frame_cropping_flag
    assert flags[0] == "1", "field coding is not expected"
    if flags[2] == "1":
        for _ in range(4):
            bits.golomb()
    rest = content[bits.at:]  # vui_parameters_present_flag and the VUI, kept as they are
    text = head + _golomb(width // 16 - 1) + _golomb(height // 16 - 1) + flags[:2] + "0" + rest + "1"
    text += "0" * (-len(text) % 8)
    return nal[:1] + _escape(int(text, 2).to_bytes(len(text) // 8, "big"))


def _huge_h264(size: int) -> bytes:
    """An Annex B H.264 stream: three 64x48 frames, the SPS saying `size` x `size`."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="h264") as output:
        stream = _video_stream(output, "libx264", 10, {"profile": "baseline", "preset": "ultrafast"})
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 60 * index, np.uint8), format="rgb24")
            output.mux(stream.encode(frame.reformat(format=stream.pix_fmt)))
        output.mux(stream.encode(None))
    units = buffer.getvalue().split(b"\x00\x00\x01")
    out = []
    for unit in units:
        nal = unit[:-1] if unit.endswith(b"\x00") else unit  # 4-byte start codes leave a zero behind
        if nal and nal[0] & 0x1F == 7:
            nal = _resize_sps(nal, size, size)
        if nal:
            out.append(b"\x00\x00\x00\x01" + nal)
    return b"".join(out)


# -- playlists, concat lists and the AVI-with-a-playlist trick ---------------------------------


def _hls(targets: list[str]) -> bytes:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", "#EXT-X-MEDIA-SEQUENCE:0"]
    for target in targets:
        lines += ["#EXTINF:1.0,", target]
    return ("\n".join([*lines, "#EXT-X-ENDLIST"]) + "\n").encode()


def _gab2(payload: bytes) -> bytes:
    """A GAB2 subtitle chunk (FFmpeg's avidec read_gab2_sub): magic, version 2, an empty UTF-16
    title, flags, the size, then a file FFmpeg once probed and opened as a nested input (the
    CVE-2017-9993 trick, when the nested input could be HLS)."""
    return b"GAB2\0" + struct.pack("<HIHI", 2, 0, 0, len(payload)) + payload


def _write_references(folder: Path, targets: list[str]) -> None:
    playlist = _hls(targets)
    (folder / "playlist.m3u8").write_bytes(playlist)
    (folder / "playlist.mp4").write_bytes(playlist)
    master = "#EXTM3U\n" + "".join(f"#EXT-X-STREAM-INF:BANDWIDTH={1000 + n}\n{target}\n"
                                   for n, target in enumerate(targets))
    (folder / "master.m3u8").write_text(master)
    concat = "ffconcat version 1.0\n" + "".join(f"file '{target}'\nduration 1\n" for target in targets)
    (folder / "list.ffconcat").write_text(concat)
    (folder / "list.mp4").write_text(concat)
    canary = targets[-1].rsplit("/", 1)[0]
    (folder / "manifest.mpd").write_text(
        '<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT2S" minBufferTime="PT1S" profiles="urn:mpeg:dash:profile:isoff-on-demand:2011">'
        f"<BaseURL>{canary}/</BaseURL><Period><AdaptationSet mimeType=\"video/mp4\"><Representation id=\"1\" "
        f"bandwidth=\"1000\" width=\"160\" height=\"120\" codecs=\"avc1.42c00a\"><BaseURL>{targets[0]}</BaseURL>"
        "</Representation></AdaptationSet></Period></MPD>\n"
    )
    port = int(canary.rsplit(":", 1)[1])
    (folder / "session.sdp").write_text(
        f"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=hostile\nc=IN IP4 127.0.0.1\nt=0 0\nm=video {port} RTP/AVP 96\n"
        f"a=rtpmap:96 H264/90000\na=control:rtsp://127.0.0.1:{port}/x\n"
    )
    subtitle = _AviStream(b"txts", b"\0\0\0\0", 1, 0, 0, b"tx", [_gab2(playlist)])
    (folder / "gab2.avi").write_bytes(_avi([subtitle]))
    frames = [_small_jpeg(synth.index_pattern(index, GOOD_WIDTH, GOOD_HEIGHT)) for index in range(GAB2_VIDEO_FRAMES)]
    video = _mjpeg_stream(GOOD_WIDTH, GOOD_HEIGHT, GAB2_VIDEO_FPS, frames)
    (folder / "gab2-video.avi").write_bytes(_avi([video, subtitle]))


class Canary:
    """A TCP listener on 127.0.0.1 that counts every connection made to it and every byte sent: the
    port the corpus's playlists name, which nothing may ever reach."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.1)
        self.port: int = self.listener.getsockname()[1]
        self.connections = 0
        self.received = 0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="canary", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                connection, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            with connection:
                connection.settimeout(1)
                try:
                    while chunk := connection.recv(65536):
                        self.received += len(chunk)
                except OSError:
                    pass

    def close(self) -> None:
        self._closing.set()
        self._thread.join(5)
        self.listener.close()
