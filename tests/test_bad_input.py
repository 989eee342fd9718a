"""Inputs that are not good videos, through the library (`vframe.grab`) and the CLI alike: each
gives its documented failure class, status and a clear message, never another exception, never
a traceback or a local path, and vframe keeps working afterwards."""

from __future__ import annotations

import io
import os
import random
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import ROOT, video
from PIL import Image

import vframe
from vframe.errors import ProcessingFailed, SourceNotFound, Unsupported, VframeError
from vframe.settings import DEFAULT, Settings
from vframe_testkit import synth

Synthetic = dict[str, synth.SynthVideo]
SPEC = "vframe/png/offset/1"
HOSTILE = "99_hostile_DO_NOT_TRUST/npm-js-ffmpeg__etc_passwd_xbin.avi"
AUDIO_ONLY = [
    "17_audio_only/deb-linphone__leaving_dreams.mkv",
    "17_audio_only/deb-mkvtoolnix__finished-1.webm",
    "17_audio_only/mb__ac3.ts",
    "17_audio_only/mb__multiple-aac-tracks.mp4",
    "17_audio_only/mp4parse__afconvert-aac-0.5s.mp4",
    "17_audio_only/npm-js-ffmpeg__audio.mp3",
]
CORRUPT = [
    "18_corrupt_truncated/mp4parse__invalid_userdata.mp4",
    "18_corrupt_truncated/mp4parse__bipbop_nonfragment_header.mp4",
    "18_corrupt_truncated/mp4parse__zero_empty_stsc.mp4",
    "18_corrupt_truncated/mp4parse__short-cenc.mp4",
]


def shown_at(source: synth.SynthVideo, seconds: Fraction) -> int:
    """The index of the frame a player shows at `seconds`: the last one starting at or before it."""
    return max(i for i, t in enumerate(source.times) if t <= max(seconds, source.times[0]))


def assert_still_works(synthetic: Synthetic) -> None:
    """A valid grab right after a failure gives the exact frame."""
    source = synthetic["h264_bframes.mp4"]
    result = vframe.grab(source.path, "vframe/png/offset/1.5")
    assert result.time == source.times[shown_at(source, Fraction(3, 2))]
    picture = np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB"))
    assert synth.read_index(picture) == shown_at(source, Fraction(3, 2))


def assert_clean_message(message: str, *paths: Path) -> None:
    assert message and "\n" not in message.strip()
    assert "Traceback" not in message and "/work/" not in message
    for path in paths:
        assert str(path) not in message and path.name not in message


# -- the cases -------------------------------------------------------------------------------


def text_file(tmp: Path) -> Path:
    path = tmp / "readme.mp4"
    path.write_text("Hello,\nthis is plain text and not a video at all.\n" * 50)
    return path


def empty_file(tmp: Path) -> Path:
    path = tmp / "empty.mp4"
    path.write_bytes(b"")
    return path


def random_bytes(seed: int, size: int) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        path = tmp / f"random-{seed}.mp4"
        path.write_bytes(random.Random(seed).randbytes(size))
        return path

    return make


def jpeg_named_mp4(tmp: Path) -> Path:
    path = tmp / "photo.mp4"
    gradient = np.linspace(0, 255, 320 * 240 * 3).astype(np.uint8).reshape(240, 320, 3)
    Image.fromarray(gradient).save(path, format="JPEG")
    assert path.read_bytes().startswith(b"\xff\xd8\xff")
    return path


def png_named_mp4(tmp: Path) -> Path:
    path = tmp / "picture.mp4"
    Image.new("RGB", (64, 48), (10, 200, 30)).save(path, format="PNG")
    return path


def corpus(relative: str) -> Callable[[Path], Path]:
    return lambda tmp: video(relative)


def missing(tmp: Path) -> Path:
    return tmp / "no-such-video.mp4"


def directory(tmp: Path) -> Path:
    folder = tmp / "a-folder.mp4"
    folder.mkdir()
    return folder


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], Path]
    error: type[VframeError]
    status: int
    words: tuple[str, ...]  # each must appear in the message (lower case)


NOT_A_VIDEO = ("not a video",)
CASES = {
    "text": Case(text_file, Unsupported, 415, NOT_A_VIDEO),
    "empty": Case(empty_file, Unsupported, 415, ("empty",)),
    "random-1": Case(random_bytes(1, 1), Unsupported, 415, NOT_A_VIDEO),
    "random-4k": Case(random_bytes(2, 4096), Unsupported, 415, NOT_A_VIDEO),
    "random-1M": Case(random_bytes(3, 1 << 20), Unsupported, 415, NOT_A_VIDEO),
    "jpeg-named-mp4": Case(jpeg_named_mp4, Unsupported, 415, NOT_A_VIDEO),
    "png-named-mp4": Case(png_named_mp4, Unsupported, 415, NOT_A_VIDEO),
    **{Path(p).name: Case(corpus(p), Unsupported, 415, ("no video stream",)) for p in AUDIO_ONLY},
    **{Path(p).name: Case(corpus(p), ProcessingFailed, 599, ("could be decoded",)) for p in CORRUPT},
    "hostile": Case(corpus(HOSTILE), Unsupported, 415, ("no video stream",)),
    "missing": Case(missing, SourceNotFound, 404, ("no such video",)),
    "directory": Case(directory, SourceNotFound, 404, ("no such video",)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_library(name: str, tmp_path: Path, synthetic: Synthetic) -> None:
    case = CASES[name]
    path = case.make(tmp_path)
    for input in (path, str(path)):
        with pytest.raises(case.error) as caught:
            vframe.grab(input, SPEC)
        error = caught.value
        assert type(error) is case.error
        assert error.status == case.status and error.exit_code == case.error.exit_code
        assert_clean_message(error.message, path)
        for word in case.words:
            assert word in error.message.lower(), error.message
    assert_still_works(synthetic)


@pytest.mark.parametrize("name", list(CASES))
def test_cli(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    path = case.make(tmp_path)
    out = tmp_path / "out.png"
    env = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    done = subprocess.run([sys.executable, "-m", "vframe", "grab", str(path), SPEC, "-o", str(out)],
                          cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode == case.error.exit_code, done.stderr
    assert done.stdout == b""
    assert not out.exists()
    stderr = done.stderr.decode()
    assert stderr.startswith("vframe: ") and stderr.count("\n") == 1, stderr
    assert_clean_message(stderr, path, tmp_path)
    for word in case.words:
        assert word in stderr.lower(), stderr


def test_probe_gives_the_same_classes(tmp_path: Path) -> None:
    for name in ("text", "empty", "random-4k", "jpeg-named-mp4", "missing", "directory"):
        case, folder = CASES[name], tmp_path / name
        folder.mkdir()
        with pytest.raises(case.error) as caught:
            vframe.probe(case.make(folder))
        assert all(word in caught.value.message.lower() for word in case.words)


# -- the hostile file ------------------------------------------------------------------------


def passwd_fragments() -> list[str]:
    try:
        lines = Path("/etc/passwd").read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    return ["root:x:0:0", "/bin/sh", "/usr/sbin/nologin", *(line for line in lines if len(line) > 8)]


def test_hostile_file_never_shows_local_files(tmp_path: Path) -> None:
    path = video(HOSTILE)
    fragments = passwd_fragments()
    seen: list[str] = []
    for spec in ("vframe/png/offset/0", "vframe/jpg/offset/1", "vframe/webp/offset/5/mode/fast",
                 "vframe/png/offset/0.5/rotate/0"):
        with pytest.raises(Unsupported) as caught:
            vframe.grab(path, spec)
        seen.append(caught.value.message)
    with pytest.raises(Unsupported) as caught:
        vframe.probe(path)
    seen.append(caught.value.message)
    out = tmp_path / "hostile.png"
    env = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    for args in (["grab", str(path), "vframe/png/offset/0", "-o", str(out)], ["grab", str(path), SPEC],
                 ["probe", str(path)]):
        done = subprocess.run([sys.executable, "-m", "vframe", *args], cwd=ROOT, env=env,
                              capture_output=True, timeout=60)
        assert done.returncode == Unsupported.exit_code
        seen += [done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace")]
    assert not out.exists()
    for text in seen:
        for fragment in fragments:
            assert fragment not in text


# -- truncated videos ------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    source: synth.SynthVideo
    path: Path  # the whole video in this layout
    packets: list[tuple[int, int, int]]  # (pts, pos, end) in file (decode) order


def layout(source: synth.SynthVideo, path: Path) -> Layout:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        packets = []
        for packet in container.demux(stream):
            if packet.size:
                assert packet.pts is not None and packet.pos is not None and packet.pos >= 0
                packets.append((packet.pts, packet.pos, packet.pos + packet.size))
    return Layout(source, path, packets)


@pytest.fixture(scope="module")
def layouts(synthetic: Synthetic, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Layout]:
    source = synthetic["h264_bframes.mp4"]
    folder = tmp_path_factory.mktemp("layouts")
    faststart = folder / "faststart.mp4"
    with av.open(str(source.path)) as given, av.open(str(faststart), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream_from_template(given.streams.video[0])
        for packet in given.demux(given.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                out.mux(packet)
    result = {"moov-at-end": layout(source, source.path), "faststart": layout(source, faststart)}
    end, fast = result["moov-at-end"], result["faststart"]
    assert end.packets[-1][2] < end.path.stat().st_size * 0.99  # the index follows the frames
    assert fast.packets[0][1] > 100  # the index precedes them
    assert [p[0] for p in end.packets] == [p[0] for p in fast.packets]
    return result


def cut(video: Layout, percent: int, folder: Path) -> tuple[Path, int]:
    data = video.path.read_bytes()
    size = len(data) * percent // 100
    path = folder / f"{video.path.stem}-{percent}.mp4"
    path.write_bytes(data[:size])
    return path, size


def decodable(video: Layout, index: int, size: int) -> bool:
    """Whether frame `index` (presentation order) and every packet decoded before it lie before `size`."""
    pts = sorted(p[0] for p in video.packets)[index]
    upto = next(i for i, p in enumerate(video.packets) if p[0] == pts)
    return all(end <= size for _, _, end in video.packets[: upto + 1])


OFFSETS = ["0", "1.2", "2.36"]  # the first, a middle and the last frame (60 frames at 25 fps)
ONE_THREAD = Settings(decoder_threads=1)
TWO_THREADS = Settings(decoder_threads=2)


@pytest.mark.parametrize("threads", ["default", "one"])
@pytest.mark.parametrize("offset", OFFSETS)
@pytest.mark.parametrize("percent", [10, 50, 90])
@pytest.mark.parametrize("name", ["moov-at-end", "faststart"])
def test_truncated(name: str, percent: int, offset: str, threads: str, layouts: dict[str, Layout],
                   tmp_path: Path) -> None:
    """Never another exception; an image is a real frame, never a later one than asked for. With one
    decoder thread, a frame wholly before the cut is returned exactly (with frame threads it may not
    be: see test_frame_threads_keep_the_frame_before_the_cut)."""
    video = layouts[name]
    path, size = cut(video, percent, tmp_path)
    index = shown_at(video.source, Fraction(offset))
    exact = threads == "one"
    try:
        result = vframe.grab(path, f"vframe/png/offset/{offset}", ONE_THREAD if exact else DEFAULT)
    except (ProcessingFailed, Unsupported) as error:
        assert_clean_message(error.message, path)
        if name == "moov-at-end":
            assert isinstance(error, Unsupported)  # the index is gone with the cut
        elif exact:  # the index survived: a frame wholly before the cut must be returned
            assert not decodable(video, index, size), error.message
        return
    assert name == "faststart"
    picture = Image.open(io.BytesIO(result.data))
    assert picture.format == "PNG" and picture.size == (video.source.width, video.source.height)
    assert result.time in video.source.times
    assert result.time <= max(Fraction(offset), video.source.times[0])
    shown = synth.read_index(np.asarray(picture.convert("RGB")))
    assert video.source.times[shown] == result.time
    if exact and decodable(video, index, size):
        assert shown == index  # the frame asked for, exactly


@pytest.mark.parametrize("percent", [50, 90])
def test_frame_after_the_cut_is_processing_failed(percent: int, layouts: dict[str, Layout],
                                                   tmp_path: Path) -> None:
    video = layouts["faststart"]
    path, size = cut(video, percent, tmp_path)
    last = video.source.times[-1]
    assert not decodable(video, len(video.source.times) - 1, size)
    try:
        result = vframe.grab(path, f"vframe/png/offset/{float(last):.3f}", ONE_THREAD)
    except ProcessingFailed:
        return
    raise AssertionError(f"asked for {float(last)} s, before the declared end, got the frame at {result.time} s")


def cut_in_second_packet(video: Layout, folder: Path) -> Path:
    """The faststart video cut halfway through its second packet: only the first frame is whole."""
    _, pos, end = video.packets[1]
    path = folder / "cut-in-second-packet.mp4"
    path.write_bytes(video.path.read_bytes()[: (pos + end) // 2])
    assert decodable(video, 0, (pos + end) // 2)
    return path


def test_one_thread_keeps_the_frame_before_the_cut(layouts: dict[str, Layout], tmp_path: Path) -> None:
    path = cut_in_second_packet(layouts["faststart"], tmp_path)
    result = vframe.grab(path, "vframe/png/offset/0", ONE_THREAD)
    assert result.time == 0
    assert synth.read_index(np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB"))) == 0


def test_frame_threads_keep_the_frame_before_the_cut(layouts: dict[str, Layout], tmp_path: Path) -> None:
    path = cut_in_second_packet(layouts["faststart"], tmp_path)
    result = vframe.grab(path, "vframe/png/offset/0", TWO_THREADS)
    assert result.time == 0


@pytest.mark.parametrize("codec", ["snow", "msvideo1"])
def test_a_decoder_outside_the_allowed_list_is_refused_before_decoding(codec: str, tmp_path: Path) -> None:
    """FFmpeg decodes these (the sequential read below proves it); vframe refuses them: 415, naming the codec."""
    path = tmp_path / f"{codec}.avi"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=10)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = stream.codec_context.codec.video_formats[0].name
        for index in range(5):
            picture = av.VideoFrame.from_ndarray(np.full((48, 64, 3), index * 40, np.uint8), format="rgb24")
            container.mux(stream.encode(picture.reformat(format=stream.pix_fmt)))
        container.mux(stream.encode(None))
    with av.open(str(path)) as container:
        assert len(list(container.decode(video=0))) == 5
    with pytest.raises(Unsupported, match=rf"codec \({codec}\) is not one this server decodes"):
        vframe.grab(path, "vframe/jpg/offset/0")


def test_library_still_works_after_everything(synthetic: Synthetic) -> None:
    assert_still_works(synthetic)
    source = synthetic["h264_bframes.mp4"]
    result = vframe.grab(source.path, "vframe/jpg/offset/0/w/64")
    assert result.data.startswith(b"\xff\xd8\xff") and (result.width, result.height) == (64, 48)
