"""`offset/auto`: a poster chosen for the user, the most representative frame near the start that
is not black, flat, faded or blurred when the video has a better one (README, "A poster chosen
for you").

The candidates are few and cheap: the keyframe at or before each of CANDIDATES moments spread
over the window (one packet decoded each), and only when every one of them is black or flat (a
long GOP that opens on black), the exact frames at CANDIDATES moments of the first
EXACT_SPAN_MS, from one walk. Each is measured on a small RGB copy; the choice is ffmpeg's
`thumbnail` rule over the good ones (the histogram nearest their average). The chosen frame is
then made exactly as `offset/<its time>` makes it, so both give the same bytes."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from .. import picture
from ..errors import ProcessingFailed
from ..limits import Budget
from ..media import Found, Video
from ..settings import Settings
from ..spec import FrameSpec
from . import frame
from .result import Result

CANDIDATES = 12  # moments looked at, of each kind: at most 12 keyframes, then at most 12 exact frames
WHOLE_UNDER_MS = 10_000  # a video this short is searched whole
WINDOW_SHARE = Fraction(1, 10)  # a longer one over its first 10 %...
MAX_WINDOW_MS = 60_000  # ...at most its first minute
EXACT_SPAN_MS = 10_000  # the exact frames looked at when every keyframe is black or flat
MEASURE_WIDTH = 160  # the width of the copy a candidate is measured on
# ffmpeg's blackdetect defaults: a pixel is black at or below 10 % of the luma range (pix_th=0.10;
# on our full-range copy, 25.5 of 255), a picture when 98 % of its pixels are (pic_th=0.98).
BLACK_PIXEL = 0.10 * 255
BLACK_SHARE = 0.98
FLAT_STD = 8.0  # every RGB channel's standard deviation under this: a colour card, a flat fill
WEAK = 0.5  # contrast or detail under half the best candidate's: faded or blurred
# Raw elementary streams have no container to declare a length: FFmpeg guesses it from the bit
# rate (18 ms for a 5 s MPEG-1 stream in the corpus). Their length counts as unknown.
GUESSED_LENGTHS = {"mpegvideo", "m4v", "h264", "hevc", "vvc", "h261", "h263", "cavsvideo", "vc1"}
_LUMA = np.array([0.299, 0.587, 0.114])  # BT.601 weights, as blackdetect reads Y


@dataclass(frozen=True, eq=False)
class Candidate:
    """A frame looked at, and what it looks like."""

    time: Fraction  # the frame's own time, seconds
    black: bool
    flat: bool
    contrast: float  # standard deviation of luma
    detail: float  # mean magnitude of the luma's Laplacian (edges)
    histogram: np.ndarray  # 3 x 256 counts, one row per RGB channel (ffmpeg thumbnail's)


def make(video: Video, spec: FrameSpec, settings: Settings, budget: Budget) -> Result:
    """The poster: the best candidate, made as `offset/<T>` makes it, where T is its time rounded up
    to the millisecond (the offset that names that frame, and what X-Vframe-Time reports). A
    candidate that cannot be made (damaged data after the candidates were read) gives way to the
    next best."""
    fast = spec.mode == "fast"
    candidates = _look(video, window_times(_duration_ms(video)), budget, keyframe=True)
    if not fast and all(c.black or c.flat for c in candidates):
        span = EXACT_SPAN_MS if (duration := _duration_ms(video)) is None else min(EXACT_SPAN_MS, duration)
        exact = _look(video, spread(span), budget, keyframe=False)
        candidates = sorted({c.time: c for c in [*candidates, *exact]}.values(), key=lambda c: c.time)
    failure: ProcessingFailed | None = None
    for chosen in ranked(candidates):
        offset_ms = math.ceil(chosen.time * 1000)
        try:
            made = frame.make(video, replace(spec, offset_ms=offset_ms), settings, budget)
        except ProcessingFailed as error:
            failure = failure or error
            continue
        return replace(made, times=(Fraction(offset_ms, 1000),))
    assert failure is not None  # (ranked gives every candidate, and there is at least one)
    raise failure


def window_times(duration_ms: int | None) -> list[int]:
    """The moments (ms) the keyframe candidates are taken at: CANDIDATES spread evenly over the
    window, the whole video up to WHOLE_UNDER_MS, else its first WINDOW_SHARE, at most MAX_WINDOW_MS
    (a video whose headers give no length: WHOLE_UNDER_MS)."""
    if duration_ms is None:
        window = WHOLE_UNDER_MS
    elif duration_ms <= WHOLE_UNDER_MS:
        window = duration_ms
    else:
        window = min(int(duration_ms * WINDOW_SHARE), MAX_WINDOW_MS)
    return spread(window)


def spread(span_ms: int) -> list[int]:
    return [i * span_ms // CANDIDATES for i in range(CANDIDATES)]


def _duration_ms(video: Video) -> int | None:
    if video.container.format.name in GUESSED_LENGTHS:
        return None
    declared = video.timeline.duration(video.container, video.stream)
    return None if not declared else int(declared * 1000)


def _look(video: Video, times: Iterable[int], budget: Budget, *, keyframe: bool) -> list[Candidate]:
    """The candidates at `times` (each distinct frame once), from one walk. The walk stops at a
    truncation or damage: what it found before stands (an upload cut short still gets a poster)."""
    found: dict[Fraction, Candidate] = {}
    try:
        for _, candidate in video.walk(times, budget, keyframe=keyframe, keep=measure):
            found.setdefault(candidate.time, candidate)
    except ProcessingFailed:
        if not found:
            raise
    return sorted(found.values(), key=lambda c: c.time)


def measure(found: Found) -> Candidate:
    """What a frame looks like, on a MEASURE_WIDTH-wide RGB copy (the stream's colours, full range)."""
    source = found.frame
    width = min(MEASURE_WIDTH, source.width)
    height = max(1, round(source.height * width / source.width))
    rgb = np.asarray(picture.to_rgb(source, width, height).convert("RGB"), dtype=np.float64)
    return assess(found.time, rgb)


def assess(time: Fraction, rgb: np.ndarray) -> Candidate:
    """The measures of an H x W x 3 RGB picture (0-255)."""
    luma = rgb @ _LUMA
    laplacian = (
        4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1] - luma[1:-1, :-2] - luma[1:-1, 2:]
    )
    pixels = rgb.astype(np.uint8).reshape(-1, 3)
    histogram = np.stack([np.bincount(pixels[:, channel], minlength=256) for channel in range(3)])
    return Candidate(
        time=time,
        black=bool(np.mean(luma <= BLACK_PIXEL) >= BLACK_SHARE),
        flat=bool(np.all(rgb.reshape(-1, 3).std(axis=0) < FLAT_STD)),
        contrast=float(luma.std()),
        detail=float(np.abs(laplacian).mean()) if laplacian.size else 0.0,
        histogram=histogram,
    )


def good(candidates: list[Candidate]) -> list[Candidate]:
    """The candidates that are neither black nor flat, nor faded or blurred beside the best one."""
    best_contrast = max(c.contrast for c in candidates)
    best_detail = max(c.detail for c in candidates)
    return [
        c for c in candidates
        if not c.black and not c.flat and c.contrast >= WEAK * best_contrast and c.detail >= WEAK * best_detail
    ]


def ranked(candidates: list[Candidate]) -> list[Candidate]:
    """Best first. Among the good candidates, ffmpeg thumbnail's rule: the nearest to their
    average histogram (sum of squared differences) first; then the others, most contrast plus
    detail first. Ties go to the earliest, so the same video always gives the same frame."""
    chosen = good(candidates)
    order: list[Candidate] = []
    if chosen:
        average = np.mean([c.histogram for c in chosen], axis=0)
        order = sorted(chosen, key=lambda c: (float(np.sum((c.histogram - average) ** 2)), c.time))
    first = {id(c) for c in order}
    rest = [c for c in candidates if id(c) not in first]
    return order + sorted(rest, key=lambda c: (-(c.contrast + c.detail), c.time))
