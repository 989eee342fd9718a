"""An animated preview (API.md, "Animated previews"): frame k is the frame shown at ss + k/fps,
all found in one walk, and is shown until frame k+1's moment; the file's own delays add up to the
span exactly. A span past the end of the video stops at its end (the last frame is the last one
shown before it)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from PIL import Image

from .. import formats, picture
from ..errors import InvalidSpec, TooLarge
from ..limits import Budget
from ..media import Found, Video
from ..settings import Settings
from ..spec import PreviewSpec
from ..spec.preview import most_frames
from .result import Result
from .sample import duration_ms

# Browsers show a GIF frame of less than 20 ms for 100 ms: a last frame that short is left out
# and its time given to the one before (with at most 30 fps, only the last can be that short).
MIN_DELAY_MS = 20


@dataclass(frozen=True)
class Timing:
    """The frames of a preview: the moment each shows (ms from the start of the video) and how
    long each is shown (ms, in the format's unit), adding up to the span."""

    moments: tuple[Fraction, ...]
    delays: tuple[int, ...]


def timing(spec: PreviewSpec, video_ms: Fraction) -> Timing:
    """Frame k at ss + k/fps for every k/fps before the span's end; its delay runs to frame k+1's
    moment, rounded half up to the unit (cumulatively, so that the rounding never adds up)."""
    if spec.ss_ms >= video_ms:
        raise InvalidSpec(
            f"The preview starts at {spec.ss_ms / 1000:g} s, at or after the end of the video "
            f"({float(video_ms / 1000):.3f} s)."
        )
    unit = spec.output.delay_ms
    span = min(Fraction(spec.t_ms), video_ms - spec.ss_ms)  # ms
    total = max(1, _half_up(span / unit))  # in units
    count = most_frames(total * unit, spec.fps)
    ends = [_half_up(Fraction(k * 1000, spec.fps * unit)) for k in range(1, count)] + [total]
    delays = [(end - start) * unit for start, end in zip([0, *ends[:-1]], ends, strict=True)]
    if len(delays) > 1 and delays[-1] < MIN_DELAY_MS:
        last = delays.pop()
        delays[-1] += last
    moments = tuple(spec.ss_ms + Fraction(k * 1000, spec.fps) for k in range(len(delays)))
    return Timing(moments, tuple(delays))


def _half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2))  # positive: int() floors it


def make(video: Video, spec: PreviewSpec, settings: Settings, budget: Budget) -> Result:
    plan = timing(spec, duration_ms(video, budget))
    side = settings.max_preview_side
    largest = (side, min(side, settings.max_height))
    canvas: list[picture.Canvas] = []  # the one size of every frame, from the first (picture.canvas)

    def render(found: Found) -> tuple[Fraction, Image.Image]:
        if not canvas:
            canvas.append(picture.canvas(found.frame, video.sample_aspect, spec.size, spec.rotate, settings,
                                         spec.fit, largest))
            check_pixels(canvas[0].size, len(plan.moments), settings)
        geometry = picture.plan_on(canvas[0], found.frame, video.sample_aspect, spec.rotate, settings)
        image = picture.render(found.frame, geometry, previous=found.previous, next=found.next,
                               background=spec.background, alpha=spec.output.alpha)
        return found.time, image

    shown = dict(video.walk(plan.moments, budget, keep=render))
    budget.lap("decode")
    budget.check_time()
    frames = [shown[moment] for moment in plan.moments]
    data = formats.animate([image for _, image in frames], plan.delays, spec.format, spec.background, settings)
    budget.lap("encode")
    width, height = frames[0][1].size
    return Result(data, spec.media_type, width, height, tuple(time for time, _ in frames), animated=True)


def check_pixels(size: tuple[int, int], count: int, settings: Settings) -> None:
    """An animation holds all its frames until it is encoded: their pixels together are limited."""
    pixels = size[0] * size[1] * count
    if pixels > settings.max_preview_pixels:
        raise TooLarge(
            f"The preview's {count} frames of {size[0]}x{size[1]} are {pixels} pixels, more than this server "
            f"makes ({settings.max_preview_pixels}): ask for a smaller size, a shorter t or a lower fps."
        )
