"""Many frames: `vsample/<Format>[/ss/<s>][/t/<s>][/interval/<s> | /frames/<N>][/s/<W>x<H>]
[/columns/<N>][/lines/<N>][/padding/<px>][/margin/<px>][/color/<RRGGBB>][/rotate/<Deg>]
[/mode/<Mode>][/page/<N>][/sheet/<Format>][/fit/<Fit>]` (API.md, "Sprite sheets and storyboards"), parsed
into a frozen SampleSpec whose `str()` is the canonical spec. Which tiles a video gets, and where
they go on the sheets, is the product's (vframe/products/sample.py): it needs the video's length
and aspect."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

from .. import formats
from ..errors import InvalidSpec, TooLarge, Unsupported
from ..settings import Settings
from .frame import MODES, ROTATIONS
from .grammar import BLACK, FITS, choice, color, milliseconds, quoted, rgb, seconds_text, split, whole

PREFIX = "vsample"
KEYS = ("ss", "t", "interval", "frames", "s", "columns", "lines", "padding", "margin", "color", "rotate", "mode",
        "page", "sheet", "fit")
DEFAULT_INTERVAL_MS = 5000
MIN_INTERVAL_MS = 100
DEFAULT_TILE_WIDTH = 160
DEFAULT_COLUMNS = 10
MAX_COLUMNS = 1000
MAX_LINES = 10_000
MAX_GAP = 256  # padding and margin, pixels
MAX_PAGE = 99_999
_SIZE = re.compile(r"([0-9]{1,6})?x([0-9]{1,6})?")
FORMATS = {**formats.IMAGE_WORDS, **{name: name for name in formats.STORYBOARDS}}


@dataclass(frozen=True)
class SampleSpec:
    """Tiles of a video, as one sprite sheet (an image format) or as the storyboard that lists
    every sheet (vtt, json). Always valid and normalized."""

    format: str
    ss_ms: int = 0
    t_ms: int | None = None  # None: to the end of the video
    interval_ms: int | None = DEFAULT_INTERVAL_MS  # None when `frames` is given
    frames: int | None = None
    tile_width: int | None = DEFAULT_TILE_WIDTH  # both None: the default width
    tile_height: int | None = None
    columns: int = DEFAULT_COLUMNS
    lines: int | None = None  # None: as many as fit on a sheet
    padding: int = 0
    margin: int = 0
    color: str = "000000"
    rotate: str = "auto"
    mode: str = "exact"
    page: int = 0
    sheet: str = "jpg"  # the sheets' format, for vtt and json
    fit: str = "stretch"  # how a WxH tile is filled; stretch unless both sides are given

    @property
    def output(self) -> formats.Format:
        return formats.IMAGES.get(self.format) or formats.STORYBOARDS[self.format]

    @property
    def media_type(self) -> str:
        return self.output.media_type

    @property
    def is_storyboard(self) -> bool:
        return self.format in formats.STORYBOARDS

    @property
    def background(self) -> tuple[int, int, int]:
        return rgb(self.color)

    def sheet_spec(self, page: int) -> SampleSpec:
        """The spec of one of this storyboard's sheets."""
        return replace(self, format=self.sheet, page=page, sheet="jpg")

    def __str__(self) -> str:
        return self.canonical

    @functools.cached_property
    def canonical(self) -> str:
        parts = [PREFIX, self.format]
        if self.ss_ms:
            parts += ["ss", seconds_text(self.ss_ms)]
        if self.t_ms is not None:
            parts += ["t", seconds_text(self.t_ms)]
        if self.frames is not None:
            parts += ["frames", str(self.frames)]
        elif self.interval_ms != DEFAULT_INTERVAL_MS:
            assert self.interval_ms is not None
            parts += ["interval", seconds_text(self.interval_ms)]
        if (self.tile_width, self.tile_height) != (DEFAULT_TILE_WIDTH, None):
            parts += ["s", f"{self.tile_width or ''}x{self.tile_height or ''}"]
        for key, value, default in (("columns", self.columns, DEFAULT_COLUMNS), ("lines", self.lines, None),
                                    ("padding", self.padding, 0), ("margin", self.margin, 0),
                                    ("color", self.color, BLACK), ("rotate", self.rotate, "auto"),
                                    ("mode", self.mode, "exact"), ("page", self.page, 0), ("sheet", self.sheet, "jpg"),
                                    ("fit", self.fit, "stretch")):
            if value != default:
                parts += [key, str(value)]
        return "/".join(parts)


def parse_sample(text: str, settings: Settings) -> SampleSpec:
    """InvalidSpec (400) for any malformed form, Unsupported (415) for an unknown format, TooLarge
    (413) for more tiles than the server makes."""
    fmt, values = split(text, PREFIX, KEYS, "vsample/<format>/interval/<seconds>")
    name = FORMATS.get(fmt)
    if name is None:
        every = formats.listed({**formats.IMAGES, **formats.STORYBOARDS})
        raise Unsupported(f"The output format {quoted(fmt)} is not supported: use {every}.")
    if "interval" in values and "frames" in values:
        raise InvalidSpec("Give interval or frames, not both: one tile every interval seconds, or frames tiles.")
    frames = whole("frames", values.get("frames"), 1, 10**6, "tiles")
    if frames is not None and frames > settings.max_tiles:
        raise TooLarge(f"The storyboard asks for {frames} tiles, more than this server makes ({settings.max_tiles}).")
    interval = milliseconds("interval", values["interval"]) if "interval" in values else None
    if interval is not None and interval < MIN_INTERVAL_MS:
        raise InvalidSpec(f"The interval {quoted(values['interval'])} is too short: at least 0.1 seconds.")
    t_ms = milliseconds("t", values["t"]) if "t" in values else None
    if t_ms == 0:
        raise InvalidSpec("The span t must be longer than 0 seconds.")
    width, height = _tile_size(values.get("s"), settings)
    sheet = values.get("sheet", "jpg")
    if "sheet" in values:
        if name not in formats.STORYBOARDS:
            raise InvalidSpec("The key 'sheet' names the sheets' format of a vtt or json storyboard.")
        sheet_format = formats.image(sheet)
        if sheet_format is None:
            raise Unsupported(
                f"The sheet format {quoted(sheet)} is not supported: use {formats.listed(formats.IMAGES)}."
            )
        sheet = sheet_format.name
    if "page" in values and name in formats.STORYBOARDS:
        raise InvalidSpec("The key 'page' names one sheet: a vtt or json storyboard lists every page.")
    fit = choice("fit", values.get("fit", "stretch"), FITS)
    return SampleSpec(
        format=name,
        ss_ms=milliseconds("ss", values["ss"]) if "ss" in values else 0,
        t_ms=t_ms,
        interval_ms=None if frames is not None else interval or DEFAULT_INTERVAL_MS,
        frames=frames,
        tile_width=width,
        tile_height=height,
        columns=_whole("columns", values, 1, MAX_COLUMNS, DEFAULT_COLUMNS, "columns"),
        lines=whole("lines", values.get("lines"), 1, MAX_LINES, "lines"),
        padding=_whole("padding", values, 0, MAX_GAP, 0, "pixels"),
        margin=_whole("margin", values, 0, MAX_GAP, 0, "pixels"),
        color=color(values.get("color", BLACK)),
        rotate=choice("rotate", values.get("rotate", "auto"), ROTATIONS),
        mode=choice("mode", values.get("mode", "exact"), MODES),
        page=_whole("page", values, 0, MAX_PAGE, 0, "pages"),
        sheet=sheet,
        fit=fit if width is not None and height is not None else "stretch",  # else it changes nothing
    )


def _whole(key: str, values: dict[str, str], lowest: int, highest: int, default: int, unit: str) -> int:
    number = whole(key, values.get(key), lowest, highest, unit)
    return default if number is None else number


def _tile_size(value: str | None, settings: Settings) -> tuple[int | None, int | None]:
    """`WxH`, `Wx` or `xH`; absent or `x`: the default width."""
    if value is None:
        return DEFAULT_TILE_WIDTH, None
    match = _SIZE.fullmatch(value)
    if match is None:
        raise InvalidSpec(f"The tile size s {quoted(value)} must read WxH, Wx or xH in pixels, such as 160x90.")
    width = whole("s width", match[1], 1, settings.max_width)
    height = whole("s height", match[2], 1, settings.max_width)
    if width is None and height is None:
        return DEFAULT_TILE_WIDTH, None
    if width is not None and height is not None and min(width, height) > settings.max_height:
        raise InvalidSpec(f"The tile is too large: its shorter side may be at most {settings.max_height} pixels.")
    return width, height
