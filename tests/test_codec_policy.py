"""The operator's codec policy (VFRAME_DECODERS, vframe/decoders.py): the default refuses a codec
outside its list (Microsoft Video 1 here: FFmpeg encodes it, the corpus has no Indeo 3 file) with
a 415 naming it over HTTP, the CLI and the library; allowing it gives its exact frame; removing one
refuses it; a malformed value stops the start; `vframe probe` says whether the decoder is allowed."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import httpx
import numpy as np
import pytest
from conftest import ROOT
from PIL import Image

import vframe
from vframe.decoders import DEFAULT, allowed
from vframe.errors import DecoderNotAllowed, Unsupported
from vframe.media.container import open_container
from vframe.settings import Settings
from vframe_testkit import codecseeds, synth
from vframe_testkit.live import live_server

ALLOW = "+msvideo1"
FRAME = 5  # an inter frame (a keyframe every 4): reaching it decodes the one before
SPEC = f"vframe/png/offset/{(FRAME + 0.5) / codecseeds.SEED_FPS:.3f}"  # halfway through frame 5's time


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """old.avi (Microsoft Video 1, outside the default) and new.mp4 (H.264), frame k showing k."""
    made = tmp_path_factory.mktemp("codec-policy")
    codecseeds.encode(made / "old.avi", codecseeds.Made("old.avi", "msvideo1", "rgb555le"))
    codecseeds.make("h264", made, made).rename(made / "new.mp4")
    return made


def index(data: bytes) -> int:
    return synth.read_index(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))


def run(*args: str | os.PathLike[str], decoders: str | None = None) -> subprocess.CompletedProcess[bytes]:
    """`vframe ARGS` in a fresh interpreter, with VFRAME_DECODERS only if given (bounded: 60 s)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    if decoders is not None:
        env["VFRAME_DECODERS"] = decoders
    return subprocess.run([sys.executable, "-m", "vframe", *map(str, args)], cwd=ROOT, env=env,
                          capture_output=True, timeout=60, start_new_session=True)


# -- the policy ------------------------------------------------------------------------------


def test_the_three_forms() -> None:
    assert allowed("") == DEFAULT and "msvideo1" not in DEFAULT and "indeo3" not in DEFAULT
    assert allowed("+msvideo1,+indeo3") == DEFAULT | {"msvideo1", "indeo3"}
    assert allowed(" -h264 , -hevc ") == DEFAULT - {"h264", "hevc"}
    assert allowed("+msvideo1,-h264") == (DEFAULT | {"msvideo1"}) - {"h264"}
    assert allowed("h264,libdav1d") == {"h264", "libdav1d"}
    assert Settings.from_env({"VFRAME_DECODERS": "h264"}).allowed_decoders == {"h264"}


@pytest.mark.parametrize(("value", "complaint"), [
    ("+nosuch", "entry '+nosuch' names no decoder of this build of FFmpeg"),
    ("h264,hevcc", "entry 'hevcc' names no decoder"),
    ("h264,+msvideo1", "mixes the plain name 'h264' with +/- changes"),
    ("+msvideo1,,+indeo3", "has an empty entry"),
    ("+", "entry '+' is not a decoder name"),
    ("+H264", "entry '+H264' is not a decoder name"),
    ("+aac", "entry '+aac' names a decoder of audio, not of video"),
    ("+msmpeg4v3", "entry '+msmpeg4v3' names a codec whose decoder is called 'msmpeg4'"),
    ("-indeo3", "removes 'indeo3', which the default list does not have"),
])
def test_a_malformed_value_names_the_bad_entry(value: str, complaint: str) -> None:
    for build in (lambda: Settings.from_env({"VFRAME_DECODERS": value}), lambda: Settings(decoders=value)):
        with pytest.raises(ValueError, match=f"^VFRAME_DECODERS .*{_escaped(complaint)}") as raised:
            build()
        assert "\n" not in str(raised.value) and str(raised.value).count(". ") == 0  # one sentence


def _escaped(text: str) -> str:
    return "".join("\\" + c if c in "+()[].*?" else c for c in text)


# -- the default refuses, the setting allows: library, CLI, HTTP ------------------------------


def test_library(folder: Path) -> None:
    with pytest.raises(DecoderNotAllowed) as refused:
        vframe.grab(folder / "old.avi", SPEC)
    assert isinstance(refused.value, Unsupported) and refused.value.status == 415 and refused.value.exit_code == 7
    assert refused.value.message == ("The video's codec (msvideo1) is not one this server decodes; "
                                     "its operator can allow it with VFRAME_DECODERS.")
    result = vframe.grab(folder / "old.avi", SPEC, Settings(decoders=ALLOW))
    assert index(result.data) == FRAME and result.time == Fraction(FRAME, codecseeds.SEED_FPS)

    assert vframe.grab(folder / "new.mp4", SPEC).time == result.time
    with pytest.raises(DecoderNotAllowed, match=r"codec \(h264\)"):
        vframe.grab(folder / "new.mp4", SPEC, Settings(decoders="-h264"))


def test_cli(folder: Path, tmp_path: Path) -> None:
    refused = run("grab", folder / "old.avi", SPEC, "-o", tmp_path / "no.png")
    assert refused.returncode == 7
    assert refused.stderr.decode() == ("vframe: The video's codec (msvideo1) is not one this server decodes; "
                                       "its operator can allow it with VFRAME_DECODERS.\n")
    done = run("grab", folder / "old.avi", SPEC, decoders=ALLOW)
    assert done.returncode == 0, done.stderr
    assert index(done.stdout) == FRAME
    assert run("grab", folder / "new.mp4", SPEC, decoders="-h264").returncode == 7
    bad = run("grab", folder / "old.avi", SPEC, decoders="+msvideo")
    assert bad.returncode == 2
    assert bad.stderr.decode() == "vframe: VFRAME_DECODERS entry '+msvideo' names no decoder of this build of FFmpeg.\n"


def test_probe_says_whether_the_decoder_is_allowed(folder: Path) -> None:
    refused = json.loads(run("probe", folder / "old.avi").stdout)
    assert refused == {"container": "avi", "codec": "msvideo1", "decoder": "msvideo1", "decoder_allowed": False,
                       "coded_width": 128, "coded_height": 96, "streams": 1}
    allowed_now = json.loads(run("probe", folder / "old.avi", decoders=ALLOW).stdout)
    assert allowed_now["decoder"] == "msvideo1" and allowed_now["decoder_allowed"] is True
    assert allowed_now["duration"] == pytest.approx(codecseeds.SEED_FRAMES / codecseeds.SEED_FPS, abs=0.05)
    assert vframe.probe(folder / "new.mp4")["decoder_allowed"] is True
    assert vframe.probe(folder / "new.mp4", Settings(decoders="-h264"))["decoder_allowed"] is False


def test_http(folder: Path) -> None:
    """Through the decode workers (the refusal crosses their pipe), the cache and conditional
    requests. The policy is in the ETag (README): a server that refuses the codec answers 415 even
    to a client holding the ETag of a frame made under a wider policy."""
    with live_server(folder, "--workers", "1", env={"VFRAME_DECODERS": ALLOW}) as server, server.client() as client:
        made = client.get(f"/old.avi?{SPEC}")
        assert made.status_code == 200 and index(made.content) == FRAME
        assert made.headers["x-vframe-time"] == f"{FRAME / codecseeds.SEED_FPS:.3f}"
        assert client.get(f"/old.avi?{SPEC}", headers={"If-None-Match": made.headers["etag"]}).status_code == 304
        assert client.get(f"/old.avi?{SPEC}").content == made.content  # from the cache
    with live_server(folder, "--workers", "1") as server, server.client() as client:
        refused = client.get(f"/old.avi?{SPEC}")
        assert refused.status_code == 415 and refused.headers["cache-control"] == "no-store"
        assert refused.json() == {"error": "The video's codec (msvideo1) is not one this server decodes; "
                                           "its operator can allow it with VFRAME_DECODERS."}
        assert client.get(f"/old.avi?{SPEC}", headers={"If-None-Match": made.headers["etag"]}).status_code == 415
        assert client.get(f"/new.mp4?{SPEC}").status_code == 200
    with live_server(folder, "--workers", "1", "--decoders=-h264") as server:
        assert httpx.get(f"{server.url}/new.mp4?{SPEC}", timeout=60).status_code == 415


def test_a_list_without_the_alpha_decoder_refuses_vp8_with_alpha(tmp_path: Path) -> None:
    """VP8 with alpha is decoded by libvpx (FFmpeg's vp8 drops the alpha): refused rather than made opaque."""
    path = codecseeds.make("libvpx", tmp_path, tmp_path)
    assert path is not None
    assert vframe.grab(path, SPEC, Settings(decoders="vp8,libvpx")).width == codecseeds.SEED_WIDTH
    with pytest.raises(DecoderNotAllowed, match=r"codec \(libvpx\)"):
        vframe.grab(path, SPEC, Settings(decoders="vp8"))


@pytest.mark.parametrize("how", ["variable", "flag"])
def test_a_malformed_setting_stops_serve(folder: Path, how: str) -> None:
    bad = "h264,+msvideo1"
    flags = ["--decoders", bad] if how == "flag" else []
    done = run("serve", "--root", folder, "--port", "0", *flags, decoders=bad if how == "variable" else None)
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr.decode() == ("vframe: VFRAME_DECODERS mixes the plain name 'h264' with +/- changes: give "
                                    "either the whole list (h264,hevc) or changes to the default (+indeo3,-h263).\n")


def test_a_refused_decoder_is_never_opened(folder: Path) -> None:
    """Finding the streams runs their decoders on a few packets where the container does not say
    enough (AVI gives no pixel format): a decoder the policy refuses must not run even then. The
    pixel format, which only msvideo1's own start sets, stays unknown under the default policy."""
    with open(folder / "old.avi", "rb") as reader:
        container, stream = open_container(reader, Settings())
        try:
            assert stream.codec_context.name == "msvideo1" and stream.codec_context.format is None
        finally:
            container.close()
    with open(folder / "old.avi", "rb") as reader:
        container, stream = open_container(reader, Settings(decoders=ALLOW))
        try:
            assert stream.codec_context.format is not None and stream.codec_context.format.name == "rgb555le"
        finally:
            container.close()
