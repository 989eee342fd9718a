"""The frame vframe returns is the one a plain sequential decode says is shown at that moment,
by timestamp and by pixels: for every video of the shared corpus and for synthetic videos."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SYNTHETIC, VIDEOS, corpus_params

import vframe
from vframe.errors import ProcessingFailed, Unsupported
from vframe.limits import Budget
from vframe.media import Video
from vframe.settings import DEFAULT
from vframe_testkit import synth
from vframe_testkit.truth import Truth, digest, sequential


def assert_exact(path: Path, truth: Truth, offsets: list[int], pixels: bool = True) -> None:
    with path.open("rb") as reader, Video(reader, DEFAULT) as video:
        assert video.timeline.time_base == truth.time_base
        for offset in offsets:
            where = f"{path.name} at {offset} ms"
            if truth.missing_at(offset):
                with pytest.raises(ProcessingFailed, match="truncated"):
                    video.find(offset, Budget(DEFAULT))
                continue
            expected = truth.shown_at(offset)
            found = video.find(offset, Budget(DEFAULT))
            assert found.time == truth.seconds(expected), f"{where}: got the frame at {found.time} s"
            if pixels:
                assert digest(found.frame) == expected.digest, f"{where}: same time, other pixels"


@pytest.mark.parametrize("entry", corpus_params())
def test_corpus_frames_are_exact(entry: dict[str, Any]) -> None:
    path = VIDEOS / entry["path"]
    if entry["path"].endswith((".txt", ".md", ".json")):
        pytest.skip("not a video")
    try:
        truth = sequential(path)
    except (IndexError, OSError, ValueError):
        truth = None  # PyAV itself finds no video stream here
    if truth is None:
        # Not decodable sequentially either: vframe must say so with the right class, not crash.
        with pytest.raises((Unsupported, ProcessingFailed)):
            vframe.grab(path, "vframe/jpg/offset/1")
        return
    # A corrupt bitstream's error concealment depends on what was decoded before (and on decoder
    # threads), so for the damaged files of the corpus only the choice of frame is compared.
    damaged = entry["cat"] == "18_corrupt_truncated" and entry["decode_errors"] not in (0, "-", "")
    assert_exact(path, truth, truth.offsets(), pixels=not damaged)


@pytest.mark.parametrize("entry", corpus_params(lambda e: e["n_video"] and e["decoded_frames"] not in (0, "-")))
def test_corpus_grab_reports_the_frame_time(entry: dict[str, Any]) -> None:
    """The whole pipeline, on one mid-video moment: an image, and X-Vframe-Time of the right frame."""
    path = VIDEOS / entry["path"]
    truth = sequential(path)
    assert truth is not None
    offset = int(truth.seconds(truth.frames[len(truth.frames) // 2]) * 1000) + 1
    result = vframe.grab(path, f"vframe/png/offset/{offset / 1000}/w/64")
    assert result.media_type == "image/png" and result.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.width == 64 and result.height >= 1
    assert result.time == truth.seconds(truth.shown_at(offset))


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_frames_are_exact(name: str, synthetic: dict[str, synth.SynthVideo]) -> None:
    made = synthetic[name]
    truth = sequential(made.path)
    assert truth is not None and len(truth.frames) == len(made.times)
    assert [truth.seconds(frame) for frame in truth.frames] == [t - made.times[0] for t in made.times]
    assert_exact(made.path, truth, truth.offsets())


@pytest.mark.parametrize("name", sorted(SYNTHETIC))
def test_synthetic_frames_show_their_index(name: str, synthetic: dict[str, synth.SynthVideo]) -> None:
    """Independent of any decoder: the picture grabbed at each frame's own time, and 1 ms before
    the next frame, shows that frame's index (the generator wrote it into the pixels)."""
    made = synthetic[name]
    start = made.times[0]
    with made.path.open("rb") as reader, Video(reader, DEFAULT) as video:
        for index, time in enumerate(made.times):
            moments = [time]
            if index + 1 < len(made.times):
                moments.append(made.times[index + 1] - Fraction(1, 1000))
            for moment in moments:
                offset = int(-(-(moment - start) * 1000 // 1))  # ceil to the ms: on or after the moment
                if index + 1 < len(made.times) and start + Fraction(offset, 1000) >= made.times[index + 1]:
                    continue  # two frames less than 1 ms apart: the later one is shown
                found = video.find(offset, Budget(DEFAULT))
                rgb = found.frame.to_ndarray(format="rgb24")
                assert synth.read_index(rgb) == index, f"{name} at {offset} ms"


def test_past_the_end_gives_the_last_frame(synthetic: dict[str, synth.SynthVideo]) -> None:
    made = synthetic["h264_bframes.mp4"]
    for spec in ("vframe/png/offset/3600", "vframe/png/offset/999999999"):
        result = vframe.grab(made.path, spec)
        assert result.time == made.times[-1] - made.times[0]
        from io import BytesIO

        from PIL import Image

        assert synth.read_index(np.asarray(Image.open(BytesIO(result.data)).convert("RGB"))) == len(made.times) - 1


@pytest.mark.parametrize("name", ["h264_bframes.mp4", "hevc_bframes.mkv", "h264_start_1.4.ts"])
def test_fast_mode_gives_the_keyframe_at_or_before(name: str, synthetic: dict[str, synth.SynthVideo]) -> None:
    made = synthetic[name]
    truth = sequential(made.path)
    assert truth is not None
    gop = SYNTHETIC[name]["gop"]
    with made.path.open("rb") as reader, Video(reader, DEFAULT) as video:
        for offset in truth.offsets():
            expected = truth.keyframe_at(offset)
            found = video.find(offset, Budget(DEFAULT), keyframe=True)
            assert found.time == truth.seconds(expected), f"{name} at {offset} ms"
            assert synth.read_index(found.frame.to_ndarray(format="rgb24")) % gop == 0
