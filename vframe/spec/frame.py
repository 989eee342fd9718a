"""One frame: `vframe/<Format>/offset/<Second|auto>[/w/<W>][/h/<H>][/rotate/<Deg>][/mode/<Mode>][/fit/<Fit>]
[/color/<RRGGBB>]`, parsed into a frozen FrameSpec whose `str()` is the canonical spec (it keys
caches and ETags). `offset/auto` asks for a poster chosen by vframe (products/poster.py)."""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from decimal import Decimal

from .. import formats
from ..errors import InvalidSpec, Unsupported
from ..settings import Settings
from .grammar import BLACK, MAX_SECONDS_MS, choice, fit_and_color, milliseconds, quoted, rgb, seconds_text, split, whole

PREFIX = "vframe"
FORMATS = formats.IMAGE_WORDS
ROTATIONS = ("auto", "0", "90", "180", "270")
MODES = ("exact", "fast")
KEYS = ("offset", "w", "h", "rotate", "mode", "fit", "color")
MAX_OFFSET_MS = MAX_SECONDS_MS
AUTO = "auto"  # the offset word of a poster chosen for the user


@dataclass(frozen=True)
class FrameSpec:
    """What to cut and how: always valid, always normalized (jpeg is jpg, offset in whole ms)."""

    format: str
    offset_ms: int | None  # None: offset/auto, a poster chosen for the user
    width: int | None = None
    height: int | None = None
    rotate: str = "auto"
    mode: str = "exact"
    fit: str = "stretch"  # stretch unless both sides are given (see grammar.fit_and_color)
    color: str = BLACK  # the pad colour of fit/pad

    @property
    def background(self) -> tuple[int, int, int]:
        return rgb(self.color)

    @property
    def media_type(self) -> str:
        return formats.IMAGES[self.format].media_type

    @property
    def output(self) -> formats.Format:
        return formats.IMAGES[self.format]

    @property
    def offset(self) -> Decimal | None:
        return None if self.offset_ms is None else Decimal(self.offset_ms) / 1000

    @property
    def auto(self) -> bool:
        return self.offset_ms is None

    def __str__(self) -> str:
        return self.canonical

    @functools.cached_property
    def canonical(self) -> str:
        """The normalized spec text (made once per spec: it keys every cache lookup and ETag)."""
        offset = AUTO if self.offset_ms is None else seconds_text(self.offset_ms)
        parts = [PREFIX, self.format, "offset", offset]
        if self.width is not None:
            parts += ["w", str(self.width)]
        if self.height is not None:
            parts += ["h", str(self.height)]
        if self.rotate != "auto":
            parts += ["rotate", self.rotate]
        if self.mode != "exact":
            parts += ["mode", self.mode]
        if self.fit != "stretch":
            parts += ["fit", self.fit]
        if self.color != BLACK:
            parts += ["color", self.color]
        return "/".join(parts)


def _offset(value: str) -> int | None:
    """Whole milliseconds, or None for `auto`."""
    if value == AUTO:
        return None
    try:
        return milliseconds("offset", value)
    except InvalidSpec as error:
        raise InvalidSpec(f"{str(error).removesuffix('.')}, or auto.") from None


def parse_frame(text: str, settings: Settings) -> FrameSpec:
    """InvalidSpec (400) for any malformed form, Unsupported (415) for an unknown format."""
    fmt, values = split(text, PREFIX, KEYS, "vframe/<format>/offset/<seconds>")
    if "offset" not in values:
        raise InvalidSpec("The spec has no offset: add /offset/<seconds>.")
    offset_ms = _offset(values["offset"])
    width = whole("w", values.get("w"), 1, settings.max_width)
    height = whole("h", values.get("h"), 1, settings.max_width)
    fit, color = fit_and_color(values, width is not None and height is not None)
    spec = FrameSpec(
        format=fmt,
        offset_ms=offset_ms,
        width=width,
        height=height,
        rotate=choice("rotate", values.get("rotate", "auto"), ROTATIONS),
        mode=choice("mode", values.get("mode", "exact"), MODES),
        fit=fit,
        color=color,
    )
    if spec.width is not None and spec.height is not None:
        if min(spec.width, spec.height) > settings.max_height:
            raise InvalidSpec(
                f"The output is too large: the shorter side may be at most {settings.max_height} pixels."
            )
    output = formats.image(fmt)
    if output is None:
        raise Unsupported(f"The output format {quoted(fmt)} is not supported: use {formats.listed(formats.IMAGES)}.")
    return replace(spec, format=output.name)
