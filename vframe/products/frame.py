"""One frame: find it, turn it into the picture a player shows, encode it."""

from __future__ import annotations

from .. import formats, picture
from ..limits import Budget
from ..media import Video
from ..settings import Settings
from ..spec import FrameSpec
from .result import Result


def make(video: Video, spec: FrameSpec, settings: Settings, budget: Budget) -> Result:
    assert spec.offset_ms is not None  # (offset/auto is poster.make's)
    found = video.find(spec.offset_ms, budget, keyframe=spec.mode == "fast")
    budget.check_time()
    geometry = picture.plan(found.frame, video.sample_aspect, (spec.width, spec.height), spec.rotate, settings,
                            spec.fit)
    image = picture.render(found.frame, geometry, previous=found.previous, next=found.next,
                           background=spec.background, alpha=spec.output.alpha)
    budget.lap("decode")
    budget.check_time()
    data = formats.encode(image, spec.format, settings)
    budget.lap("encode")
    return Result(data, spec.media_type, image.width, image.height, (found.time,))
