"""Videos that open badly, for the poster (`offset/auto`): black, a fade from black, a flat colour
card or a blur for their first frames, then the synth pattern (each frame paints its own index,
synth.read_index reads it back). Also a picture's own measures, to judge a poster by."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from .synth import Painter, SynthVideo, index_pattern, make_video

FPS = 12
WIDTH, HEIGHT = 160, 120
CARD = (200, 40, 60)  # the flat colour card
BLUR_RADIUS = 8  # pixels of Gaussian blur on the 160x120 pattern: its cells' edges are gone


def opening(kind: str, bad_frames: int) -> Painter:
    """A painter whose first `bad_frames` frames are `kind` ("black", "fade", "flat", "blur"), then
    the index pattern (a fade ramps the pattern's brightness up from black over them)."""

    def paint(index: int, width: int, height: int) -> np.ndarray:
        pattern = index_pattern(index, width, height)
        if index >= bad_frames:
            return pattern
        if kind == "black":
            return np.zeros_like(pattern)
        if kind == "fade":
            return (pattern.astype(np.float64) * index / bad_frames).round().astype(np.uint8)
        if kind == "flat":
            return np.broadcast_to(np.array(CARD, np.uint8), pattern.shape).copy()
        if kind == "blur":
            blurred = Image.fromarray(pattern).filter(ImageFilter.GaussianBlur(BLUR_RADIUS))
            return np.asarray(blurred, dtype=np.uint8).copy()
        raise ValueError(f"unknown opening {kind!r}")

    return paint


def make_opening(path: Path, kind: str, bad_seconds: float, seconds: float, *, gop: int = FPS) -> SynthVideo:
    """A `seconds`-long H.264 video at FPS, WIDTHxHEIGHT, a keyframe every `gop` frames, whose first
    `bad_seconds` open as `kind` (see opening)."""
    frames = max(1, round(seconds * FPS))
    return make_video(path, frames=frames, fps=FPS, width=WIDTH, height=HEIGHT, gop=gop,
                      bframes=2 if frames > 2 else 0, painter=opening(kind, round(bad_seconds * FPS)))


def luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb, dtype=np.float64)[..., :3] @ np.array([0.299, 0.587, 0.114])


def is_black(rgb: np.ndarray) -> bool:
    """blackdetect's defaults: 98 % of the pixels at or below 10 % of the range (full-range RGB)."""
    return bool(np.mean(luma(rgb) <= 25.5) >= 0.98)


def is_flat(rgb: np.ndarray) -> bool:
    """Every RGB channel's standard deviation under 8."""
    return bool(np.all(np.asarray(rgb, dtype=np.float64)[..., :3].reshape(-1, 3).std(axis=0) < 8))


def detail(rgb: np.ndarray) -> float:
    """Mean magnitude of the luma's Laplacian: how sharp the picture is."""
    y = luma(rgb)
    return float(np.abs(4 * y[1:-1, 1:-1] - y[:-2, 1:-1] - y[2:, 1:-1] - y[1:-1, :-2] - y[1:-1, 2:]).mean())
