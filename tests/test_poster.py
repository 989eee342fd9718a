"""`offset/auto`, the poster chosen for the user (issue 14, points 2 and 5): on videos that open
badly (black, a fade from black, a flat card, a blur; all black; one frame) the poster is a good
frame after the bad opening, read back by its painted index; it is the same whatever the decoder
thread count; HTTP, the CLI and the library agree, and `/offset/<X-Vframe-Time>` gives the same
bytes; the hostile corpus gives no new status; the corpus videos that open on black get a frame
that is not black."""

from __future__ import annotations

import io
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from conftest import video
from PIL import Image

import vframe
from vframe.cli import main
from vframe.settings import DEFAULT, Settings
from vframe.signing import sign
from vframe.spec import FrameSpec, parse
from vframe_testkit import openings, synth
from vframe_testkit.hostile import LAST_FRAME_SPEC, Canary, build_corpus, cases
from vframe_testkit.live import LiveServer, live_server, raw_request
from vframe_testkit.openings import FPS


@dataclass(frozen=True)
class Opening:
    kind: str
    bad_seconds: float
    seconds: float
    gop: int
    first_good: int  # the first frame that is not part of the bad opening


OPENINGS = {
    "black-then-content-gop12": Opening("black", 3, 6, FPS, 3 * FPS),
    "black-then-content-one-keyframe": Opening("black", 3, 6, 1000, 3 * FPS),
    # A fade is bad while its contrast is under half the best frame's: its first half.
    "fade-from-black": Opening("fade", 4, 7, FPS, 2 * FPS),
    "flat-colour-card": Opening("flat", 1, 4, FPS, FPS),
    "blurred-opening": Opening("blur", 3, 6, FPS, 3 * FPS),
}
ACCESS, SECRET = "ak-poster", "sk-poster"
ALL_BLACK = Opening("black", 10, 4, FPS, 0)
ONE_FRAME = Opening("black", 0, 1 / FPS, FPS, 0)

# The corpus videos whose first frame is black (blackdetect's defaults on a 160-pixel copy),
# found by decoding frame 0 of every file of ../shared/videos. These have a frame that is not
# black within the poster's window:
BLACK_OPENINGS = (
    "01_h264_mp4_faststart/deb-openboard__wannaworktogether.mp4",
    "03_rotation/mb__rotate-buck-bunny.mp4",
    "04_hevc/mb__hevc.ts",
    "05_vp8_vp9_webm/deb-gtkmm__gtk-logo.webm",
    "05_vp8_vp9_webm/mb__trim-buck-bunny.webm",
    "07_mpeg4part2_avi/deb-opencv__Megamind.avi",
    "07_mpeg4part2_avi/deb-opencv__Megamind_bugy.avi",
    "11_mpegts/mb__missing-keyframe-labels.ts",
    "19_edge_cases/mb__frag-buck-bunny.mp4",
)
# ...and these are black (or nearly: a starfield) all through: the poster is a frame anyway.
BLACK_THROUGHOUT = (
    "12_mpeg_ps_dvd_vcd_dv/deb-gem__alea.mpg",
    "14_anamorphic_sar/deb-devede__base_pal_wide.mpg",
    "19_edge_cases/deb-ublock__noop-1s.mp4",
    "19_edge_cases/mb__edts.mp4",
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("posters")
    for name, opening in {**OPENINGS, "all-black": ALL_BLACK, "one-frame": ONE_FRAME}.items():
        openings.make_opening(root / f"{name}.mp4", opening.kind, opening.bad_seconds, opening.seconds,
                              gop=opening.gop)
    return root


def rgb(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def offset_of(result: vframe.Result) -> str:
    assert result.time_header is not None
    return result.time_header


def test_spec_auto_parses_and_prints_back() -> None:
    spec = parse("vframe/jpeg/mode/fast/offset/auto/rotate/90/h/90/w/160")
    assert isinstance(spec, FrameSpec) and spec.auto and spec.offset is None
    assert str(spec) == "vframe/jpg/offset/auto/w/160/h/90/rotate/90/mode/fast"
    assert parse(str(spec)) == spec
    assert str(parse("vframe/png/offset/auto")) == "vframe/png/offset/auto"
    for wrong in ("vframe/jpg/offset/Auto", "vframe/jpg/offset/auto/offset/1", "vframe/jpg/offset/autos"):
        with pytest.raises(vframe.InvalidSpec):
            parse(wrong)


@pytest.mark.parametrize("name", list(OPENINGS))
def test_poster_is_after_the_bad_opening(name: str, folder: Path) -> None:
    """Point 2: never the black, flat, faded or blurred opening when a good frame exists."""
    opening = OPENINGS[name]
    result = vframe.grab(folder / f"{name}.mp4", "vframe/png/offset/auto")
    picture = rgb(result.data)
    index = synth.read_index(picture)
    assert index >= opening.first_good, (name, index)
    assert not openings.is_black(picture) and not openings.is_flat(picture)
    sharp = openings.detail(synth.index_pattern(index, openings.WIDTH, openings.HEIGHT))
    assert openings.detail(picture) > 0.5 * sharp, "blurred"
    # X-Vframe-Time: the frame's time rounded up to the millisecond, the offset that names it.
    assert result.time_header == f"{math.ceil(index * 1000 / FPS) / 1000:.3f}"


def test_all_black_video_gives_its_first_frame(folder: Path) -> None:
    result = vframe.grab(folder / "all-black.mp4", "vframe/png/offset/auto")
    assert result.time_header == "0.000" and openings.is_black(rgb(result.data))
    assert result.data == vframe.grab(folder / "all-black.mp4", "vframe/png/offset/0").data


def test_one_frame_video(folder: Path) -> None:
    result = vframe.grab(folder / "one-frame.mp4", "vframe/png/offset/auto")
    assert (result.time_header, synth.read_index(rgb(result.data))) == ("0.000", 0)


def test_fast_mode_looks_at_keyframes_only(folder: Path) -> None:
    """mode/fast never decodes the exact frames: with one keyframe, it is the poster."""
    path = folder / "black-then-content-one-keyframe.mp4"
    assert vframe.grab(path, "vframe/png/offset/auto/mode/fast").time_header == "0.000"
    fast = vframe.grab(folder / "black-then-content-gop12.mp4", "vframe/png/offset/auto/mode/fast")
    assert synth.read_index(rgb(fast.data)) % FPS == 0 and synth.read_index(rgb(fast.data)) >= 3 * FPS


@pytest.mark.parametrize("name", ["black-then-content-gop12", "black-then-content-one-keyframe", "blurred-opening"])
def test_same_poster_with_one_and_two_decoder_threads(name: str, folder: Path) -> None:
    answers = set()
    for threads in (1, 2, 1, 2):
        result = vframe.grab(folder / f"{name}.mp4", "vframe/jpg/offset/auto/w/96",
                             replace(DEFAULT, decoder_threads=threads))
        answers.add((result.data, result.time_header))
    assert len(answers) == 1


@pytest.mark.parametrize("keys", ["", "/w/96", "/h/50/rotate/90", "/w/64/h/64/mode/fast", "/rotate/180"])
@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_same_bytes_as_the_offset_it_reports(keys: str, fmt: str, folder: Path) -> None:
    path = folder / "black-then-content-one-keyframe.mp4"
    auto = vframe.grab(path, f"vframe/{fmt}/offset/auto{keys}")
    same = vframe.grab(path, f"vframe/{fmt}/offset/{offset_of(auto)}{keys}")
    assert auto.data == same.data and (auto.width, auto.height) == (same.width, same.height)


def test_time_rounded_up_names_the_frame(tmp_path: Path) -> None:
    """At 24 fps frame 74 is at 3.08333 s: X-Vframe-Time 3.084 (not 3.083, which shows frame 73)."""
    path = tmp_path / "black-24.mp4"
    synth.make_video(path, frames=120, fps=24, width=160, height=120, gop=1000,
                     painter=openings.opening("black", 74))
    auto = vframe.grab(path, "vframe/png/offset/auto")
    index = synth.read_index(rgb(auto.data))
    assert index >= 74
    assert auto.data == vframe.grab(path, f"vframe/png/offset/{offset_of(auto)}").data


def test_truncated_upload_still_gets_a_poster(folder: Path, tmp_path: Path) -> None:
    """Candidates stop at the cut: the poster is a good frame before it; a frame past it stays 599."""
    whole = synth.remux_faststart(folder / "black-then-content-gop12.mp4", tmp_path / "faststart.mp4")
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 7 // 10])
    with pytest.raises(vframe.ProcessingFailed):
        vframe.grab(cut, "vframe/png/offset/5.5")
    poster = vframe.grab(cut, "vframe/png/offset/auto")
    assert synth.read_index(rgb(poster.data)) >= 3 * FPS
    assert poster.data == vframe.grab(cut, f"vframe/png/offset/{offset_of(poster)}").data


def test_cli_verbose_line(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = folder / "flat-colour-card.mp4"
    library = vframe.grab(path, "vframe/jpg/offset/auto")
    out = tmp_path / "poster.jpg"
    assert main(["grab", str(path), "vframe/jpg/offset/auto", "-o", str(out), "-v"]) == 0
    line = f"vframe: frame {library.time_header} s, 160x120 image/jpeg, {len(library.data)} bytes\n"
    assert capsys.readouterr().err == line
    assert out.read_bytes() == library.data
    assert main(["grab", str(path), "vframe/jpg/offset/auto", "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[LiveServer]:
    with live_server(folder, "--workers", "1", "--signing-keys", f"{ACCESS}:{SECRET}") as running:
        yield running


def test_http_poster(folder: Path, server: LiveServer) -> None:
    """Signed URLs, X-Vframe-Time, ETag and 304 as for any frame; the bytes of /offset/<X-Vframe-Time>
    and of the library."""
    import httpx

    name = "blurred-opening.mp4"

    def signed(spec: str) -> str:
        return sign(f"{server.url}/{name}?{spec}", ACCESS, SECRET, int(time.time()) + 600)

    with httpx.Client(timeout=30) as client:
        assert client.get(f"{server.url}/{name}?vframe/jpg/offset/auto/w/120").status_code == 403
        auto = client.get(signed("vframe/jpg/offset/auto/w/120"))
        assert auto.status_code == 200 and auto.headers["content-type"] == "image/jpeg"
        reported, etag = auto.headers["x-vframe-time"], auto.headers["etag"]
        assert synth.read_index(rgb(auto.content)) >= 3 * FPS
        again = client.get(signed("vframe/jpg/offset/auto/w/120"), headers={"If-None-Match": etag})
        assert again.status_code == 304 and not again.content
        head = client.head(signed("vframe/jpg/offset/auto/w/120"))
        assert head.status_code == 200 and head.headers["x-vframe-time"] == reported
        same = client.get(signed(f"vframe/jpg/offset/{reported}/w/120"))
        assert same.content == auto.content and same.headers["etag"] != etag
    library = vframe.grab(folder / name, "vframe/jpg/offset/auto/w/120", Settings())
    assert (library.data, library.time_header) == (auto.content, reported)


def test_hostile_corpus_statuses(tmp_path_factory: pytest.TempPathFactory) -> None:
    """No 500; the status of offset/0, but a 200 where candidates stop at a truncation: a video
    whose last frame is cut off (599) still gets a poster."""
    canary = Canary()
    try:
        root = tmp_path_factory.mktemp("hostile") / "root"
        build_corpus(root, canary.port)
        keys = sorted({case.key for case in cases() if "/" not in case.key and "%" not in case.key
                       and (root / case.key).is_file()})
        rescued = []
        with live_server(root, "--workers", "1") as running:
            for key in keys:
                first = raw_request(running, f"/{key}?vframe/png/offset/0")
                auto = raw_request(running, f"/{key}?vframe/png/offset/auto")
                assert auto.status != 500 and first.status != 500, key
                if auto.status != first.status:
                    assert (first.status, auto.status) == (599, 200), (key, first.status, auto.status)
                if auto.status != 200:
                    assert auto.headers["content-type"] == "application/json", key
                elif raw_request(running, f"/{key}?{LAST_FRAME_SPEC}").status == 599:  # its last frame is cut off
                    rescued.append(key)
        assert canary.connections == 0
    finally:
        canary.close()
    assert {"cut-50-faststart.mp4", "cut-90-faststart.mp4"} <= set(rescued), rescued


@pytest.mark.parametrize("relative", BLACK_OPENINGS)
def test_corpus_video_opening_on_black(relative: str) -> None:
    path = video(relative)
    assert openings.is_black(rgb(vframe.grab(path, "vframe/png/offset/0/w/160").data))
    poster = vframe.grab(path, "vframe/png/offset/auto/w/160")
    assert not openings.is_black(rgb(poster.data)), poster.time_header
    assert poster.data == vframe.grab(path, f"vframe/png/offset/{offset_of(poster)}/w/160").data


@pytest.mark.parametrize("relative", BLACK_THROUGHOUT)
def test_corpus_video_black_throughout(relative: str) -> None:
    path = video(relative)
    poster = vframe.grab(path, "vframe/png/offset/auto/w/160")
    assert poster.data == vframe.grab(path, f"vframe/png/offset/{offset_of(poster)}/w/160").data



def test_cli_same_poster_whatever_vframe_decoder_threads(
    folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, out = folder / "black-then-content-one-keyframe.mp4", tmp_path / "poster.webp"
    answers = set()
    for threads in ("1", "2"):
        monkeypatch.setenv("VFRAME_DECODER_THREADS", threads)
        assert main(["grab", str(path), "vframe/webp/offset/auto/h/90", "-o", str(out), "-v"]) == 0
        answers.add((out.read_bytes(), capsys.readouterr().err))
    assert len(answers) == 1
