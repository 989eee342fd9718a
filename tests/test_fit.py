"""`/fit/stretch|contain|cover|pad` and `/color/` (API.md, "Request"): for each mode, on landscape,
portrait, rotated (rotation metadata) and anamorphic (SAR 4:3) sources made here, each corner
painted its own colour: the output size, which corners survive, and, by pixels, that the picture
is the stretched picture of the fitted size cropped or padded exactly where the README says. The
same for sheet tiles and animation frames; then through HTTP (signed, ETag, 304), the CLI and the
library alike."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import av
import httpx
import numpy as np
import pytest
from PIL import Image

import vframe
from vframe import InvalidSpec
from vframe.signing import sign
from vframe_testkit import synth
from vframe_testkit.live import live_server

PAD = "ff00ff"
PAD_RGB = (255, 0, 255)
CORNER_COLOURS = {"tl": (230, 30, 30), "tr": (30, 230, 30), "bl": (30, 30, 230), "br": (230, 230, 230)}
NAMED = {**CORNER_COLOURS, "grey": (128, 128, 128), "pad": PAD_RGB}
BOX = (100, 75)


def display_picture(width: int, height: int) -> np.ndarray:
    """Grey, with a quarter-by-quarter block of its own colour in each corner and a dark one in
    the middle (so that a window of the middle is not uniform), as a player shows it."""
    picture = np.full((height, width, 3), 128, np.uint8)
    picture[height * 3 // 8:height * 5 // 8, width * 3 // 8:width * 5 // 8] = 20
    bw, bh = width // 4, height // 4
    picture[:bh, :bw], picture[:bh, width - bw:] = CORNER_COLOURS["tl"], CORNER_COLOURS["tr"]
    picture[height - bh:, :bw], picture[height - bh:, width - bw:] = CORNER_COLOURS["bl"], CORNER_COLOURS["br"]
    return picture


def turned_coded(_index: int, width: int, height: int) -> np.ndarray:
    """The coded picture of a video with rotation 90 (counter-clockwise, which vframe turns
    upright): display_picture turned back, so that the upright picture has the usual corners."""
    return np.ascontiguousarray(np.rot90(display_picture(height, width), k=-1))


# name: (make_video arguments, display size)
SOURCES = {
    "landscape": (dict(width=320, height=180, painter=lambda i, w, h: display_picture(w, h)), (320, 180)),
    "portrait": (dict(width=180, height=320, painter=lambda i, w, h: display_picture(w, h)), (180, 320)),
    "rotated": (dict(width=320, height=180, rotation=90, painter=turned_coded), (180, 320)),
    "anamorphic": (dict(width=240, height=180, sar=(4, 3), painter=lambda i, w, h: display_picture(w, h)),
                   (320, 180)),
}
# In a 100x75 box, worked out by hand from the display aspect: (canvas, picture, where it goes)
WIDE, TALL = (16, 9), (9, 16)
EXPECTED = {
    (WIDE, "stretch"): ((100, 75), (100, 75), (0, 0)),
    (WIDE, "contain"): ((100, 56), (100, 56), (0, 0)),  # 100 x 56.25
    (WIDE, "pad"): ((100, 75), (100, 56), (0, 9)),  # 19 rows of pad: 9 above, 10 below
    (WIDE, "cover"): ((100, 75), (133, 75), (-16, 0)),  # 133.3 x 75: 33 columns cropped, 16 left, 17 right
    (TALL, "stretch"): ((100, 75), (100, 75), (0, 0)),
    (TALL, "contain"): ((42, 75), (42, 75), (0, 0)),  # 42.2 x 75
    (TALL, "pad"): ((100, 75), (42, 75), (29, 0)),
    (TALL, "cover"): ((100, 75), (100, 178), (0, -51)),  # 100 x 177.8: 103 rows cropped, 51 above, 52 below
}
# Which colour each corner of the output shows: cover of a tall picture crops the corner blocks
# (a quarter of 178 rows is less than the 51 cropped), cover of a wide one keeps a part of each.
CORNERS = {
    (WIDE, "stretch"): "tl tr bl br", (WIDE, "contain"): "tl tr bl br", (WIDE, "pad"): "pad pad pad pad",
    (WIDE, "cover"): "tl tr bl br",
    (TALL, "stretch"): "tl tr bl br", (TALL, "contain"): "tl tr bl br", (TALL, "pad"): "pad pad pad pad",
    (TALL, "cover"): "grey grey grey grey",
}
MODES = ("stretch", "contain", "cover", "pad")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fit")
    made = {}
    for name, (arguments, _) in SOURCES.items():
        made[name] = synth.make_video(folder / f"{name}.mp4", frames=2, fps=24, gop=2, bframes=0,
                                      **arguments).path  # type: ignore[arg-type]
    return made


def image_of(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def picture(path: Path | str, spec: str) -> np.ndarray:
    result = vframe.grab(path, spec)
    image = image_of(result.data)
    assert image.size == (result.width, result.height)
    return np.asarray(image).astype(int)


def corner_names(rgb: np.ndarray) -> str:
    """The colour nearest to what each corner (2 pixels in) shows: tl tr bl br."""
    height, width = rgb.shape[:2]
    named = []
    for y, x in ((2, 2), (2, width - 3), (height - 3, 2), (height - 3, width - 3)):
        pixel = rgb[y, x, :3]
        named.append(min(NAMED, key=lambda name: float(np.abs(pixel - NAMED[name]).sum())))
    return " ".join(named)


def shape_of(display: tuple[int, int]) -> tuple[int, int]:
    return WIDE if display[0] > display[1] else TALL


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("source", SOURCES)
def test_each_mode_sizes_places_and_crops_by_pixels(sources: dict[str, Path], source: str, mode: str) -> None:
    path, display = sources[source], SOURCES[source][1]
    shape = shape_of(display)
    canvas, scaled, (x, y) = EXPECTED[shape, mode]
    color = f"/color/{PAD}" if mode == "pad" else ""
    out = picture(path, f"vframe/png/offset/0/w/{BOX[0]}/h/{BOX[1]}/fit/{mode}{color}")
    assert (out.shape[1], out.shape[0]) == canvas
    assert corner_names(out) == CORNERS[shape, mode]
    # The picture is the stretched picture of its fitted size, cropped or padded: every pixel.
    whole = picture(path, f"vframe/png/offset/0/w/{scaled[0]}/h/{scaled[1]}")
    if mode == "cover":
        assert np.array_equal(out, whole[-y:-y + canvas[1], -x:-x + canvas[0]])
    else:
        assert np.array_equal(out[y:y + scaled[1], x:x + scaled[0]], whole)
    if mode == "pad":  # the bands: exactly the colour, exactly as wide as said (odd pixel right or below)
        band = np.ones(out.shape[:2], bool)
        band[y:y + scaled[1], x:x + scaled[0]] = False
        assert band.sum() == canvas[0] * canvas[1] - scaled[0] * scaled[1] > 0
        assert (out[band] == PAD_RGB).all()
        assert corner_names(whole) == "tl tr bl br"  # the picture inside keeps its corners
        if shape == WIDE:
            assert (y, canvas[1] - y - scaled[1]) == (9, 10)
        else:
            assert (x, canvas[0] - x - scaled[0]) == (29, 29)


def test_fit_changes_nothing_with_one_side_or_none(sources: dict[str, Path]) -> None:
    path = sources["anamorphic"]
    for size in ("/w/100", "/h/75", ""):
        plain = vframe.grab(path, f"vframe/png/offset/0{size}")
        for mode in MODES:
            fitted = vframe.grab(path, f"vframe/png/offset/0{size}/fit/{mode}")
            assert fitted.data == plain.data, f"{size} fit/{mode}"


def test_the_canonical_spec_names_fit_and_color_only_when_they_matter() -> None:
    cases = {
        "vframe/jpg/offset/1/w/100/h/75/fit/stretch": "vframe/jpg/offset/1/w/100/h/75",
        "vframe/jpg/offset/1/fit/cover/h/75/w/100": "vframe/jpg/offset/1/w/100/h/75/fit/cover",
        "vframe/jpg/offset/1/w/100/h/75/color/FF00FF/fit/pad": "vframe/jpg/offset/1/w/100/h/75/fit/pad/color/ff00ff",
        "vframe/jpg/offset/1/w/100/h/75/fit/pad/color/000000": "vframe/jpg/offset/1/w/100/h/75/fit/pad",
        "vframe/jpg/offset/1/w/100/fit/pad/color/ff00ff": "vframe/jpg/offset/1/w/100",
        "vsample/jpg/s/100x75/fit/contain": "vsample/jpg/s/100x75/fit/contain",
        "vsample/jpg/s/100x/fit/cover": "vsample/jpg/s/100x",
        "vpreview/gif/ss/1/w/100/h/75/fit/pad/color/00ff00": "vpreview/gif/ss/1/w/100/h/75/fit/pad/color/00ff00",
        "vpreview/webp/ss/1/h/75/fit/cover": "vpreview/webp/ss/1/h/75",
    }
    for text, canonical in cases.items():
        spec = vframe.parse(text)
        assert str(spec) == canonical
        assert vframe.parse(str(spec)) == spec


@pytest.mark.parametrize("text", [
    "vframe/jpg/offset/1/w/100/h/75/fit/fill", "vframe/jpg/offset/1/w/100/h/75/fit/",
    "vframe/jpg/offset/1/w/100/h/75/fit/cover/color/ff00ff", "vframe/jpg/offset/1/w/100/h/75/fit/pad/color/red",
    "vframe/jpg/offset/1/w/100/h/75/fit/pad/color/ff00ff0", "vframe/jpg/offset/1/w/100/h/75/fit/pad/fit/pad",
    "vsample/jpg/s/100x75/fit/crop", "vpreview/gif/ss/0/w/100/h/75/fit/Pad",
])
def test_a_bad_fit_or_color_is_400(text: str) -> None:
    with pytest.raises(InvalidSpec) as raised:
        vframe.parse(text)
    assert raised.value.status == 400 and str(raised.value).endswith(".")


@pytest.fixture(scope="module")
def transparent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """PNG in MOV, RGBA, 160x90 (wide): opaque red left half, fully transparent right half."""
    path = tmp_path_factory.mktemp("fit-alpha") / "alpha.mov"
    rgba = np.zeros((90, 160, 4), np.uint8)
    rgba[:, :80] = (255, 0, 0, 255)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("png", rate=24)
        stream.width, stream.height, stream.pix_fmt = 160, 90, "rgba"
        frame = av.VideoFrame.from_ndarray(rgba, format="rgba")
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def test_pad_keeps_alpha_in_png_and_webp_and_jpg_composites_it_on_the_pad_colour(transparent: Path) -> None:
    spec = f"offset/0/w/{BOX[0]}/h/{BOX[1]}/fit/pad/color/{PAD}"
    png = picture(transparent, f"vframe/png/{spec}")
    assert png.shape == (75, 100, 4)
    assert (png[:9] == (*PAD_RGB, 255)).all() and (png[65:] == (*PAD_RGB, 255)).all()  # opaque bands
    assert (png[20:50, 5:45] == (255, 0, 0, 255)).all() and (png[20:50, 55:95, 3] == 0).all()
    webp = picture(transparent, f"vframe/webp/{spec}")
    assert webp.shape == (75, 100, 4) and (webp[20:50, 55:95, 3] < 8).all() and (webp[:8, :, 3] > 247).all()
    jpg = picture(transparent, f"vframe/jpg/{spec}")
    assert jpg.shape == (75, 100, 3)
    assert np.abs(jpg[20:50, 55:95] - PAD_RGB).max() < 24  # the transparent half shows the pad colour
    assert np.abs(jpg[20:50, 5:45] - (255, 0, 0)).max() < 24
    plain = picture(transparent, f"vframe/jpg/offset/0/w/{BOX[0]}/h/{BOX[1]}/fit/cover")
    assert np.abs(plain[20:50, 60:95]).max() < 24  # no pad: composited on black, as always


def test_sheet_tiles_and_animation_frames_are_fitted_the_same_way(sources: dict[str, Path]) -> None:
    path = sources["rotated"]
    frames = [picture(path, f"vframe/png/offset/{t}/w/100/h/75/fit/pad/color/{PAD}") for t in (0, 0.05)]
    sheet = vframe.grab(path, f"vsample/png/frames/2/t/0.1/s/100x75/fit/pad/color/{PAD}")
    pixels = np.asarray(image_of(sheet.data)).astype(int)
    assert pixels.shape == (75, 200, 3)
    assert np.array_equal(pixels[:, :100], frames[0]) and np.array_equal(pixels[:, 100:], frames[1])
    contained = vframe.grab(path, "vsample/png/frames/2/t/0.08/s/100x75/fit/contain")
    assert (contained.width, contained.height) == (84, 75)  # two 42x75 tiles
    assert contained.tiles[1].width == 42
    cover = picture(path, "vframe/png/offset/0/w/100/h/75/fit/cover")
    preview = vframe.grab(path, "vpreview/webp/ss/0/t/0.08/fps/24/w/100/h/75/fit/cover")
    first = image_of(preview.data)
    assert first.size == (100, 75) and len(preview.times) == 2  # (the two pictures are the same: one frame)
    assert np.abs(np.asarray(first.convert("RGB")).astype(int) - cover).mean() < 6  # lossy WebP
    gif = vframe.grab(path, f"vpreview/gif/ss/0/t/0.08/fps/24/w/100/h/75/fit/pad/color/{PAD}")
    gif_rgb = np.asarray(image_of(gif.data).convert("RGB")).astype(int)
    assert corner_names(gif_rgb) == "pad pad pad pad"
    assert (gif_rgb[:, :29] == PAD_RGB).all() and (gif_rgb[:, 71:] == PAD_RGB).all()  # exact, undithered
    assert not (gif_rgb[:, 29:71] == PAD_RGB).all(axis=2).any()


@pytest.mark.parametrize("box", [(102, 102), (109, 109), (111, 64), (100, 75)])
def test_a_contained_tile_is_the_contained_frame_to_the_pixel(tmp_path: Path, box: tuple[int, int]) -> None:
    """A sheet tile and a preview frame in fit/contain are the single frame in fit/contain, pixel
    for pixel: the contained size is never fitted again into itself (16:9 in 102x102 is 102x57,
    and 102x57 padded with 16:9 again would be 101x57 and a black column)."""
    path = synth.make_video(tmp_path / "wide.mp4", frames=2, fps=24, gop=2, bframes=0, width=320, height=180).path
    width, height = box
    single = picture(path, f"vframe/png/offset/0/w/{width}/h/{height}/fit/contain")
    sheet = vframe.grab(path, f"vsample/png/frames/1/t/0.04/s/{width}x{height}/fit/contain")
    assert (sheet.width, sheet.height) == (single.shape[1], single.shape[0])
    assert np.array_equal(np.asarray(image_of(sheet.data)).astype(int), single)
    preview = vframe.grab(path, f"vpreview/webp/ss/0/t/0.08/fps/24/w/{width}/h/{height}/fit/contain")
    assert (preview.width, preview.height) == (single.shape[1], single.shape[0])


def test_http_cli_and_library_agree(sources: dict[str, Path], tmp_path: Path) -> None:
    spec = f"vframe/png/offset/0/w/100/h/75/fit/pad/color/{PAD}"
    library = vframe.grab(sources["portrait"], spec)
    out = tmp_path / "cli.png"
    done = subprocess.run([sys.executable, "-m", "vframe", "grab", str(sources["portrait"]), spec, "-o", str(out)],
                          capture_output=True, timeout=60, start_new_session=True)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == library.data
    bad = subprocess.run([sys.executable, "-m", "vframe", "grab", str(sources["portrait"]),
                          "vframe/png/offset/0/w/100/h/75/fit/cover/color/ff00ff"],
                         capture_output=True, timeout=60, start_new_session=True)
    assert bad.returncode == 3 and bad.stderr.decode().startswith("vframe: The color is the background of /fit/pad")
    root = sources["portrait"].parent
    with live_server(root, "--workers", "1", "--signing-keys", "key:secret") as live, live.client() as client:
        def signed(query: str) -> str:
            return sign(f"{live.url}/portrait.mp4?{query}", "key", "secret", 2_000_000_000)

        assert client.get(f"/portrait.mp4?{spec}").status_code == 403
        answer = client.get(signed(spec))
        assert answer.status_code == 200 and answer.content == library.data
        assert answer.headers["content-type"] == "image/png"
        etag = answer.headers["etag"]
        again = client.get(signed(spec), headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.headers["etag"] == etag
        # Another spelling of the same spec is the same product: the same ETag, a 304.
        spelled = client.get(signed("vframe/png/offset/0/fit/pad/h/75/w/100/color/FF00FF"),
                             headers={"If-None-Match": etag})
        assert spelled.status_code == 304
        cover = client.get(signed("vframe/png/offset/0/w/100/h/75/fit/cover"))
        assert cover.status_code == 200 and cover.headers["etag"] != etag
        assert cover.content == vframe.grab(sources["portrait"], "vframe/png/offset/0/w/100/h/75/fit/cover").data
        refused = client.get(signed("vframe/png/offset/0/w/100/h/75/fit/squash"))
        assert refused.status_code == 400 and "fit" in refused.json()["error"]
        sheet = client.get(signed(f"vsample/png/frames/2/t/0.1/s/100x75/fit/pad/color/{PAD}"))
        assert sheet.status_code == 200
        assert sheet.content == vframe.grab(sources["portrait"],
                                            f"vsample/png/frames/2/t/0.1/s/100x75/fit/pad/color/{PAD}").data
    with pytest.raises(httpx.HTTPError):  # the server is gone: nothing of ours is left listening
        httpx.get(f"{live.url}/-/healthz", timeout=2)
