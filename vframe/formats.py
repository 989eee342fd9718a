"""The output formats, in one registry: what each is called in a spec, its media type and file
extension, whether it keeps alpha, how it is encoded, and which settings change its bytes (they
go into the ETag). Images are sheets and frames; text formats describe a storyboard."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image

from .settings import Settings

AVIF_SPEED = 8  # libavif's encoder speed (0 slowest .. 10): a 480x360 frame in about 50 ms on one core


@dataclass(frozen=True)
class Format:
    name: str  # the canonical word in a spec
    media_type: str
    extension: str
    alpha: bool  # keeps transparency (jpg is composited on black)
    settings: tuple[str, ...]  # the Settings fields that change its bytes
    encode: Callable[[Image.Image, Settings], bytes] | None = None  # images only

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
ALIASES = {"jpeg": "jpg"}
IMAGE_WORDS = {**{name: name for name in IMAGES}, **ALIASES}  # every word a spec may name an image with


def image(word: str) -> Format | None:
    """The image format a spec's word names (jpeg is jpg), or None."""
    name = IMAGE_WORDS.get(word)
    return IMAGES[name] if name is not None else None


def by_media_type(media_type: str) -> Format:
    return next(f for f in (*IMAGES.values(), *STORYBOARDS.values()) if f.media_type == media_type)


def encode(picture: Image.Image, name: str, settings: Settings) -> bytes:
    """`picture` encoded as the image format `name`."""
    encoder = IMAGES[name].encode
    assert encoder is not None
    return encoder(picture, settings)


def listed(formats: dict[str, Format]) -> str:
    """'jpg, png, webp or avif': the names, for messages."""
    names = list(formats)
    return ", ".join(names[:-1]) + " or " + names[-1]
