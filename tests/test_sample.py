"""`vsample`: many frames from one walk. Every tile is the frame a sequential decode says is shown
at its sample time (the keyframe at or before it in fast mode), on every video of the shared
corpus and the synthetic ones; sheets are laid out as asked; the WebVTT storyboard, read as a
player reads it, points at tiles equal to single frames; the walk decodes each frame it needs
once and no GOP that holds no sample."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import numpy as np
import pytest
from conftest import SYNTHETIC, VIDEOS, corpus_params
from PIL import Image

import vframe
from vframe.errors import InvalidSpec, ProcessingFailed, SourceNotFound, TooLarge, Unsupported
from vframe.limits import Budget
from vframe.media import Video
from vframe.settings import DEFAULT, Settings
from vframe.signing import sign
from vframe_testkit import synth
from vframe_testkit.live import LiveServer, live_server
from vframe_testkit.truth import sequential

TILE = (80, 60)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> synth.SynthVideo:
    """4 s at 25 fps, a keyframe every 25 frames, 2 B-frames: every frame paints its index."""
    folder = tmp_path_factory.mktemp("sample")
    return synth.make_video(folder / "clip.mp4", frames=100, fps=25, gop=25, bframes=2, width=320, height=240)


def shown_index(video: synth.SynthVideo, offset_ms: int) -> int:
    return max(i for i, t in enumerate(video.times) if (t - video.times[0]) * 1000 <= offset_ms)


def tiles_of(data: bytes, tiles: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
    sheet = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return [sheet[y:y + h, x:x + w] for x, y, w, h in tiles]


# -- every tile is the right frame -----------------------------------------------------------


def _tile_times(path: Path, spec: str) -> list[tuple[float, Fraction]]:
    board = json.loads(vframe.grab(path, spec).data)
    return [(tile["start"], Fraction(tile["time"]).limit_denominator(10**6)) for tile in board["tiles"]]


def _single(path: Path, offset_ms: int, keyframe: bool) -> Fraction | type[Exception]:
    """The time of the frame one single-frame request gives, or the class of its failure."""
    try:
        with path.open("rb") as reader, Video(reader, DEFAULT) as video:
            return video.find(offset_ms, Budget(DEFAULT), keyframe=keyframe).time
    except (ProcessingFailed, Unsupported, TooLarge) as error:
        return type(error)


@pytest.mark.parametrize("entry", corpus_params(lambda e: e["n_video"] and e["decoded_frames"] not in (0, "-")))
def test_corpus_storyboard_tiles_are_the_frames_shown(entry: dict[str, Any]) -> None:
    """8 tiles spread over each video. Exact: each tile is the frame a sequential decode shows at
    its sample time (by timestamp). Fast: the keyframe a single fast frame gives there, which is
    never after the frame shown. A storyboard fails, with the single frame's class of error,
    exactly when one of its samples does alone (damage, a truncation)."""
    path = VIDEOS / entry["path"]
    truth = sequential(path)
    if truth is None:
        with pytest.raises((Unsupported, ProcessingFailed)):
            vframe.grab(path, "vsample/json/frames/8/s/160x90")
        return
    try:
        cues = parse_vtt(vframe.grab(path, "vsample/vtt/frames/8/s/160x90").data.decode())
    except ProcessingFailed:  # no length in the headers, and no last frame to be found
        assert truth.missing_at(999_999_999) or _single(path, 999_999_999, False) is ProcessingFailed
        return
    offsets = [round(start * 1000) for start, _, _ in cues]
    for mode in ("exact", "fast"):
        singles = [_single(path, offset, mode == "fast") for offset in offsets]
        failures = [single for single in singles if not isinstance(single, Fraction)]
        try:
            board = json.loads(vframe.grab(path, f"vsample/json/frames/8/s/160x90/mode/{mode}").data)
        except (ProcessingFailed, Unsupported, TooLarge) as error:
            assert type(error) in failures, f"{entry['path']} {mode}: {error} where each sample alone gave {singles}"
            continue
        assert not failures, f"{entry['path']} {mode}: made, where a sample alone gave {failures}"
        assert [round(tile["start"] * 1000) for tile in board["tiles"]] == offsets
        for tile, offset, single in zip(board["tiles"], offsets, singles, strict=True):
            shown = float(truth.seconds(truth.shown_at(offset)))
            expected = shown if mode == "exact" else float(single)  # type: ignore[arg-type]
            assert tile["time"] == pytest.approx(expected, abs=1e-6), f"{entry['path']} {mode} at {offset} ms"
            assert tile["time"] <= shown + 1e-6


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_storyboard_tiles_show_their_index(name: str, synthetic: dict[str, synth.SynthVideo]) -> None:
    """Every tile of an exact png sheet shows the index of the frame shown at its sample time, and
    a fast one the keyframe's."""
    made = synthetic[name]
    gop = SYNTHETIC[name]["gop"]
    for mode in ("exact", "fast"):
        result = vframe.grab(made.path, f"vsample/png/interval/0.15/s/160x120/columns/6/mode/{mode}")
        assert result.tiles and len(result.times) == len(result.tiles)
        pictures = tiles_of(result.data, [(t.x, t.y, t.width, t.height) for t in result.tiles])
        for tile, pixels in zip(result.tiles, pictures, strict=True):
            offset = int(tile.start * 1000)
            expected = shown_index(made, offset)
            if mode == "fast":
                expected = expected // gop * gop
            assert synth.read_index(pixels) == expected, f"{name} {mode} at {offset} ms"
            assert tile.time == made.times[expected] - made.times[0]


# -- the sheet's layout ------------------------------------------------------------------------


def test_sheet_geometry_padding_margin_and_background(clip: synth.SynthVideo) -> None:
    result = vframe.grab(clip.path, "vsample/png/interval/0.5/s/80x60/columns/3/padding/4/margin/6/color/ff0000")
    assert len(result.tiles) == 8  # 0, 0.5, ... 3.5 s of a 4 s video
    assert (result.width, result.height) == (6 + 3 * 80 + 2 * 4 + 6, 6 + 3 * 60 + 2 * 4 + 6)
    assert [(t.x, t.y) for t in result.tiles] == [(6 + c * 84, 6 + r * 64) for r in range(3) for c in range(3)][:8]
    sheet = np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB"))
    red = np.array([255, 0, 0])
    assert (sheet[:6] == red).all() and (sheet[:, :6] == red).all()  # the margin
    assert (sheet[6:66, 86:90] == red).all()  # the padding between two tiles
    assert (sheet[-66:, -90:] == red).all()  # the empty ninth cell
    assert [t.start for t in result.tiles] == [Fraction(i, 2) for i in range(8)]
    assert [t.end for t in result.tiles] == [Fraction(i + 1, 2) for i in range(8)]


def test_pages_split_the_tiles_and_a_page_past_the_last_is_404(clip: synth.SynthVideo) -> None:
    spec = "vsample/png/interval/0.25/s/80x60/columns/4/lines/2"  # 16 tiles, 8 a page
    pages = [vframe.grab(clip.path, f"{spec}/page/{page}") for page in (0, 1)]
    assert [len(page.tiles) for page in pages] == [8, 8]
    assert [t.page for t in pages[1].tiles] == [1] * 8
    assert pages[1].tiles[0].start == 2 and (pages[1].tiles[0].x, pages[1].tiles[0].y) == (0, 0)
    with pytest.raises(SourceNotFound, match="no page 2"):
        vframe.grab(clip.path, f"{spec}/page/2")


def test_frames_spreads_tiles_over_the_span_and_one_side_follows_the_aspect(clip: synth.SynthVideo) -> None:
    result = vframe.grab(clip.path, "vsample/jpg/ss/1/t/2/frames/4/s/x60")
    assert [t.start for t in result.tiles] == [1, Fraction(3, 2), 2, Fraction(5, 2)]
    assert result.tiles[-1].end == 3
    assert {(t.width, t.height) for t in result.tiles} == {(80, 60)}
    assert result.media_type == "image/jpeg"


def test_a_cue_tile_equals_a_single_frame_grab_at_the_same_size(clip: synth.SynthVideo) -> None:
    result = vframe.grab(clip.path, "vsample/png/interval/0.7/s/80x60/columns/5")
    pictures = tiles_of(result.data, [(t.x, t.y, t.width, t.height) for t in result.tiles])
    for tile, pixels in zip(result.tiles, pictures, strict=True):
        single = vframe.grab(clip.path, f"vframe/png/offset/{float(tile.start)}/w/80/h/60")
        assert single.time == tile.time
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(single.data)).convert("RGB")), pixels)


@pytest.mark.parametrize("fmt", ["jpg", "png", "webp", "avif"])
def test_every_image_format_makes_a_sheet(fmt: str, clip: synth.SynthVideo) -> None:
    result = vframe.grab(clip.path, f"vsample/{fmt}/interval/1/s/80x60")
    image = Image.open(io.BytesIO(result.data))
    assert image.size == (4 * 80, 60) == (result.width, result.height)
    assert result.media_type == {"jpg": "image/jpeg"}.get(fmt, f"image/{fmt}")


# -- decoding each needed frame once ---------------------------------------------------------


def decoded(path: Path, offsets: list[int], *, keyframe: bool = False) -> tuple[int, list[Fraction]]:
    budget = Budget(DEFAULT)
    with path.open("rb") as reader, Video(reader, DEFAULT) as video:
        times = [found.time for _, found in video.walk(offsets, budget, keyframe=keyframe)]
    return DEFAULT.max_decoded_frames - budget.frames_left, times


def test_a_storyboard_decodes_each_frame_once_and_no_gop_without_a_sample(tmp_path: Path) -> None:
    """Samples in GOPs 0, 1 and 3 of 5 (25 frames each): the walk decodes at most the frames of
    those GOPs, each once, and in fast mode one keyframe a GOP."""
    made = synth.make_video(tmp_path / "gops.mp4", frames=125, fps=25, gop=25, bframes=2)
    offsets = [0, 400, 960, 1000, 1200, 1960, 3000, 3400, 3960]
    count, times = decoded(made.path, offsets)
    assert times == [made.times[shown_index(made, o)] for o in offsets]
    assert count <= 3 * 25
    single = sum(decoded(made.path, [offset])[0] for offset in offsets)
    assert count < single
    fast_count, fast_times = decoded(made.path, offsets, keyframe=True)
    assert fast_count == 3
    assert fast_times == [made.times[shown_index(made, o) // 25 * 25] for o in offsets]


def test_without_an_index_a_storyboard_still_decodes_on_rather_than_seeking_each_tile(tmp_path: Path) -> None:
    """MPEG-TS keeps no index: once the walk has read a whole GOP, a sample no further on than
    that is reached by decoding on; the frames are the same as the single frames'."""
    made = synth.make_video(tmp_path / "gops.ts", frames=125, fps=25, gop=25, bframes=2)
    offsets = [0, 400, 960, 1000, 1200, 1960, 3000, 3400, 3960]
    count, times = decoded(made.path, offsets)
    assert times == [made.times[shown_index(made, o)] - made.times[0] for o in offsets]
    singles = [decoded(made.path, [offset]) for offset in offsets]
    assert [time for _, (time,) in singles] == times
    assert count < 0.6 * sum(single for single, _ in singles)


def test_a_walk_of_one_decodes_what_the_single_frame_path_always_did(synthetic: dict[str, synth.SynthVideo]) -> None:
    """The frames decoded for each single frame of the synthetic videos, as the engine before the
    walk decoded them (recorded with the PyAV below), but for two corrections: fast mode in the
    VFR MP4 now reads the keyframe its index seeks past (it gave the keyframe before), and in
    Matroska skips the keyframe after the target."""
    recorded = json.loads((Path(__file__).parent / "data" / "single_frame_decodes.json").read_text())
    import av

    if av.__version__ != recorded["av"]:
        pytest.skip(f"the counts were recorded with PyAV {recorded['av']}'s encoders, this is {av.__version__}")
    for name, modes in recorded["videos"].items():
        for mode, counts in modes.items():
            for offset, expected in counts.items():
                budget = Budget(Settings(decoder_threads=1))
                with synthetic[name].path.open("rb") as reader, Video(reader, Settings(decoder_threads=1)) as video:
                    video.find(int(offset), budget, keyframe=mode == "fast")
                assert budget.max_frames - budget.frames_left == expected, f"{name} {mode} at {offset} ms"


# -- limits and malformed specs --------------------------------------------------------------

BAD_SPECS = [
    ("vsample/gif/interval/1", Unsupported, "not supported"),
    ("vsample/jpg/interval/1/frames/4", InvalidSpec, "not both"),
    ("vsample/jpg/interval/0.05", InvalidSpec, "at least 0.1"),
    ("vsample/jpg/interval/-1", InvalidSpec, "not a number of seconds"),
    ("vsample/jpg/frames/0", InvalidSpec, "from 1 to"),
    ("vsample/jpg/s/160y90", InvalidSpec, "WxH"),
    ("vsample/jpg/s/0x90", InvalidSpec, "from 1 to"),
    ("vsample/jpg/color/red", InvalidSpec, "six hex digits"),
    ("vsample/jpg/columns/0", InvalidSpec, "from 1 to"),
    ("vsample/jpg/padding/999", InvalidSpec, "from 0 to 256"),
    ("vsample/jpg/sheet/png", InvalidSpec, "vtt or json"),
    ("vsample/vtt/page/1", InvalidSpec, "lists every page"),
    ("vsample/vtt/sheet/bmp", Unsupported, "not supported"),
    ("vsample/jpg/t/0", InvalidSpec, "longer than 0"),
    ("vsample/jpg/interval/1/interval/2", InvalidSpec, "given twice"),
    ("vsample/jpg/speed/2", InvalidSpec, "Unknown key"),
    ("vsample/jpg/frames/100000", TooLarge, "more than this server makes"),
    # known only once the video is open:
    ("vsample/jpg/ss/60", InvalidSpec, "after the end of the video"),
    ("vsample/jpg/interval/0.1/s/1000x90/columns/20", InvalidSpec, "too wide"),
    ("vsample/jpg/interval/0.1/s/160x2000/lines/9", InvalidSpec, "too tall"),
    ("vsample/jpg/interval/1/page/9", SourceNotFound, "no page 9"),
]


@pytest.mark.parametrize(("spec", "error", "message"), BAD_SPECS, ids=[case[0] for case in BAD_SPECS])
def test_a_bad_spec_gives_its_error_in_the_library_and_the_cli(
    spec: str, error: type[Exception], message: str, clip: synth.SynthVideo
) -> None:
    with pytest.raises(error, match=message):
        vframe.grab(clip.path, spec)
    done = subprocess.run([sys.executable, "-m", "vframe", "grab", str(clip.path), spec], capture_output=True,
                          check=False)
    assert done.returncode == error.exit_code  # type: ignore[attr-defined]
    assert message in done.stderr.decode()


@pytest.mark.parametrize(("spec", "error", "message"), BAD_SPECS, ids=[case[0] for case in BAD_SPECS])
def test_a_bad_spec_gives_its_status_and_message_through_http(
    spec: str, error: type[Exception], message: str, server: LiveServer
) -> None:
    with server.client() as client:
        answer = client.get(f"/sub%20dir/clip.mp4?{spec}")
    assert answer.status_code == error.status  # type: ignore[attr-defined]
    assert answer.headers["content-type"] == "application/json"
    assert message in answer.json()["error"]


@pytest.mark.parametrize(("text", "canonical"), [
    ("vsample/jpeg", "vsample/jpg"),
    ("vsample/jpg/interval/5/s/160x/columns/10/padding/0/margin/0/color/000000/page/0", "vsample/jpg"),
    ("vsample/png/mode/fast/s/x90/interval/2.50/ss/1.0/t/60", "vsample/png/ss/1/t/60/interval/2.5/s/x90/mode/fast"),
    ("vsample/vtt/sheet/webp/frames/100/color/FFAA00/lines/3",
     "vsample/vtt/frames/100/lines/3/color/ffaa00/sheet/webp"),
    ("vsample/avif/page/2/rotate/90/margin/4/padding/2/columns/5/s/80x60",
     "vsample/avif/s/80x60/columns/5/padding/2/margin/4/rotate/90/page/2"),
])
def test_the_canonical_spec_leaves_out_defaults_and_parses_back(text: str, canonical: str) -> None:
    spec = vframe.parse(text)
    assert str(spec) == canonical
    assert vframe.parse(canonical) == spec


def test_more_tiles_than_allowed_is_413(clip: synth.SynthVideo) -> None:
    with pytest.raises(TooLarge, match="40 tiles, more than this server makes .30."):
        vframe.grab(clip.path, "vsample/vtt/interval/0.1", Settings(max_tiles=30))


def test_the_frames_decoded_count_against_the_limit(clip: synth.SynthVideo) -> None:
    with pytest.raises(TooLarge, match="more decoding"):
        vframe.grab(clip.path, "vsample/jpg/interval/0.2/s/80x60", Settings(max_decoded_frames=50))


def test_a_sample_in_a_truncated_part_fails_the_sheet_with_599(clip: synth.SynthVideo, tmp_path: Path) -> None:
    """A file cut at 60 % (its index still says 4 s): a sheet of samples before the cut is made;
    one with a sample past it fails whole, with the message the single frame gives (README)."""
    cut = tmp_path / "cut.mp4"
    faststart = synth.remux_faststart(clip.path, tmp_path / "faststart.mp4")
    data = faststart.read_bytes()
    cut.write_bytes(data[: int(len(data) * 0.6)])
    early = vframe.grab(cut, "vsample/png/t/1/interval/0.5/s/80x60")
    assert [t.time for t in early.tiles] == [0, Fraction(12, 25)]
    with pytest.raises(ProcessingFailed, match="truncated or corrupt"):
        vframe.grab(cut, "vsample/png/interval/0.5/s/80x60")
    single = subprocess.run([sys.executable, "-m", "vframe", "grab", str(cut), "vframe/png/offset/3.5"],
                            capture_output=True, check=False)
    assert single.returncode == ProcessingFailed.exit_code


def test_vframe_sample_writes_each_frame_as_its_own_file(clip: synth.SynthVideo, tmp_path: Path) -> None:
    out = tmp_path / "frames"
    done = subprocess.run([sys.executable, "-m", "vframe", "sample", str(clip.path), "vsample/png/interval/1/s/160x120",
                           "-o", str(out)], capture_output=True, check=False)
    assert done.returncode == 0, done.stderr
    names = sorted(path.name for path in out.iterdir())
    assert names == ["000000.png", "000001.png", "000002.png", "000003.png"]
    for index, name in enumerate(names):
        picture = np.asarray(Image.open(out / name).convert("RGB"))
        assert picture.shape == (120, 160, 3)
        assert synth.read_index(picture) == 25 * index


# -- the storyboard as a player reads it, through HTTP ------------------------------------------


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    """(start, end, url) of each cue, as a player's WebVTT parser reads them."""
    assert text.startswith("WEBVTT\n")

    def seconds(stamp: str) -> float:
        hours, minutes, rest = stamp.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(rest)

    cues = []
    for block in text.split("\n\n")[1:]:
        if not block.strip():
            continue
        timing, payload = block.strip().split("\n")
        start, _, end = timing.partition(" --> ")
        cues.append((seconds(start), seconds(end), payload))
    return cues


@pytest.fixture(scope="module")
def server(clip: synth.SynthVideo, tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("served")
    (root / "sub dir").mkdir()
    (root / "sub dir" / "clip.mp4").write_bytes(clip.path.read_bytes())
    with live_server(root, "--workers", "1") as live:
        yield live


def check_storyboard(live: LiveServer, storyboard_url: str, expect_sheets: int) -> None:
    with live.client() as client:
        answer = client.get(storyboard_url)
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"] == "text/vtt; charset=utf-8"
        cues = parse_vtt(answer.text)
        assert int(answer.headers["x-vframe-tiles"]) == len(cues) == 16
        assert [(start, end) for start, end, _ in cues] == [(i / 4, (i + 1) / 4) for i in range(16)]
        sheets: dict[str, np.ndarray] = {}
        for start, _, payload in cues:
            url, _, fragment = payload.partition("#xywh=")
            x, y, w, h = (int(v) for v in fragment.split(","))
            absolute = urljoin(live.url + storyboard_url, url)
            if absolute not in sheets:
                sheet = client.get(absolute)
                assert sheet.status_code == 200, sheet.text
                assert sheet.headers["content-type"] == "image/png"
                sheets[absolute] = np.asarray(Image.open(io.BytesIO(sheet.content)).convert("RGB"))
            tile = sheets[absolute][y:y + h, x:x + w]
            single_url = urljoin(absolute, url.split("?")[0]) + f"?vframe/png/offset/{start}/w/{w}/h/{h}"
            if "token=" in absolute:
                single_url = sign_like(absolute, single_url)
            single = client.get(single_url)
            assert single.status_code == 200, single.text
            assert np.array_equal(np.asarray(Image.open(io.BytesIO(single.content)).convert("RGB")), tile)
        assert len(sheets) == expect_sheets


def sign_like(signed: str, url: str) -> str:
    return sign(url, "key", "secret", int(signed.split("&e=")[1].split("&")[0]))


def test_the_vtt_storyboard_read_as_a_player_reads_it(server: LiveServer) -> None:
    check_storyboard(server, "/sub%20dir/clip.mp4?vsample/vtt/interval/0.25/s/80x60/columns/4/lines/2/sheet/png", 2)


def test_a_sheet_is_cached_with_an_etag_and_answers_304(server: LiveServer) -> None:
    with server.client() as client:
        first = client.get("/sub%20dir/clip.mp4?vsample/jpg/interval/1/s/80x60")
        assert first.status_code == 200 and first.headers["x-vframe-tiles"] == "4"
        again = client.get("/sub%20dir/clip.mp4?vsample/jpg/interval/1/s/80x60",
                           headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        assert "x-vframe-tiles" not in again.headers
        bad = client.get("/sub%20dir/clip.mp4?vsample/jpg/interval/1/frames/3")
        assert bad.status_code == 400 and "not both" in bad.json()["error"]
        assert bad.headers["content-type"] == "application/json"
    assert "tiles=4" in server.log()


def test_the_json_storyboard_through_http(server: LiveServer) -> None:
    with server.client() as client:
        answer = client.get("/sub%20dir/clip.mp4?vsample/json/frames/5/s/80x60")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
    board = answer.json()
    assert board["url"] == "clip.mp4?vsample/jpg/frames/5/s/80x60" and board["tile_width"] == 80
    assert [tile["time"] for tile in board["tiles"]] == [0.0, 0.8, 1.6, 2.4, 3.2]
    assert [(tile["x"], tile["y"], tile["page"]) for tile in board["tiles"]] == [(80 * i, 0, 0) for i in range(5)]


def test_a_signed_storyboard_points_at_signed_sheets(clip: synth.SynthVideo, tmp_path: Path) -> None:
    (tmp_path / "clip.mp4").write_bytes(clip.path.read_bytes())
    with live_server(tmp_path, "--workers", "1", "--signing-keys", "key:secret") as live:
        spec = "vsample/vtt/interval/0.25/s/80x60/columns/4/lines/2/sheet/png"
        url = sign(f"{live.url}/clip.mp4?{spec}", "key", "secret", 2_000_000_000)
        check_storyboard(live, url[len(live.url):], 2)
        with live.client() as client:
            assert client.get("/clip.mp4?vsample/vtt/interval/1").status_code == 403


# -- hostile and damaged files -------------------------------------------------------------------


def test_the_hostile_corpus_as_storyboards_fails_cleanly(tmp_path: Path) -> None:
    """Every file of the bad-input corpus (vframe_testkit.hostile) asked for as a sheet and as a
    storyboard, through one live server with one worker: a documented status, a sheet or a clean
    JSON sentence, nothing a file names is connected to, and the good video's sheet right after."""
    from test_hostile_corpus import assert_clean_message

    from vframe_testkit.hostile import GOOD_KEY, Canary, build_corpus

    canary = Canary()
    try:
        folder = tmp_path / "root"
        keys = sorted({case.key for case in build_corpus(folder, canary.port) if (folder / case.key).is_file()})
        assert len(keys) > 30
        with live_server(folder, "--workers", "1") as live, live.client() as client:
            for key in keys:
                for spec in ("vsample/jpg/frames/6/s/80x60", "vsample/vtt/interval/1/mode/fast"):
                    answer = client.get(f"/{key}?{spec}")
                    assert answer.status_code in (200, 400, 404, 413, 415, 599), (key, spec, answer.status_code)
                    if answer.status_code == 200:
                        assert int(answer.headers["x-vframe-tiles"]) >= 1
                        if spec.startswith("vsample/jpg"):
                            assert Image.open(io.BytesIO(answer.content)).format == "JPEG"
                    else:
                        assert answer.headers["content-type"] == "application/json"
                        assert_clean_message(answer.json()["error"], folder)
                good = client.get(f"/{GOOD_KEY}?vsample/png/frames/3/s/64x48/mode/fast")
                assert good.status_code == 200 and good.headers["x-vframe-tiles"] == "3", key
            assert live.health()["workers_ready"] == 1
        assert (canary.connections, canary.received) == (0, 0), "something connected to the canary"
    finally:
        canary.close()
