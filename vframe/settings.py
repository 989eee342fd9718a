"""All limits and settings in one place: a frozen value read from VFRAME_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

_ZERO_ALLOWED = {"decoder_threads", "png_compress_level"}


@dataclass(frozen=True)
class Settings:
    """Every knob of vframe. Each field `name` is read from the variable `VFRAME_<NAME>`."""

    max_width: int = 3840  # the longer output side
    max_height: int = 2160  # the shorter output side
    max_source_bytes: int = 8 * 1024**3  # the largest video vframe will open
    max_frame_pixels: int = 8192 * 4320  # coded width x height, checked before any decoding
    max_decoded_frames: int = 20_000  # frames one request may decode before giving up (413)
    deadline_seconds: float = 30.0  # wall time one grab may take (599 past it)
    decoder_threads: int = 0  # 0: as many as FFmpeg chooses for this machine
    probe_bytes: int = 5_000_000  # how much FFmpeg may read to find the streams
    jpeg_quality: int = 85
    webp_quality: int = 80
    png_compress_level: int = 3

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `environ` (default: os.environ); a malformed value raises ValueError naming it."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for field in fields(cls):
            raw = env.get(f"VFRAME_{field.name.upper()}")
            if raw is None:
                continue
            kind = int if field.type in ("int", int) else float
            try:
                values[field.name] = kind(raw)
            except ValueError:
                raise ValueError(f"VFRAME_{field.name.upper()} must be a number, not {raw!r}") from None
        settings = cls(**values)  # type: ignore[arg-type]
        settings.validate()
        return settings

    def validate(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if value < 0 or (value == 0 and field.name not in _ZERO_ALLOWED):
                raise ValueError(f"VFRAME_{field.name.upper()} must be positive, not {value}")
        if self.max_height > self.max_width:
            raise ValueError("VFRAME_MAX_HEIGHT (the shorter side) cannot exceed VFRAME_MAX_WIDTH")
        if not 1 <= self.jpeg_quality <= 100 or not 1 <= self.webp_quality <= 100:
            raise ValueError("VFRAME_JPEG_QUALITY and VFRAME_WEBP_QUALITY must be 1 to 100")
        if self.png_compress_level > 9:
            raise ValueError("VFRAME_PNG_COMPRESS_LEVEL must be 0 to 9")


DEFAULT = Settings()
