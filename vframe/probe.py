"""What vframe sees in a video, as a plain dict (`vframe probe` prints it as JSON)."""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Any

from .limits import Budget
from .pipeline import open_video
from .settings import DEFAULT, Settings
from .sources import Source

_MATRICES = {0: "rgb", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
             9: "bt2020nc", 10: "bt2020c"}
_TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
              13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
              9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}


def probe(input: str | os.PathLike[str] | Source, settings: Settings = DEFAULT) -> dict[str, Any]:
    """Container, codec, coded and display size, sample aspect, rotation, pixel format, colour,
    duration, frame rate and start time of the stream vframe would cut frames from."""
    with open_video(input, settings) as video:
        first = video.find(0, Budget(settings))
        stream, frame, timeline = video.stream, first.frame, video.timeline
        sar = video.sample_aspect
        rotation = (-frame.rotation) % 360
        display = (max(1, round(frame.width * sar)), frame.height)
        duration = timeline.duration(video.container, stream)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        return {
            "container": video.container.format.name,
            "codec": video.decoder.name,
            "profile": stream.profile,
            "coded_width": frame.width,
            "coded_height": frame.height,
            "sample_aspect": f"{sar.numerator}:{sar.denominator}",
            "rotation": rotation,
            "display_width": display[1] if rotation in (90, 270) else display[0],
            "display_height": display[0] if rotation in (90, 270) else display[1],
            "pixel_format": frame.format.name,
            "color": {
                "range": {1: "limited", 2: "full"}.get(frame.color_range),
                "matrix": _name(frame.colorspace, _MATRICES),
                "transfer": _name(frame.color_trc, _TRANSFERS),
                "primaries": _name(frame.color_primaries, _PRIMARIES),
            },
            "interlaced": bool(frame.interlaced_frame),
            "has_alpha": any(component.is_alpha for component in frame.format.components),
            "duration": _seconds(duration),
            "frame_rate": _seconds(Fraction(rate)) if rate else None,
            "start_time": _seconds((timeline.start or 0) * timeline.time_base),
            "streams": len(video.container.streams),
        }


def _name(value: int, names: dict[int, str]) -> str | None:
    """FFmpeg's name for a colour property; None when the stream leaves it unspecified."""
    return None if value == 2 else names.get(value, str(value))


def _seconds(value: Fraction | None) -> float | None:
    return None if value is None else round(float(value), 6)
