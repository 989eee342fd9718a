"""The HTTP service as a user meets it: `vframe serve` started in its own process (vframe_testkit.live),
one server for the module over a folder of synthetic videos, spoken to over real HTTP. Every answer
is held to the contract's Response section: status, headers, the picture itself, conditional
requests, the video served as stored (Range, If-Range), one-sentence JSON errors, health, metrics,
the access log and the settings as flags. Keys that try to leave the root are in
test_server_traversal.py."""

from __future__ import annotations

import io
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote

import av
import httpx
import numpy as np
import pytest
from conftest import ROOT, VIDEOS, video
from PIL import Image

from vframe.server import _listen
from vframe.settings import Settings
from vframe_testkit import synth
from vframe_testkit.live import LiveServer, live_server

FRAME = "/v.mp4?vframe/jpg/offset/1/w/160/h/120"
AUDIO_ONLY = "17_audio_only/mp4parse__afconvert-aac-0.5s.mp4"
UNICODE_KEY = "sub dir/vidéo 東京.mp4"
MAGIC = {"jpg": (b"\xff\xd8\xff", "JPEG", "image/jpeg"), "png": (b"\x89PNG\r\n\x1a\n", "PNG", "image/png"),
         "webp": (b"RIFF", "WEBP", "image/webp")}
REQID = re.compile(r"[0-9a-f]{16}")
OLD = 1_600_000_000  # 2020-09-13, the served video's mtime


@dataclass(frozen=True)
class Tree:
    root: Path  # what the module's server serves
    video: Path  # root/v.mp4: 48 frames at 24 fps, 320x240
    slow: Path  # outside the root: 48 frames at 12 fps, to replace a served video with
    faststart: Path  # outside the root: v.mp4 with its index first, to truncate


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    base = tmp_path_factory.mktemp("served")
    root, work = base / "root", base / "work"
    root.mkdir()
    work.mkdir()
    made = synth.make_video(root / "v.mp4", codec="libx264", frames=48, fps=24, width=320, height=240, gop=12,
                            bframes=2)
    os.utime(made.path, (OLD, OLD))  # in the past, so that an If-Modified-Since after it is not in the future
    slow = synth.make_video(work / "slow.mp4", codec="libx264", frames=48, fps=12, width=320, height=240, gop=12,
                            bframes=2)
    (root / "sub dir").mkdir()
    shutil.copyfile(made.path, root / UNICODE_KEY)
    (root / "folder.mp4").mkdir()
    (root / "readme.mp4").write_text("Hello,\nthis is plain text and not a video at all.\n" * 50)
    (root / "empty.mp4").write_bytes(b"")
    if (VIDEOS / AUDIO_ONLY).is_file():
        shutil.copyfile(VIDEOS / AUDIO_ONLY, root / "audio.mp4")
    return Tree(root, made.path, slow.path, synth.remux_faststart(made.path, work / "faststart.mp4"))


@pytest.fixture(scope="module")
def server(tree: Tree) -> Iterator[LiveServer]:
    with live_server(tree.root, "--workers", "2") as running:
        yield running


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as opened:
        yield opened


# -- helpers ---------------------------------------------------------------------------------


def picture(response: httpx.Response, format: str) -> Image.Image:
    """The response's image, checked by its content type and magic bytes."""
    magic, pillow_format, media_type = MAGIC[format]
    assert response.headers["content-type"] == media_type
    assert response.content.startswith(magic), response.content[:16]
    if format == "webp":
        assert response.content[8:12] == b"WEBP"
    image = Image.open(io.BytesIO(response.content))
    image.load()
    assert image.format == pillow_format
    return image


def index(image: Image.Image) -> int:
    """The frame index the synthetic video painted into this picture."""
    return synth.read_index(np.asarray(image.convert("RGB")))


def assert_reqid(response: httpx.Response) -> str:
    reqid = str(response.headers.get("x-reqid", ""))
    assert REQID.fullmatch(reqid), dict(response.headers)
    return reqid


def assert_clean_sentence(message: str, *secrets: str) -> None:
    """One sentence a person understands: no traceback, no local path."""
    assert message and message == message.strip() and "\n" not in message, message
    assert message.endswith("."), message
    assert not re.search(r"[.!?]\s+[A-Z]", message), f"more than one sentence: {message}"
    assert "Traceback" not in message and "Error:" not in message, message
    assert not re.search(r"/(tmp|work|home|etc|usr|var|root|proc|dev|opt|srv|mnt)/", message), f"a path: {message}"
    for secret in secrets:
        assert secret not in message, message


def assert_error(response: httpx.Response, status: int, *words: str, root: Path | None = None) -> str:
    """The one shape of every failure: JSON {"error": one sentence}, never stored, with an X-Reqid."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert "etag" not in response.headers and "x-vframe-time" not in response.headers
    assert_reqid(response)
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str), body
    message: str = body["error"]
    assert_clean_sentence(message, *((str(root), root.parent.name) if root is not None else ()))
    for word in words:
        assert word in message.lower(), message
    return message


def cut(source: Path, size: int, out: Path) -> Path:
    """The first `size` bytes of `source`, as a file `out`."""
    out.write_bytes(source.read_bytes()[:size])
    return out


def http_date(text: str) -> float:
    when = parsedate_to_datetime(text)
    assert text.endswith(" GMT") and when.tzinfo is not None, text
    return when.timestamp()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    """Poll `condition()` until true: the server writes its access log line and counts a request
    only after the response has left, so a client can see the answer first."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)


# -- 200: the frame --------------------------------------------------------------------------


def test_frame_headers_and_picture(client: httpx.Client, tree: Tree) -> None:
    response = client.get(FRAME)
    assert response.status_code == 200, response.text
    image = picture(response, "jpg")
    assert image.size == (160, 120)
    assert index(image) == 24  # 1 s at 24 fps
    headers = response.headers
    assert int(headers["content-length"]) == len(response.content)
    assert re.fullmatch(r'"[^"\s]+"', headers["etag"]), headers["etag"]  # strong: quoted, no W/
    assert http_date(headers["last-modified"]) == int(tree.video.stat().st_mtime)
    assert headers["cache-control"] == "public, max-age=86400"
    assert headers["x-vframe-time"] == "1.000"
    assert_reqid(response)


@pytest.mark.parametrize(("format", "size"), [("png", (320, 240)), ("webp", (80, 60)), ("jpeg", (64, 48))])
def test_frame_formats(client: httpx.Client, format: str, size: tuple[int, int]) -> None:
    scale = f"/w/{size[0]}" if size != (320, 240) else ""
    response = client.get(f"/v.mp4?vframe/{format}/offset/0.5{scale}")
    assert response.status_code == 200, response.text
    image = picture(response, "jpg" if format == "jpeg" else format)
    assert image.size == size
    assert index(image) == 12
    assert response.headers["x-vframe-time"] == "0.500"
    assert int(response.headers["content-length"]) == len(response.content)


def test_etag_follows_the_canonical_spec(client: httpx.Client) -> None:
    """jpeg is jpg and 1 is 1.000: the same frame, the same ETag; another spec, another ETag."""
    first = client.get(FRAME)
    same = [client.get(target) for target in ("/v.mp4?vframe/jpeg/offset/1/w/160/h/120",
                                               "/v.mp4?vframe/jpg/offset/1.000/h/120/w/160")]
    for response in same:
        assert response.status_code == 200
        assert response.headers["etag"] == first.headers["etag"]
        assert response.content == first.content
    others = {client.get(f"/v.mp4?vframe/{spec}").headers["etag"]
              for spec in ("jpg/offset/1.5/w/160/h/120", "jpg/offset/1/w/80/h/60", "png/offset/1/w/160/h/120",
                           "jpg/offset/1/w/160/h/120/mode/fast", "jpg/offset/1/w/160/h/120/rotate/90")}
    assert len(others) == 5 and first.headers["etag"] not in others


@pytest.mark.parametrize(("spec", "time", "shown"), [
    ("offset/100", "1.958", 47),  # past the end: the last frame
    ("offset/1.958", "1.917", 46),  # 47/24 s is 1.9583: not shown yet at 1.958
    ("offset/0.041", "0.000", 0),
    ("offset/0.042", "0.042", 1),
    ("offset/1.4/mode/fast", "1.000", 24),  # the keyframe before
])
def test_which_frame_and_its_time(client: httpx.Client, spec: str, time: str, shown: int) -> None:
    response = client.get(f"/v.mp4?vframe/png/{spec}/w/160")
    assert response.status_code == 200, response.text
    assert response.headers["x-vframe-time"] == time
    assert index(picture(response, "png")) == shown


def test_head_of_a_frame(client: httpx.Client) -> None:
    """Same headers as GET, no body; also for a spec not made yet (HEAD makes it)."""
    for target in (FRAME, "/v.mp4?vframe/png/offset/1.25/w/100"):
        head = client.head(target)
        get = client.get(target)
        assert head.status_code == get.status_code == 200
        assert head.content == b""
        assert int(head.headers["content-length"]) == len(get.content) > 0
        for name in ("content-type", "etag", "last-modified", "cache-control", "x-vframe-time"):
            assert head.headers[name] == get.headers[name], name
        assert_reqid(head)


def test_anything_after_an_ampersand_is_not_the_spec(client: httpx.Client) -> None:
    """What follows a first & is reserved for URL signing, which is off here."""
    plain = client.get(FRAME)
    signed = client.get(FRAME + "&e=123&token=x")
    assert signed.status_code == 200
    assert signed.content == plain.content and signed.headers["etag"] == plain.headers["etag"]
    assert signed.headers["x-vframe-time"] == "1.000"


def test_unicode_and_spaces_in_the_key(client: httpx.Client, tree: Tree) -> None:
    key = quote(UNICODE_KEY)
    assert key == "sub%20dir/vid%C3%A9o%20%E6%9D%B1%E4%BA%AC.mp4"
    frame = client.get(f"/{key}?vframe/png/offset/1/w/160")
    assert frame.status_code == 200, frame.text
    assert index(picture(frame, "png")) == 24
    whole = client.get(f"/{key}")
    assert whole.status_code == 200 and whole.content == (tree.root / UNICODE_KEY).read_bytes()


# -- 304 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["exact", "list", "weak", "star", "since", "since-later"])
def test_conditional_frame_not_modified(client: httpx.Client, header: str) -> None:
    first = client.get(FRAME)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    conditions = {
        "exact": {"If-None-Match": etag},
        "list": {"If-None-Match": f'"nope", {etag} , "other"'},
        "weak": {"If-None-Match": f"W/{etag}"},
        "star": {"If-None-Match": "*"},
        "since": {"If-Modified-Since": modified},
        "since-later": {"If-Modified-Since": formatdate(http_date(modified) + 3600, usegmt=True)},
    }
    response = client.get(FRAME, headers=conditions[header])
    assert response.status_code == 304, response.text
    assert response.content == b""
    assert response.headers["etag"] == etag
    assert response.headers["cache-control"] == "public, max-age=86400"
    assert "content-type" not in response.headers
    assert_reqid(response)


@pytest.mark.parametrize("header", ["other-etag", "weak-other", "since-earlier", "since-garbage",
                                    "etag-wins-over-date"])
def test_conditional_frame_modified(client: httpx.Client, header: str) -> None:
    first = client.get(FRAME)
    modified = http_date(first.headers["last-modified"])
    conditions = {
        "other-etag": {"If-None-Match": '"0123456789abcdef"'},
        "weak-other": {"If-None-Match": 'W/"0123456789abcdef"'},
        "since-earlier": {"If-Modified-Since": formatdate(modified - 3600, usegmt=True)},
        "since-garbage": {"If-Modified-Since": "yesterday"},
        # RFC 9110: when If-None-Match is present, If-Modified-Since is ignored
        "etag-wins-over-date": {"If-None-Match": '"nope"', "If-Modified-Since": first.headers["last-modified"]},
    }
    response = client.get(FRAME, headers=conditions[header])
    assert response.status_code == 200
    assert response.content == first.content and response.headers["etag"] == first.headers["etag"]


@pytest.mark.parametrize("header", ["If-None-Match", "If-Modified-Since"])
@pytest.mark.parametrize(("name", "status"), [("readme.mp4", 415), ("cut-half.mp4", 599)])
def test_conditional_request_for_a_frame_that_cannot_be_made(client: httpx.Client, tree: Tree, header: str,
                                                             name: str, status: int) -> None:
    """Without the condition the answer is an error, so the condition does not apply (RFC 9110 13.2.1)."""
    if name == "cut-half.mp4":
        cut(tree.faststart, tree.faststart.stat().st_size // 2, tree.root / name)
    value = "*" if header == "If-None-Match" else formatdate((tree.root / name).stat().st_mtime, usegmt=True)
    target = f"/{name}?vframe/jpg/offset/1.958"
    assert_error(client.get(target), status, root=tree.root)
    assert_error(client.get(target, headers={header: value}), status, root=tree.root)


def test_a_changed_video_changes_etag_and_frame(client: httpx.Client, tree: Tree) -> None:
    """A rewritten or touched file is a new version: a new ETag and Last-Modified, and the cache
    never answers with the old frame."""
    path = tree.root / "changing.mp4"
    shutil.copyfile(tree.video, path)
    target = "/changing.mp4?vframe/jpg/offset/1/w/160"
    before = client.get(target)
    assert before.status_code == 200 and index(picture(before, "jpg")) == 24
    assert client.get(target).headers["etag"] == before.headers["etag"]  # now from the cache
    video_before = client.get("/changing.mp4").headers["etag"]

    shutil.copyfile(tree.slow, path)  # 12 fps: offset 1 is frame 12
    mtime = path.stat().st_mtime_ns + 10 * 10**9
    os.utime(path, ns=(mtime, mtime))
    rewritten = client.get(target)
    assert rewritten.status_code == 200
    assert index(picture(rewritten, "jpg")) == 12
    assert rewritten.headers["etag"] != before.headers["etag"]
    assert http_date(rewritten.headers["last-modified"]) == mtime // 10**9
    assert client.get(target, headers={"If-None-Match": before.headers["etag"]}).status_code == 200
    assert client.get(target, headers={"If-None-Match": rewritten.headers["etag"]}).status_code == 304
    video_rewritten = client.get("/changing.mp4")
    assert video_rewritten.content == tree.slow.read_bytes()
    assert video_rewritten.headers["etag"] != video_before

    touched_at = mtime + 10 * 10**9
    os.utime(path, ns=(touched_at, touched_at))  # same bytes, new mtime
    touched = client.get(target)
    assert touched.status_code == 200 and index(picture(touched, "jpg")) == 12
    assert touched.headers["etag"] not in (before.headers["etag"], rewritten.headers["etag"])
    assert http_date(touched.headers["last-modified"]) == touched_at // 10**9


# -- the video itself ------------------------------------------------------------------------


def test_plain_video(client: httpx.Client, tree: Tree) -> None:
    data = tree.video.read_bytes()
    response = client.get("/v.mp4")
    assert response.status_code == 200
    assert response.content == data
    headers = response.headers
    assert headers["content-type"] == "video/mp4"
    assert headers["accept-ranges"] == "bytes"
    assert int(headers["content-length"]) == len(data)
    assert re.fullmatch(r'"[^"\s]+"', headers["etag"])
    assert http_date(headers["last-modified"]) == int(tree.video.stat().st_mtime)
    assert headers["cache-control"] == "public, max-age=86400"
    assert "x-vframe-time" not in headers
    assert_reqid(response)
    assert headers["etag"] != client.get(FRAME).headers["etag"]


def test_plain_video_head(client: httpx.Client, tree: Tree) -> None:
    get, head = client.get("/v.mp4"), client.head("/v.mp4")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == tree.video.stat().st_size
    for name in ("content-type", "etag", "last-modified", "cache-control", "accept-ranges"):
        assert head.headers[name] == get.headers[name], name
    assert_reqid(head)


@pytest.mark.parametrize(("range_", "first", "last"), [("bytes=0-99", 0, 99), ("bytes=-10", None, None),
                                                        ("bytes=100-", 100, None)])
def test_plain_video_range(client: httpx.Client, tree: Tree, range_: str, first: int | None,
                           last: int | None) -> None:
    data = tree.video.read_bytes()
    size = len(data)
    start = size - 10 if first is None else first
    end = size - 1 if last is None else last
    response = client.get("/v.mp4", headers={"Range": range_})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{size}"
    assert response.content == data[start:end + 1]
    assert int(response.headers["content-length"]) == end + 1 - start
    assert response.headers["content-type"] == "video/mp4"
    assert_reqid(response)


def test_plain_video_conditional(client: httpx.Client, tree: Tree) -> None:
    first = client.get("/v.mp4")
    etag = first.headers["etag"]
    for headers in ({"If-None-Match": etag}, {"If-None-Match": f"W/{etag}"},
                    {"If-Modified-Since": first.headers["last-modified"]}):
        response = client.get("/v.mp4", headers=headers)
        assert response.status_code == 304, headers
        assert response.content == b"" and response.headers["etag"] == etag
        assert_reqid(response)
    assert client.get("/v.mp4", headers={"If-None-Match": '"other"'}).status_code == 200


def test_plain_video_if_range(client: httpx.Client, tree: Tree) -> None:
    data = tree.video.read_bytes()
    etag = client.head("/v.mp4").headers["etag"]
    partial = client.get("/v.mp4", headers={"Range": "bytes=0-99", "If-Range": etag})
    assert partial.status_code == 206 and partial.content == data[:100]
    whole = client.get("/v.mp4", headers={"Range": "bytes=0-99", "If-Range": '"an-older-version"'})
    assert whole.status_code == 200 and whole.content == data


# -- errors ----------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", [
    "vframe/jpg/offset/-1", "vframe/jpg/offset/7s", "vframe/jpg/offset/1e3", "vframe/jpg/offset/nan",
    "vframe/jpg/offset/inf", "vframe/jpg/offset/", "vframe/jpg", "vframe/jpg/w/100", "vframe/jpg/offset/1/x/2",
    "vframe/jpg/offset/1/offset/2", "vframe/jpg/offset/1/w/10/w/20", "vframe/jpg/offset/1/w/0",
    "vframe/jpg/offset/1/w", "vframe/jpg/offset/1/rotate/45", "vframe/jpg/offset/1/mode/slow",
    "vframe/jpg/offset/1/w/5000", "frame/jpg/offset/1", "vframe",
])
def test_malformed_spec_is_400(client: httpx.Client, tree: Tree, spec: str) -> None:
    assert_error(client.get(f"/v.mp4?{spec}"), 400, root=tree.root)


@pytest.mark.parametrize(("target", "words"), [
    ("/v.mp4?vframe/gif/offset/1", ("gif",)),
    ("/v.mp4?vframe/bmp/offset/1/w/10", ()),
    ("/readme.mp4?vframe/jpg/offset/1", ("not a video",)),
    ("/empty.mp4?vframe/jpg/offset/1", ("empty",)),
    ("/audio.mp4?vframe/jpg/offset/0", ("no video stream",)),
])
def test_unsupported_is_415(client: httpx.Client, tree: Tree, target: str, words: tuple[str, ...]) -> None:
    if target.startswith("/audio.mp4"):
        video(AUDIO_ONLY)  # skips when the corpus is absent
    assert_error(client.get(target), 415, *words, root=tree.root)


@pytest.mark.parametrize("target", [
    "/missing.mp4", "/missing.mp4?vframe/jpg/offset/1", "/folder.mp4", "/folder.mp4?vframe/jpg/offset/1",
    "/sub%20dir", "/sub%20dir/", "/sub%20dir/?vframe/jpg/offset/1", "/", "/?vframe/jpg/offset/1",
    "/-/nothing", "/V.MP4",
])
def test_not_found_is_404(client: httpx.Client, tree: Tree, target: str) -> None:
    assert assert_error(client.get(target), 404, root=tree.root) == "No such video."


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("target", [FRAME, "/v.mp4", "/missing.mp4"])
def test_other_methods_are_405(client: httpx.Client, tree: Tree, method: str, target: str) -> None:
    response = client.request(method, target, content=b"x" * 10)
    assert_error(response, 405, root=tree.root)
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("target", ["/-/healthz", "/-/metrics"])
def test_other_methods_on_service_pages_are_405(client: httpx.Client, target: str) -> None:
    response = client.post(target)
    assert_error(response, 405)
    assert response.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("percent", [50, 90])
def test_truncated_video_is_599(client: httpx.Client, tree: Tree, percent: int) -> None:
    """The index survived the cut (moov first), the frame asked for did not (see test_bad_input)."""
    size = tree.faststart.stat().st_size * percent // 100
    name = f"cut-{percent}.mp4"
    cut(tree.faststart, size, tree.root / name)
    message = assert_error(client.get(f"/{name}?vframe/jpg/offset/1.958"), 599, root=tree.root)
    assert "truncated" in message.lower() or "decoded" in message.lower(), message
    # a frame before the cut is still there, and the server keeps working
    early = client.get(f"/{name}?vframe/jpg/offset/0.2")
    assert early.status_code == 200 and early.headers["x-vframe-time"] == "0.167"
    assert index(picture(early, "jpg")) == 4


def test_video_cut_inside_a_packet_is_599(client: httpx.Client, tree: Tree) -> None:
    """Cut near 60 %, a little way into a packet, as an interrupted upload leaves a file: the
    demuxer returns that packet partial, the frames after it are missing, and the stream's
    declared duration (2 s) says they should be there. (A cut exactly between two packets leaves
    no trace a demuxer reports: that file is indistinguishable from a shorter video.)"""
    with av.open(str(tree.faststart)) as container:
        starts = [packet.pos for packet in container.demux(video=0) if packet.size and packet.pos]
    size = min(starts, key=lambda pos: abs(pos - tree.faststart.stat().st_size * 0.6)) + 53
    cut(tree.faststart, size, tree.root / "cut-inside.mp4")
    response = client.get("/cut-inside.mp4?vframe/jpg/offset/1.958")
    assert "truncated" in assert_error(response, 599, root=tree.root)


def test_every_answer_has_its_own_reqid(client: httpx.Client) -> None:
    responses = [client.get(FRAME), client.get("/missing.mp4"), client.get("/v.mp4"), client.delete("/v.mp4"),
                 client.get(FRAME, headers={"If-None-Match": "*"}), client.get("/-/healthz"),
                 client.get("/-/metrics"), client.head(FRAME), client.get("/v.mp4?vframe/jpg/offset/x")]
    reqids = [assert_reqid(response) for response in responses]
    assert len(set(reqids)) == len(reqids)


# -- health, metrics, access log -------------------------------------------------------------


def test_healthz(client: httpx.Client) -> None:
    response = client.get("/-/healthz")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert_reqid(response)
    body = response.json()
    assert body["status"] == "ok"
    assert body["workers"] == body["workers_ready"] == 2


def test_metrics_exposition(client: httpx.Client) -> None:
    client.get(FRAME)
    response = client.get("/-/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "version=" in response.headers["content-type"]
    assert_reqid(response)
    text = response.text
    for sample in ('vframe_requests_total{status="200"}', "vframe_cache_hits_total", "vframe_cache_misses_total",
                   'vframe_worker_restarts_total{reason="crash"}', 'vframe_worker_restarts_total{reason="memory"}',
                   'vframe_queued_seconds_bucket{le="+Inf"}', "vframe_queued_seconds_count",
                   "vframe_request_seconds_count", "vframe_decode_seconds_count", "vframe_workers_ready 2.0",
                   "vframe_queue_depth", "vframe_cache_bytes", "vframe_cache_entries"):
        assert re.search(rf"^{re.escape(sample)}( |$)", text, re.MULTILINE), sample
    assert "# TYPE vframe_requests_total counter" in text
    assert "# TYPE vframe_queued_seconds histogram" in text


def test_metrics_move_with_requests(client: httpx.Client, server: LiveServer) -> None:
    target = "/v.mp4?vframe/jpg/offset/0.75/w/96"
    ok, missing = server.metric("vframe_requests_total", 'status="200"'), server.metric(
        "vframe_requests_total", 'status="404"')
    hits, misses = server.metric("vframe_cache_hits_total"), server.metric("vframe_cache_misses_total")
    queued = server.metric("vframe_queued_seconds_count")
    assert client.get(target).status_code == 200
    assert server.metric("vframe_cache_misses_total") == misses + 1
    assert server.metric("vframe_cache_hits_total") == hits
    assert server.metric("vframe_queued_seconds_count") == queued + 1
    assert client.get(target).status_code == 200  # the same frame again: from the cache
    assert server.metric("vframe_cache_hits_total") == hits + 1
    assert server.metric("vframe_cache_misses_total") == misses + 1
    assert server.metric("vframe_queued_seconds_count") == queued + 1
    assert client.get("/missing.mp4").status_code == 404
    # the /-/metrics scrapes in between are 200s too: at least the two frames
    wait_for(lambda: server.metric("vframe_requests_total", 'status="404"') == missing + 1, "404 counted")
    assert server.metric("vframe_requests_total", 'status="200"') >= ok + 2
    assert server.metric("vframe_worker_restarts_total", 'reason="crash"') == 0


def logged(server: LiveServer, reqid: str) -> Callable[[], bool]:
    return lambda: reqid in server.log()


def test_access_log_has_one_line_per_request(client: httpx.Client, server: LiveServer) -> None:
    responses = {
        ("GET", 200): client.get(FRAME + "&token=secret"),
        ("HEAD", 200): client.head("/v.mp4"),
        ("GET", 304): client.get(FRAME, headers={"If-None-Match": "*"}),
        ("GET", 206): client.get("/v.mp4", headers={"Range": "bytes=0-9"}),
        ("GET", 400): client.get("/v.mp4?vframe/jpg/offset/7s"),
        ("GET", 404): client.get("/missing.mp4"),
        ("PUT", 405): client.put("/v.mp4"),
    }
    for (method, status), response in responses.items():
        assert response.status_code == status
        reqid = assert_reqid(response)
        wait_for(logged(server, reqid), f"the log line of {reqid}")
        lines = [line for line in server.log().splitlines() if reqid in line]
        assert len(lines) == 1, lines
        assert re.search(rf'{reqid} \S+ "{method} /[^"]*" {status} ', lines[0]), lines[0]


# -- settings as flags, limits ---------------------------------------------------------------


def test_limits_and_flags(tmp_path: Path, tree: Tree) -> None:
    """A second server with lower limits: 413 over the file size, the frame pixels and the image's
    bytes, and --cache-max-age in Cache-Control."""
    root = tmp_path / "root"
    root.mkdir()
    synth.make_video(root / "tiny.mp4", frames=4, width=32, height=24, bframes=0)  # 768 pixels
    synth.make_video(root / "wide.mp4", frames=4, width=64, height=48, bframes=0)  # 3072 pixels
    shutil.copyfile(tree.video, root / "big.mp4")
    limit = 10_000
    assert (root / "tiny.mp4").stat().st_size < limit and (root / "wide.mp4").stat().st_size < limit
    assert (root / "big.mp4").stat().st_size > limit
    flags = ("--workers", "1", "--max-source-bytes", str(limit), "--max-frame-pixels", "1000",
             "--max-output-bytes", "2000", "--cache-max-age", "60")
    with live_server(root, *flags) as limited, limited.client() as client:
        frame = client.get("/tiny.mp4?vframe/png/offset/0")
        assert frame.status_code == 200, frame.text
        assert picture(frame, "png").size == (32, 24)
        assert frame.headers["cache-control"] == "public, max-age=60"
        assert client.get("/tiny.mp4").headers["cache-control"] == "public, max-age=60"
        assert_error(client.get("/big.mp4?vframe/jpg/offset/1"), 413, "bytes", root=root)
        assert_error(client.get("/wide.mp4?vframe/jpg/offset/0"), 413, "1000", root=root)
        assert len(client.get("/tiny.mp4?vframe/png/offset/0/w/20").content) < 2000
        assert_error(client.get("/tiny.mp4?vframe/png/offset/0/w/640"), 413, "more than this server returns (2000)",
                     root=root)
        assert limited.health()["workers"] == 1


def serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """`vframe serve ARGS` in a fresh interpreter, with no VFRAME_* inherited (plus `env`)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    environ.update(env or {})
    return subprocess.run([sys.executable, "-m", "vframe", "serve", *args], cwd=ROOT, env=environ,
                          capture_output=True, timeout=60)


def test_serve_help_has_a_flag_for_every_setting() -> None:
    done = serve("--help")
    assert done.returncode == 0
    text = done.stdout.decode()
    for item in fields(Settings):
        flag = "--" + item.name.replace("_", "-")
        assert re.search(rf"{flag}\b", text), flag
        assert f"VFRAME_{item.name.upper()}" in text, item.name


@pytest.mark.parametrize(("args", "env", "words"), [
    pytest.param(("--port", "0"), {}, ("--root",), id="no-root"),
    pytest.param(("--root", "{root}/nowhere", "--port", "0"), {}, ("not a folder",), id="root-missing"),
    pytest.param(("--root", "{root}", "--port", "0"), {"VFRAME_WORKERS": "two"}, ("VFRAME_WORKERS", "two"),
                 id="env-not-a-number"),
    pytest.param(("--root", "{root}", "--port", "0"), {"VFRAME_DEADLINE_SECONDS": "soon"},
                 ("VFRAME_DEADLINE_SECONDS",), id="env-float-not-a-number"),
    pytest.param(("--root", "{root}", "--port", "0"), {"VFRAME_JPEG_QUALITY": "0"}, ("VFRAME_JPEG_QUALITY",),
                 id="env-out-of-range"),
    pytest.param(("--root", "{root}", "--port", "0", "--max-height", "5000"), {}, ("VFRAME_MAX_HEIGHT",),
                 id="flag-out-of-range"),
])
def test_serve_refuses_bad_settings(tmp_path: Path, args: tuple[str, ...], env: dict[str, str],
                                    words: tuple[str, ...]) -> None:
    """Exit 2 with one line on stderr, before listening."""
    done = serve(*(arg.format(root=tmp_path) for arg in args), env=env)
    assert done.returncode == 2, done
    assert done.stdout == b""
    stderr = done.stderr.decode()
    assert stderr.startswith("vframe: ") and stderr.count("\n") == 1, stderr
    assert "Traceback" not in stderr
    for word in words:
        assert word in stderr, stderr


def test_the_listening_socket_lets_asyncio_turn_off_nagle() -> None:
    """asyncio sets TCP_NODELAY only on connections of an IPPROTO_TCP socket; without it a
    kept-alive response waits ~40 ms for the client's delayed ACK (found by the benchmark)."""
    listener = _listen("127.0.0.1", 0, socket.AF_INET)
    try:
        assert listener.proto == socket.IPPROTO_TCP
        assert listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        listener.close()
