"""vframe: cut one frame out of a video at a given second and return it, scaled, as an image.

    >>> import vframe
    >>> result = vframe.grab("movie.mp4", "vframe/jpg/offset/7/w/480/h/360")
    >>> result.media_type, result.width, result.height, result.time_header
"""

from __future__ import annotations

from .errors import (
    Busy,
    Forbidden,
    InvalidSpec,
    MethodNotAllowed,
    ProcessingFailed,
    SourceNotFound,
    TooLarge,
    Unsupported,
    UpstreamFailed,
    UpstreamTimeout,
    VframeError,
)
from .pipeline import Grab, grab
from .probe import probe
from .settings import Settings
from .spec import FrameSpec, parse

__version__ = "0.1.0"
ENGINE_VERSION = "1"  # bump whenever the same spec on the same bytes may give different pixels

__all__ = [
    "Busy", "ENGINE_VERSION", "Forbidden", "FrameSpec", "Grab", "InvalidSpec", "MethodNotAllowed", "ProcessingFailed",
    "Settings", "SourceNotFound", "TooLarge", "Unsupported", "UpstreamFailed", "UpstreamTimeout",
    "VframeError", "__version__", "grab", "parse", "probe",
]
