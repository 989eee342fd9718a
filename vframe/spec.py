"""The spec grammar, `vframe/<Format>/offset/<Second>[/w/<W>][/h/<H>][/rotate/<Deg>][/mode/<Mode>]`,
parsed into a frozen FrameSpec whose `str()` is the canonical spec (it keys caches and ETags)."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .errors import InvalidSpec, Unsupported
from .settings import DEFAULT, Settings

PREFIX = "vframe"
FORMATS = {"jpg": "jpg", "jpeg": "jpg", "png": "png", "webp": "webp"}
MEDIA_TYPES = {"jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
ROTATIONS = ("auto", "0", "90", "180", "270")
MODES = ("exact", "fast")
KEYS = ("offset", "w", "h", "rotate", "mode")
MAX_OFFSET_MS = 999_999_999_999

_SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]+)?")  # up to 999999999 s, about 31 years
_PIXELS = re.compile(r"[0-9]{1,6}")


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
        return MEDIA_TYPES[self.format]

    @property
    def offset(self) -> Decimal:
        return Decimal(self.offset_ms) / 1000

    def __str__(self) -> str:
        return self.canonical

    @functools.cached_property
    def canonical(self) -> str:
        """The normalized spec text (made once per spec: it keys every cache lookup and ETag)."""
        parts = [PREFIX, self.format, "offset", _format_seconds(self.offset_ms)]
        if self.width is not None:
            parts += ["w", str(self.width)]
        if self.height is not None:
            parts += ["h", str(self.height)]
        if self.rotate != "auto":
            parts += ["rotate", self.rotate]
        if self.mode != "exact":
            parts += ["mode", self.mode]
        return "/".join(parts)


def parse(text: str, settings: Settings = DEFAULT) -> FrameSpec:
    """Parse a spec string; InvalidSpec (400) for any malformed form, Unsupported (415) for an unknown format."""
    segments = text.split("/")
    if segments[0] != PREFIX:
        raise InvalidSpec(f"The spec must start with '{PREFIX}/', as in vframe/jpg/offset/7.")
    if len(segments) < 2 or segments[1] == "" or segments[1] in KEYS:
        raise InvalidSpec("The spec names no output format: it must read vframe/<format>/offset/<seconds>.")
    fmt, rest = segments[1], segments[2:]
    if "" in rest:
        raise InvalidSpec("The spec has an empty part: a trailing '/' or two '/' in a row.")
    if len(rest) % 2:
        raise InvalidSpec(f"The key {_quoted(rest[-1])} has no value.")
    values: dict[str, str] = {}
    for key, value in zip(rest[::2], rest[1::2], strict=True):
        if key not in KEYS:
            raise InvalidSpec(f"Unknown key {_quoted(key)}: the keys are {', '.join(KEYS)}.")
        if key in values:
            raise InvalidSpec(f"The key {_quoted(key)} is given twice.")
        values[key] = value
    if "offset" not in values:
        raise InvalidSpec("The spec has no offset: add /offset/<seconds>.")
    spec = FrameSpec(
        format=fmt,
        offset_ms=_parse_offset(values["offset"]),
        width=_parse_pixels("w", values.get("w"), settings.max_width),
        height=_parse_pixels("h", values.get("h"), settings.max_width),
        rotate=_parse_choice("rotate", values.get("rotate", "auto"), ROTATIONS),
        mode=_parse_choice("mode", values.get("mode", "exact"), MODES),
    )
    if spec.width is not None and spec.height is not None:
        if min(spec.width, spec.height) > settings.max_height:
            raise InvalidSpec(
                f"The output is too large: the shorter side may be at most {settings.max_height} pixels."
            )
    if fmt not in FORMATS:
        raise Unsupported(f"The output format {_quoted(fmt)} is not supported: use jpg, png or webp.")
    return FrameSpec(FORMATS[fmt], spec.offset_ms, spec.width, spec.height, spec.rotate, spec.mode)


def _parse_offset(value: str) -> int:
    if not _SECONDS.fullmatch(value):
        raise InvalidSpec(
            f"The offset {_quoted(value)} is not a number of seconds such as 7, 7.5 or 0.040 (at most 999999999)."
        )
    whole, _, fraction = value.partition(".")
    # Half-up rounding to the ms reads one digit past it: the rest cannot change the result.
    millis = int((Decimal(f"{whole}.{fraction[:4] or 0}") * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if millis > MAX_OFFSET_MS:
        raise InvalidSpec(f"The offset {_quoted(value)} is larger than 999999999.999 seconds.")
    return millis


def _parse_pixels(key: str, value: str | None, longest: int) -> int | None:
    if value is None:
        return None
    if not _PIXELS.fullmatch(value) or not 1 <= int(value) <= longest:
        raise InvalidSpec(f"The {key} {_quoted(value)} must be a whole number of pixels from 1 to {longest}.")
    return int(value)


def _parse_choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidSpec(f"The {key} {_quoted(value)} must be one of {', '.join(choices)}.")
    return value


def _quoted(text: str) -> str:
    """The client's text as a message quotes it: on one line (control characters escaped) and
    at most 40 characters."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return f"'{shown[:40]}...'" if len(shown) > 40 else f"'{shown}'"


def _format_seconds(offset_ms: int) -> str:
    seconds, millis = divmod(offset_ms, 1000)
    return f"{seconds}.{millis:03d}".rstrip("0").rstrip(".") if millis else str(seconds)
