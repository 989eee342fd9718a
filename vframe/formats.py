"""The output formats, in one registry: what each is called in a spec, its media type and file
extension, whether it keeps alpha, how it is encoded, and which settings change its bytes (they
go into the ETag). Images are sheets and frames; text formats describe a storyboard; animations
are previews (a GIF with one palette for all its frames, dithered; an animated WebP in full colour)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image, features

from .settings import Settings

AVIF_SPEED = 8  # libavif's encoder speed (0 slowest .. 10): a 480x360 frame in about 50 ms on one core
GIF_COLOURS = 256
GIF_STILL_LEVELS = 4  # a pixel that moved by at most this (of 255, each channel) keeps the last frame's colour
GIF_PALETTE_FRAMES = 32  # frames (evenly spread) a GIF's palette is computed from...
GIF_PALETTE_PIXELS = 1 << 18  # ...shrunk to this many pixels in all
# libimagequant (the best quantizer) where this Pillow was built with it, else median cut.
GIF_QUANTIZER = Image.Quantize.LIBIMAGEQUANT if features.check_feature("libimagequant") else Image.Quantize.MEDIANCUT
Animate = Callable[[Sequence[Image.Image], Sequence[int], tuple[int, int, int], Settings], bytes]


@dataclass(frozen=True)
class Format:
    name: str  # the canonical word in a spec
    media_type: str
    extension: str
    alpha: bool  # keeps transparency (jpg is composited on black)
    settings: tuple[str, ...]  # the Settings fields that change its bytes
    encode: Callable[[Image.Image, Settings], bytes] | None = None  # images only
    animate: Animate | None = None  # animations only: (frames, their delays in ms, pad colour) -> bytes
    delay_ms: int = 1  # the unit of an animation's delays: a GIF counts hundredths of a second

    def output_key(self, settings: Settings) -> str:
        """What, besides the spec and the engine, changes the bytes of this format."""
        return "/".join(f"{name}={getattr(settings, name)}" for name in self.settings)


def _saved(image: Image.Image, format: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=format, **options)
    return out.getvalue()


def _jpeg(image: Image.Image, settings: Settings) -> bytes:
    if image.mode == "RGBA":
        flat = Image.new("RGB", image.size, (0, 0, 0))
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    return _saved(image, "JPEG", quality=settings.jpeg_quality)


def _png(image: Image.Image, settings: Settings) -> bytes:
    return _saved(image, "PNG", compress_level=settings.png_compress_level)


def _webp(image: Image.Image, settings: Settings) -> bytes:
    return _saved(image, "WEBP", quality=settings.webp_quality)


def _avif(image: Image.Image, settings: Settings) -> bytes:
    return _saved(image, "AVIF", quality=settings.avif_quality, speed=AVIF_SPEED)


def _gif(frames: Sequence[Image.Image], delays: Sequence[int], background: tuple[int, int, int],
         settings: Settings) -> bytes:
    """One palette for every frame (so that a still part of the picture stays still), made from
    all of them, and each frame mapped to it with Floyd-Steinberg dithering; the pad colour is the
    palette's last entry, and every pixel of exactly that colour (the pad bands) is it, undithered.
    A pixel whose colour moved by at most GIF_STILL_LEVELS from what the frame before shows keeps
    what it shows (dithering would otherwise change it a little in every frame, and Pillow writes
    only what changed: a third of the bytes on camera footage)."""
    import numpy as np  # only here: a single frame's `vframe grab` does not load it

    palette = _palette(frames, background)
    colours = palette.getpalette() or []
    indexed = []
    shown: tuple[np.ndarray, np.ndarray] | None = None  # (the colours the last frame stands for, its indices)
    for frame in frames:
        rgb = frame.convert("RGB")
        source = np.asarray(rgb).astype(np.int16)
        mapped = np.array(rgb.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG))
        mapped[(source == background).all(axis=2)] = GIF_COLOURS - 1
        if shown is not None and shown[0].shape == source.shape:
            still = np.abs(source - shown[0]).max(axis=2) <= GIF_STILL_LEVELS
            mapped[still] = shown[1][still]
            source[still] = shown[0][still]
        shown = (source, mapped)
        image = Image.fromarray(mapped, "P")
        image.putpalette(colours)
        indexed.append(image)
    return _saved(indexed[0], "GIF", save_all=True, append_images=indexed[1:], duration=list(delays), loop=0)


def _palette(frames: Sequence[Image.Image], background: tuple[int, int, int]) -> Image.Image:
    """The colours of a GIF: 255 quantized from up to GIF_PALETTE_FRAMES of `frames` side by side,
    and the pad colour."""
    step = max(1, len(frames) // GIF_PALETTE_FRAMES)
    chosen = frames[::step][:GIF_PALETTE_FRAMES]
    width, height = chosen[0].size
    scale = min(1.0, (GIF_PALETTE_PIXELS / (len(chosen) * width * height)) ** 0.5)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    strip = Image.new("RGB", (size[0], size[1] * len(chosen)))
    for index, frame in enumerate(chosen):
        strip.paste(frame.convert("RGB").resize(size, Image.Resampling.BOX), (0, index * size[1]))
    quantized = strip.quantize(GIF_COLOURS - 1, method=GIF_QUANTIZER, dither=Image.Dither.NONE)
    colours = (quantized.getpalette() or [])[:3 * (GIF_COLOURS - 1)]
    colours += [0] * (3 * (GIF_COLOURS - 1) - len(colours)) + list(background)
    palette = Image.new("P", (1, 1))
    palette.putpalette(colours)
    return palette


def _animated_webp(frames: Sequence[Image.Image], delays: Sequence[int], background: tuple[int, int, int],
                   settings: Settings) -> bytes:
    mode = "RGBA" if any(frame.mode == "RGBA" for frame in frames) else "RGB"
    same = [frame.convert(mode) for frame in frames]
    return _saved(same[0], "WEBP", save_all=True, append_images=same[1:], duration=list(delays), loop=0,
                  quality=settings.webp_quality)


IMAGES = {
    "jpg": Format("jpg", "image/jpeg", "jpg", False, ("jpeg_quality",), _jpeg),
    "png": Format("png", "image/png", "png", True, ("png_compress_level",), _png),
    "webp": Format("webp", "image/webp", "webp", True, ("webp_quality",), _webp),
    "avif": Format("avif", "image/avif", "avif", True, ("avif_quality",), _avif),
}
STORYBOARDS = {
    "vtt": Format("vtt", "text/vtt; charset=utf-8", "vtt", False, ()),
    "json": Format("json", "application/json", "json", False, ()),
}
ANIMATIONS = {
    "gif": Format("gif", "image/gif", "gif", False, (), animate=_gif, delay_ms=10),
    "webp": Format("webp", "image/webp", "webp", True, ("webp_quality",), animate=_animated_webp),
}
ALIASES = {"jpeg": "jpg"}
IMAGE_WORDS = {**{name: name for name in IMAGES}, **ALIASES}  # every word a spec may name an image with


def image(word: str) -> Format | None:
    """The image format a spec's word names (jpeg is jpg), or None."""
    name = IMAGE_WORDS.get(word)
    return IMAGES[name] if name is not None else None


def by_media_type(media_type: str) -> Format:
    every = (*IMAGES.values(), *STORYBOARDS.values(), *ANIMATIONS.values())
    return next(f for f in every if f.media_type == media_type)


def encode(picture: Image.Image, name: str, settings: Settings) -> bytes:
    """`picture` encoded as the image format `name`."""
    encoder = IMAGES[name].encode
    assert encoder is not None
    return encoder(picture, settings)


def animate(frames: Sequence[Image.Image], delays_ms: Sequence[int], name: str, background: tuple[int, int, int],
            settings: Settings) -> bytes:
    """`frames`, each shown for its delay, as the animation format `name` (`background`: the pad colour)."""
    animator = ANIMATIONS[name].animate
    assert animator is not None
    return animator(frames, delays_ms, background, settings)


def listed(formats: dict[str, Format]) -> str:
    """'jpg, png, webp or avif': the names, for messages."""
    names = list(formats)
    return ", ".join(names[:-1]) + " or " + names[-1]
