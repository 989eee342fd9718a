"""One frame: `vframe/<Format>/offset/<Second>[/w/<W>][/h/<H>][/rotate/<Deg>][/mode/<Mode>]`,
parsed into a frozen FrameSpec whose `str()` is the canonical spec (it keys caches and ETags)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from decimal import Decimal

from .. import formats
from ..errors import InvalidSpec, Unsupported
from ..settings import Settings
from .grammar import MAX_SECONDS_MS, choice, milliseconds, quoted, seconds_text, split, whole

PREFIX = "vframe"
FORMATS = formats.IMAGE_WORDS
ROTATIONS = ("auto", "0", "90", "180", "270")
MODES = ("exact", "fast")
KEYS = ("offset", "w", "h", "rotate", "mode")
MAX_OFFSET_MS = MAX_SECONDS_MS


@dataclass(frozen=True)
class FrameSpec:
    """What to cut and how: always valid, always normalized (jpeg is jpg, offset in whole ms)."""

    format: str
    offset_ms: int
    width: int | None = None
    height: int | None = None
    rotate: str = "auto"
    mode: str = "exact"

    @property
    def media_type(self) -> str:
        return formats.IMAGES[self.format].media_type

    @property
    def output(self) -> formats.Format:
        return formats.IMAGES[self.format]

    @property
    def offset(self) -> Decimal:
        return Decimal(self.offset_ms) / 1000

    def __str__(self) -> str:
        return self.canonical

    @functools.cached_property
    def canonical(self) -> str:
        """The normalized spec text (made once per spec: it keys every cache lookup and ETag)."""
        parts = [PREFIX, self.format, "offset", seconds_text(self.offset_ms)]
        if self.width is not None:
            parts += ["w", str(self.width)]
        if self.height is not None:
            parts += ["h", str(self.height)]
        if self.rotate != "auto":
            parts += ["rotate", self.rotate]
        if self.mode != "exact":
            parts += ["mode", self.mode]
        return "/".join(parts)


def parse_frame(text: str, settings: Settings) -> FrameSpec:
    """InvalidSpec (400) for any malformed form, Unsupported (415) for an unknown format."""
    fmt, values = split(text, PREFIX, KEYS, "vframe/<format>/offset/<seconds>")
    if "offset" not in values:
        raise InvalidSpec("The spec has no offset: add /offset/<seconds>.")
    spec = FrameSpec(
        format=fmt,
        offset_ms=milliseconds("offset", values["offset"]),
        width=whole("w", values.get("w"), 1, settings.max_width),
        height=whole("h", values.get("h"), 1, settings.max_width),
        rotate=choice("rotate", values.get("rotate", "auto"), ROTATIONS),
        mode=choice("mode", values.get("mode", "exact"), MODES),
    )
    if spec.width is not None and spec.height is not None:
        if min(spec.width, spec.height) > settings.max_height:
            raise InvalidSpec(
                f"The output is too large: the shorter side may be at most {settings.max_height} pixels."
            )
    output = formats.image(fmt)
    if output is None:
        raise Unsupported(f"The output format {quoted(fmt)} is not supported: use {formats.listed(formats.IMAGES)}.")
    return FrameSpec(output.name, spec.offset_ms, spec.width, spec.height, spec.rotate, spec.mode)
