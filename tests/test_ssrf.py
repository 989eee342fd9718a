"""Server-side request forgery, proven with a canary: a second real HTTP origin (vframe_testkit.origin)
serving a real video, which must never be contacted.

(1) In origin mode a key never leaves the base URL: `..` in every spelling, `//host`, `http://`,
`@host`, backslashes, encoded `?` `#` CR LF, absolute-form request targets: each is 404 (at
once, or a harmless 404 from the real origin under its base path); the canary saw nothing and the
real origin saw only paths under the base. (2) A redirect to the canary is not followed. (3) The
CLI and the library refuse http(s) URLs that resolve to loopback, private, link-local or
unspecified addresses (decimal, hex, short and IPv6 spellings included) with Forbidden / exit 4
and a message naming the address, before any connection; with VFRAME_ALLOW_PRIVATE_URLS=1 the same
loopback URL is fetched. 10.0.0.1 and 169.254.169.254 are refused before connecting, so no test
reaches the network."""

from __future__ import annotations

import os
import posixpath
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import vframe
from vframe_testkit import synth
from vframe_testkit.live import ROOT, LiveServer, live_server, raw_request
from vframe_testkit.origin import Origin, serve_origin

SPEC = "?vframe/jpg/offset/0"
NOT_FOUND = {"error": "No such video."}


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synth.make_video(tmp_path_factory.mktemp("ssrf-video") / "v.mp4", frames=12, fps=24, width=160,
                            height=120, gop=12, bframes=2).path


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory, video: Path) -> Iterator[Origin]:
    """Serves x.mp4 and secret.mp4 (real videos), so that any request that reached it would succeed."""
    root = tmp_path_factory.mktemp("canary")
    shutil.copyfile(video, root / "x.mp4")
    shutil.copyfile(video, root / "secret.mp4")
    with serve_origin(root) as running:
        yield running


@pytest.fixture(scope="module")
def origin(tmp_path_factory: pytest.TempPathFactory, video: Path) -> Iterator[Origin]:
    """The real origin: videos under /base/, and others beside the base that keys must not reach."""
    root = tmp_path_factory.mktemp("origin")
    (root / "base").mkdir()
    (root / "other").mkdir()
    shutil.copyfile(video, root / "base" / "v.mp4")
    shutil.copyfile(video, root / "other" / "secret.mp4")
    shutil.copyfile(video, root / "secret.mp4")
    with serve_origin(root) as running:
        yield running


@pytest.fixture(scope="module")
def server(origin: Origin) -> Iterator[LiveServer]:
    with live_server(Path(""), "--root", "", "--origin", f"{origin.url}/base/", "--workers", "1") as running:
        yield running


@pytest.fixture(autouse=True)
def clean(canary: Origin, origin: Origin) -> Iterator[None]:
    canary.reset()
    origin.reset()
    yield
    canary.reset()
    origin.reset()


def hostport(origin: Origin) -> str:
    return urlsplit(origin.url).netloc


def raw(server: LiveServer, target: str) -> tuple[int, object]:
    """`target` sent exactly as written (no client tidying it): the status and the JSON body."""
    response = raw_request(server, target)
    return response.status, response.json() if response.status != 200 else None


def assert_only_under_base(origin: Origin) -> None:
    """Every path the real origin was asked for is under /base/, once decoded as the origin decodes it."""
    for request in origin.requests:
        path = unquote(request.path.split("?")[0])
        assert posixpath.normpath(path).startswith("/base/") and "\\" not in path, request


def run(*args: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    return subprocess.run([sys.executable, "-m", "vframe", *args], cwd=ROOT, env={**environ, **env},
                          capture_output=True, timeout=60)


# -- (1) keys stay under the origin's base ---------------------------------------------------


KEYS = [
    "/..%2f..%2fother%2fsecret.mp4",
    "/..%2fsecret.mp4",
    "/%2e%2e/other/secret.mp4",
    "/%2E%2E%2Fother%2Fsecret.mp4",
    "/../secret.mp4",
    "/v.mp4/../../other/secret.mp4",
    "/%252e%252e/other/secret.mp4",  # decoded once: the name `%2e%2e`, sent as such
    "/.%2e/secret.mp4",
    "/..;/secret.mp4",
    "//{canary}/x.mp4",
    "/%2f%2f{canary}/x.mp4",
    "/http:%2f%2f{canary}%2fx.mp4",
    "/http://{canary}/x.mp4",
    "/http:/{canary}/x.mp4",
    "/https:%2f%2f{canary}/x.mp4",
    "/@{canary}/x.mp4",
    "/%40{canary}/x.mp4",
    "/user@{canary}/x.mp4",
    "/:@{canary}/x.mp4",
    "/{canary}/x.mp4",
    "/..%5c..%5cother%5csecret.mp4",
    "/%5c%5c{canary}%5cx.mp4",
    "/\\\\{canary}\\x.mp4",
    "/x.mp4%3f@{canary}/x.mp4",
    "/x.mp4%23@{canary}/x.mp4",
    "/v.mp4%3f/../../secret.mp4",
    "/v.mp4%23/../../secret.mp4",
    "/x.mp4%0d%0aHost:%20{canary}%0d%0a",
    "/%00/../secret.mp4",
    "/%E2%80%A4%E2%80%A4/secret.mp4",  # one-dot leaders: not `..`, just a name
    "http://{canary}/x.mp4",  # an absolute-form request target
]


@pytest.mark.parametrize("spec", [SPEC, ""], ids=["frame", "video"])
@pytest.mark.parametrize("key", KEYS)
def test_keys_cannot_leave_the_base(server: LiveServer, origin: Origin, canary: Origin, key: str,
                                    spec: str) -> None:
    status, body = raw(server, key.format(canary=hostport(canary)) + spec)
    assert (status, body) == (404, NOT_FOUND)
    assert canary.settled_count() == 0
    assert_only_under_base(origin)


def test_the_base_itself_is_reachable(server: LiveServer, origin: Origin, canary: Origin) -> None:
    """The control: a plain key does reach the origin, under the base."""
    assert raw(server, "/v.mp4" + SPEC)[0] == 200
    assert origin.settled_count("/base/v.mp4") >= 2  # HEAD, then ranged GETs
    assert_only_under_base(origin)
    assert canary.settled_count() == 0


# -- (2) redirects ---------------------------------------------------------------------------


def test_origin_redirect_to_the_canary_is_not_followed(server: LiveServer, origin: Origin, canary: Origin) -> None:
    origin.faults.redirect_to = f"{canary.url}/x.mp4"
    for target in ("/v.mp4" + SPEC, "/v.mp4"):
        status, body = raw(server, target)
        assert status == 502 and "redirect" in str(body), body
    assert origin.settled_count() >= 2
    assert canary.settled_count() == 0


def test_url_redirect_to_the_canary_is_not_followed(origin: Origin, canary: Origin) -> None:
    """The library, allowed to fetch loopback: a redirect is still a failure, never followed."""
    origin.faults.redirect_to = f"{canary.url}/x.mp4"
    with pytest.raises(vframe.UpstreamFailed, match="redirect"):
        vframe.grab(f"{origin.url}/base/v.mp4", "vframe/jpg/offset/0", vframe.Settings(allow_private_urls=1))
    assert origin.settled_count() == 1 and canary.settled_count() == 0


# -- (3) http(s) inputs that resolve to this machine or a private network --------------------


def private_urls(port: int) -> list[tuple[str, str]]:
    """(URL, what its message names)."""
    return [
        (f"http://127.0.0.1:{port}/x.mp4", "127.0.0.1"),
        (f"http://localhost:{port}/x.mp4", "localhost is"),
        (f"http://[::1]:{port}/x.mp4", "::1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        (f"http://0.0.0.0:{port}/", "0.0.0.0"),
        ("http://10.0.0.1/x.mp4", "10.0.0.1"),
        ("http://192.168.1.1/x.mp4", "192.168.1.1"),
        (f"http://2130706433:{port}/x.mp4", "127.0.0.1"),  # decimal
        (f"http://0x7f000001:{port}/x.mp4", "127.0.0.1"),  # hex
        (f"http://127.1:{port}/x.mp4", "127.0.0.1"),  # short
        (f"http://017700000001:{port}/x.mp4", "127.0.0.1"),  # octal
        (f"http://[::ffff:127.0.0.1]:{port}/x.mp4", "::ffff:127.0.0.1"),
        (f"http://[::]:{port}/x.mp4", "::"),
        (f"http://user:pass@127.0.0.1:{port}/x.mp4", "127.0.0.1"),
        (f"https://127.0.0.1:{port}/x.mp4", "127.0.0.1"),
    ]


def test_library_refuses_private_urls(canary: Origin) -> None:
    port = urlsplit(canary.url).port
    assert port is not None
    for url, named in private_urls(port):
        for call in (vframe.grab, vframe.probe):
            with pytest.raises(vframe.Forbidden) as refused:
                call(url, *(["vframe/jpg/offset/0"] if call is vframe.grab else []))
            assert named in refused.value.message, (url, refused.value.message)
            assert "VFRAME_ALLOW_PRIVATE_URLS" in refused.value.message
    assert canary.settled_count() == 0


@pytest.mark.parametrize("which", [0, 3, 7])  # loopback, the cloud metadata address, a decimal IP
def test_cli_refuses_private_urls(canary: Origin, tmp_path: Path, which: int) -> None:
    port = urlsplit(canary.url).port
    assert port is not None
    url, named = private_urls(port)[which]
    out = tmp_path / "out.jpg"
    done = run("grab", url, "vframe/jpg/offset/0", "-o", str(out))
    assert done.returncode == 4, done.stderr
    message = done.stderr.decode()
    assert message.startswith("vframe: ") and message.count("\n") == 1 and named in message, message
    assert done.stdout == b"" and not out.exists()
    assert canary.settled_count() == 0


def test_allowed_private_url_is_fetched(canary: Origin, video: Path, tmp_path: Path) -> None:
    """The control: with VFRAME_ALLOW_PRIVATE_URLS=1 the same loopback URL is fetched (so the
    refusals above are refusals, not a canary that cannot be reached)."""
    out = tmp_path / "out.jpg"
    done = run("grab", f"{canary.url}/x.mp4", "vframe/jpg/offset/0", "-o", str(out), VFRAME_ALLOW_PRIVATE_URLS="1")
    assert done.returncode == 0, done.stderr
    expected = vframe.grab(video, "vframe/jpg/offset/0").data
    assert out.read_bytes() == expected
    assert canary.settled_count("/x.mp4") >= 2
    allowed = vframe.grab(f"{canary.url}/x.mp4", "vframe/jpg/offset/0", vframe.Settings(allow_private_urls=1))
    assert allowed.data == expected
