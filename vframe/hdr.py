"""HDR (PQ, HLG) and BT.2020 pictures made into normal-looking 8-bit SDR, on the final,
already scaled frame: decode the transfer to light, map BT.2020 primaries to BT.709, roll
off highlights above reference white and encode as an SDR video would be (BT.1886, so that
an HDR master and its SDR grade give the same pixels). swscale can do this too, but takes
seconds a frame; FFmpeg's zscale is not in PyAV's build."""

from __future__ import annotations

import numpy as np

from .picture import HLG, PQ

REFERENCE_WHITE_NITS = 203.0  # BT.2408: HDR graphics white, shown as SDR white
HLG_PEAK_NITS = 1000.0
KNEE = 0.75  # below this (relative to reference white) light passes unchanged

# Linear BT.2020 RGB -> linear BT.709 RGB (BT.2087)
_BT2020_TO_BT709 = np.array(
    [[1.6605, -0.5876, -0.0728], [-0.1246, 1.1329, -0.0083], [-0.0182, -0.1006, 1.1187]], dtype=np.float32
)
_BT2020_LUMA = np.array([0.2627, 0.6780, 0.0593], dtype=np.float32)


def to_sdr(rgb: np.ndarray, transfer: int, bt2020: bool) -> np.ndarray:
    """`rgb`: HxWx3 uint16 full-range R'G'B' as coded (PQ, HLG or an SDR gamma). Returns HxWx3 uint8."""
    signal = rgb.astype(np.float32) / 65535.0
    light: np.ndarray
    if transfer == PQ:
        light = _pq_to_nits(signal) / REFERENCE_WHITE_NITS
    elif transfer == HLG:
        light = _hlg_to_nits(signal) / REFERENCE_WHITE_NITS
    else:
        light = signal**2.4  # an SDR source (BT.1886 display), only its primaries need mapping
    if bt2020:
        light = light @ _BT2020_TO_BT709.T
    light = _roll_off(np.clip(light, 0.0, None))
    encoded: np.ndarray = (np.clip(light, 0.0, 1.0) ** (1 / 2.4) * 255.0 + 0.5).astype(np.uint8)
    return encoded


def _pq_to_nits(signal: np.ndarray) -> np.ndarray:
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    power = signal ** (1 / m2)
    return 10000.0 * (np.clip(power - c1, 0.0, None) / (c2 - c3 * power)) ** (1 / m1)


def _hlg_to_nits(signal: np.ndarray) -> np.ndarray:
    a, b = 0.17883277, 0.28466892
    c = 0.55991073
    scene = np.where(signal <= 0.5, signal**2 / 3.0, (np.exp((signal - c) / a) + b) / 12.0)
    luma = np.clip(scene @ _BT2020_LUMA, 1e-6, None)[..., None]  # HLG's OOTF, gamma 1.2 at 1000 nits
    return HLG_PEAK_NITS * scene * luma**0.2


def _roll_off(light: np.ndarray) -> np.ndarray:
    """Keep hue: scale each pixel by a curve of its brightest channel that is the identity up to
    KNEE and approaches 1.0 smoothly above it."""
    peak = light.max(axis=-1, keepdims=True)
    over = np.maximum(peak - KNEE, 0.0)
    mapped = np.where(peak > KNEE, KNEE + (1 - KNEE) * (1 - np.exp(-over / (1 - KNEE))), peak)
    return light * np.where(peak > 0, mapped / np.maximum(peak, 1e-9), 0.0)
