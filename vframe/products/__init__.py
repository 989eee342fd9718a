"""A product turns the frames a walk finds into bytes: one frame (frame.py), a poster chosen for
the user (poster.py, `offset/auto`), a sprite sheet, a WebVTT storyboard or its JSON twin
(sample.py), or an animated preview (preview.py). The HTTP service, the CLI, the library and the
decode workers all make them through `make`."""

from __future__ import annotations

from ..limits import Budget
from ..media import Video
from ..settings import Settings
from ..spec import FrameSpec, PreviewSpec, Spec
from . import frame, preview, sample
from .result import Result, Tile
from .sample import Links


def make(video: Video, spec: Spec, settings: Settings, budget: Budget, links: Links) -> Result:
    """What `spec` asks for, out of the opened `video`; `links`: how a storyboard names its sheets.
    The caller checks the output's size (pipeline.grab)."""
    if isinstance(spec, FrameSpec):
        if spec.auto:
            from . import poster  # (numpy: loaded only for a poster, as for HDR)

            return poster.make(video, spec, settings, budget)
        return frame.make(video, spec, settings, budget)
    if isinstance(spec, PreviewSpec):
        return preview.make(video, spec, settings, budget)
    return sample.make(video, spec, settings, budget, links)


__all__ = ["Links", "Result", "Tile", "make"]
