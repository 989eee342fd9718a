"""`vpreview/<gif|webp>/ss/<s>[/t/<s>][/fps/<N>][/w/][/h/][/fit/][/color/][/rotate/]` (API.md,
"Animated previews"): on videos whose frames paint their own index, each frame of the animation,
read back from the file as a browser reads it, is the frame shown at ss + k/fps, for the delay
the README gives; the file's own delays add up to t; sizes and limits; HTTP, CLI and library agree."""

from __future__ import annotations

import gc
import io
import subprocess
import sys
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

import vframe
from vframe import InvalidSpec, Settings, TooLarge, Unsupported, VframeError, formats
from vframe.limits import Budget
from vframe.pipeline import open_video
from vframe.settings import DEFAULT
from vframe.signing import sign
from vframe_testkit import synth
from vframe_testkit.live import live_server

FPS = 30  # the source: 5 s at 30 fps, 320x240, a keyframe a second, B-frames
FORMATS = ("gif", "webp")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> synth.SynthVideo:
    folder = tmp_path_factory.mktemp("preview")
    return synth.make_video(folder / "clip.mp4", frames=150, fps=FPS, gop=30, bframes=2)


def frames_of(data: bytes) -> list[tuple[int, np.ndarray]]:
    """(delay in ms, RGB picture) of each frame, as Pillow reads the file."""
    image = Image.open(io.BytesIO(data))
    frames = []
    for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        image.load()
        frames.append((int(image.info["duration"]), np.asarray(image.convert("RGB"))))
    return frames


def painted(rgb: np.ndarray) -> int:
    """The index a frame paints, read from the mean of each cell's middle third, which the GIF's
    dithering leaves on the right side of the threshold."""
    return synth.read_index(rgb)


def cumulative(count: int, total: int, fps: int, unit: int) -> list[int]:
    """The delays the README gives, in ms: frame k runs from k/fps to (k+1)/fps, each boundary
    rounded half up to the unit, the last to the span's end `total` (ms)."""
    bounds = [int(Fraction(k * 1000, fps * unit) + Fraction(1, 2)) * unit for k in range(count)] + [total]
    return [b - a for a, b in zip(bounds, bounds[1:], strict=False)]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("ss, t, fps, count", [
    ("1", "2", 10, 20),  # every third source frame
    ("0.5", "1", 30, 30),  # every source frame: moments k/30 s that whole milliseconds cannot name
    ("2", "2.35", 10, 24),  # a last frame shown for 50 ms
])
def test_each_frame_is_the_one_shown_at_its_moment_for_its_delay(
    clip: synth.SynthVideo, fmt: str, ss: str, t: str, fps: int, count: int
) -> None:
    result = vframe.grab(clip.path, f"vpreview/{fmt}/ss/{ss}/t/{t}/fps/{fps}")
    assert result.media_type == f"image/{fmt}" and (result.width, result.height) == (320, 240)
    frames = frames_of(result.data)
    assert len(frames) == count == len(result.times)
    start, span = Fraction(ss), int(Fraction(t) * 1000)
    unit = 10 if fmt == "gif" else 1
    assert [delay for delay, _ in frames] == cumulative(count, span, fps, unit)
    assert sum(delay for delay, _ in frames) == span
    for k, (_, rgb) in enumerate(frames):
        moment = start + Fraction(k, fps)
        shown = int(moment * FPS)  # the source's frame k/30 is shown from k/30 s on
        assert rgb.shape == (240, 320, 3)
        assert painted(rgb) == shown, f"frame {k} at {float(moment):.4f} s"
        assert result.times[k] == clip.times[shown]


def test_odd_delays_at_30_fps_add_up_exactly(clip: synth.SynthVideo) -> None:
    webp = [delay for delay, _ in frames_of(vframe.grab(clip.path, "vpreview/webp/ss/0/t/0.2/fps/30").data)]
    assert webp == [33, 34, 33, 33, 34, 33] and sum(webp) == 200
    gif = [delay for delay, _ in frames_of(vframe.grab(clip.path, "vpreview/gif/ss/0/t/0.2/fps/30").data)]
    assert gif == [30, 40, 30, 30, 40, 30] and sum(gif) == 200
    # t = 0.21 at 30 fps: frame 6 would show for 10 ms (browsers make that 100 ms): frame 5 holds it.
    short = [delay for delay, _ in frames_of(vframe.grab(clip.path, "vpreview/webp/ss/0/t/0.21/fps/30").data)]
    assert short == [33, 34, 33, 33, 34, 43]


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_span_past_the_end_stops_at_the_end(clip: synth.SynthVideo, fmt: str) -> None:
    result = vframe.grab(clip.path, f"vpreview/{fmt}/ss/4/t/3")
    frames = frames_of(result.data)
    assert len(frames) == 10 and sum(delay for delay, _ in frames) == 1000  # 4 s to the end at 5 s
    assert [painted(rgb) for _, rgb in frames] == list(range(120, 150, 3))
    with pytest.raises(InvalidSpec) as raised:
        vframe.grab(clip.path, f"vpreview/{fmt}/ss/5")
    assert "at or after the end of the video" in str(raised.value)


def test_sizes(clip: synth.SynthVideo) -> None:
    def size(spec: str, settings: Settings = DEFAULT) -> tuple[int, int]:
        result = vframe.grab(clip.path, spec, settings)
        image = Image.open(io.BytesIO(result.data))
        assert image.size == (result.width, result.height)
        return image.size

    assert size("vpreview/gif/ss/0/t/0.2") == (320, 240)  # neither side: 320 wide
    assert size("vpreview/webp/ss/0/t/0.2/w/160") == (160, 120)
    assert size("vpreview/gif/ss/0/t/0.2/h/90") == (120, 90)
    assert size("vpreview/webp/ss/0/t/0.2/w/200/h/50") == (200, 50)
    assert size("vpreview/webp/ss/0/t/0.2/w/200/h/50/fit/contain") == (67, 50)
    assert size("vpreview/gif/ss/0/t/0.2/rotate/90") == (320, 427)
    assert size("vpreview/gif/ss/0/t/0.2/rotate/90", replace(DEFAULT, max_preview_side=400)) == (300, 400)
    assert size("vpreview/webp/ss/0/t/0.2/w/1000", replace(DEFAULT, max_preview_side=1000)) == (1000, 750)


def test_the_gif_has_a_real_palette_and_the_webp_full_colour(clip: synth.SynthVideo) -> None:
    truth = np.asarray(Image.open(io.BytesIO(vframe.grab(clip.path, "vframe/png/offset/1").data))).astype(int)
    gif = vframe.grab(clip.path, "vpreview/gif/ss/1/t/0.1")
    image = Image.open(io.BytesIO(gif.data))
    palette = image.getpalette() or []
    colours = {tuple(palette[i:i + 3]) for i in range(0, len(palette), 3)}
    web_safe = {(r, g, b) for r in range(0, 256, 51) for g in range(0, 256, 51) for b in range(0, 256, 51)}
    assert len(colours) > 128 and len(colours - web_safe) > 100
    first = np.asarray(image.convert("RGB")).astype(int)
    assert np.abs(first - truth).mean() < 6  # a web-safe palette without dithering: about 13
    webp = frames_of(vframe.grab(clip.path, "vpreview/webp/ss/1/t/0.1").data)[0][1].astype(int)
    assert np.abs(webp - truth).mean() < 3


def test_a_gif_keeps_still_pixels_still_and_shows_what_moved() -> None:
    """Dithering would change a pixel whose colour moved by a level or two in every frame: within
    4 levels it keeps the frame before's, so only what moved is written (README, "GIF")."""
    rng = np.random.default_rng(7)
    first = rng.integers(0, 256, (90, 160, 3)).astype(np.int16)
    second = np.clip(first + rng.integers(-3, 4, first.shape), 0, 255)
    second[:, 100:] = 255 - first[:, 100:]  # the right part changes
    frames = [Image.fromarray(a.astype(np.uint8)) for a in (first, second)]
    data = formats.animate(frames, [100, 100], "gif", (0, 0, 0), DEFAULT)
    (_, one), (_, two) = frames_of(data)
    assert np.array_equal(one[:, :100], two[:, :100])
    assert np.abs(two[:, 100:].astype(int) - second[:, 100:]).mean() < 40  # a palette of noise: coarse
    assert np.abs(two[:, 100:].astype(int) - one[:, 100:]).mean() > 60
    still = formats.animate([frames[0], frames[0]], [100, 100], "gif", (0, 0, 0), DEFAULT)
    assert len(data) < len(still) + 0.6 * (len(still) - 800)  # about the changed part only, beyond a frame's header


def test_one_walk_decodes_the_span_once(clip: synth.SynthVideo) -> None:
    """20 moments over 2 s from a keyframe: one walk decodes 40 frames (it skips the B-frames no
    moment shows), where a seek and a decode per moment, as 20 single frames, take 220."""
    tight = replace(DEFAULT, max_decoded_frames=45, decoder_threads=1)
    assert len(vframe.grab(clip.path, "vpreview/webp/ss/1/t/2/fps/10", tight).times) == 20
    with pytest.raises(TooLarge):
        vframe.grab(clip.path, "vpreview/webp/ss/1/t/2/fps/10", replace(tight, max_decoded_frames=35))


def test_a_dense_walk_holds_a_few_decoded_frames_not_all(clip: synth.SynthVideo) -> None:
    """Every frame of 4 s (120 moments, 4 GOPs): the walk makes what it returns of each frame as
    soon as the next is decoded and lets the frame go, so a long preview does not hold a decoder
    buffer per frame (it held a GOP's worth, 30 here, and a worker's address space ran out)."""
    alive = []

    def keep(found: object) -> int:
        alive.append(sum(1 for thing in gc.get_objects() if isinstance(thing, av.VideoFrame)))
        return len(alive)

    moments = [Fraction(k * 1000, FPS) for k in range(120)]
    with open_video(clip.path, DEFAULT) as video:
        assert len(list(video.walk(moments, Budget(DEFAULT), keep=keep))) == 120
    assert len(alive) == 120 and max(alive) <= 10


@pytest.mark.parametrize("spec, error, words", [
    ("vpreview/gif", InvalidSpec, "no start"),
    ("vpreview/gif/t/2", InvalidSpec, "no start"),
    ("vpreview/gif/ss/0/t/0", InvalidSpec, "longer than 0"),
    ("vpreview/gif/ss/0/t/10.01", InvalidSpec, "at most 10 seconds"),
    ("vpreview/gif/ss/0/t/1.005", InvalidSpec, "hundredths"),
    ("vpreview/webp/ss/0/fps/0", InvalidSpec, "fps"),
    ("vpreview/webp/ss/0/fps/31", InvalidSpec, "fps"),
    ("vpreview/webp/ss/0/fps/2.5", InvalidSpec, "fps"),
    ("vpreview/webp/ss/0/w/641", InvalidSpec, "from 1 to 640"),
    ("vpreview/webp/ss/0/h/0", InvalidSpec, "from 1 to 640"),
    ("vpreview/webp/ss/0/mode/fast", InvalidSpec, "Unknown key"),
    ("vpreview/webp/ss/0/ss/1", InvalidSpec, "twice"),
    ("vpreview/png/ss/0", Unsupported, "gif or webp"),
    ("vpreview/mp4/ss/0", Unsupported, "gif or webp"),
])
def test_malformed_previews(spec: str, error: type[VframeError], words: str) -> None:
    with pytest.raises(error) as raised:
        vframe.parse(spec)
    assert words in str(raised.value) and str(raised.value).endswith(".")


def test_the_limits_give_their_statuses(clip: synth.SynthVideo) -> None:
    few = replace(DEFAULT, max_preview_frames=25)
    assert vframe.parse("vpreview/gif/ss/0/t/2.5", few)
    with pytest.raises(TooLarge) as raised:
        vframe.parse("vpreview/gif/ss/0/t/2.6", few)  # 26 frames
    assert raised.value.status == 413 and "26 frames" in str(raised.value)
    small = replace(DEFAULT, max_preview_pixels=20 * 160 * 120)
    assert len(vframe.grab(clip.path, "vpreview/webp/ss/0/t/2/w/160", small).times) == 20
    with pytest.raises(TooLarge) as raised:
        vframe.grab(clip.path, "vpreview/webp/ss/0/t/2.1/w/160", small)
    assert raised.value.status == 413 and "pixels" in str(raised.value)
    with pytest.raises(TooLarge):
        vframe.grab(clip.path, "vpreview/gif/ss/0/t/3", replace(DEFAULT, max_output_bytes=10_000))


def test_a_preview_is_a_pfop_command_too() -> None:
    from vframe.jobs.fops import parse_fops

    (command,) = parse_fops("vpreview/gif/fps/10/ss/1.0/t/2", "clip.mp4", "bucket", DEFAULT)
    assert str(command.spec) == "vpreview/gif/ss/1/t/2" and command.key.endswith(".gif")
    with pytest.raises(InvalidSpec):
        parse_fops("vpreview/gif/ss/1/t/2.005", "clip.mp4", "bucket", DEFAULT)


def test_http_cli_and_library_agree(clip: synth.SynthVideo, tmp_path: Path) -> None:
    spec = "vpreview/gif/ss/1/t/2/w/160"
    library = vframe.grab(clip.path, spec)
    out = tmp_path / "cli.gif"
    done = subprocess.run([sys.executable, "-m", "vframe", "grab", str(clip.path), spec, "-o", str(out)],
                          capture_output=True, timeout=60, start_new_session=True)
    assert done.returncode == 0, done.stderr
    assert out.read_bytes() == library.data
    over = subprocess.run([sys.executable, "-m", "vframe", "grab", str(clip.path), "vpreview/gif/ss/0/t/11"],
                          capture_output=True, timeout=60, start_new_session=True)
    assert over.returncode == 3 and over.stderr.decode().startswith("vframe: The span t '11'")
    flags = ("--workers", "1", "--signing-keys", "key:secret", "--max-preview-frames", "25")
    with live_server(clip.path.parent, *flags) as live, live.client() as client:
        def signed(query: str) -> str:
            return sign(f"{live.url}/clip.mp4?{query}", "key", "secret", 2_000_000_000)

        assert client.get(f"/clip.mp4?{spec}").status_code == 403
        answer = client.get(signed(spec))
        assert answer.status_code == 200 and answer.content == library.data
        assert answer.headers["content-type"] == "image/gif" and answer.headers["x-vframe-frames"] == "20"
        etag = answer.headers["etag"]
        assert client.get(signed(spec), headers={"If-None-Match": etag}).status_code == 304
        spelled = client.get(signed("vpreview/gif/w/160/t/2.000/fps/10/ss/1.0"), headers={"If-None-Match": etag})
        assert spelled.status_code == 304
        webp = client.get(signed("vpreview/webp/ss/1/t/2/w/160"))
        assert webp.status_code == 200 and webp.headers["content-type"] == "image/webp"
        assert webp.headers["etag"] != etag
        assert webp.content == vframe.grab(clip.path, "vpreview/webp/ss/1/t/2/w/160").data
        too_many = client.get(signed("vpreview/gif/ss/0/t/3"))  # 30 frames over the server's 25
        assert too_many.status_code == 413 and "30 frames" in too_many.json()["error"]
        past = client.get(signed("vpreview/webp/ss/9/t/1"))
        assert past.status_code == 400 and "end of the video" in past.json()["error"]
        assert client.get(signed("vpreview/webp/ss/0/fps/60")).status_code == 400
        assert client.get(signed("vpreview/apng/ss/0")).status_code == 415
