"""From a decoded frame to the picture a player shows (API.md, "Which picture"):
deinterlace, correct aspect and colour (tone-mapping HDR), scale, turn upright, fit in the box
asked for (`fit`: crop or pad), encode."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import cast

import av.error
import av.filter
from av.video.frame import VideoFrame
from av.video.reformatter import ColorRange, Colorspace, Interpolation
from PIL import Image

from .errors import OutOfMemory, ProcessingFailed, TooLarge
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
# Transfers and primaries that are tone- and gamut-mapped (vframe/hdr.py, which needs numpy: it is
# imported only for such frames, so that `vframe grab` on an SDR video does not load it).
PQ = 16  # AVCOL_TRC_SMPTE2084
HLG = 18  # AVCOL_TRC_ARIB_STD_B67
BT2020_PRIMARIES = 9  # AVCOL_PRI_BT2020
_TURNS = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}


Size = tuple[int, int]


@dataclass(frozen=True)
class Placement:
    """How a picture scaled to `picture` sits in the output `canvas` (both upright): its top-left
    corner goes at `at`, negative where it is cropped (cover), positive where it is padded (pad)."""

    picture: Size
    canvas: Size
    at: tuple[int, int] = (0, 0)


def fit(display: Size, box: Size, mode: str) -> Placement:
    """The geometry of `/fit/<mode>` (API.md): a picture of display size `display` (upright, at
    its display aspect) in a `box` of WxH. stretch: exactly the box. contain: the largest picture
    of the display aspect inside the box. pad: that, centred on a canvas of the box. cover: the
    smallest picture of the display aspect that covers the box, cropped evenly to it. Sides are
    rounded half up; where the pixels to pad or crop are odd, the extra one is the right's (or
    the bottom's), every time."""
    width, height = box
    if mode == "stretch":
        return Placement(box, box)
    display_w, display_h = display
    width_binds = width * display_h <= height * display_w  # the box is relatively narrower than the picture
    if width_binds == (mode == "cover"):  # the height decides: cover a narrower box, contain a wider one
        scaled = (_half_up(Fraction(display_w * height, display_h)), height)
    else:
        scaled = (width, _half_up(Fraction(display_h * width, display_w)))
    if mode == "cover":
        scaled = (max(scaled[0], width), max(scaled[1], height))
        return Placement(scaled, box, (-((scaled[0] - width) // 2), -((scaled[1] - height) // 2)))
    scaled = (min(max(scaled[0], 1), width), min(max(scaled[1], 1), height))
    if mode == "contain":
        return Placement(scaled, scaled)
    return Placement(scaled, box, ((width - scaled[0]) // 2, (height - scaled[1]) // 2))


def _half_up(value: Fraction) -> int:
    return int(value + Fraction(1, 2))  # the Fraction is positive: int() floors it


@dataclass(frozen=True)
class Geometry:
    """Where the picture is going: scale the coded frame to `scaled`, turn it `turn` degrees
    clockwise, then place it (crop or pad: `placement`, None when it fills the output as it is)."""

    scaled: Size
    turn: int
    placement: Placement | None = None

    @property
    def upright(self) -> Size:
        width, height = self.scaled
        return (height, width) if self.turn in (90, 270) else (width, height)

    @property
    def output(self) -> Size:
        return self.placement.canvas if self.placement is not None else self.upright


def plan(frame: VideoFrame, sar: Fraction, size: tuple[int | None, int | None], rotate: str,
         settings: Settings, mode: str = "stretch", largest: Size | None = None) -> Geometry:
    """Output size in display orientation, from the size asked for (width, height, either or both
    None), the rotation asked for, the display aspect, how a WxH box is filled (`mode`, see fit)
    and the limits: `largest` (longer, shorter side), by default the settings' max_width and
    max_height, scales down a size that follows the aspect."""
    asked_width, asked_height = size
    turn = (-frame.rotation) % 360 if rotate == "auto" else int(rotate)
    turn = turn if turn in _TURNS else 0
    display_w, display_h = max(1, round(frame.width * sar)), frame.height
    if turn in (90, 270):
        display_w, display_h = display_h, display_w
    placement = None
    if asked_width and asked_height:
        placement = fit((display_w, display_h), (asked_width, asked_height), mode)
        width, height = placement.picture
        if width * height > settings.max_frame_pixels:  # cover of a very long picture
            raise TooLarge(
                f"Covering {asked_width}x{asked_height} with this video's picture would scale it to {width}x{height}, "
                f"more than this server makes ({settings.max_frame_pixels} pixels): use fit/contain or fit/pad."
            )
        if placement.canvas == placement.picture and placement.at == (0, 0):
            placement = None
    else:
        if asked_width:
            width, height = asked_width, max(1, round(asked_width * display_h / display_w))
        elif asked_height:
            width, height = max(1, round(asked_height * display_w / display_h)), asked_height
        else:
            width, height = display_w, display_h
        width, height = _within(width, height, largest or (settings.max_width, settings.max_height))
    return Geometry((height, width) if turn in (90, 270) else (width, height), turn, placement)


@dataclass(frozen=True)
class Canvas:
    """The one size every picture of a many-frame product (sheet tiles, an animation) gets, set by
    its first frame, with the box and mode asked for (see canvas and plan_on)."""

    size: Size
    box: tuple[int | None, int | None]
    mode: str


def canvas(frame: VideoFrame, sar: Fraction, size: tuple[int | None, int | None], rotate: str, settings: Settings,
           mode: str, largest: Size | None = None) -> Canvas:
    """The canvas of a many-frame product, from its first frame: contain's size is the first
    frame's contained picture; every other mode's is its output."""
    return Canvas(plan(frame, sar, size, rotate, settings, mode, largest).output, size, mode)


def plan_on(on: Canvas, frame: VideoFrame, sar: Fraction, rotate: str, settings: Settings) -> Geometry:
    """Where `frame` goes on the product's canvas. contain: the frame contained in the box asked
    for, exactly as a single frame would be (so a frame of the first one's shape fills the canvas,
    never fitted again into a size rounded once already, which could lose a pixel to a pad band),
    centred when it is smaller (another aspect), contained in the canvas when it is larger. Any
    other mode: as asked, in the canvas."""
    if on.mode == "contain" and on.box[0] and on.box[1]:
        geometry = plan(frame, sar, on.box, rotate, settings, "contain")
        width, height = geometry.output
        if (width, height) == on.size:
            return geometry
        if width <= on.size[0] and height <= on.size[1]:
            at = ((on.size[0] - width) // 2, (on.size[1] - height) // 2)
            return Geometry(geometry.scaled, geometry.turn, Placement((width, height), on.size, at))
    return plan(frame, sar, on.size, rotate, settings, "pad" if on.mode == "contain" else on.mode)


def _within(width: int, height: int, largest: Size) -> Size:
    longer, shorter = largest
    scale = min(Fraction(longer, max(width, height)), Fraction(shorter, min(width, height)))
    if scale >= 1:
        return width, height
    return max(1, round(width * scale)), max(1, round(height * scale))  # never past a limit: those are whole


def render(frame: VideoFrame, geometry: Geometry, *, previous: VideoFrame | None = None,
           next: VideoFrame | None = None, background: tuple[int, int, int] = (0, 0, 0),
           alpha: bool = True) -> Image.Image:
    """The upright, scaled and placed RGB or RGBA picture of `frame`: pad bands are `background`;
    without `alpha` (a format that has none), a transparent picture is composited on it."""
    if frame.interlaced_frame:
        frame = deinterlace(frame, previous, next)
    image = to_rgb(frame, *geometry.scaled)
    if geometry.turn:
        image = image.transpose(_TURNS[geometry.turn])
    if geometry.placement is not None:
        image = place(image, geometry.placement, background)
    if image.mode == "RGBA" and not alpha:
        flat = Image.new("RGB", image.size, background)
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    return image


def place(image: Image.Image, placement: Placement, background: tuple[int, int, int]) -> Image.Image:
    """`image` (of the placement's picture size) cropped or padded to its canvas; the pad bands
    are opaque `background`, the picture keeps its own alpha."""
    x, y = placement.at
    width, height = placement.canvas
    if x <= 0 and y <= 0 and image.width >= width and image.height >= height:
        return image.crop((-x, -y, width - x, height - y))
    filled = Image.new(image.mode, placement.canvas, (*background, 255) if image.mode == "RGBA" else background)
    filled.paste(image, (x, y))
    return filled


def to_rgb(frame: VideoFrame, width: int, height: int) -> Image.Image:
    """Scale and convert to 8-bit full-range RGB (RGBA if the source has alpha) with the stream's
    own matrix and range; HDR and BT.2020 sources are tone- and gamut-mapped to BT.709."""
    wide = frame.color_primaries == BT2020_PRIMARIES
    mapped = frame.color_trc in (PQ, HLG) or wide
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
    if mapped:
        from . import hdr

        return Image.fromarray(hdr.to_sdr(converted.to_ndarray(), frame.color_trc, wide))
    mode = "RGBA" if alpha else "RGB"
    plane = converted.planes[0]  # one packed plane, rows `line_size` bytes apart
    return Image.frombuffer(mode, (width, height), bytes(plane), "raw", mode, plane.line_size, 1)


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


__all__ = ["Geometry", "Placement", "canvas", "deinterlace", "encode", "fit", "place", "plan", "render", "to_rgb"]
