"""What every spec grammar shares: `<prefix>/<format>/<key>/<value>/...` split into its pairs
(each key at most once), and the parsers of seconds, pixels and choices with their messages."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal

from ..errors import InvalidSpec

MAX_SECONDS_MS = 999_999_999_999
_SECONDS = re.compile(r"[0-9]{1,9}(\.[0-9]+)?")  # up to 999999999 s, about 31 years
_WHOLE = re.compile(r"[0-9]{1,6}")
_COLOR = re.compile(r"[0-9A-Fa-f]{6}")
FITS = ("stretch", "contain", "cover", "pad")
BLACK = "000000"


def split(text: str, prefix: str, keys: tuple[str, ...], example: str) -> tuple[str, dict[str, str]]:
    """The format word and the key/value pairs of `prefix/<format>/<key>/<value>...`."""
    segments = text.split("/")
    if segments[0] != prefix:
        raise InvalidSpec(f"The spec must start with '{prefix}/', as in {example}.")
    if len(segments) < 2 or segments[1] == "" or segments[1] in keys:
        raise InvalidSpec(f"The spec names no output format: it must read {example}.")
    fmt, rest = segments[1], segments[2:]
    if "" in rest:
        raise InvalidSpec("The spec has an empty part: a trailing '/' or two '/' in a row.")
    if len(rest) % 2:
        raise InvalidSpec(f"The key {quoted(rest[-1])} has no value.")
    values: dict[str, str] = {}
    for key, value in zip(rest[::2], rest[1::2], strict=True):
        if key not in keys:
            raise InvalidSpec(f"Unknown key {quoted(key)}: the keys are {', '.join(keys)}.")
        if key in values:
            raise InvalidSpec(f"The key {quoted(key)} is given twice.")
        values[key] = value
    return fmt, values


def milliseconds(key: str, value: str) -> int:
    """A number of seconds such as 7, 7.5 or 0.040, in whole milliseconds (rounded half up)."""
    if not _SECONDS.fullmatch(value):
        raise InvalidSpec(
            f"The {key} {quoted(value)} is not a number of seconds such as 7, 7.5 or 0.040 (at most 999999999)."
        )
    whole, _, fraction = value.partition(".")
    # Half-up rounding to the ms reads one digit past it: the rest cannot change the result.
    millis = int((Decimal(f"{whole}.{fraction[:4] or 0}") * 1000).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if millis > MAX_SECONDS_MS:
        raise InvalidSpec(f"The {key} {quoted(value)} is larger than 999999999.999 seconds.")
    return millis


def whole(key: str, value: str | None, lowest: int, highest: int, unit: str = "pixels") -> int | None:
    """A whole number from `lowest` to `highest`; None when absent."""
    if value is None:
        return None
    if not _WHOLE.fullmatch(value) or not lowest <= int(value) <= highest:
        raise InvalidSpec(f"The {key} {quoted(value)} must be a whole number of {unit} from {lowest} to {highest}.")
    return int(value)


def choice(key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise InvalidSpec(f"The {key} {quoted(value)} must be one of {', '.join(choices)}.")
    return value


def color(value: str) -> str:
    """Six hex digits, RRGGBB, in lower case."""
    if not _COLOR.fullmatch(value):
        raise InvalidSpec(f"The color {quoted(value)} must be six hex digits, RRGGBB, such as 000000 or ffffff.")
    return value.lower()


def rgb(hex_color: str) -> tuple[int, int, int]:
    return (int(hex_color[0:2], 16), int(hex_color[2:4], 16), int(hex_color[4:6], 16))


def fit_and_color(values: dict[str, str], both_sides: bool) -> tuple[str, str]:
    """`/fit/<Fit>` and its pad colour `/color/<RRGGBB>` (API.md): the colour only with fit/pad.
    With only one side or none given, fit changes nothing, so both are their defaults: the
    canonical spec then names neither, and keys the same bytes once."""
    fit = choice("fit", values.get("fit", "stretch"), FITS)
    hex_color = color(values.get("color", BLACK))
    if "color" in values and fit != "pad":
        raise InvalidSpec("The color is the background of /fit/pad: give /fit/pad with it, or leave it out.")
    return (fit, hex_color) if both_sides else ("stretch", BLACK)


def quoted(text: str) -> str:
    """The client's text as a message quotes it: on one line (control characters escaped) and
    at most 40 characters."""
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return f"'{shown[:40]}...'" if len(shown) > 40 else f"'{shown}'"


def seconds_text(millis: int) -> str:
    """Whole milliseconds as the canonical spec writes seconds: 7, 7.5, 0.04."""
    seconds, rest = divmod(millis, 1000)
    return f"{seconds}.{rest:03d}".rstrip("0").rstrip(".") if rest else str(seconds)
