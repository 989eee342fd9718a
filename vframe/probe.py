"""What vframe sees in a video, as a plain dict (`vframe probe` prints it as JSON)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from .errors import DecoderNotAllowed
from .limits import Budget
from .media.container import open_container
from .pipeline import open_video
from .products import Result
from .settings import DEFAULT, Settings
from .sources import Source, open_source

_MATRICES = {0: "rgb", 1: "bt709", 4: "fcc", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "ycgco",
             9: "bt2020nc", 10: "bt2020c"}
_TRANSFERS = {1: "bt709", 4: "gamma22", 5: "gamma28", 6: "smpte170m", 7: "smpte240m", 8: "linear",
              13: "iec61966-2-1", 14: "bt2020-10", 15: "bt2020-12", 16: "smpte2084", 18: "arib-std-b67"}
_PRIMARIES = {1: "bt709", 4: "bt470m", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 8: "film",
              9: "bt2020", 10: "smpte428", 11: "smpte431", 12: "smpte432", 22: "ebu3213"}


def probe(input: str | os.PathLike[str] | Source, settings: Settings = DEFAULT) -> dict[str, Any]:
    """Container, codec, the decoder and whether the codec policy allows it, coded and display
    size, sample aspect, rotation, pixel format, colour, duration, frame rate and start time of the
    stream vframe would cut frames from. A video whose decoder is not allowed is not decoded: what
    its headers say (container, codec, decoder, coded size, streams) and `decoder_allowed` false."""
    try:
        return _probe(input, settings)
    except DecoderNotAllowed as refused:
        return _refused(input, settings, refused.decoder)


@dataclass(frozen=True)
class ProbeJob:
    """A probe as a decode worker's job (the service's page asks for it: a hostile file's probe
    must not run in the server process)."""

    def __str__(self) -> str:
        return "probe"


PROBE = ProbeJob()


def probe_result(source: Source, settings: Settings) -> Result:
    """The probe of `source` as a product: its JSON."""
    return Result(json.dumps(probe(source, settings)).encode(), "application/json", 0, 0, ())


def _probe(input: str | os.PathLike[str] | Source, settings: Settings) -> dict[str, Any]:
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
            "codec": stream.codec_context.name,
            "decoder": video.decoder.name,
            "decoder_allowed": True,
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


def _refused(input: str | os.PathLike[str] | Source, settings: Settings, decoder: str) -> dict[str, Any]:
    """What the headers say of a video whose decoder the policy refuses (nothing is decoded)."""
    source = open_source(input, settings) if isinstance(input, (str, os.PathLike)) else input
    with source.open(None) as reader:
        container, stream = open_container(reader, settings)
        with container:
            return {
                "container": container.format.name,
                "codec": stream.codec_context.name,
                "decoder": decoder,
                "decoder_allowed": False,
                "coded_width": stream.codec_context.width,
                "coded_height": stream.codec_context.height,
                "streams": len(container.streams),
            }


def _name(value: int, names: dict[int, str]) -> str | None:
    """FFmpeg's name for a colour property; None when the stream leaves it unspecified."""
    return None if value == 2 else names.get(value, str(value))


def _seconds(value: Fraction | None) -> float | None:
    return None if value is None else round(float(value), 6)
