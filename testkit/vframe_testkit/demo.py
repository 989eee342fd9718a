"""The demo folder `make run` serves: videos a person can read and the tests can check.

Every frame shows its time (`00:07.000`) and its number (`frame 168`) in large seven-segment
digits, over colour bars with a disc moving across them; its index is also painted, machine
readable, in the top-right corner (`synth.index_pattern` on a square: `read_corner_index`).

    python -m vframe_testkit.demo demo/       # demo.mp4, portrait.mp4, pal-anamorphic.mp4

- demo.mp4: 1280x720, 24 fps, 10 s (240 frames), H.264 with B-frames, a keyframe every 2 s.
- portrait.mp4: a phone's clip, coded 640x360 with rotation metadata: shown upright 360x640.
- pal-anamorphic.mp4: coded 720x576 with a sample aspect of 64:45 (PAL widescreen): shown 1024x576.

The digits can be read back from a decoded picture (`read_clock`), scaled or stretched, given
the display size it was painted at: the tests read "00:07.000" and "168" from the README's frame."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .synth import SynthVideo, index_pattern, make_video, read_index

FPS = 24
# The seven segments of a digit: a (top), b (top right), c (bottom right), d (bottom), e (bottom
# left), f (top left), g (middle); each as (x0, y0, x1, y1) in fractions of the digit's cell.
_T = 0.2  # a segment's thickness, as a fraction of the digit's width
_SEGMENTS = {
    "a": (0, 0, 1, _T / 2), "d": (0, 1 - _T / 2, 1, 1), "g": (0, 0.5 - _T / 4, 1, 0.5 + _T / 4),
    "f": (0, 0, _T, 0.5), "b": (1 - _T, 0, 1, 0.5), "e": (0, 0.5, _T, 1), "c": (1 - _T, 0.5, 1, 1),
}
_DIGITS = {"0": "abcdef", "1": "bc", "2": "abdeg", "3": "abcdg", "4": "bcfg", "5": "acdfg", "6": "acdefg",
           "7": "abc", "8": "abcdefg", "9": "abcdfg"}
_BARS = ((191, 191, 191), (191, 191, 0), (0, 191, 191), (0, 191, 0), (191, 0, 191), (191, 0, 0), (0, 0, 191))
_PANEL = (24, 24, 32)
_INK = (255, 255, 255)
_DISC = (255, 140, 0)
_CORNER = 0.3  # the index square's side, as a fraction of the picture's shorter side


@dataclass(frozen=True)
class Clip:
    name: str
    display: tuple[int, int]  # width, height as shown (upright, square pixels)
    coded: tuple[int, int]  # width, height as stored
    frames: int
    rotation: int = 0  # display rotation metadata, degrees counter-clockwise (synth.make_video's)
    sar: tuple[int, int] | None = None


CLIPS = (
    Clip("demo.mp4", (1280, 720), (1280, 720), 10 * FPS),
    Clip("portrait.mp4", (360, 640), (640, 360), 5 * FPS, rotation=90),
    Clip("pal-anamorphic.mp4", (1024, 576), (720, 576), 5 * FPS, sar=(64, 45)),
)


def clock_text(index: int) -> tuple[str, str]:
    """The two lines frame `index` shows: its time (`00:07.000`) and its number (`168`)."""
    milliseconds = index * 1000 // FPS
    minutes, rest = divmod(milliseconds, 60_000)
    return f"{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}", str(index)


@dataclass(frozen=True)
class _Line:
    x: float  # left edge, pixels of the display picture
    y: float  # top edge
    digit_width: float
    digit_height: float

    def cells(self, text: str) -> list[tuple[str, float]]:
        """Each character and its left edge: digits 1.3 widths apart, ':' and '.' 0.6."""
        placed, x = [], self.x
        for char in text:
            placed.append((char, x))
            x += self.digit_width * (1.3 if char.isdigit() else 0.6)
        return placed


def _layout(width: int, height: int) -> tuple[_Line, _Line, int]:
    """Where the time line and the number line go on a display picture, and the label's size."""
    digit = min(width / 12, height / 14)
    time_line = _Line(width * 0.05, height * 0.62, digit, digit * 1.8)
    label = round(digit * 1.1)
    number_line = _Line(width * 0.05 + label * 3.2, height * 0.62 + digit * 2.3, digit * 0.8, digit * 1.44)
    return time_line, number_line, label


def _draw_text(draw: ImageDraw.ImageDraw, line: _Line, text: str) -> None:
    for char, left in line.cells(text):
        w, h = line.digit_width, line.digit_height
        if char.isdigit():
            for segment in _DIGITS[char]:
                x0, y0, x1, y1 = _SEGMENTS[segment]
                draw.rectangle((left + x0 * w, line.y + y0 * h, left + x1 * w - 1, line.y + y1 * h - 1), fill=_INK)
        else:
            dot = w * _T
            for y in ((line.y + h * 0.3, line.y + h * 0.7) if char == ":" else (line.y + h - dot,)):
                draw.rectangle((left, y, left + dot - 1, y + dot - 1), fill=_INK)


def _read_line(rgb: np.ndarray, line: _Line, text_like: str, scale: tuple[float, float]) -> str:
    """The digits of a line laid out like `text_like`, read at each segment's centre."""
    sx, sy = scale
    read = []
    for char, left in line.cells(text_like):
        if not char.isdigit():
            read.append(char)
            continue
        lit = set()
        for name, (x0, y0, x1, y1) in _SEGMENTS.items():
            cx = (left + (x0 + x1) / 2 * line.digit_width) * sx
            cy = (line.y + (y0 + y1) / 2 * line.digit_height) * sy
            patch = rgb[max(0, int(cy) - 1):int(cy) + 2, max(0, int(cx) - 1):int(cx) + 2, :3].astype(float)
            if patch.size and float(patch.mean()) > 128:
                lit.add(name)
        found = [digit for digit, segments in _DIGITS.items() if set(segments) == lit]
        read.append(found[0] if found else "?")
    return "".join(read)


def read_clock(rgb: np.ndarray, display: tuple[int, int]) -> tuple[str, str]:
    """The time and the number a decoded picture shows (any size: its pixels are taken as a
    stretch of the `display` picture), '?' for a digit that reads as none."""
    height, width = rgb.shape[:2]
    time_line, number_line, _ = _layout(*display)
    scale = (width / display[0], height / display[1])
    return _read_line(rgb, time_line, "00:00.000", scale), _read_line(rgb, number_line, "000", scale)


def corner_box(size: tuple[int, int], display: tuple[int, int]) -> tuple[int, int, int, int]:
    """The index square of a picture of `size` (a stretch of `display`): left, top, right, bottom."""
    side = round(min(display) * _CORNER)
    sx, sy = size[0] / display[0], size[1] / display[1]
    return round((display[0] - side) * sx), 0, size[0], round(side * sy)


def read_corner_index(rgb: np.ndarray, display: tuple[int, int]) -> int:
    """The frame index painted in the picture's top-right corner (ValueError when none is there)."""
    height, width = rgb.shape[:2]
    left, top, right, bottom = corner_box((width, height), display)
    return read_index(rgb[top:bottom, left:right])


def paint(index: int, frames: int, display: tuple[int, int]) -> np.ndarray:
    """Frame `index` of a clip of `frames` frames, upright, at its display size."""
    width, height = display
    picture = Image.new("RGB", display, _PANEL)
    draw = ImageDraw.Draw(picture)
    bars_bottom = round(height * 0.55)
    for bar, colour in enumerate(_BARS):
        draw.rectangle((bar * width // len(_BARS), 0, (bar + 1) * width // len(_BARS) - 1, bars_bottom), fill=colour)
    radius = min(width, height) * 0.07
    x = radius + (width - 2 * radius) * index / max(1, frames - 1)
    y = bars_bottom - radius * 1.2
    draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=_DISC, outline=_INK, width=3)
    time_line, number_line, label = _layout(width, height)
    time_text, number_text = clock_text(index)
    _draw_text(draw, time_line, time_text)
    font = ImageFont.load_default(size=label)
    draw.text((time_line.x, number_line.y + number_line.digit_height), "frame", fill=_INK, font=font, anchor="ls")
    _draw_text(draw, number_line, number_text.rjust(3, "0") if len(number_text) < 3 else number_text)
    rgb = np.asarray(picture).copy()
    side = round(min(display) * _CORNER)
    rgb[:side, width - side:] = index_pattern(index, side, side)
    return rgb


def coded_picture(clip: Clip, index: int) -> np.ndarray:
    """What is stored for frame `index`: the upright picture turned against the rotation metadata
    (a player turns it back) or squeezed to the coded width (a player stretches it back)."""
    upright = paint(index, clip.frames, clip.display)
    if clip.rotation:
        return np.ascontiguousarray(np.rot90(upright, k=-clip.rotation // 90))
    if clip.coded != clip.display:
        return np.asarray(Image.fromarray(upright).resize(clip.coded, Image.Resampling.LANCZOS))
    return upright


def make_clip(folder: Path, clip: Clip) -> SynthVideo:
    return make_video(
        folder / clip.name, frames=clip.frames, fps=FPS, width=clip.coded[0], height=clip.coded[1], gop=2 * FPS,
        bframes=2, rotation=clip.rotation, sar=clip.sar, painter=lambda index, w, h: coded_picture(clip, index),
        options={"preset": "ultrafast", "crf": "20"},
    )


def make_demo(folder: Path) -> list[SynthVideo]:
    """The demo clips in `folder` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    return [make_clip(folder, clip) for clip in CLIPS]


def clip_named(name: str) -> Clip:
    return next(clip for clip in CLIPS if clip.name == name)


def seconds_of(index: int) -> Fraction:
    return Fraction(index, FPS)


def main(argv: list[str] | None = None) -> int:
    """Command line: write the demo clips into a folder and print their paths."""
    parser = argparse.ArgumentParser(prog="python -m vframe_testkit.demo", description=main.__doc__)
    parser.add_argument("folder", type=Path, help="e.g. demo/")
    args = parser.parse_args(argv)
    for video in make_demo(args.folder):
        print(video.path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
