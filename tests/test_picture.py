"""The picture vframe makes of a frame (API.md, "Which picture" and the w/h rules): turned upright,
non-square pixels honoured, the size the spec asks for within the limits, colours converted
(range, matrix, 10-bit, HDR tone-mapped), interlacing removed, alpha kept or composited, and
the image encoded as the format says. Real videos (the shared corpus and videos made here),
decoded with Pillow; the numbers asserted are measured, not eyeballed."""

from __future__ import annotations

import io
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from conftest import video
from PIL import Image

import vframe
from vframe import Settings
from vframe.settings import DEFAULT
from vframe_testkit import synth

# --------------------------------------------------------------------------------------------
# helpers


def grab(path: Path | str, spec: str, settings: Settings = DEFAULT) -> tuple[vframe.Result, Image.Image]:
    """vframe's answer and the image decoded from its bytes (checked to be the size it reports)."""
    result = vframe.grab(path, spec, settings)
    image = Image.open(io.BytesIO(result.data))
    image.load()
    assert image.size == (result.width, result.height), f"{spec}: Result says {result.width}x{result.height}"
    return result, image


def pixels(path: Path | str, spec: str, settings: Settings = DEFAULT) -> np.ndarray:
    """The picture as an int array, HxWx3 (or 4)."""
    return np.asarray(grab(path, spec, settings)[1]).astype(int)


def size(path: Path | str, spec: str, settings: Settings = DEFAULT) -> tuple[int, int]:
    return grab(path, spec, settings)[1].size


def luma(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb[..., :3].astype(float) @ np.array([0.2126, 0.7152, 0.0722]))


def decoded_at(path: Path, seconds: float) -> av.VideoFrame:
    """Plain sequential PyAV decode: the last frame whose time from the first frame is <= seconds."""
    with av.open(str(path)) as container:
        first, shown = None, None
        for frame in container.decode(video=0):
            first = frame.time if first is None else first
            if frame.time - first > seconds + 1e-6:
                break
            shown = frame
    assert shown is not None
    return shown


def plain_rgb(frame: av.VideoFrame, kr: float = 0.299, kb: float = 0.114) -> np.ndarray:
    """A textbook Y'CbCr 4:2:0 -> R'G'B' conversion (nearest chroma, BT.601 by default), float 0..255,
    honouring the frame's range and bit depth: an independent reference for vframe's colours."""
    width, height = frame.width, frame.height
    flat = frame.to_ndarray().ravel().astype(float)
    quarter = (height // 2) * (width // 2)
    y = flat[: height * width].reshape(height, width)
    u = flat[height * width : height * width + quarter].reshape(height // 2, width // 2)
    v = flat[height * width + quarter : height * width + 2 * quarter].reshape(height // 2, width // 2)
    u, v = (plane.repeat(2, 0).repeat(2, 1) for plane in (u, v))
    scale = 4.0 if "10" in frame.format.name else 1.0
    full = frame.format.name.startswith("yuvj") or frame.color_range == 2
    black, luma_span, chroma_span = (0, 255, 255) if full else (16, 219, 224)
    luma_ = (y - black * scale) / (luma_span * scale)
    cb, cr = (u - 128 * scale) / (chroma_span * scale), (v - 128 * scale) / (chroma_span * scale)
    red = luma_ + 2 * (1 - kr) * cr
    blue = luma_ + 2 * (1 - kb) * cb
    green = (luma_ - kr * red - kb * blue) / (1 - kr - kb)
    return np.clip(np.stack([red, green, blue], axis=-1) * 255, 0, 255)


def block_means(rgb: np.ndarray, n: int = 8) -> np.ndarray:
    height, width = rgb.shape[0] // n * n, rgb.shape[1] // n * n
    blocks = rgb[:height, :width, :3].astype(float).reshape(height // n, n, width // n, n, 3)
    return np.asarray(blocks.mean(axis=(1, 3)))


# --------------------------------------------------------------------------------------------
# synthetic pictures

# Flat colour patches, 8-bit sRGB/BT.709 code values, in a 4x2 grid of 128x128 blocks.
PATCHES = {
    "grey": (128, 128, 128), "red": (200, 30, 30), "green": (40, 180, 60), "blue": (40, 60, 190),
    "skin": (210, 160, 130), "near-white": (235, 235, 235), "black": (0, 0, 0), "white": (255, 255, 255),
}
BLOCK = 128
PATCH_W, PATCH_H = 4 * BLOCK, 2 * BLOCK
BELOW_85 = ["grey", "red", "green", "blue", "skin", "black"]  # no channel above 85 % of full scale


def patch_picture(_index: int = 0, width: int = PATCH_W, height: int = PATCH_H) -> np.ndarray:
    picture = np.zeros((height, width, 3), np.uint8)
    for k, colour in enumerate(PATCHES.values()):
        row, col = divmod(k, 4)
        picture[row * BLOCK : (row + 1) * BLOCK, col * BLOCK : (col + 1) * BLOCK] = colour
    return picture


def patch_means(rgb: np.ndarray) -> dict[str, np.ndarray]:
    """Mean colour of the middle half of each patch (away from edges and chroma bleeding)."""
    assert rgb.shape[:2] == (PATCH_H, PATCH_W)
    means = {}
    for k, name in enumerate(PATCHES):
        row, col = divmod(k, 4)
        inner = rgb[row * BLOCK + 32 : (row + 1) * BLOCK - 32, col * BLOCK + 32 : (col + 1) * BLOCK - 32, :3]
        means[name] = inner.reshape(-1, 3).astype(float).mean(axis=0)
    return means


def assert_patches(rgb: np.ndarray, names: list[str], tolerance: float, what: str) -> None:
    means = patch_means(rgb)
    errors = {name: np.round(means[name] - PATCHES[name], 1).tolist() for name in names}
    worst = max(float(np.abs(means[name] - PATCHES[name]).max()) for name in names)
    assert worst <= tolerance, f"{what}: patch errors (got - painted) {errors}"


def corners_picture(_index: int, width: int, height: int) -> np.ndarray:
    """Grey, a red block in the top-left corner and a green one in the top-right: tells a turn
    from a mirror image."""
    picture = np.full((height, width, 3), 128, np.uint8)
    bw, bh = width // 4, height // 4
    picture[:bh, :bw] = (220, 20, 20)
    picture[:bh, width - bw :] = (20, 220, 20)
    return picture


def corners(rgb: np.ndarray) -> dict[str, str]:
    """Which colour sits in each corner: tl, tr, bl, br -> red, green or grey."""
    height, width = rgb.shape[:2]
    dy, dx = max(1, height // 10), max(1, width // 10)
    iy, ix = height // 50, width // 50
    regions = {
        "tl": rgb[iy : iy + dy, ix : ix + dx], "tr": rgb[iy : iy + dy, width - ix - dx : width - ix],
        "bl": rgb[height - iy - dy : height - iy, ix : ix + dx],
        "br": rgb[height - iy - dy : height - iy, width - ix - dx : width - ix],
    }
    named = {}
    for corner, region in regions.items():
        r, g, _ = region[..., :3].reshape(-1, 3).mean(axis=0)
        named[corner] = "red" if r > 170 and g < 80 else "green" if g > 170 and r < 80 else "grey"
    return named


CODED = {"tl": "red", "tr": "green", "bl": "grey", "br": "grey"}
TURNED_CW = {  # the coded picture turned clockwise by this many degrees
    0: CODED,
    90: {"tl": "grey", "tr": "red", "bl": "grey", "br": "green"},
    180: {"tl": "grey", "tr": "grey", "bl": "green", "br": "red"},
    270: {"tl": "green", "tr": "grey", "bl": "red", "br": "grey"},
}


def stripes_picture(_index: int, width: int, height: int) -> np.ndarray:
    """One-pixel black and white columns: nearest-neighbour halving gives all black or all white."""
    picture = np.zeros((height, width, 3), np.uint8)
    picture[:, ::2] = 255
    return picture


# HDR: SDR code values shown on a BT.1886 display at 203 nits reference white, re-encoded as
# PQ or HLG BT.2020 10-bit Y'CbCr (what an HDR master of the same SDR picture carries).
BT709_TO_BT2020 = np.array([[0.6274, 0.3293, 0.0433], [0.0691, 0.9195, 0.0114], [0.0164, 0.0880, 0.8956]])
KR_2020, KB_2020 = 0.2627, 0.0593
REFERENCE_WHITE = 203.0
TRANSFERS = {"pq": 16, "hlg": 18}


def pq_inverse_eotf(nits: np.ndarray) -> np.ndarray:
    m1, m2 = 2610 / 16384, 2523 / 4096 * 128
    c1, c2, c3 = 3424 / 4096, 2413 / 4096 * 32, 2392 / 4096 * 32
    y = np.clip(nits / 10000.0, 0.0, 1.0) ** m1
    return ((c1 + c2 * y) / (1 + c3 * y)) ** m2


def hlg_inverse_eotf(nits: np.ndarray) -> np.ndarray:
    """Display light (BT.2020 RGB, nits) -> HLG signal for the 1000-nit system (gamma 1.2)."""
    display = nits / 1000.0
    display_luma = display @ np.array([KR_2020, 1 - KR_2020 - KB_2020, KB_2020])
    scene_luma = np.maximum(display_luma, 1e-12) ** (1 / 1.2)
    scene = display * scene_luma[..., None] ** (1 - 1.2)  # inverse OOTF
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    log_part = a * np.log(np.maximum(12 * scene - b, 1e-12)) + c
    return np.asarray(np.where(scene <= 1 / 12, np.sqrt(3 * np.maximum(scene, 0.0)), log_part))


def hdr_signal(rgb8: np.ndarray, transfer: str) -> np.ndarray:
    light = (rgb8.astype(float) / 255.0) ** 2.4 * REFERENCE_WHITE  # BT.1886, BT.709 primaries
    light = light @ BT709_TO_BT2020.T
    return pq_inverse_eotf(light) if transfer == "pq" else hlg_inverse_eotf(light)


def make_hdr_video(path: Path, transfer: str) -> Path:
    """The patch picture as HEVC Main10, BT.2020 non-constant luminance, limited range, tagged
    PQ or HLG; Y'CbCr computed here (not by swscale), chroma 4:2:0 by 2x2 averaging."""
    signal = hdr_signal(patch_picture(), transfer)
    r, g, b = signal[..., 0], signal[..., 1], signal[..., 2]
    y = KR_2020 * r + (1 - KR_2020 - KB_2020) * g + KB_2020 * b
    cb, cr = (b - y) / (2 * (1 - KB_2020)), (r - y) / (2 * (1 - KR_2020))

    def half(plane: np.ndarray) -> np.ndarray:
        return np.asarray(plane.reshape(PATCH_H // 2, 2, PATCH_W // 2, 2).mean(axis=(1, 3)))

    planes = [64 + 876 * y, 512 + 896 * half(cb), 512 + 896 * half(cr)]
    flat = np.concatenate([np.clip(np.round(p), 0, 1023).astype(np.uint16).ravel() for p in planes])
    with av.open(str(path), "w") as container:
        stream = container.add_stream(
            "libx265", rate=24, options={"preset": "ultrafast", "crf": "10", "x265-params": "log-level=error"}
        )
        stream.width, stream.height, stream.pix_fmt = PATCH_W, PATCH_H, "yuv420p10le"
        context = stream.codec_context
        context.color_range, context.colorspace = 1, 9
        context.color_primaries, context.color_trc = 9, TRANSFERS[transfer]
        for index in range(4):
            frame = av.VideoFrame.from_ndarray(flat.reshape(PATCH_H * 3 // 2, PATCH_W), format="yuv420p10le")
            frame.pts, frame.color_range, frame.colorspace = index, 1, 9
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with av.open(str(path)) as reader:  # a reader must see the tags, or the test proves nothing
        first = next(reader.decode(video=0))
        seen = (first.color_trc, first.color_primaries, first.colorspace, first.color_range)
    assert seen == (TRANSFERS[transfer], 9, 9, 1), f"{path.name}: reader sees trc/primaries/matrix/range {seen}"
    return path


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """make_video (6 frames at 24 fps, one GOP, unless told otherwise), cached by file name."""
    folder = tmp_path_factory.mktemp("picture")
    cache: dict[str, Path] = {}

    def make(name: str, **kwargs: Any) -> Path:
        if name not in cache:
            options = dict(frames=6, fps=24, gop=6, bframes=0) | kwargs
            cache[name] = synth.make_video(folder / name, **options).path
        return cache[name]

    return make


@pytest.fixture(scope="module")
def corner_video(made: Callable[..., Path]) -> Path:
    return made("corners.mp4", painter=corners_picture)


# --------------------------------------------------------------------------------------------
# rotation

ROTATED = [
    # file, offset, coded (w, h), display (w, h), np.rot90 k that turns the coded picture upright
    ("03_rotation/npm-js-ffmpeg__iphone_rotated.mov", "1", (568, 320), (320, 568), -1),  # -90: 90 clockwise
    ("03_rotation/tc__nasa_13013_rotated.mp4", "0.2", (480, 270), (270, 480), 1),  # +90: 90 counter-clockwise
    ("03_rotation/mp4parse__video_rotation_90.mp4", "0", (100, 60), (60, 100), -1),
]


@pytest.mark.parametrize("relative, offset, coded, display, k", ROTATED, ids=[r[0].split("/")[1] for r in ROTATED])
def test_corpus_rotation_auto_turns_upright_and_explicit_turns_the_coded_frame(
    relative: str, offset: str, coded: tuple[int, int], display: tuple[int, int], k: int
) -> None:
    path = video(relative)
    base = f"vframe/png/offset/{offset}"
    upright, as_coded = pixels(path, base), pixels(path, base + "/rotate/0")
    assert (upright.shape[1], upright.shape[0]) == display
    assert (as_coded.shape[1], as_coded.shape[0]) == coded
    # the same pixels, turned the way the metadata says (not the other way, not mirrored)
    assert np.array_equal(upright, np.rot90(as_coded, k))
    for degrees in (90, 180, 270):
        turned = pixels(path, f"{base}/rotate/{degrees}")
        assert np.array_equal(turned, np.rot90(as_coded, -degrees // 90)), f"rotate/{degrees}"


def test_rotation_90_test_file_is_upright() -> None:
    """mp4parse's 100x60 frame has white in its left 22 columns; shown upright (turned 90 clockwise)
    the white is on top."""
    picture = pixels(video("03_rotation/mp4parse__video_rotation_90.mp4"), "vframe/png/offset/0")
    assert picture.shape[:2] == (100, 60)
    assert picture[:20].min() >= 200
    assert picture[24:].max() <= 30


def test_rotated_sizes_are_in_display_orientation() -> None:
    path = video("03_rotation/npm-js-ffmpeg__iphone_rotated.mov")
    assert size(path, "vframe/jpg/offset/1/w/160") == (160, 284)  # 160 * 568 / 320
    assert size(path, "vframe/jpg/offset/1/h/284") == (160, 284)
    assert size(path, "vframe/jpg/offset/1/w/100/h/50") == (100, 50)
    assert size(path, "vframe/jpg/offset/1/w/160/rotate/0") == (160, 90)  # 160 * 320 / 568


@pytest.mark.parametrize("degrees", [0, 90, 180, 270])
def test_explicit_rotation_turns_clockwise(corner_video: Path, degrees: int) -> None:
    picture = pixels(corner_video, f"vframe/png/offset/0/rotate/{degrees}")
    assert picture.shape[:2] == ((240, 320) if degrees in (0, 180) else (320, 240))
    assert corners(picture) == TURNED_CW[degrees]


@pytest.mark.parametrize("rotation, turn", [(90, 270), (180, 180), (-90, 90)])
def test_rotation_metadata_is_applied_with_auto_and_ignored_with_explicit(
    made: Callable[..., Path], rotation: int, turn: int
) -> None:
    """make_video's rotation is counter-clockwise (the display matrix's sense): a player turns the
    picture that way, i.e. clockwise by -rotation."""
    path = made(f"corners_rot{rotation % 360}.mp4", painter=corners_picture, rotation=rotation)
    upright = pixels(path, "vframe/png/offset/0")
    assert upright.shape[:2] == ((240, 320) if turn == 180 else (320, 240))
    assert corners(upright) == TURNED_CW[turn]
    assert corners(pixels(path, "vframe/png/offset/0/rotate/0")) == CODED
    assert corners(pixels(path, "vframe/png/offset/0/rotate/90")) == TURNED_CW[90]


# --------------------------------------------------------------------------------------------
# non-square pixels

ANAMORPHIC = [
    # file, offset, display size, (w alone, h it gives), (w it gives, h alone)
    ("14_anamorphic_sar/deb-mecavideo__balle-jbart.mp4", "1", (768, 576), (384, 288), (133, 100)),
    ("14_anamorphic_sar/mb__sar_2x1.mp4", "1", (1280, 360), (640, 180), (320, 90)),
    ("14_anamorphic_sar/deb-devede__base_pal_wide.mpg", "0.2", (1024, 576), (512, 288), (178, 100)),
]


@pytest.mark.parametrize("relative, offset, display, by_width, by_height", ANAMORPHIC,
                         ids=[a[0].split("/")[1] for a in ANAMORPHIC])
def test_sample_aspect_ratio_gives_display_size(
    relative: str, offset: str, display: tuple[int, int], by_width: tuple[int, int], by_height: tuple[int, int]
) -> None:
    path = video(relative)
    base = f"vframe/jpg/offset/{offset}"
    assert size(path, base) == display
    assert size(path, f"{base}/w/{by_width[0]}") == by_width
    assert size(path, f"{base}/h/{by_width[1]}") == by_width
    assert size(path, f"{base}/h/{by_height[1]}") == by_height
    assert size(path, f"{base}/w/333/h/111") == (333, 111)


def test_balle_width_alone_rounds_height_by_display_aspect() -> None:
    path = video("14_anamorphic_sar/deb-mecavideo__balle-jbart.mp4")
    assert size(path, "vframe/png/offset/1/w/384") == (384, 288)
    assert size(path, "vframe/png/offset/1/w/101") == (101, 76)  # 75.75
    assert size(path, "vframe/png/offset/1/w/99") == (99, 74)  # 74.25


def test_anamorphic_picture_is_stretched_not_padded() -> None:
    """SAR 2:1: the 1280x360 display picture, halved horizontally, is the coded 640x360 picture."""
    path = video("14_anamorphic_sar/mb__sar_2x1.mp4")
    display = grab(path, "vframe/png/offset/1")[1]
    coded = pixels(path, "vframe/png/offset/1/w/640/h/360")
    halved = np.asarray(display.resize((640, 360), Image.Resampling.BOX)).astype(int)
    assert np.abs(halved - coded).mean() < 3


# --------------------------------------------------------------------------------------------
# sizes and limits (synthetic 320x240)


@pytest.mark.parametrize("w, h", [(100, 100), (640, 480), (1, 1), (3, 5), (321, 17), (17, 321), (2, 1)])
@pytest.mark.parametrize("fmt", ["jpg", "png", "webp"])
def test_both_given_is_exactly_that_size(made: Callable[..., Path], fmt: str, w: int, h: int) -> None:
    path = made("index.mp4")
    assert size(path, f"vframe/{fmt}/offset/0.1/w/{w}/h/{h}") == (w, h)


@pytest.mark.parametrize("part, expected", [
    ("", (320, 240)), ("/w/100", (100, 75)), ("/w/101", (101, 76)), ("/w/99", (99, 74)),
    ("/h/77", (103, 77)), ("/h/1", (1, 1)), ("/w/1", (1, 1)), ("/w/7", (7, 5)), ("/h/600", (800, 600)),
])
def test_one_given_keeps_the_aspect(made: Callable[..., Path], part: str, expected: tuple[int, int]) -> None:
    assert size(made("index.mp4"), f"vframe/png/offset/0.1{part}") == expected


def test_odd_sizes_still_show_the_picture(made: Callable[..., Path]) -> None:
    """An odd-sized scaled picture is the same picture: the index cells still read."""
    path = made("index.mp4")
    for w, h in [(161, 121), (99, 75), (321, 241)]:
        picture = pixels(path, f"vframe/png/offset/0.125/w/{w}/h/{h}")
        assert synth.read_index(picture.astype(np.uint8)) == 3


@pytest.mark.parametrize("limits, expected", [
    ((160, 120), (160, 120)),
    ((200, 100), (133, 100)),  # the shorter side binds: 240 -> 100, 320 -> 133.3
    ((100, 100), (100, 75)),  # the longer side binds
])
def test_source_larger_than_limits_is_scaled_down_to_fit(
    made: Callable[..., Path], limits: tuple[int, int], expected: tuple[int, int]
) -> None:
    settings = Settings(max_width=limits[0], max_height=limits[1])
    assert size(made("index.mp4"), "vframe/png/offset/0.1", settings) == expected


def test_limits_apply_in_display_orientation(made: Callable[..., Path]) -> None:
    """A 320x240 frame with 90-degree metadata is a 240x320 portrait: its longer side is the height."""
    path = made("index_rot90.mp4", rotation=90)
    settings = Settings(max_width=160, max_height=100)
    assert size(path, "vframe/png/offset/0.1", settings) == (100, 133)
    assert size(path, "vframe/png/offset/0.1") == (240, 320)


def test_one_given_beyond_the_limits_is_scaled_to_fit(made: Callable[..., Path]) -> None:
    settings = Settings(max_width=160, max_height=100)
    assert size(made("index.mp4"), "vframe/png/offset/0.1/w/160", settings) == (133, 100)


def test_fitting_reaches_the_limit_and_rounds_the_other_side(made: Callable[..., Path]) -> None:
    path = made("index_322.mp4", width=322, height=240)
    assert size(path, "vframe/png/offset/0.1", Settings(max_width=100, max_height=100)) == (100, 75)  # 74.53


def test_downscaling_filter_is_not_nearest_neighbour(made: Callable[..., Path]) -> None:
    """Halving one-pixel black/white stripes must give grey, not black or white columns."""
    path = made("stripes.mp4", painter=stripes_picture, options={"crf": "0"})
    picture = luma(pixels(path, "vframe/png/offset/0/w/160/h/120"))[10:-10, 10:-10]
    assert 100 < picture.mean() < 155
    assert picture.std() < 15


# --------------------------------------------------------------------------------------------
# colour: range, matrix, bit depth


@pytest.fixture(scope="module")
def ranged(made: Callable[..., Path]) -> dict[str, np.ndarray]:
    return {
        r: pixels(made(f"patches_{r}.mp4", painter=patch_picture, width=PATCH_W, height=PATCH_H, color_range=r),
                  "vframe/png/offset/0.1")
        for r in ("tv", "pc")
    }


@pytest.mark.parametrize("color_range", ["tv", "pc"])
def test_limited_and_full_range_give_the_painted_colours(ranged: dict[str, np.ndarray], color_range: str) -> None:
    assert_patches(ranged[color_range], list(PATCHES), 6, f"H.264 {color_range} range")


def test_limited_and_full_range_agree(ranged: dict[str, np.ndarray]) -> None:
    tv, pc = patch_means(ranged["tv"]), patch_means(ranged["pc"])
    assert max(float(np.abs(tv[name] - pc[name]).max()) for name in PATCHES) <= 3


def test_full_range_corpus_file_is_read_as_full_range() -> None:
    """yuvj420p BT.601 colour bars whose bars sit at about 13 and 238 in full range (that is the
    content: a textbook conversion says so too). vframe agrees with a textbook full-range
    conversion (8x8 block means differ by 1.5; reading it as limited range gives 14, as BT.709
    12), so the bars neither clip to 0/255 nor wash out."""
    path = video("19_edge_cases/tc__bt601_full_range.mp4")
    picture = pixels(path, "vframe/png/offset/1")
    frame = decoded_at(path, 1.0)
    assert frame.format.name == "yuvj420p" or frame.color_range == 2
    assert np.abs(block_means(picture) - block_means(plain_rgb(frame))).mean() < 4
    bars = {"green": (56, 70, (13, 237, 13)), "blue": (165, 195, (16, 15, 239)), "cyan": (285, 315, (13, 237, 237))}
    for name, (x0, x1, expected) in bars.items():
        bar = picture[60:80, x0:x1].reshape(-1, 3).mean(axis=0)
        assert np.abs(bar - expected).max() < 6, f"{name} bar: {bar.round(1)}"


@pytest.mark.parametrize("color_range", ["tv", "pc"])
def test_10bit_hevc_gives_8bit_painted_colours(made: Callable[..., Path], color_range: str) -> None:
    """Full range matters most here: there is no yuvj 10-bit format, so only the tag says so."""
    path = made(f"patches_10bit_{color_range}.mkv", codec="libx265", pix_fmt="yuv420p10le",
                color_range=color_range, painter=patch_picture, width=PATCH_W, height=PATCH_H)
    result, image = grab(path, "vframe/png/offset/0.1")
    assert image.mode == "RGB"
    assert_patches(np.asarray(image).astype(int), list(PATCHES), 6, f"HEVC yuv420p10le {color_range} range")


@pytest.mark.parametrize("relative", ["15_10bit_hdr/tc__h264_10bits.mp4", "15_10bit_hdr/tc__h265_10bits.mp4"])
def test_10bit_corpus_gives_normal_8bit_images(relative: str) -> None:
    """Against a textbook 10-bit limited-range BT.601 conversion of the same frame (untagged SD
    is BT.601): 8x8 block means differ by 2.4 on average (wrong range: 12, BT.709: 7.5)."""
    path = video(relative)
    result, image = grab(path, "vframe/png/offset/0.5")
    assert image.mode == "RGB" and result.time == Fraction(1, 2)
    picture = np.asarray(image).astype(float)
    frame = decoded_at(path, 0.5)
    assert frame.format.name == "yuv420p10le"
    reference = plain_rgb(frame)
    assert np.abs(block_means(picture) - block_means(reference)).mean() < 4
    assert picture.std(axis=(0, 1)).min() > 0.95 * reference.std(axis=(0, 1)).min()  # not grey-washed


# --------------------------------------------------------------------------------------------
# HDR


@pytest.fixture(scope="module", params=["pq", "hlg"])
def hdr_picture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    path = make_hdr_video(tmp_path_factory.mktemp("hdr") / f"{request.param}.mp4", request.param)
    result, image = grab(path, "vframe/png/offset/0")
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


def test_hdr_gives_back_the_sdr_colours(hdr_picture: np.ndarray) -> None:
    """Below the highlight roll-off, tone mapping is the inverse of how the HDR master was made."""
    assert_patches(hdr_picture, BELOW_85, 8, "HDR patches")


def test_hdr_is_not_washed_out(hdr_picture: np.ndarray) -> None:
    means = patch_means(hdr_picture)
    assert means["black"].max() < 20
    assert means["red"][0] - means["red"][1] > 120
    assert means["white"].min() > 225 and means["white"].min() >= means["near-white"].max() - 1
    assert means["near-white"].min() > 215


def test_iphone_hlg_is_upright_and_has_contrast() -> None:
    path = video("15_10bit_hdr/mb__no-correct-videoframe-format.mov")
    result, image = grab(path, "vframe/png/offset/0")
    assert image.size == (1080, 1920)  # 1920x1080 coded, rotation -90
    y = luma(np.asarray(image))
    assert 60 < y.mean() < 200
    assert y.std() > 30
    low, high = np.percentile(y, [1, 99])
    assert low < 30 and high > 220, f"luma 1st..99th percentile {low:.0f}..{high:.0f}"


# --------------------------------------------------------------------------------------------
# interlacing


def comb(rgb: np.ndarray) -> float:
    """Mean |row - average of the rows above and below|: high when the two fields disagree."""
    y = luma(rgb)
    return float(np.abs(y[1:-1] - (y[:-2] + y[2:]) / 2).mean())


@pytest.mark.parametrize("relative", ["16_interlaced/gh-interlace__bt601-525_480_interlaced_tff.mkv",
                                      "16_interlaced/gh-interlace__bt601-525_480_interlaced_bff.ts"])
def test_interlaced_frames_are_deinterlaced(relative: str) -> None:
    """A moving test pattern: the woven frame combs (score 9.5..11.4 measured), vframe's does not
    (0.9..2.3). w/720/h/480 keeps the coded rows (the display size is 853x480, SAR 32:27)."""
    path = video(relative)
    result, image = grab(path, "vframe/png/offset/5/w/720/h/480")
    frame = decoded_at(path, 5.0)
    assert frame.interlaced_frame
    woven = frame.to_ndarray(format="rgb24")
    assert abs(float(result.time) - 4.972) < 0.002
    assert comb(woven) > 5
    assert comb(np.asarray(image)) < 0.5 * comb(woven), (comb(np.asarray(image)), comb(woven))


def test_single_frame_dv_works() -> None:
    result, image = grab(video("16_interlaced/deb-dvbackup__underrun-pal.dv"), "vframe/png/offset/0")
    assert image.size == (768, 576) and result.time == 0  # 720x576, SAR 16:15
    picture = np.asarray(image).astype(int)
    assert picture[..., 0].max() > 200 and np.median(luma(picture)) < 20  # red glowing text on black


# --------------------------------------------------------------------------------------------
# alpha


@pytest.fixture(scope="module")
def transparency() -> dict[str, Image.Image]:
    path = video("05_vp8_vp9_webm/mb__transparency.webm")
    return {fmt: grab(path, f"vframe/{fmt}/offset/1")[1] for fmt in ("png", "webp", "jpg")}


def test_png_keeps_alpha(transparency: dict[str, Image.Image]) -> None:
    image = transparency["png"]
    assert image.mode == "RGBA" and image.size == (1280, 720)
    alpha = np.asarray(image)[..., 3]
    assert (alpha == 0).mean() > 0.05 and (alpha == 255).mean() > 0.05


def test_webp_keeps_alpha(transparency: dict[str, Image.Image]) -> None:
    image = transparency["webp"]
    assert image.mode == "RGBA"
    alpha = np.asarray(image)[..., 3].astype(int)
    assert np.abs(alpha - np.asarray(transparency["png"])[..., 3]).mean() < 2


def test_jpg_composites_alpha_on_black(transparency: dict[str, Image.Image]) -> None:
    jpg = np.asarray(transparency["jpg"]).astype(float)
    assert transparency["jpg"].mode == "RGB"
    png = np.asarray(transparency["png"]).astype(float)
    alpha = png[..., 3:] / 255
    assert np.abs(jpg - png[..., :3] * alpha).mean() < 3
    assert jpg[png[..., 3] == 0].mean() < 8


ALPHA_W, ALPHA_H = 256, 128


def alpha_picture() -> np.ndarray:
    """Opaque red with a green ramp and blue 80, alpha ramping 0..255 left to right."""
    rgba = np.zeros((ALPHA_H, ALPHA_W, 4), np.uint8)
    rgba[..., 0], rgba[..., 2] = 255, 80
    rgba[..., 1] = rgba[..., 3] = np.arange(ALPHA_W, dtype=np.uint8)[None, :]
    return rgba


@pytest.fixture(scope="module", params=[("png", "mov", "rgba"), ("libvpx-vp9", "webm", "yuva420p")],
                ids=["png-in-mov", "vp9-alpha-webm"])
def alpha_video(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    codec, extension, pix_fmt = request.param
    path = tmp_path_factory.mktemp("alpha") / f"alpha.{extension}"
    options = {"deadline": "realtime", "cpu-used": "8", "crf": "10", "b": "0"} if codec != "png" else {}
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=24, options=options)
        stream.width, stream.height, stream.pix_fmt = ALPHA_W, ALPHA_H, pix_fmt
        for index in range(3):
            frame = av.VideoFrame.from_ndarray(alpha_picture(), format="rgba").reformat(format=pix_fmt)
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_alpha_is_kept_in_png_and_webp_and_composited_on_black_in_jpg(alpha_video: Path) -> None:
    painted = alpha_picture().astype(float)
    png = pixels(alpha_video, "vframe/png/offset/0")
    assert png.shape == (ALPHA_H, ALPHA_W, 4)
    assert np.abs(png - painted).mean() < 2 and np.abs(png[..., 3] - painted[..., 3]).max() <= 6
    webp = pixels(alpha_video, "vframe/webp/offset/0")
    assert webp.shape == (ALPHA_H, ALPHA_W, 4) and np.abs(webp[..., 3] - painted[..., 3]).mean() < 2
    jpg = pixels(alpha_video, "vframe/jpg/offset/0")
    assert jpg.shape == (ALPHA_H, ALPHA_W, 3)
    composited = painted[..., :3] * painted[..., 3:] / 255
    assert np.abs(jpg - composited).mean() < 4  # dropping alpha instead: 70
    assert jpg[:, :8].max() <= 12  # alpha 0..7 of red: black


def test_fast_mode_on_vp9_alpha() -> None:
    path = video("05_vp8_vp9_webm/mb__vp9-alpha-padded-width.webm")
    assert grab(path, "vframe/png/offset/0/mode/fast")[1].mode == "RGBA"


def test_rgba_png_in_mov_keeps_alpha() -> None:
    """A 4x4 PNG-in-MOV frame, white and fully transparent: transparent in png, black in jpg."""
    path = video("19_edge_cases/deb-dojo__version.mov")
    png = np.asarray(grab(path, "vframe/png/offset/0")[1])
    assert png.shape == (4, 4, 4) and png[..., 3].max() == 0
    jpg = grab(path, "vframe/jpg/offset/0")[1]
    assert jpg.mode == "RGB" and np.asarray(jpg).max() <= 8


# --------------------------------------------------------------------------------------------
# encoders

ENCODED = [("jpg", "image/jpeg", "JPEG"), ("jpeg", "image/jpeg", "JPEG"), ("png", "image/png", "PNG"),
           ("webp", "image/webp", "WEBP")]


@pytest.mark.parametrize("fmt, media_type, pillow_format", ENCODED)
def test_encoders_media_type_and_magic(
    made: Callable[..., Path], fmt: str, media_type: str, pillow_format: str
) -> None:
    result, image = grab(made("index.mp4"), f"vframe/{fmt}/offset/0.125/w/160/h/120")
    assert result.media_type == media_type
    assert image.format == pillow_format and image.mode == "RGB"
    data = result.data
    if pillow_format == "JPEG":
        assert data[:3] == b"\xff\xd8\xff" and data[-2:] == b"\xff\xd9"
    elif pillow_format == "PNG":
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
        assert int.from_bytes(data[4:8], "little") == len(data) - 8
    assert synth.read_index(np.asarray(image)) == 3
