"""The command line, run as a user runs it: `python -m vframe` in a subprocess, real files in and out.
Images are checked by their magic bytes and with Pillow; failures by exit code and stderr."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import ROOT, video
from PIL import Image

import vframe
from vframe.errors import InvalidSpec, ProcessingFailed, SourceNotFound, Unsupported, VframeError
from vframe_testkit import synth

ROTATED = "03_rotation/npm-js-ffmpeg__iphone_rotated.mov"
ANAMORPHIC = "14_anamorphic_sar/deb-mecavideo__balle-jbart.mp4"
PROBE_KEYS = {
    "container", "codec", "coded_width", "coded_height", "display_width", "display_height",
    "sample_aspect", "rotation", "pixel_format", "color", "duration", "frame_rate", "start_time",
}
MAGIC = {"jpg": (b"\xff\xd8\xff", "JPEG"), "png": (b"\x89PNG\r\n\x1a\n", "PNG"), "webp": (b"RIFF", "WEBP")}


def run(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[bytes]:
    """`vframe ARGS` in a fresh interpreter, with no VFRAME_* setting inherited."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    return subprocess.run(
        [sys.executable, "-m", "vframe", *map(str, args)], cwd=ROOT, env=env, capture_output=True, timeout=60
    )


def image(data: bytes, format: str) -> Image.Image:
    magic, pillow_format = MAGIC[format]
    assert data.startswith(magic), data[:16]
    if format == "webp":
        assert data[8:12] == b"WEBP"
    picture = Image.open(io.BytesIO(data))
    picture.load()
    assert picture.format == pillow_format
    return picture


def faststart_truncated(source: Path, folder: Path) -> Path:
    """The video remuxed with its moov first, then cut a few bytes into its first frame: the
    container is readable, no frame is."""
    remuxed = synth.remux_faststart(source, folder / "faststart.mp4")
    with av.open(str(remuxed)) as again:
        first = next(p for p in again.demux(video=0) if p.size)
        assert first.is_keyframe and first.pos is not None
        cut = first.pos + min(64, first.size // 4)
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(remuxed.read_bytes()[:cut])
    return truncated


# -- grab ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("format", "size"), [("jpg", (320, 240)), ("png", (160, 120)), ("webp", (64, 100))])
def test_grab_writes_the_image_file(synthetic: dict[str, synth.SynthVideo], tmp_path: Path, format: str,
                                    size: tuple[int, int]) -> None:
    source = synthetic["h264_bframes.mp4"]
    spec = f"vframe/{format}/offset/1.3"
    if size != (source.width, source.height):
        spec += f"/w/{size[0]}/h/{size[1]}"
    out = tmp_path / f"frame.{format}"
    done = run("grab", source.path, spec, "-o", out)
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"" and done.stderr == b""
    picture = image(out.read_bytes(), format)
    assert picture.size == size
    if format == "png":  # lossless: the frame's own index is readable
        assert synth.read_index(np.asarray(picture.convert("RGB"))) == 32  # 1.3 s at 25 fps: frame 32


def test_grab_to_stdout(synthetic: dict[str, synth.SynthVideo], tmp_path: Path) -> None:
    source = synthetic["h264_bframes.mp4"].path
    spec = "vframe/png/offset/0.52/w/100"
    dash = run("grab", source, spec, "-o", "-")
    default = run("grab", source, spec)
    out = tmp_path / "frame.png"
    to_file = run("grab", source, spec, "--output", out)
    for done in (dash, default, to_file):
        assert done.returncode == 0, done.stderr
        assert done.stderr == b""
    assert image(dash.stdout, "png").size == (100, 75)
    assert default.stdout == dash.stdout == out.read_bytes()
    assert not (ROOT / "-").exists()
    # The same bytes as the library gives.
    assert vframe.grab(source, spec).data == dash.stdout


def test_grab_rotated_corpus_file_is_upright(tmp_path: Path) -> None:
    out = tmp_path / "upright.jpg"
    done = run("grab", video(ROTATED), "vframe/jpg/offset/1", "-o", out)
    assert done.returncode == 0, done.stderr
    assert image(out.read_bytes(), "jpg").size == (320, 568)


def test_grab_anamorphic_corpus_file_keeps_display_aspect() -> None:
    done = run("grab", video(ANAMORPHIC), "vframe/png/offset/2/h/288")
    assert done.returncode == 0, done.stderr
    assert image(done.stdout, "png").size == (384, 288)


# -- probe -----------------------------------------------------------------------------------


def probe(path: Path) -> dict[str, object]:
    done = run("probe", path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    info = json.loads(done.stdout)
    assert isinstance(info, dict)
    assert PROBE_KEYS <= set(info), PROBE_KEYS - set(info)
    return info


def test_probe_rotated() -> None:
    info = probe(video(ROTATED))
    assert info["rotation"] == 90
    assert (info["coded_width"], info["coded_height"]) == (568, 320)
    assert (info["display_width"], info["display_height"]) == (320, 568)
    assert info["sample_aspect"] == "1:1"
    assert info["codec"] == "h264"
    assert "mp4" in str(info["container"]) or "mov" in str(info["container"])
    assert info["pixel_format"] == "yuv420p"
    assert isinstance(info["color"], dict)
    assert info["color"]["matrix"] == "bt709" and info["color"]["range"] == "limited"
    assert info["duration"] == pytest.approx(2.202, abs=0.01)
    assert info["frame_rate"] == pytest.approx(29.98, abs=0.05)
    assert info["start_time"] == 0


def test_probe_anamorphic() -> None:
    info = probe(video(ANAMORPHIC))
    assert info["sample_aspect"] == "16:15"
    assert (info["coded_width"], info["coded_height"]) == (720, 576)
    assert (info["display_width"], info["display_height"]) == (768, 576)
    assert info["rotation"] == 0
    assert info["duration"] == pytest.approx(10.2, abs=0.05)
    assert info["frame_rate"] == pytest.approx(25)


def test_probe_synthetic(synthetic: dict[str, synth.SynthVideo]) -> None:
    source = synthetic["h264_start_1.4.ts"]
    info = probe(source.path)
    assert info["container"] == "mpegts"
    assert (info["display_width"], info["display_height"]) == (source.width, source.height)
    assert info["frame_rate"] == pytest.approx(25)
    assert info["start_time"] == pytest.approx(1.4, abs=0.002)


# -- failures --------------------------------------------------------------------------------


def make_text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp4"
    path.write_text("This is a text file, not a video.\n" * 20)
    return path


Synthetic = dict[str, synth.SynthVideo]
MakeArgs = Callable[[Path, Synthetic], tuple[str | Path, ...]]
CASES: dict[str, tuple[MakeArgs, type[VframeError], str]] = {
    "bad-spec": (lambda tmp, syn: ("grab", syn["h264_bframes.mp4"].path, "vframe/jpg/offset/7s"), InvalidSpec,
                 "offset"),
    "bad-spec-key": (lambda tmp, syn: ("grab", syn["h264_bframes.mp4"].path, "vframe/jpg/offset/1/q/9"),
                     InvalidSpec, "key"),
    "missing-file": (lambda tmp, syn: ("grab", tmp / "nowhere.mp4", "vframe/jpg/offset/1"), SourceNotFound,
                     "no such video"),
    "directory": (lambda tmp, syn: ("grab", tmp, "vframe/jpg/offset/1"), SourceNotFound, "no such video"),
    "unsupported-format": (lambda tmp, syn: ("grab", syn["h264_bframes.mp4"].path, "vframe/gif/offset/1"),
                           Unsupported, "gif"),
    "text-file": (lambda tmp, syn: ("grab", make_text(tmp), "vframe/jpg/offset/1"), Unsupported, "not a video"),
    "probe-text-file": (lambda tmp, syn: ("probe", make_text(tmp)), Unsupported, "not a video"),
    "probe-missing-file": (lambda tmp, syn: ("probe", tmp / "nowhere.mp4"), SourceNotFound, "no such video"),
    "truncated": (lambda tmp, syn: ("grab", faststart_truncated(syn["h264_bframes.mp4"].path, tmp),
                                    "vframe/jpg/offset/0"), ProcessingFailed, "truncated"),
    "header-only": (lambda tmp, syn: ("grab", video("18_corrupt_truncated/mp4parse__bipbop_nonfragment_header.mp4"),
                                      "vframe/jpg/offset/1"), ProcessingFailed, "decoded"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_failure_exit_code_and_message(case: str, tmp_path: Path, synthetic: dict[str, synth.SynthVideo]) -> None:
    make_args, error, words = CASES[case]
    args = make_args(tmp_path, synthetic)
    out = tmp_path / "out.jpg"
    if args[0] == "grab":
        args = (*args, "-o", out)
    done = run(*args)
    assert done.returncode == error.exit_code, done.stderr
    assert done.stdout == b""
    assert not out.exists()  # nothing written on failure
    stderr = done.stderr.decode()
    assert stderr.startswith("vframe: ")
    assert stderr.endswith("\n") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    assert "/work/" not in stderr and str(tmp_path) not in stderr and "/tmp/" not in stderr
    assert words in stderr.lower()


def test_failure_exit_codes_are_distinct() -> None:
    codes = {cls.exit_code for cls in (InvalidSpec, SourceNotFound, Unsupported, ProcessingFailed)}
    assert codes == {3, 5, 7, 11}


def test_usage_error_is_argparse_exit_2(tmp_path: Path) -> None:
    done = run("grab", tmp_path / "only-an-input.mp4")
    assert done.returncode == 2
    assert b"usage" in done.stderr.lower() and b"Traceback" not in done.stderr


def test_bad_setting_is_a_one_line_usage_error(synthetic: dict[str, synth.SynthVideo]) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    env["VFRAME_JPEG_QUALITY"] = "high"
    done = subprocess.run([sys.executable, "-m", "vframe", "grab", str(synthetic["h264_bframes.mp4"].path),
                           "vframe/jpg/offset/1"], cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == b""
    assert done.stderr.decode().startswith("vframe: VFRAME_JPEG_QUALITY")
    assert b"Traceback" not in done.stderr


def test_version() -> None:
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.decode().strip() == f"vframe {vframe.__version__}"
