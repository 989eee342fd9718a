"""The many-frames section of bench.py (issue 13): sprite-sheet storyboards, made side by side in one
run on the bench's own videos, every tile's painted index read back.

Boards (160x90 tiles, 10 columns, jpg):

* 120 s 1080p H.264 (bench/videos.py's STORYBOARD_1080P: 8 s GOP, 2 B-frames), 60 tiles, one every
  2 s (0, 2, ..., 118 s): `vsample/jpg/interval/2/s/160x90/columns/10`;
* the 2-hour MP4 (180,000 samples), 100 tiles, tile i at i*72 s: `vsample/jpg/frames/100/s/160x90/columns/10`.

Peers, per board, interleaved in a rotating order, each repetition with a fresh `vframe serve`
(bench/service.py, default settings, warmed up on another video) so that every spec is asked once
and nothing comes from its cache (its /-/metrics cache misses are printed):

* vframe exact, sheet / vframe fast, sheet - the spec above (and with /mode/fast) through HTTP, one
  keep-alive client; then its JSON twin (`vsample/json/...`, not timed) gives each tile's x, y and frame
  time: the tile is cropped from the sheet, its index read, and its time checked;
* ffmpeg one pass - `ffmpeg -i FILE -vf fps=1/2,scale=160:90,tile=10x6 -frames:v 1 out.jpg` (fps=1/72
  and tile=10x10 for the 2-hour MP4). Its fps filter rounds to the nearest output slot, so its tile i
  is the last frame before T + step/2 (0.96 s past T here), not the frame shown at T: both are counted;
* ffmpeg -ss per tile - `ffmpeg -ss T -i FILE -frames:v 1 -vf scale=160:90 out.jpg` for each tile, one
  after another: the total time (processes run by peers.py's launcher);
* vframe exact per tile / vframe fast per tile - `vframe/jpg/offset/T/w/160/h/90[/mode/fast]` through
  HTTP for each tile, one after another, the total time;
* keyframe-pass floor / exact multi-frame floor - bench/floors.py, in this process.

Painted indices: bench/videos.py's frames show their own index (vframe_testkit.synth's 4x4 cell code),
readable at 160x90 through a JPEG at quality 85 (checked on every tile here). The 2-hour MP4's
frames show their index mod 100, and every tile of that board falls on frame 1800*i (index 0): its
indices tell only a frame off by a multiple of 100 from right, so vframe's tiles there are also
judged by the frame time in the JSON twin.
"""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import peers
from floors import exact_multi_floor, keyframe_pass_floor
from peers import painted
from PIL import Image
from service import Server, load_threads, vframe_serve
from videos import BY_NAME, CACHE_DIR, STORYBOARD_1080P, Video

TILE = (160, 90)
COLUMNS = 10
REPEATS = (3, 1)  # repetitions: full, quick

SHEET_EXACT = "vframe exact, sheet"
SHEET_FAST = "vframe fast, sheet"
FFMPEG_PASS = "ffmpeg one pass"
FFMPEG_TILES = "ffmpeg -ss per tile"
TILES_EXACT = "vframe exact per tile"
TILES_FAST = "vframe fast per tile"
KEY_FLOOR = "keyframe-pass floor"
EXACT_FLOOR = "exact multi-frame floor"
PEERS = (SHEET_EXACT, SHEET_FAST, FFMPEG_PASS, FFMPEG_TILES, TILES_EXACT, TILES_FAST, KEY_FLOOR, EXACT_FLOOR)
HTTP_PEERS = (SHEET_EXACT, SHEET_FAST, TILES_EXACT, TILES_FAST)
FAST_PEERS = (SHEET_FAST, TILES_FAST, KEY_FLOOR)


@dataclass(frozen=True)
class Board:
    name: str
    video: Video
    sample: str  # the vsample sampling part
    times_ms: tuple[int, ...]  # each tile's sample time
    step_ms: int  # ffmpeg's fps filter: one output frame every step

    def spec(self, fmt: str = "jpg", fast: bool = False) -> str:
        return (f"vsample/{fmt}/{self.sample}/s/{TILE[0]}x{TILE[1]}/columns/{COLUMNS}"
                + ("/mode/fast" if fast else ""))

    @property
    def key(self) -> str:
        return f"/{quote(self.video.path.name)}"

    @property
    def grid(self) -> str:
        return f"{COLUMNS}x{-(-len(self.times_ms) // COLUMNS)}"

    def box(self, number: int) -> tuple[int, int]:
        row, column = divmod(number, COLUMNS)
        return column * TILE[0], row * TILE[1]

    def seconds(self, number: int) -> str:
        ms = self.times_ms[number]
        return f"{ms // 1000}.{ms % 1000:03d}"

    def rules(self, peer: str) -> dict[str, list[int]]:
        """The frames (indices into the video) a peer's tiles may be judged by; the first is the right one."""
        video = self.video
        if peer in FAST_PEERS:
            return {"key at or before T": [video.key_before(ms) for ms in self.times_ms]}
        shown = {"shown at T": [video.shown(ms) for ms in self.times_ms]}
        if peer == FFMPEG_PASS:  # fps=1/step, round=near: slot n takes the last frame before (n + 1/2) * step
            pick = [-(-(ms + self.step_ms // 2) * video.fps // 1000) - 1 for ms in self.times_ms]
            return shown | {"fps filter's (last before T + step/2)": pick}
        return shown


BOARDS = (
    Board("120 s 1080p, 60 tiles", STORYBOARD_1080P, "interval/2", tuple(range(0, 120_000, 2000)), 2000),
    Board("2-hour MP4, 100 tiles", BY_NAME["long MP4"], "frames/100", tuple(range(0, 7_200_000, 72_000)), 72_000),
)


@dataclass
class Attempt:
    """One peer's board, one repetition."""

    wall_ms: float
    cpu_ms: float | None  # this process's (floors), the commands' or the server's and its workers'
    frames: list[int | None]  # each tile's painted index (None: unreadable)
    times_right: int | None = None  # vframe sheets: tiles whose JSON time is the right frame's
    tiles_header: str | None = None  # vframe sheets: X-Vframe-Tiles
    size: tuple[int, int] | None = None  # the sheet's


@dataclass
class BoardResult:
    board: Board
    attempts: dict[str, list[Attempt]] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)  # peer -> why

    def median(self, peer: str) -> float:
        walls = [a.wall_ms for a in self.attempts.get(peer, [])]
        return statistics.median(walls) if walls else float("nan")

    def counts(self, peer: str) -> dict[str, tuple[int, int]]:
        """Per rule: tiles right, tiles in all (over every repetition)."""
        found: dict[str, tuple[int, int]] = {}
        for rule, want in self.board.rules(peer).items():
            frames = [self.board.video.painted(frame) for frame in want]
            right = total = 0
            for attempt in self.attempts.get(peer, []):
                right += sum(got == wanted for got, wanted in zip(attempt.frames, frames, strict=False))
                total += len(frames)
            found[rule] = (right, total)
        times = [a.times_right for a in self.attempts.get(peer, []) if a.times_right is not None]
        if times:
            found["JSON time"] = (sum(times), len(times) * len(self.board.times_ms))
        return found

    def all_right(self, peer: str) -> bool | None:
        """Every tile of every repetition the right frame (index and, for vframe, JSON time)."""
        if not self.attempts.get(peer):
            return None
        first = next(iter(self.board.rules(peer)))
        counts = self.counts(peer)
        return all(right == total for rule, (right, total) in counts.items() if rule in (first, "JSON time"))


class Unavailable(Exception):
    """vframe does not make this product (yet): its peer is left out, said so."""


# -- reading tiles -----------------------------------------------------------------------------------


def read_tiles(image_bytes: bytes, boxes: list[tuple[int, int]], size: tuple[int, int] = TILE) -> list[int | None]:
    """The painted index of each tile whose top-left corner is in `boxes`, cropped from the sheet."""
    with Image.open(io.BytesIO(image_bytes)) as image:
        sheet = np.asarray(image.convert("RGB"))
    found: list[int | None] = []
    for x, y in boxes:
        crop = sheet[y:y + size[1], x:x + size[0]]
        if crop.shape[:2] != (size[1], size[0]):
            found.append(None)
            continue
        out = io.BytesIO()
        Image.fromarray(crop).save(out, "PNG")  # lossless: peers.painted reads what was cropped
        found.append(painted(out.getvalue())[0])
    return found


def sheet_size(image_bytes: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(image_bytes)) as image:
            return image.size
    except OSError:
        return None


# -- the peers ----------------------------------------------------------------------------------------


def vframe_sheet(client: httpx.Client, server: Server, board: Board, fast: bool) -> Attempt:
    before = server.cpu_seconds()
    started = time.perf_counter()
    response = client.get(f"{board.key}?{board.spec('jpg', fast)}")
    body = response.content
    wall = (time.perf_counter() - started) * 1000
    cpu = (server.cpu_seconds() - before) * 1000
    if response.status_code != 200:
        raise Unavailable(f"{board.spec('jpg', fast)}: {response.status_code} {body[:200].decode(errors='replace')}")
    twin = client.get(f"{board.key}?{board.spec('json', fast)}")
    if twin.status_code != 200:
        raise Unavailable(f"{board.spec('json', fast)}: {twin.status_code} {twin.text[:200]}")
    layout = twin.json()
    tiles = layout["tiles"]
    size = (int(layout["tile_width"]), int(layout["tile_height"]))
    frames = read_tiles(body, [(int(t["x"]), int(t["y"])) for t in tiles if t.get("page", 0) == 0], size)
    frames += [None] * (len(board.times_ms) - len(frames))  # tiles missing, or on another page
    video = board.video
    want = next(iter(board.rules(SHEET_FAST if fast else SHEET_EXACT).values()))
    times_right = sum(abs(float(t["time"]) - frame / video.fps) < 0.0005
                      for t, frame in zip(tiles, want, strict=False)) if len(tiles) == len(want) else 0
    return Attempt(wall, cpu, frames[:len(board.times_ms)], times_right, response.headers.get("x-vframe-tiles"),
                   sheet_size(body))


def vframe_tiles(client: httpx.Client, server: Server, board: Board, fast: bool) -> Attempt:
    before = server.cpu_seconds()
    calls = []
    for number in range(len(board.times_ms)):
        seconds = board.seconds(number)
        target = f"{board.key}?vframe/jpg/offset/{seconds}/w/{TILE[0]}/h/{TILE[1]}" + ("/mode/fast" if fast else "")
        calls.append(peers.call_http(client, target, seconds))
    cpu = (server.cpu_seconds() - before) * 1000
    return Attempt(sum(c.wall_ms for c in calls), cpu, [c.frame for c in calls])


def ffmpeg_pass(ffmpeg: str, board: Board, workdir: Path) -> Attempt:
    out = workdir / "storyboard-ffmpeg.jpg"
    step = Fraction(board.step_ms, 1000)
    command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-i", str(board.video.path), "-vf",
               f"fps={step.denominator}/{step.numerator},scale={TILE[0]}:{TILE[1]},tile={board.grid}",
               "-frames:v", "1", "-y", str(out)]
    call = peers.call_command(command, "", out, workdir)
    data = out.read_bytes()
    frames = read_tiles(data, [board.box(n) for n in range(len(board.times_ms))])
    return Attempt(call.wall_ms, call.cpu_ms, frames, size=sheet_size(data))


def ffmpeg_tiles(ffmpeg: str, board: Board, workdir: Path) -> Attempt:
    out = workdir / "storyboard-tile.jpg"
    calls = []
    for number in range(len(board.times_ms)):
        seconds = board.seconds(number)
        command = [ffmpeg, "-hide_banner", "-loglevel", "error", "-ss", seconds, "-i", str(board.video.path),
                   "-frames:v", "1", "-vf", f"scale={TILE[0]}:{TILE[1]}", "-y", str(out)]
        calls.append(peers.call_command(command, seconds, out, workdir))
    return Attempt(sum(c.wall_ms for c in calls), sum(c.cpu_ms or 0 for c in calls), [c.frame for c in calls])


def floor(board: Board, exact: bool) -> Attempt:
    video = board.video
    cpu, started = time.process_time(), time.perf_counter()
    if exact:
        samples = [(Fraction(ms, 1000), Fraction(video.shown(ms), video.fps), Fraction(video.key_before(ms), video.fps))
                   for ms in board.times_ms]
        data = exact_multi_floor(video.path, samples, TILE, COLUMNS)
    else:
        data = keyframe_pass_floor(video.path, [Fraction(video.key_before(ms), video.fps) for ms in board.times_ms],
                                   TILE, COLUMNS)
    wall, cpu = (time.perf_counter() - started) * 1000, (time.process_time() - cpu) * 1000
    return Attempt(wall, cpu, read_tiles(data, [board.box(n) for n in range(len(board.times_ms))]),
                   size=sheet_size(data))


# -- the section ----------------------------------------------------------------------------------------


def _warm_up(server: Server) -> None:
    """Both decode workers through a single frame and a sheet of another video (not measured; a
    sheet refused is no matter here)."""
    other = f"/{quote(BY_NAME['1080p H.264'].path.name)}"
    load_threads(server, "warm-up", [f"{other}?vframe/jpg/offset/3.5/w/{TILE[0]}/h/{TILE[1]}",
                                     f"{other}?vframe/jpg/offset/9.5/w/{TILE[0]}/h/{TILE[1]}"], 2)
    load_threads(server, "warm-up", [f"{other}?vsample/jpg/interval/5/s/{TILE[0]}x{TILE[1]}",
                                     f"{other}?vsample/jpg/interval/5/s/{TILE[0]}x{TILE[1]}/mode/fast"], 2)


@dataclass
class Storyboards:
    boards: list[BoardResult]
    repeats: int
    misses: float = 0.0  # the servers' cache misses over the measured HTTP requests
    http_requests: int = 0  # sheets, their JSON twins and single frames


    def board(self, video: Video) -> BoardResult:
        return next(result for result in self.boards if result.board.video == video)

    def vframe_tiles(self) -> list[tuple[str, int, int]]:
        """(board and peer, tiles right, tiles) for every vframe peer: right by the first rule (the
        frame shown at T, or the keyframe at or before it) and, for a sheet, by its JSON time too."""
        found = []
        for result in self.boards:
            for peer in HTTP_PEERS:
                if result.attempts.get(peer):
                    counts = result.counts(peer)
                    right, total = counts[next(iter(result.board.rules(peer)))]
                    if "JSON time" in counts:
                        right, total = right + counts["JSON time"][0], total + counts["JSON time"][1]
                    found.append((f"{result.board.name} {peer}", right, total))
        return found


def runners(board: Board, ffmpeg: str | None, client: httpx.Client, server: Server,
            workdir: Path) -> dict[str, Callable[[], Attempt]]:
    made: dict[str, Callable[[], Attempt]] = {
        SHEET_EXACT: lambda: vframe_sheet(client, server, board, fast=False),
        SHEET_FAST: lambda: vframe_sheet(client, server, board, fast=True),
        TILES_EXACT: lambda: vframe_tiles(client, server, board, fast=False),
        TILES_FAST: lambda: vframe_tiles(client, server, board, fast=True),
        KEY_FLOOR: lambda: floor(board, exact=False),
        EXACT_FLOOR: lambda: floor(board, exact=True),
    }
    if ffmpeg is not None:
        tool = ffmpeg
        made[FFMPEG_PASS] = lambda: ffmpeg_pass(tool, board, workdir)
        made[FFMPEG_TILES] = lambda: ffmpeg_tiles(tool, board, workdir)
    return made


def bench_storyboards(ffmpeg: str | None, quick: bool, workdir: Path) -> Storyboards:
    results = [BoardResult(board) for board in BOARDS]
    repeats = REPEATS[quick]
    section = Storyboards(results, repeats)
    for result in results:
        if ffmpeg is None:
            result.left_out[FFMPEG_PASS] = result.left_out[FFMPEG_TILES] = "no ffmpeg"
    for repeat in range(repeats):
        with vframe_serve(CACHE_DIR) as server, httpx.Client(base_url=server.url, timeout=600) as client:
            _warm_up(server)
            misses = server.metric("vframe_cache_misses_total")
            for result in results:
                board = result.board
                run = runners(board, ffmpeg, client, server, workdir)
                names = [peer for peer in PEERS if peer in run]
                order = names[repeat % len(names):] + names[:repeat % len(names)]
                line = []
                for peer in order:
                    if peer in result.left_out:
                        continue
                    try:
                        attempt = run[peer]()
                    except Unavailable as why:
                        result.left_out[peer] = f"vframe answered {why}"
                        print(f"  {board.name}: {peer} left out: vframe answered {why}", flush=True)
                        continue
                    result.attempts.setdefault(peer, []).append(attempt)
                    if peer in HTTP_PEERS:
                        section.http_requests += 2 if "sheet" in peer else len(board.times_ms)
                    line.append(f"{peer} {attempt.wall_ms:.0f}")
                print(f"  {repeat + 1}/{repeats} {board.name}: " + ", ".join(line) + " ms", flush=True)
            section.misses += server.metric("vframe_cache_misses_total") - misses
    return section


def print_board(result: BoardResult) -> None:
    board, video = result.board, result.board.video
    n = len(board.times_ms)
    print(f"{board.name}: {video.path.name} ({video.label}; {video.width}x{video.height}, {video.duration:g} s), "
          f"{n} tiles {TILE[0]}x{TILE[1]}, {COLUMNS} columns: {board.spec()}")
    print(f"  {'peer':<24} {'median ms':>9} {'per tile':>8} {'cpu ms':>8} {'vs key floor':>12} {'vs exact floor':>14} "
          f"{'vs ffmpeg pass':>14}  tiles (all repetitions)")
    key, exact, ffmpeg = result.median(KEY_FLOOR), result.median(EXACT_FLOOR), result.median(FFMPEG_PASS)
    for peer in PEERS:
        if peer in result.left_out and peer not in result.attempts:
            print(f"  {peer:<24} left out: {result.left_out[peer]}")
            continue
        attempts = result.attempts.get(peer, [])
        med = result.median(peer)
        cpu = [a.cpu_ms for a in attempts if a.cpu_ms is not None]
        cpu_text = f"{statistics.median(cpu):.0f}" if cpu else ""
        tiles = "; ".join(f"{rule} {right}/{total}" for rule, (right, total) in result.counts(peer).items())
        header = {a.tiles_header for a in attempts if a.tiles_header is not None}
        if header:
            tiles += f"; X-Vframe-Tiles {', '.join(sorted(header))}"
        print(f"  {peer:<24} {med:>9.0f} {med / n:>8.1f} {cpu_text:>8} {_ratio(med, key, peer == KEY_FLOOR):>12} "
              f"{_ratio(med, exact, peer == EXACT_FLOOR):>14} {_ratio(med, ffmpeg, peer == FFMPEG_PASS):>14}  {tiles}")
    sizes = {peer: a[0].size for peer, a in result.attempts.items() if a and a[0].size}
    print(f"  (sheets: {', '.join(f'{peer} {w}x{h}' for peer, (w, h) in sizes.items())}; per tile: the median "
          f"divided by the tiles; cpu: the server and its workers, the ffmpeg processes, or this process)")


def print_storyboards(section: Storyboards) -> None:
    for result in section.boards:
        print_board(result)
    print(f"  ({section.repeats} repetition(s), a fresh vframe serve each: server cache misses {section.misses:g} of "
          f"{section.http_requests} HTTP requests, JSON twins included)")


def _ratio(value: float, base: float, same: bool) -> str:
    if same or value != value or base != base or not base:
        return ""
    return f"{value / base:.2f}x"


def record(section: Storyboards) -> dict[str, Any]:
    boards = {r.board.name: {"spec": r.board.spec(), "video": str(r.board.video.path),
                             "times_ms": list(r.board.times_ms), "left_out": r.left_out,
                             "peers": {peer: {"median_ms": r.median(peer), "tiles": r.counts(peer),
                                              "attempts": [asdict(a) for a in attempts]}
                                       for peer, attempts in r.attempts.items()}}
              for r in section.boards}
    return {"repeats": section.repeats, "cache_misses": section.misses, "http_requests": section.http_requests,
            "boards": boards}
