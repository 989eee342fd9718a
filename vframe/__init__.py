"""vframe: cut frames out of a video and return them, scaled, as images: one frame, a sprite
sheet of many from one pass, or the WebVTT storyboard of a scrubbing preview.

    >>> import vframe
    >>> result = vframe.grab("movie.mp4", "vframe/jpg/offset/7/w/480/h/360")
    >>> result.media_type, result.width, result.height, result.time_header
    >>> sheet = vframe.grab("movie.mp4", "vsample/jpg/interval/2/s/160x90")
    >>> sheet.times, sheet.tiles
    >>> preview = vframe.grab("movie.mp4", "vpreview/gif/ss/5/t/3/w/320")
    >>> preview.media_type, preview.times                  # image/gif, each frame's own time
"""

from __future__ import annotations

from .errors import (
    Busy,
    DecoderNotAllowed,
    Forbidden,
    InvalidSpec,
    JobNotFound,
    MethodNotAllowed,
    ProcessingFailed,
    QueueUnavailable,
    SourceNotFound,
    TooLarge,
    Unsupported,
    UpstreamFailed,
    UpstreamTimeout,
    VframeError,
)
from .pipeline import grab, sample
from .probe import probe
from .products import Result, Tile
from .settings import Settings
from .spec import FrameSpec, PreviewSpec, SampleSpec, parse

__version__ = "0.1.0"
ENGINE_VERSION = "3"  # bump whenever the same spec on the same bytes may give different pixels

__all__ = [
    "Busy", "DecoderNotAllowed", "ENGINE_VERSION", "Forbidden", "FrameSpec", "InvalidSpec", "JobNotFound",
    "MethodNotAllowed", "PreviewSpec", "ProcessingFailed", "QueueUnavailable", "Result", "SampleSpec", "Settings",
    "SourceNotFound", "Tile", "TooLarge", "Unsupported", "UpstreamFailed", "UpstreamTimeout", "VframeError",
    "__version__", "grab", "parse", "probe", "sample",
]
