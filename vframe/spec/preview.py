"""An animated preview: `vpreview/<gif|webp>/ss/<Second>[/t/<Second>][/fps/<N>][/w/<W>][/h/<H>]
[/fit/<Fit>][/color/<RRGGBB>][/rotate/<Deg>]` (API.md, "Animated previews"), parsed into a frozen
PreviewSpec whose `str()` is the canonical spec. Which frames a video gives and how long each is
shown is the product's (vframe/products/preview.py): it needs the video's length."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .. import formats
from ..errors import InvalidSpec, TooLarge, Unsupported
from ..settings import Settings
from .frame import ROTATIONS
from .grammar import BLACK, choice, fit_and_color, milliseconds, quoted, rgb, seconds_text, split, whole

PREFIX = "vpreview"
KEYS = ("ss", "t", "fps", "w", "h", "fit", "color", "rotate")
DEFAULT_T_MS = 3000
MAX_T_MS = 10_000
DEFAULT_FPS = 10
MAX_FPS = 30
DEFAULT_WIDTH = 320  # neither w nor h


@dataclass(frozen=True)
class PreviewSpec:
    """`t_ms` of the video from `ss_ms`, frame k showing the moment ss + k/fps. Always valid and normalized."""

    format: str
    ss_ms: int
    t_ms: int = DEFAULT_T_MS
    fps: int = DEFAULT_FPS
    width: int | None = None
    height: int | None = None
    fit: str = "stretch"  # stretch unless both sides are given
    color: str = BLACK  # the pad colour of fit/pad (and what a GIF composites transparency on)
    rotate: str = "auto"

    @property
    def output(self) -> formats.Format:
        return formats.ANIMATIONS[self.format]

    @property
    def media_type(self) -> str:
        return self.output.media_type

    @property
    def background(self) -> tuple[int, int, int]:
        return rgb(self.color)

    @property
    def size(self) -> tuple[int | None, int | None]:
        """The size asked for; neither side: 320 wide."""
        if self.width is None and self.height is None:
            return DEFAULT_WIDTH, None
        return self.width, self.height

    def __str__(self) -> str:
        return self.canonical

    @functools.cached_property
    def canonical(self) -> str:
        parts = [PREFIX, self.format, "ss", seconds_text(self.ss_ms)]
        for key, value, default in (("t", seconds_text(self.t_ms), seconds_text(DEFAULT_T_MS)),
                                    ("fps", self.fps, DEFAULT_FPS), ("w", self.width, None), ("h", self.height, None),
                                    ("fit", self.fit, "stretch"), ("color", self.color, BLACK),
                                    ("rotate", self.rotate, "auto")):
            if value != default:
                parts += [key, str(value)]
        return "/".join(parts)


def most_frames(t_ms: int, fps: int) -> int:
    """Frames a span of `t_ms` at `fps` has: the moments k/fps before its end."""
    return -(-t_ms * fps // 1000)


def parse_preview(text: str, settings: Settings) -> PreviewSpec:
    """InvalidSpec (400) for any malformed form or a value past its range, Unsupported (415) for
    a format other than gif or webp, TooLarge (413) for more frames than the server makes."""
    fmt, values = split(text, PREFIX, KEYS, "vpreview/<gif|webp>/ss/<seconds>")
    if fmt not in formats.ANIMATIONS:
        every = formats.listed(formats.ANIMATIONS)
        raise Unsupported(f"The animation format {quoted(fmt)} is not supported: use {every}.")
    if "ss" not in values:
        raise InvalidSpec("The spec has no start: add /ss/<seconds>, as in vpreview/gif/ss/5.")
    t_ms = milliseconds("t", values["t"]) if "t" in values else DEFAULT_T_MS
    if not 0 < t_ms <= MAX_T_MS:
        raise InvalidSpec(
            f"The span t {quoted(values['t'])} must be longer than 0 and at most {MAX_T_MS // 1000} seconds."
        )
    unit = formats.ANIMATIONS[fmt].delay_ms
    if t_ms % unit:
        raise InvalidSpec(
            f"A {fmt} counts its delays in hundredths of a second: give t in hundredths, such as "
            f"{seconds_text(max(unit, t_ms - t_ms % unit))} (not {quoted(values['t'])})."
        )
    fps = whole("fps", values.get("fps"), 1, MAX_FPS, "frames a second")
    side = settings.max_preview_side
    width = whole("w", values.get("w"), 1, side)
    height = whole("h", values.get("h"), 1, side)
    fit, color = fit_and_color(values, width is not None and height is not None)
    spec = PreviewSpec(
        format=fmt,
        ss_ms=milliseconds("ss", values["ss"]),
        t_ms=t_ms,
        fps=DEFAULT_FPS if fps is None else fps,
        width=width,
        height=height,
        fit=fit,
        color=color,
        rotate=choice("rotate", values.get("rotate", "auto"), ROTATIONS),
    )
    frames = most_frames(spec.t_ms, spec.fps)
    if frames > settings.max_preview_frames:
        raise TooLarge(
            f"The preview has {frames} frames, more than this server makes ({settings.max_preview_frames}): "
            "ask for a shorter t or a lower fps."
        )
    return spec
