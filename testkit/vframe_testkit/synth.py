"""Synthetic test videos whose frames show their own index.

Every frame carries its index as a 4x4 grid of black/white cells (12 data bits
plus a 4-bit check) over a smoothly moving colour gradient, so a test can decode
any frame, call :func:`read_index` and know exactly which frame it got.
:func:`make_video` writes such a video with controlled GOP, B-frames, timestamps
and colour tags, then re-reads it and returns the timestamps a reader will see.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
from av.video.reformatter import ColorRange, Colorspace
from av.video.stream import VideoStream

_GRID = 4  # cells per side of the bit grid
_MARGIN = 0.125  # grid inset, as a fraction of width and height
_CELL = (1 - 2 * _MARGIN) / _GRID
_DATA_BITS = 12
_CHECK_SALT = 0b0101  # makes all-black and all-white pictures invalid
_VFR_STEPS = (Fraction(1), Fraction(5, 2), Fraction(1, 2))
_RANGES = {"tv": ColorRange.MPEG, "pc": ColorRange.JPEG}
_MATRIX = Colorspace.ITU601  # RGB->YUV matrix; tagged with the range so x264 writes it
_REORDERING = {"libx264", "libx265"}  # encoders whose B-frames we verify

Painter = Callable[[int, int, int], np.ndarray]


@dataclass(frozen=True)
class SynthVideo:
    """A generated video and the facts a reader of it should observe."""

    path: Path
    times: tuple[Fraction, ...]  # seconds (pts * time_base) as read back, in presentation order
    width: int
    height: int


def remux_faststart(source: Path, out: Path) -> Path:
    """`source`'s video stream remuxed without re-encoding, with its index (moov) first."""
    return remux(source, out, {"movflags": "faststart"})


def remux(source: Path, out: Path, options: dict[str, str]) -> Path:
    """`source`'s video stream remuxed without re-encoding into `out`'s format, with the muxer's `options`."""
    with av.open(str(source)) as given, av.open(str(out), "w", options=options) as remuxed:
        stream = remuxed.add_stream_from_template(given.streams.video[0])
        for packet in given.demux(given.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                remuxed.mux(packet)
    return out


def _checksum(data: int) -> int:
    """4-bit check of a 12-bit index: XOR of its nibbles and a salt."""
    return (data ^ data >> 4 ^ data >> 8 ^ _CHECK_SALT) & 0xF


def _cell_span(k: int, size: int, lo: float = 0.0, hi: float = 1.0) -> slice:
    """Pixel range of the part [lo, hi) of grid cell `k` along an axis of `size` pixels."""
    start = round(size * (_MARGIN + (k + lo) * _CELL))
    stop = round(size * (_MARGIN + (k + hi) * _CELL))
    return slice(start, max(stop, start + 1))


def index_pattern(index: int, width: int, height: int) -> np.ndarray:
    """Return an HxWx3 uint8 RGB picture encoding `index` (0..4095)."""
    if not 0 <= index < 1 << _DATA_BITS:
        raise ValueError(f"index {index} out of range 0..{(1 << _DATA_BITS) - 1}")
    phase = index / 48
    x = np.arange(width) / width
    y = np.arange(height) / height
    red = (127.5 + 100 * np.sin(2 * np.pi * (x + phase))).astype(np.uint8)
    green = (127.5 + 100 * np.sin(2 * np.pi * (y - 0.75 * phase))).astype(np.uint8)
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = red[None, :]
    rgb[..., 1] = green[:, None]
    rgb[..., 2] = red[None, :] // 2 + green[:, None] // 2
    word = index << 4 | _checksum(index)
    for cell in range(_GRID * _GRID):
        bit = word >> (_GRID * _GRID - 1 - cell) & 1
        row, col = divmod(cell, _GRID)
        rgb[_cell_span(row, height), _cell_span(col, width)] = 255 * bit
    return rgb


def read_index(rgb: np.ndarray) -> int:
    """Read the index back from a decoded, possibly scaled and lossy, RGB picture.

    Accepts HxWx3 (or HxWx4) arrays of any unsigned integer dtype.
    Raises ValueError if the cells do not form a valid code.
    """
    pixels = np.asarray(rgb)
    if pixels.ndim != 3 or pixels.shape[2] < 3:
        raise ValueError(f"expected an HxWx3 RGB array, got shape {pixels.shape}")
    height, width = pixels.shape[:2]
    scale = np.iinfo(pixels.dtype).max
    word = 0
    for cell in range(_GRID * _GRID):
        row, col = divmod(cell, _GRID)
        centre = _cell_span(row, height, 1 / 3, 2 / 3), _cell_span(col, width, 1 / 3, 2 / 3)
        patch = pixels[centre][..., :3]
        luma = patch.reshape(-1, 3).mean(axis=0) @ (0.299, 0.587, 0.114) / scale
        word = word << 1 | int(luma > 0.5)
    index, check = word >> 4, word & 0xF
    if check != _checksum(index):
        raise ValueError(f"no valid frame index in picture (cells read {word:016b})")
    return index


def _encoder_options(codec: str, gop: int, bframes: int, color_range: str | None) -> dict[str, str]:
    """Options pinning keyframes to every `gop` frames (and B-frames where supported)."""
    if codec == "libx264":
        params = f"b-adapt=0:range={color_range}" if color_range else "b-adapt=0"
        return {"preset": "veryfast", "crf": "18", "g": str(gop), "keyint_min": str(gop),
                "sc_threshold": "0", "bf": str(bframes), "x264-params": params}
    if codec == "libx265":
        params = (f"keyint={gop}:min-keyint={gop}:bframes={bframes}:b-adapt=0:scenecut=0"
                  ":open-gop=0:log-level=error")
        if color_range:
            params += ":range=" + {"tv": "limited", "pc": "full"}[color_range]
        return {"preset": "ultrafast", "crf": "18", "x265-params": params}
    if codec == "libvpx-vp9":
        return {"deadline": "realtime", "cpu-used": "8", "crf": "20", "b": "0", "row-mt": "1",
                "g": str(gop), "keyint_min": str(gop)}
    if codec == "libsvtav1":
        # presets above 6 garble the index cells (blocks copied from other frames)
        return {"preset": "6", "crf": "25", "g": str(gop), "svtav1-params": "scd=0:irefresh-type=2"}
    return {"g": str(gop), "bf": str(bframes)}


def _frame_times(frames: int, fps: Fraction, start: Fraction, vfr: bool) -> list[Fraction]:
    """Nominal presentation times; VFR multiplies each duration by a seeded pseudo-random step."""
    rng = random.Random(1234)
    times, t = [], start
    for _ in range(frames):
        times.append(t)
        t += (rng.choice(_VFR_STEPS) if vfr else 1) / fps
    return times


def _encode(path: Path, codec: str, times: list[Fraction], fps: Fraction, width: int, height: int,
            pix_fmt: str, color_range: str | None, rotation: int, sar: tuple[int, int] | None,
            painter: Painter, options: dict[str, str]) -> None:
    # The encoder gets the coarsest exact time base, the container a fine one (x 1/90000).
    time_base = Fraction(1, math.lcm(*(t.denominator for t in times)))
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps, options=options)
        if not isinstance(stream, VideoStream):
            raise ValueError(f"{codec} is not a video codec")
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.time_base = time_base
        stream.time_base = Fraction(1, math.lcm(90000, time_base.denominator))
        if color_range:
            stream.codec_context.color_range = _RANGES[color_range]
            stream.codec_context.colorspace = _MATRIX
        if sar:
            stream.codec_context.sample_aspect_ratio = Fraction(*sar)
        if rotation:
            stream.set_display_rotation(rotation)
        for index, t in enumerate(times):
            rgb = av.VideoFrame.from_ndarray(painter(index, width, height), format="rgb24")
            frame = rgb.reformat(format=pix_fmt, dst_colorspace=_MATRIX,
                                 dst_color_range=_RANGES.get(color_range or ""))
            frame.pts, frame.time_base = int(t / time_base), time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def _decoded_times(path: Path, check_indices: bool) -> list[Fraction]:
    """Decode sequentially; return each frame's pts * time_base, checking the painted indices."""
    times = []
    with av.open(str(path)) as container:
        for position, frame in enumerate(container.decode(video=0)):
            if frame.pts is None or frame.time_base is None:
                raise RuntimeError(f"{path}: decoded frame {position} has no timestamp")
            times.append(frame.pts * frame.time_base)
            if not check_indices:
                continue
            try:
                shown = read_index(frame.to_ndarray(format="rgb24"))
            except ValueError as error:
                raise RuntimeError(f"{path}: decoded frame {position}: {error}") from error
            if shown != position:
                raise RuntimeError(f"{path}: decoded frame {position} shows index {shown}")
    return times


def _check_structure(path: Path, codec: str, gop: int, bframes: int) -> None:
    """Demux and verify keyframe positions, and B-frame reordering for H.264/HEVC."""
    with av.open(str(path)) as container:
        packets = [(p.pts, p.is_keyframe) for p in container.demux(video=0) if p.size and p.pts is not None]
    rank = {pts: position for position, pts in enumerate(sorted(pts for pts, _ in packets))}
    keyframes = sorted(rank[pts] for pts, key in packets if key)
    expected = list(range(0, len(rank), gop))
    if keyframes != expected:
        raise RuntimeError(f"{path}: keyframes at frames {keyframes}, expected {expected}")
    reordered = any(a > b for (a, _), (b, _) in pairwise(packets))
    if codec in _REORDERING and bframes and gop > 2 and len(packets) > 2 and not reordered:
        raise RuntimeError(f"{path}: no B-frames found although bframes={bframes}")


def _check_tags(path: Path, color_range: str | None, rotation: int, sar: tuple[int, int] | None) -> None:
    """Verify that a reader sees the requested colour range, rotation and sample aspect ratio."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        seen = {"color_range": frame.color_range, "rotation": frame.rotation % 360,
                "sar": stream.sample_aspect_ratio}
    wanted = {"color_range": _RANGES[color_range] if color_range else None,
              "rotation": rotation % 360, "sar": Fraction(*sar) if sar else None}
    for key, value in wanted.items():
        if value is not None and seen[key] != value:
            raise RuntimeError(f"{path}: reader sees {key}={seen[key]!r}, expected {value!r}")


def make_video(path: str | Path, *, codec: str = "libx264", frames: int = 48, fps: int | Fraction = 24,
               width: int = 320, height: int = 240, gop: int = 12, bframes: int = 2,
               pix_fmt: str = "yuv420p", vfr: bool = False, start: Fraction | int = 0,
               color_range: str | None = None, rotation: int = 0, sar: tuple[int, int] | None = None,
               painter: Painter | None = None, options: dict[str, str] | None = None) -> SynthVideo:
    """Write a synthetic video to `path` (container chosen by its extension) and verify it.

    Keyframes are placed exactly every `gop` frames; `bframes` applies to codecs with
    B-frames (H.264, HEVC; use 0 for .avi, which cannot store their timestamps). `start`
    shifts all timestamps, `vfr` makes frame durations irregular, `color_range` is None,
    "tv" or "pc", `rotation` is in degrees counter-clockwise, `sar` needs a codec or
    container that stores it (H.264/HEVC, or .mp4/.mov). `options` are merged over the
    encoder options chosen here. After writing, the file is re-read and RuntimeError is
    raised unless it decodes to `frames` frames with increasing timestamps, the expected
    keyframes, B-frames and tags, and (default painter only) indices 0..frames-1.
    """
    path = Path(path)
    if color_range not in (None, *_RANGES):
        raise ValueError(f"color_range must be None, 'tv' or 'pc', not {color_range!r}")
    encoder = av.Codec(codec, "w")
    supported = {f.name for f in encoder.video_formats or ()}
    if supported and pix_fmt not in supported:
        raise ValueError(f"{encoder.name} cannot encode {pix_fmt}; it supports {sorted(supported)}")
    fps = Fraction(fps)
    planned = _frame_times(frames, fps, Fraction(start), vfr)
    encoder_options = _encoder_options(encoder.name, gop, bframes, color_range) | (options or {})
    _encode(path, codec, planned, fps, width, height, pix_fmt, color_range, rotation, sar,
            painter or index_pattern, encoder_options)
    times = _decoded_times(path, check_indices=painter is None)
    if len(times) != frames:
        raise RuntimeError(f"{path}: decoded {len(times)} frames, wrote {frames}")
    if any(a >= b for a, b in pairwise(times)):
        raise RuntimeError(f"{path}: timestamps not increasing: {[str(t) for t in times]}")
    _check_structure(path, encoder.name, gop, bframes)
    _check_tags(path, color_range, rotation, sar)
    return SynthVideo(path, tuple(times), width, height)


# -- a large MP4 for remote reads: a short heavy clip's packets repeated, no re-encoding ----------

LARGE_WIDTH, LARGE_HEIGHT, LARGE_FPS, LARGE_GOP, LARGE_BFRAMES, LARGE_CLIP_FRAMES = 1280, 720, 24, 48, 2, 96
LARGE_NOISE = 12  # +-12 of grain on the luma: ~200 kB a frame at CRF 18
_LARGE_SEED = 20240601


def _large_clip_picture(index: int, grain: np.ndarray) -> np.ndarray:
    """Frame `index` of the clip as yuv420p planes (BT.601, limited range; index_pattern with grain
    on the luma), converted in integers so that the encoder's input, and with a fixed thread count
    its output, is the same on every machine."""
    rgb = index_pattern(index, LARGE_WIDTH, LARGE_HEIGHT).astype(np.int32)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    luma = 16 + ((16829 * r + 33039 * g + 6416 * b + 32768) >> 16) + grain
    quads = rgb[0::2, 0::2] + rgb[1::2, 0::2] + rgb[0::2, 1::2] + rgb[1::2, 1::2]
    r, g, b = quads[..., 0], quads[..., 1], quads[..., 2]
    cb = 128 + ((-9714 * r - 19070 * g + 28784 * b + 131072) >> 18)
    cr = 128 + ((28784 * r - 24103 * g - 4681 * b + 131072) >> 18)
    planes: np.ndarray = np.clip(np.concatenate([luma.ravel(), cb.ravel(), cr.ravel()]), 0, 255)
    return planes.astype(np.uint8).reshape(LARGE_HEIGHT * 3 // 2, LARGE_WIDTH)


def _encode_large_clip(path: Path) -> None:
    """A short, heavy H.264 clip: each frame shows its index under seeded grain."""
    rng = np.random.default_rng(_LARGE_SEED)
    grain = [rng.integers(-LARGE_NOISE, LARGE_NOISE + 1, size=(LARGE_HEIGHT, LARGE_WIDTH), dtype=np.int32)
             for _ in range(7)]
    options = {"preset": "veryfast", "crf": "18", "g": str(LARGE_GOP), "keyint_min": str(LARGE_GOP),
               "sc_threshold": "0", "bf": str(LARGE_BFRAMES), "threads": "4", "x264-params": "b-adapt=0"}
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=LARGE_FPS, options=options)
        stream.width, stream.height, stream.pix_fmt = LARGE_WIDTH, LARGE_HEIGHT, "yuv420p"
        for index in range(LARGE_CLIP_FRAMES):
            picture = _large_clip_picture(index, grain[index % len(grain)])
            frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def repeat_clip(clip: Path, out: Path, *, rounds: int | None = None, min_bytes: int = 0,
                options: dict[str, str] | None = None) -> None:
    """The clip's packets muxed into an MP4 again and again, timestamps shifted by the clip's
    duration each time: `rounds` times, or until at least `min_bytes` are written. The clip holds
    whole closed GOPs, so the keyframes stay every GOP frames."""
    with av.open(str(clip)) as source:
        stream = source.streams.video[0]
        packets = []
        for packet in source.demux(stream):
            if packet.size:
                assert packet.pts is not None and packet.dts is not None, packet
                packets.append((bytes(packet), packet.pts, packet.dts, packet.duration or 0, packet.is_keyframe))
        span = max(pts + duration for _, pts, _, duration, _ in packets) - min(pts for _, pts, *_ in packets)
        tick = stream.time_base
        assert tick is not None
        if rounds is None:
            rounds = -(-min_bytes // sum(len(data) for data, *_ in packets))
        with av.open(str(out), "w", format="mp4", options=options or {}) as remuxed:
            copy = remuxed.add_stream_from_template(stream)
            for round_ in range(rounds):
                for data, pts, dts, duration, key in packets:
                    copied = av.Packet(data)
                    copied.pts, copied.dts, copied.duration = pts + round_ * span, dts + round_ * span, duration
                    copied.time_base, copied.is_keyframe, copied.stream = tick, key, copy
                    remuxed.mux(copied)


class Sample(NamedTuple):
    """A demuxed packet of a video, every field known (PyAV's may be None)."""

    pos: int
    size: int
    pts: int
    dts: int
    duration: int
    key: bool


def samples(path: Path) -> list[Sample]:
    """The video stream's packets in file order, for measuring what a frame needs read."""
    with av.open(str(path)) as container:
        found = []
        for packet in container.demux(container.streams.video[0]):
            if not packet.size:
                continue
            if packet.pos is None or packet.pts is None or packet.dts is None:
                raise RuntimeError(f"a packet without a position or timestamps: {packet}")
            found.append(Sample(packet.pos, packet.size, packet.pts, packet.dts, packet.duration or 0,
                                packet.is_keyframe))
        return found


def make_large_mp4s(outputs: dict[Path, dict[str, str]], min_bytes: int, workdir: Path) -> None:
    """For each output path and its muxer options (e.g. {"movflags": "faststart"}), an H.264 MP4 of
    at least `min_bytes`, LARGE_WIDTH x LARGE_HEIGHT, a keyframe every LARGE_GOP frames, each frame
    showing its index: a 4 s clip encoded once (in `workdir`) and its packets repeated."""
    clip = workdir / "large-clip.mp4"
    _encode_large_clip(clip)
    try:
        for out, options in outputs.items():
            repeat_clip(clip, out, min_bytes=min_bytes, options=options)
    finally:
        clip.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """Command line: write a demo H.264 video and print its path."""
    parser = argparse.ArgumentParser(prog="python -m vframe_testkit.synth", description=main.__doc__)
    parser.add_argument("out", type=Path, help="output file, e.g. demo.mp4")
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=Fraction, default=Fraction(24))
    parser.add_argument("--gop", type=int, default=12)
    args = parser.parse_args(argv)
    video = make_video(args.out, frames=args.frames, width=args.width, height=args.height,
                       fps=args.fps, gop=args.gop)
    print(video.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
