"""Many frames of one video (API.md, "Sprite sheets and storyboards"): the tiles a `vsample` spec
gives this video (`plan`), one sprite sheet of them from one walk (`sheet`), the WebVTT storyboard
that lists every sheet's tiles for a player (`vtt`) and its JSON twin (`json_board`), and every
sampled frame as its own picture (`each_frame`, for `vframe sample`).

A tile is the picture a single frame of the same moment gives at the tile's size: the same
choice of frame, the same orientation, aspect, colours and scaling."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

from PIL import Image

from .. import formats, picture
from ..errors import InvalidSpec, SourceNotFound, TooLarge
from ..limits import Budget, check_output_bytes
from ..media import Found, Video
from ..settings import Settings
from ..signing import Signer, sign
from ..spec import MAX_OFFSET_MS, SampleSpec
from .result import Result, Tile

MAX_SHEET_SIDE = 16383  # pixels: WebP's limit, and under the 16384 API.md allows


@dataclass(frozen=True)
class Links:
    """How a storyboard names its sheets: relative to its own URL (`name`, the video's last path
    segment as it was sent), signed as the storyboard was when signing is on, so that each sheet
    URL is valid as long as the storyboard's: `signing` is (the video's URL as clients sign it,
    the access key, the deadline)."""

    name: str
    signing: tuple[str, str, int] | None = None

    def url(self, spec: SampleSpec, settings: Settings) -> str:
        query = str(spec)
        if self.signing is not None:
            absolute, access_key, deadline = self.signing
            signer = Signer.from_settings(settings)
            secret = signer.keys.get(access_key) if signer is not None else None
            if secret is not None:
                query = sign(f"{absolute}?{query}", access_key, secret.decode(), deadline).split("?", 1)[1]
        return f"{self.name}?{query}"


@dataclass(frozen=True)
class Board:
    """The tiles a spec gives one video and where they go: `samples` are (start, end) moments in
    ms; the grid has `columns` columns and at most `lines` lines a sheet."""

    samples: tuple[tuple[int, int], ...]
    tile: tuple[int, int]
    columns: int
    lines: int
    spec: SampleSpec

    @property
    def per_page(self) -> int:
        return self.columns * self.lines

    @property
    def pages(self) -> int:
        return -(-len(self.samples) // self.per_page)

    def on_page(self, page: int) -> range:
        if not 0 <= page < self.pages:
            raise SourceNotFound(
                f"The storyboard has {self.pages} page{'s' if self.pages > 1 else ''} (0 to {self.pages - 1}): "
                f"there is no page {page}."
            )
        return range(page * self.per_page, min(len(self.samples), (page + 1) * self.per_page))

    def place(self, index: int) -> tuple[int, int, int]:
        """The page and the top-left pixel of tile `index`."""
        page, rest = divmod(index, self.per_page)
        line, column = divmod(rest, self.columns)
        step_x, step_y = self.tile[0] + self.spec.padding, self.tile[1] + self.spec.padding
        return page, self.spec.margin + column * step_x, self.spec.margin + line * step_y

    def sheet_size(self, page: int) -> tuple[int, int]:
        lines = -(-len(self.on_page(page)) // self.columns)
        return _extent(self.columns, self.tile[0], self.spec), _extent(lines, self.tile[1], self.spec)

    def tile_of(self, index: int, time: Fraction | None) -> Tile:
        page, x, y = self.place(index)
        start, end = self.samples[index]
        return Tile(x, y, self.tile[0], self.tile[1], page, time, Fraction(start, 1000), Fraction(end, 1000))


def _extent(count: int, size: int, spec: SampleSpec) -> int:
    """Pixels across `count` tiles of `size`, with the padding between them and the margin around."""
    return 2 * spec.margin + count * size + (count - 1) * spec.padding


def make(video: Video, spec: SampleSpec, settings: Settings, budget: Budget, links: Links) -> Result:
    board = plan(video, spec, settings, budget)
    if spec.format == "vtt":
        return vtt(board, settings, links)
    if spec.format == "json":
        return json_board(video, board, settings, budget, links)
    return sheet(video, board, settings, budget)


def plan(video: Video, spec: SampleSpec, settings: Settings, budget: Budget) -> Board:
    """The tiles of `spec` for this video: its samples, their size and the grid."""
    samples = _samples(spec, duration_ms(video, budget))
    if len(samples) > settings.max_tiles:
        raise TooLarge(
            f"The storyboard has {len(samples)} tiles, more than this server makes ({settings.max_tiles}): "
            "ask for a longer interval, fewer frames or a shorter span."
        )
    tile = _tile_size(video, spec, settings, budget)
    columns = min(spec.columns, len(samples))
    width = _extent(columns, tile[0], spec)
    if width > MAX_SHEET_SIDE or width * _extent(1, tile[1], spec) > settings.max_sheet_pixels:
        raise InvalidSpec(
            f"A sheet of {columns} columns of {tile[0]}x{tile[1]} tiles is too wide ({width} pixels; at most "
            f"{MAX_SHEET_SIDE}, and {settings.max_sheet_pixels} pixels a sheet): ask for fewer columns or smaller "
            "tiles."
        )
    fitting = 1
    while (
        fitting < MAX_SHEET_SIDE
        and _extent(fitting + 1, tile[1], spec) <= MAX_SHEET_SIDE
        and width * _extent(fitting + 1, tile[1], spec) <= settings.max_sheet_pixels
    ):
        fitting += 1
    needed = -(-len(samples) // columns)
    if spec.lines is not None and spec.lines > fitting:
        raise InvalidSpec(
            f"A sheet of {spec.lines} lines of {tile[1]}-pixel tiles is too tall: at most {fitting} fit on one "
            f"({MAX_SHEET_SIDE} pixels a side, {settings.max_sheet_pixels} pixels a sheet)."
        )
    return Board(tuple(samples), tile, columns, min(spec.lines or needed, fitting, needed), spec)


def duration_ms(video: Video, budget: Budget) -> Fraction:
    """The video's length: as its headers declare it, else up to its last frame (inclusive)."""
    declared = video.timeline.duration(video.container, video.stream)
    if declared:
        return declared * 1000
    last = video.find(MAX_OFFSET_MS, budget)
    return last.time * 1000 + 1


def _samples(spec: SampleSpec, duration_ms: Fraction) -> list[tuple[int, int]]:
    """(start, end) of each tile, ms: the samples of the span that fall inside the video."""
    span_end = duration_ms if spec.t_ms is None else min(duration_ms, Fraction(spec.ss_ms + spec.t_ms))
    if spec.ss_ms >= span_end:
        seconds = float(duration_ms / 1000)
        raise InvalidSpec(
            f"The span sampled starts at {spec.ss_ms / 1000:g} s, at or after the end of the video ({seconds:.3f} s)."
        )
    end = int(-(-span_end // 1))  # the first whole ms at or after the span's end
    if spec.frames is not None:
        span = (spec.t_ms if spec.t_ms is not None else end - spec.ss_ms)
        starts = [spec.ss_ms + i * span // spec.frames for i in range(spec.frames)]
        ends = [spec.ss_ms + (i + 1) * span // spec.frames for i in range(spec.frames)]
    else:
        assert spec.interval_ms is not None
        count = -(-(end - spec.ss_ms) // spec.interval_ms)
        starts = [spec.ss_ms + i * spec.interval_ms for i in range(count)]
        ends = [start + spec.interval_ms for start in starts]
    return [(start, min(stop, end)) for start, stop in zip(starts, ends, strict=True) if start < span_end]


def _tile_size(video: Video, spec: SampleSpec, settings: Settings, budget: Budget) -> tuple[int, int]:
    """Each tile's size: as asked (fit/contain: the largest of the display aspect inside it), the
    missing side following the display aspect of the video's first frame (its size, aspect and
    rotation are the stream's)."""
    if spec.tile_width is not None and spec.tile_height is not None and spec.fit != "contain":
        return spec.tile_width, spec.tile_height
    first = video.find(0, budget)
    return picture.canvas(first.frame, video.sample_aspect, (spec.tile_width, spec.tile_height), spec.rotate,
                          settings, spec.fit).size


def _tiles(video: Video, board: Board, indices: range, settings: Settings,
           budget: Budget) -> Iterator[tuple[int, Fraction, Image.Image]]:
    """(index, frame time, picture) of each tile in `indices`, from one walk; every tile gets the
    tile size (contained ones: see picture.plan_on)."""
    spec = board.spec
    on = picture.Canvas(board.tile, (spec.tile_width, spec.tile_height), spec.fit)

    def render(found: Found) -> tuple[Fraction, Image.Image]:
        geometry = picture.plan_on(on, found.frame, video.sample_aspect, spec.rotate, settings)
        return found.time, picture.render(found.frame, geometry, previous=found.previous, next=found.next,
                                          background=spec.background, alpha=spec.output.alpha)

    by_offset = {}
    offsets = [board.samples[index][0] for index in indices]
    for offset, made in video.walk(offsets, budget, keyframe=spec.mode == "fast", keep=render):
        by_offset[offset] = made
    for index, offset in zip(indices, offsets, strict=True):
        yield index, *by_offset[offset]


def sheet(video: Video, board: Board, settings: Settings, budget: Budget) -> Result:
    """One page of tiles as an image."""
    spec = board.spec
    indices = board.on_page(spec.page)
    canvas = Image.new("RGB", board.sheet_size(spec.page), spec.background)
    tiles = []
    for index, time, tile in _tiles(video, board, indices, settings, budget):
        _, x, y = board.place(index)
        canvas.paste(tile, (x, y), tile if tile.mode == "RGBA" else None)  # alpha over the background
        tiles.append(board.tile_of(index, time))
    budget.lap("decode")
    budget.check_time()
    data = formats.encode(canvas, spec.format, settings)
    budget.lap("encode")
    times = tuple(tile.time for tile in tiles if tile.time is not None)
    return Result(data, spec.media_type, canvas.width, canvas.height, times, tuple(tiles))


def each_frame(video: Video, spec: SampleSpec, settings: Settings, budget: Budget) -> Iterator[tuple[int, Result]]:
    """Every sampled frame, on every page, as its own image at the tile size (`vframe sample`)."""
    board = plan(video, spec, settings, budget)
    for index, time, tile in _tiles(video, board, range(len(board.samples)), settings, budget):
        data = formats.encode(tile, spec.format, settings)
        check_output_bytes(len(data), settings)
        yield index, Result(data, spec.media_type, tile.width, tile.height, (time,), (board.tile_of(index, time),))


def vtt(board: Board, settings: Settings, links: Links) -> Result:
    """The WebVTT storyboard: a cue per tile, pointing at its sheet with a media fragment."""
    urls = [links.url(board.spec.sheet_spec(page), settings) for page in range(board.pages)]
    lines = ["WEBVTT", ""]
    tiles = tuple(board.tile_of(index, None) for index in range(len(board.samples)))
    for tile in tiles:
        lines += [f"{_cue_time(tile.start)} --> {_cue_time(tile.end)}",
                  f"{urls[tile.page]}#xywh={tile.x},{tile.y},{tile.width},{tile.height}", ""]
    data = "\n".join(lines).encode()
    return Result(data, board.spec.media_type, 0, 0, (), tiles)


def json_board(video: Video, board: Board, settings: Settings, budget: Budget, links: Links) -> Result:
    """The storyboard as JSON (Vidstack's and Mux's shape), with each tile's own frame time, which
    takes the walk a sheet takes, without the pictures."""
    urls = [links.url(board.spec.sheet_spec(page), settings) for page in range(board.pages)]
    offsets = [start for start, _ in board.samples]
    times = dict(video.walk(offsets, budget, keyframe=board.spec.mode == "fast", keep=lambda found: found.time))
    tiles = tuple(board.tile_of(index, times[offset]) for index, offset in enumerate(offsets))
    body = {
        "url": urls[0], "urls": urls, "tile_width": board.tile[0], "tile_height": board.tile[1],
        "tiles": [{"start": float(t.start), "end": float(t.end), "time": round(float(t.time or 0), 6),
                   "page": t.page, "x": t.x, "y": t.y} for t in tiles],
    }
    data = json.dumps(body, separators=(",", ":")).encode()
    return Result(data, board.spec.media_type, 0, 0, tuple(times[offset] for offset in offsets), tiles)


def _cue_time(seconds: Fraction) -> str:
    """WebVTT's HH:MM:SS.mmm."""
    millis = int(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"
