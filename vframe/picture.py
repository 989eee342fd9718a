"""From a decoded frame to the picture a player shows (API.md, "Which picture"):
deinterlace, correct aspect and colour (tone-mapping HDR), scale, turn upright, encode."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av.error
import av.filter
import numpy as np
from av.video.frame import VideoFrame
from av.video.reformatter import ColorRange, Colorspace, Interpolation
from PIL import Image

from . import hdr
from .errors import OutOfMemory, ProcessingFailed
from .formats import encode
from .settings import Settings

# AVColorSpace -> the matrix swscale should use (None: unspecified, guessed from the size)
_MATRICES = {1: Colorspace.ITU709, 4: Colorspace.FCC, 5: Colorspace.ITU601, 6: Colorspace.ITU601,
             7: Colorspace.SMPTE240M, 9: Colorspace.BT2020, 10: Colorspace.BT2020}
# Shrinking averages the source pixels each output pixel covers (area): as sharp as Lanczos at
# thumbnail sizes, without its ringing, and five times faster. Enlarging interpolates (Lanczos),
# and so does the tone-mapping path (see to_rgb).
_SHRINK = Interpolation.AREA | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
_ENLARGE = Interpolation.LANCZOS | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
_TURNS = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}


@dataclass(frozen=True)
class Geometry:
    """Where the picture is going: scale the coded frame to `scaled`, then turn it `turn` degrees clockwise."""

    scaled: tuple[int, int]
    turn: int

    @property
    def output(self) -> tuple[int, int]:
        width, height = self.scaled
        return (height, width) if self.turn in (90, 270) else (width, height)


def plan(frame: VideoFrame, sar: Fraction, size: tuple[int | None, int | None], rotate: str,
         settings: Settings) -> Geometry:
    """Output size in display orientation, from the size asked for (width, height, either or both
    None), the rotation asked for, the display aspect and the limits."""
    asked_width, asked_height = size
    turn = (-frame.rotation) % 360 if rotate == "auto" else int(rotate)
    turn = turn if turn in _TURNS else 0
    display_w, display_h = max(1, round(frame.width * sar)), frame.height
    if turn in (90, 270):
        display_w, display_h = display_h, display_w
    if asked_width and asked_height:
        width, height = asked_width, asked_height
    else:
        if asked_width:
            width, height = asked_width, max(1, round(asked_width * display_h / display_w))
        elif asked_height:
            width, height = max(1, round(asked_height * display_w / display_h)), asked_height
        else:
            width, height = display_w, display_h
        width, height = _fit(width, height, settings)
    return Geometry((height, width) if turn in (90, 270) else (width, height), turn)


def _fit(width: int, height: int, settings: Settings) -> tuple[int, int]:
    scale = min(Fraction(settings.max_width, max(width, height)), Fraction(settings.max_height, min(width, height)))
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))  # never past a limit: those are whole


def render(frame: VideoFrame, geometry: Geometry, *, previous: VideoFrame | None = None,
           next: VideoFrame | None = None) -> Image.Image:
    """The upright, scaled RGB or RGBA picture of `frame`."""
    if frame.interlaced_frame:
        frame = deinterlace(frame, previous, next)
    image = Image.fromarray(to_rgb(frame, *geometry.scaled))
    return image.transpose(_TURNS[geometry.turn]) if geometry.turn else image


def to_rgb(frame: VideoFrame, width: int, height: int) -> np.ndarray:
    """Scale and convert to 8-bit full-range RGB (RGBA if the source has alpha) with the stream's
    own matrix and range; HDR and BT.2020 sources are tone- and gamut-mapped to BT.709."""
    wide = frame.color_primaries == hdr.BT2020_PRIMARIES
    mapped = frame.color_trc in (hdr.PQ, hdr.HLG) or wide
    alpha = not mapped and any(component.is_alpha for component in frame.format.components)
    # swscale's area filter gets the chroma of high-bit-depth sources wrong on the way to rgb48.
    shrinking = width <= frame.width and height <= frame.height
    try:
        converted = frame.reformat(
            width=width, height=height, format="rgb48le" if mapped else "rgba" if alpha else "rgb24",
            interpolation=_SHRINK if shrinking and not mapped else _ENLARGE,
            src_colorspace=_matrix(frame), src_color_range=_range(frame),
            dst_color_range=ColorRange.JPEG,
        )
    except MemoryError:
        raise OutOfMemory() from None
    except (av.error.FFmpegError, ValueError):
        raise ProcessingFailed("The frame's pixel format could not be converted to an image.") from None
    pixels = converted.to_ndarray()
    return hdr.to_sdr(pixels, frame.color_trc, wide) if mapped else pixels


def _matrix(frame: VideoFrame) -> Colorspace:
    matrix = _MATRICES.get(frame.colorspace)
    if matrix is None:  # unspecified: HD is BT.709, SD is BT.601, as players assume
        matrix = Colorspace.ITU709 if frame.height >= 720 or frame.width >= 1280 else Colorspace.ITU601
    return matrix


def _range(frame: VideoFrame) -> ColorRange:
    if frame.color_range in (ColorRange.MPEG, ColorRange.JPEG):
        return ColorRange(frame.color_range)
    return ColorRange.JPEG if frame.format.name.startswith("yuvj") else ColorRange.MPEG


def deinterlace(frame: VideoFrame, previous: VideoFrame | None, next: VideoFrame | None) -> VideoFrame:
    """bwdif with both neighbouring frames; estdif (spatial only) when a neighbour is missing,
    since a temporal deinterlacer fed the same frame twice keeps the combing."""
    neighbours = [f for f in (previous, next) if f is not None and _same_shape(f, frame)]
    if len(neighbours) == 2:
        name, args, inputs = "bwdif", "mode=send_frame:parity=auto:deint=all", [previous, frame, next]
    else:
        name, args, inputs = "estdif", "mode=frame:parity=auto:deint=all", [frame]
    try:
        graph = av.filter.Graph()
        source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format,
                                  time_base=frame.time_base or Fraction(1, 90000))
        graph.link_nodes(source, graph.add(name, args), graph.add("buffersink")).configure()
        outputs = []
        for item in [*inputs, None]:
            graph.push(item)
            outputs += _drain(graph)
    except MemoryError:
        raise OutOfMemory() from None
    except (av.error.FFmpegError, ValueError):
        return frame  # an image with combing beats no image
    # One output a frame, in order (the filter rescales their timestamps): the target is inputs[1] or [0].
    if len(outputs) != len(inputs):
        return frame
    result = outputs[inputs.index(frame)]
    for attribute in ("colorspace", "color_range", "color_trc", "color_primaries"):
        setattr(result, attribute, getattr(frame, attribute))
    return result


def _same_shape(a: VideoFrame, b: VideoFrame) -> bool:
    return (a.width, a.height, a.format.name) == (b.width, b.height, b.format.name)


def _drain(graph: av.filter.Graph) -> list[VideoFrame]:
    frames = []
    while True:
        try:
            frames.append(cast(VideoFrame, graph.pull()))
        except (BlockingIOError, av.error.EOFError):
            return frames


__all__ = ["Geometry", "deinterlace", "encode", "plan", "render", "to_rgb"]
