"""Signed URLs (Qiniu's private-URL style): off by default; when on, a valid signature is served
and every kind of wrong one is a 403 saying which, through a real server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from vframe.errors import Forbidden
from vframe.settings import Settings
from vframe.signing import Signer, sign
from vframe_testkit import synth
from vframe_testkit.live import LiveServer, live_server

SPEC = "vframe/jpg/offset/1/w/160"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("signed")
    synth.make_video(root / "v.mp4", codec="libx264", frames=48, fps=24, width=320, height=240, gop=12)
    with live_server(root, "--workers", "1", "--signing-keys", "old:old-secret,new:new-secret") as live:
        yield live


def qiniu_sign(url: str, access_key: str, secret_key: str, deadline: int) -> str:
    """Written from Qiniu's documentation, independently of vframe.signing."""
    signed = url + ("&" if "?" in url else "?") + f"e={deadline}"
    digest = hmac.new(secret_key.encode(), signed.encode(), hashlib.sha1).digest()
    return signed + "&token=" + access_key + ":" + base64.urlsafe_b64encode(digest).decode()


def later() -> int:
    return int(time.time()) + 600


def test_a_valid_signature_is_served_with_either_key_of_a_rotation(server: LiveServer) -> None:
    for access, secret in (("old", "old-secret"), ("new", "new-secret")):
        response = httpx.get(qiniu_sign(f"{server.url}/v.mp4?{SPEC}", access, secret, later()))
        assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
        assert response.headers["x-vframe-time"] == "1.000"


def test_the_plain_video_is_signed_the_same_way(server: LiveServer) -> None:
    response = httpx.get(qiniu_sign(f"{server.url}/v.mp4", "new", "new-secret", later()))
    assert response.status_code == 200 and response.content[4:8] == b"ftyp"


def test_no_cache_may_keep_a_signed_answer_past_its_deadline(server: LiveServer) -> None:
    """A signed frame, and the signed video, may be kept by caches only until the URL expires."""
    for target in (f"{server.url}/v.mp4?{SPEC}", f"{server.url}/v.mp4"):
        deadline = int(time.time()) + 120
        response = httpx.get(qiniu_sign(target, "new", "new-secret", deadline))
        assert response.status_code == 200
        max_age = int(response.headers["cache-control"].rpartition("max-age=")[2])
        assert 0 < max_age <= deadline - int(time.time()) + 1, response.headers["cache-control"]
        far = httpx.get(qiniu_sign(target, "new", "new-secret", int(time.time()) + 10 * 86400))
        assert far.headers["cache-control"] == "public, max-age=86400"  # VFRAME_CACHE_MAX_AGE, the default


def test_vframe_signing_agrees_with_qiniu(server: LiveServer) -> None:
    url = f"{server.url}/v.mp4?{SPEC}"
    deadline = later()
    assert sign(url, "new", "new-secret", deadline) == qiniu_sign(url, "new", "new-secret", deadline)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("unsigned", "are missing"),
        ("no deadline", "must end with e="),
        ("expired", "expired"),
        ("wrong secret", "signature is wrong"),
        ("unknown access key", "not known"),
        ("spec changed after signing", "signature is wrong"),
        ("key changed after signing", "signature is wrong"),
        ("deadline changed after signing", "signature is wrong"),
        ("token cut", "signature is wrong"),
    ],
)
def test_each_kind_of_wrong_signature_is_403(server: LiveServer, case: str, message: str) -> None:
    url = f"{server.url}/v.mp4?{SPEC}"
    good = qiniu_sign(url, "new", "new-secret", later())
    target = {
        "unsigned": url,
        "no deadline": url + "&token=new:abc",
        "expired": qiniu_sign(url, "new", "new-secret", int(time.time()) - 1),
        "wrong secret": qiniu_sign(url, "new", "old-secret", later()),
        "unknown access key": qiniu_sign(url, "other", "new-secret", later()),
        "spec changed after signing": good.replace("offset/1", "offset/2"),
        "key changed after signing": good.replace("/v.mp4", "/w.mp4"),
        "deadline changed after signing": good.replace("&e=", "&e=1"),
        "token cut": good[:-4],
    }[case]
    response = httpx.get(target)
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert message in response.json()["error"]


def test_a_missing_video_is_403_before_404_when_unsigned(server: LiveServer) -> None:
    """The signature is checked first: an unsigned request learns nothing about what exists."""
    assert httpx.get(f"{server.url}/missing.mp4?{SPEC}").status_code == 403
    assert httpx.get(qiniu_sign(f"{server.url}/missing.mp4?{SPEC}", "new", "new-secret", later())).status_code == 404


def test_the_public_base_replaces_the_one_the_request_came_to() -> None:
    signer = Signer.from_settings(Settings(signing_keys="ak:sk", signing_base="https://cdn.example.com/"))
    assert signer is not None
    signed = qiniu_sign(f"https://cdn.example.com/v.mp4?{SPEC}", "ak", "sk", later())
    query = signed.partition("?")[2].encode()
    signer.check("http://10.0.0.5:8080", b"/v.mp4", query)  # what the proxy forwarded
    with pytest.raises(Forbidden):
        signer.check("http://10.0.0.5:8080", b"/other.mp4", query)


def test_signing_is_off_by_default_and_keys_are_validated() -> None:
    assert Signer.from_settings(Settings()) is None
    with pytest.raises(ValueError, match="ACCESSKEY:SECRETKEY"):
        Signer.from_settings(Settings(signing_keys="no-colon"))


def test_unsigned_queries_after_the_spec_are_ignored_when_signing_is_off(tmp_path: Path) -> None:
    synth.make_video(tmp_path / "v.mp4", codec="libx264", frames=24, fps=24, width=160, height=120, gop=12)
    with live_server(tmp_path, "--workers", "1") as live:
        assert httpx.get(f"{live.url}/v.mp4?{SPEC}&e=1&token=x:y").status_code == 200
        assert httpx.get(f"{live.url}/v.mp4?e=1&token=x:y").content[4:8] == b"ftyp"
