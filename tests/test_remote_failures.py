"""Every way a remote source fails, produced for real: a real HTTP origin (vframe_testkit.origin) told to
misbehave, a closed port, a real S3-compatible server (moto, vframe_testkit.s3server) missing a key or a
bucket or stopped under a running vframe. Each failure is held to the contract's status table
(origin or S3 404/403 -> 404; 5xx, refused, cut short, a wrong or ignored range, a redirect, a
changed object -> 502; too slow or past the deadline while fetching -> 504; over max_fetch_bytes
-> 413) with its one-sentence JSON message, and the same server answers a valid request right
after. Also: retries are bounded, a redirect's target is never asked, an origin refusing HEAD
still works."""

from __future__ import annotations

import io
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import httpx
import numpy as np
import pytest
from PIL import Image

from vframe_testkit import synth
from vframe_testkit.live import LiveServer, live_server
from vframe_testkit.origin import Origin, _handler, serve_origin
from vframe_testkit.s3server import S3Server, run_s3_server, s3_fixture  # noqa: F401  (the session fixture `s3`)

FRAME = "/v.mp4?vframe/jpg/offset/1/w/160"  # frame 24
PREFIX = "videos/"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("remote")
    synth.make_video(root / "v.mp4", codec="libx264", frames=48, fps=24, width=320, height=240, gop=12, bframes=2)
    synth.make_video(root / "tiny.mp4", codec="libx264", frames=4, fps=24, width=64, height=48, gop=4, bframes=0)
    assert (root / "tiny.mp4").stat().st_size < 8192 < (root / "v.mp4").stat().st_size
    return root


@pytest.fixture(scope="module")
def origin(folder: Path) -> Iterator[Origin]:
    with serve_origin(folder) as running:
        yield running


@pytest.fixture(scope="module")
def elsewhere(folder: Path) -> Iterator[Origin]:
    """A second origin with the same videos: where redirects point. It must never be asked."""
    with serve_origin(folder) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(origin: Origin, elsewhere: Origin) -> Iterator[None]:
    origin.reset()
    elsewhere.reset()
    yield
    origin.reset()
    elsewhere.reset()


def serve(origin: Origin, *flags: str) -> Iterator[LiveServer]:
    """`vframe serve --origin ORIGIN/` with one worker, no result cache and no bytes kept between
    requests (every valid request reads from the origin again) and `flags`."""
    with live_server(Path(""), "--root", "", "--origin", f"{origin.url}/", "--workers", "1", "--cache-bytes", "0",
                     "--origin-cache-bytes", "0", *flags) as server:
        yield server


@pytest.fixture(scope="module")
def server(origin: Origin) -> Iterator[LiveServer]:
    yield from serve(origin, "--origin-timeout-seconds", "1", "--block-bytes", "16384")


@pytest.fixture(scope="module")
def hurried(origin: Origin) -> Iterator[LiveServer]:
    """A one-second deadline and small blocks: many fetches for one frame."""
    yield from serve(origin, "--deadline-seconds", "1", "--block-bytes", "4096")


@pytest.fixture(scope="module")
def frugal(origin: Origin) -> Iterator[LiveServer]:
    """At most 8 KiB fetched per request: tiny.mp4 fits, v.mp4 does not."""
    yield from serve(origin, "--max-fetch-bytes", "8192", "--block-bytes", "4096")


# -- helpers ---------------------------------------------------------------------------------


def get(server: LiveServer, target: str = FRAME, method: str = "GET") -> httpx.Response:
    return httpx.request(method, server.url + target, timeout=60)


def assert_error(response: httpx.Response, status: int, *words: str) -> str:
    """The one shape of every failure: JSON {"error": one sentence}, never stored, with an X-Reqid."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers.get("x-reqid")
    body = response.json()
    assert list(body) == ["error"], body
    message: str = body["error"]
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message, message
    assert "127.0.0.1" not in message and "/tmp/" not in message, message  # no addresses, no paths
    for word in words:
        assert word in message.lower(), message
    return message


def assert_serves(server: LiveServer, target: str = FRAME, shown: int | None = 24) -> httpx.Response:
    """A valid request is answered: 200 and the right picture."""
    response = get(server, target)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    if shown is not None:
        image = Image.open(io.BytesIO(response.content)).convert("RGB")
        assert synth.read_index(np.asarray(image)) == shown
    return response


@contextmanager
def origin_at(root: Path, port: int) -> Iterator[Origin]:
    """vframe_testkit.origin's origin, on a given port."""
    origin = Origin(root)
    http = ThreadingHTTPServer(("127.0.0.1", port), _handler(origin))
    http.daemon_threads = True
    origin.url = f"http://127.0.0.1:{port}"
    Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield origin
    finally:
        http.shutdown()
        http.server_close()


# -- HTTP origin: 404 ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [404, 403, 410])
def test_origin_gone_is_404(server: LiveServer, origin: Origin, status: int) -> None:
    origin.faults.status = status
    assert_error(get(server), 404, "no such video")
    assert_error(get(server, "/v.mp4"), 404, "no such video")
    origin.reset()
    assert_serves(server)


def test_missing_at_the_origin_is_404(server: LiveServer, origin: Origin) -> None:
    assert_error(get(server, "/nope.mp4?vframe/jpg/offset/1"), 404, "no such video")
    assert_error(get(server, "/sub/nope.mp4"), 404, "no such video")
    assert origin.settled_count("/nope.mp4") == origin.count("/sub/nope.mp4") == 1  # a 404 is not retried
    assert_serves(server)


# -- HTTP origin: 502 ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 503])
def test_origin_5xx_is_502_after_bounded_retries(server: LiveServer, origin: Origin, status: int) -> None:
    origin.faults.status = status
    assert_error(get(server), 502, "origin", str(status))
    attempts = origin.settled_count()
    assert 1 <= attempts <= 3, origin.requests
    assert {(r.method, r.path) for r in origin.requests} == {("HEAD", "/v.mp4")}
    origin.reset()
    assert_serves(server)


def test_connection_refused_is_502(folder: Path) -> None:
    """An origin on a closed port: 502; once something listens there, the same server answers."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = closed.getsockname()[1]
        with live_server(Path(""), "--root", "", "--origin", f"http://127.0.0.1:{port}/", "--workers", "1") as server:
            assert_error(get(server), 502, "could not be reached")
            assert_error(get(server, "/v.mp4"), 502, "could not be reached")
            closed.close()
            with origin_at(folder, port) as origin:
                assert_serves(server)
                assert origin.settled_count("/v.mp4") > 0


def test_body_cut_short_is_502(server: LiveServer, origin: Origin) -> None:
    origin.faults.cut_short = True
    assert_error(get(server), 502, "origin")
    origin.settled_count()
    gets = [r for r in origin.requests if r.method == "GET"]
    assert 1 <= len(gets) <= 3 and all(r.range for r in gets), origin.requests  # retried, boundedly
    origin.reset()
    assert_serves(server)


def test_wrong_content_range_is_502(server: LiveServer, origin: Origin) -> None:
    origin.faults.wrong_range = True
    assert_error(get(server), 502, "byte range")
    origin.reset()
    assert_serves(server)


def test_origin_ignoring_range_is_502(server: LiveServer, origin: Origin) -> None:
    origin.faults.ignore_range = True
    assert_error(get(server), 502, "byte range")
    origin.reset()
    assert_serves(server)


def test_redirect_is_502_and_never_followed(server: LiveServer, origin: Origin, elsewhere: Origin) -> None:
    origin.faults.redirect_to = f"{elsewhere.url}/v.mp4"
    assert_error(get(server), 502, "redirect")
    assert_error(get(server, "/v.mp4"), 502, "redirect")
    assert origin.settled_count("/v.mp4") >= 2
    assert elsewhere.settled_count() == 0
    origin.reset()
    assert_serves(server)
    assert elsewhere.settled_count() == 0


def test_object_replaced_mid_request_is_502(server: LiveServer, origin: Origin) -> None:
    """After the first ranged GET the origin's object (and ETag) changes: If-Match fails, no mixed frame."""
    origin.faults.replace_after = 1
    assert_error(get(server), 502, "changed")
    assert origin.gets >= 2  # several blocks were asked for
    origin.reset()
    assert_serves(server)


# -- HTTP origin: 504, 413 -------------------------------------------------------------------


def test_slow_origin_is_504(server: LiveServer, origin: Origin) -> None:
    """--origin-timeout-seconds 1 and an origin 3 s slow: 504."""
    origin.faults.delay_seconds = 3
    assert_error(get(server), 504, "too slow")
    origin.reset()  # the slow answer is still on its way: the next request does not wait for it
    assert_serves(server)


def test_deadline_while_fetching_is_504(hurried: LiveServer, origin: Origin) -> None:
    """A one-second deadline, 0.4 s per origin answer and 4 KiB blocks: 504 with the deadline's message."""
    origin.faults.delay_seconds = 0.4
    assert_error(get(hurried), 504, "deadline", "1 seconds")
    origin.reset()
    assert_serves(hurried)


def test_deadline_spent_on_the_lookup_is_504(hurried: LiveServer, origin: Origin) -> None:
    """A one-second deadline and an origin answering the HEAD after 1.5 s (within its timeout): 504."""
    origin.faults.delay_seconds = 1.5
    assert_error(get(hurried), 504, "deadline")
    origin.reset()
    assert_serves(hurried)


def test_max_fetch_bytes_is_413(frugal: LiveServer, origin: Origin) -> None:
    """Over --max-fetch-bytes: 413 before fetching more; a small video still fits the same limit."""
    assert_error(get(frugal), 413, "8192")
    assert origin.bytes_sent() <= 8192
    assert_serves(frugal, "/tiny.mp4?vframe/jpg/offset/0", shown=None)
    assert_error(get(frugal), 413, "8192")  # the limit is per request, not used up


# -- HTTP origin: HEAD refused ---------------------------------------------------------------


def test_origin_refusing_head_still_works(server: LiveServer, origin: Origin) -> None:
    """405 to HEAD: the size comes from a one-byte ranged GET; the frame is the same."""
    expected = assert_serves(server).content
    origin.reset()
    origin.faults.no_head = True
    response = assert_serves(server)
    assert response.content == expected
    origin.settled_count()
    assert ("HEAD", None) in {(r.method, r.range) for r in origin.requests}
    assert ("GET", "bytes=0-0") in {(r.method, r.range) for r in origin.requests}
    plain = get(server, "/v.mp4", method="GET")
    assert plain.status_code == 200 and plain.content == (origin.root / "v.mp4").read_bytes()


# -- S3 --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_server(folder: Path, s3: S3Server) -> Iterator[LiveServer]:
    bucket = s3.bucket(folder=folder, prefix=PREFIX)
    flags = ("--root", "", "--s3", f"s3://{bucket}/{PREFIX}", "--s3-endpoint", s3.endpoint, "--workers", "1",
             "--cache-bytes", "0")
    with live_server(Path(""), *flags, env=s3.env) as server:
        yield server


def test_s3_missing_key_is_404(s3_server: LiveServer) -> None:
    assert_error(get(s3_server, "/nope.mp4?vframe/jpg/offset/1"), 404, "no such video")
    assert_error(get(s3_server, "/nope.mp4"), 404, "no such video")
    assert_error(get(s3_server, "/tiny.mp4/v.mp4?vframe/jpg/offset/1"), 404, "no such video")
    assert_serves(s3_server)


def test_s3_missing_bucket_is_404(folder: Path, s3: S3Server) -> None:
    """A bucket that does not exist: 404; once it is made and filled, the same server answers."""
    name = f"late-{time.monotonic_ns()}"
    flags = ("--root", "", "--s3", f"s3://{name}/{PREFIX}", "--s3-endpoint", s3.endpoint, "--workers", "1")
    with live_server(Path(""), *flags, env=s3.env) as server:
        assert_error(get(server), 404, "no such video")
        assert_error(get(server, "/v.mp4"), 404, "no such video")
        s3.bucket(name=name, folder=folder, prefix=PREFIX)
        assert_serves(server)


def test_s3_endpoint_down_is_502(folder: Path) -> None:
    """S3 stopped under a running vframe: 502 (refused connection); started again, the same server answers."""
    with run_s3_server() as private:
        port, env = private.port, private.env
        bucket = private.bucket(folder=folder, prefix=PREFIX)
        flags = ("--root", "", "--s3", f"s3://{bucket}/{PREFIX}", "--s3-endpoint", private.endpoint,
                 "--workers", "1", "--cache-bytes", "0")
        with live_server(Path(""), *flags, env=env) as server:
            assert_serves(server)
            private.stop()
            assert_error(get(server), 502, "s3", "could not be reached")
            assert_error(get(server, "/v.mp4"), 502, "s3")
            with run_s3_server(port) as again:
                again.bucket(name=bucket, folder=folder, prefix=PREFIX)
                assert_serves(server)
