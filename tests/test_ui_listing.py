"""The page's listing and its endpoints: pagination, hidden names absent, nothing outside the source,
traversal keys refused, S3 listing through a real S3 server (moto), the page off by default, and
signing only for a browser on the server's machine."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import httpx
import pytest

from vframe.settings import Settings
from vframe.signing import Signer
from vframe.sources.listing import SCANNED_PER_ITEM, list_folder, list_s3
from vframe.sources.s3 import S3Bucket
from vframe_testkit import synth
from vframe_testkit.live import live_server, raw_request
from vframe_testkit.s3server import CREDENTIALS, S3Server, s3_fixture  # noqa: F401  (the session fixture `s3`)

VISIBLE = ["a/b/deep.mkv", "a/one.mp4", "c.mp4", "inside-link.mp4", "z/Upper.MOV", "z/last.webm"]


def tree(root: Path, outside: Path) -> None:
    for key in [*VISIBLE, ".hidden.mp4", ".git/objects.mp4", "a/.cache/x.mp4", "notes.txt", "a/b/readme.md"]:
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        if key != "inside-link.mp4":
            path.write_bytes(b"v" * (len(key) + 1))
    Path(os.fsdecode(bytes(root) + b"/a/caf\xe9.mp4")).write_bytes(b"v")  # not UTF-8: never listed
    (outside / "secret.mp4").write_bytes(b"secret")
    (root / "inside-link.mp4").symlink_to(root / "c.mp4")
    (root / "outside-link.mp4").symlink_to(outside / "secret.mp4")
    (root / "outside-folder").symlink_to(outside, target_is_directory=True)


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    tree(root, outside)
    return root


def every_page(root: Path, limit: int) -> list[list[str]]:
    pages, after = [], ""
    for _ in range(100):
        page = list_folder(root, after, limit)
        pages.append([entry.key for entry in page.entries])
        if page.next is None:
            return pages
        assert page.next > after, (page.next, after)
        after = page.next
    raise AssertionError("the listing never ended")


@pytest.mark.parametrize("limit", [1, 2, 4, 100])
def test_pages_give_every_video_once_in_order(folder: Path, limit: int) -> None:
    pages = every_page(folder, limit)
    keys = [key for page in pages for key in page]
    assert keys == VISIBLE  # sorted, no hidden names, no link out, no text files
    assert all(len(page) <= limit for page in pages)
    assert list_folder(folder, "", 100).entries[1].size == len("a/one.mp4") + 1


def test_a_page_looks_at_a_bounded_number_of_entries(tmp_path: Path) -> None:
    for index in range(3 * SCANNED_PER_ITEM):
        (tmp_path / f"a{index:04d}.txt").write_bytes(b"")
    (tmp_path / "b.mp4").write_bytes(b"v")
    first = list_folder(tmp_path, "", 1)
    assert first.entries == [] and first.next is not None  # the budget ran out before any video
    assert [key for page in every_page(tmp_path, 1) for key in page] == ["b.mp4"]


def test_after_a_key_in_a_deeper_folder(folder: Path) -> None:
    assert [e.key for e in list_folder(folder, "a/b/deep.mkv", 10).entries] == VISIBLE[1:]
    assert [e.key for e in list_folder(folder, "a", 10).entries] == VISIBLE  # "a" sorts before a/...
    assert [e.key for e in list_folder(folder, "zz", 10).entries] == []


def test_s3_listing_pages_through_continuation_tokens(s3: S3Server, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = s3.bucket()
    keys = [f"videos/clip{index:02d}.mp4" for index in range(7)] + [
        "videos/.hidden.mp4", "videos/sub/.env", "videos/a/../up.mp4", "videos/a//b.mp4", "videos/notes.txt",
        "other/outside.mp4", "videos-more/x.mp4",
    ]
    for key in keys:
        s3.put(bucket, key, b"v")
    library = S3Bucket.at(f"s3://{bucket}/videos", Settings(s3_endpoint=s3.endpoint, s3_region="us-east-1"))
    seen, after = [], ""
    for _ in range(20):
        page = list_s3(library, after, 3)
        assert len(page.entries) <= 3
        seen += [entry.key for entry in page.entries]
        if page.next is None:
            break
        after = page.next
    assert seen == [f"clip{index:02d}.mp4" for index in range(7)]
    # One page of hidden and odd keys only: ListObjectsV2 goes on with its continuation token.
    assert [e.key for e in list_s3(library, "clip06.mp4", 1).entries] == []
    # Hidden keys enough to spend a page's calls: the page goes on from S3's token, and its `next`
    # names none of them; the video after them is reached.
    for index in range(12):
        s3.put(bucket, f"videos/zz/.secret{index:02d}.mp4", b"v")
    s3.put(bucket, "videos/zzz.mp4", b"v")
    page = list_s3(library, "clip06.mp4", 1)
    assert page.entries == [] and page.next is not None and page.next.startswith("/")
    assert "secret" not in page.next and "zz" not in page.next, page.next
    walked, after = [], page.next
    for _ in range(10):
        page = list_s3(library, after, 1)
        walked += [e.key for e in page.entries]
        assert page.next is None or "secret" not in page.next
        if page.next is None:
            break
        after = page.next
    assert walked == ["zzz.mp4"]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ui-root")
    outside = tmp_path_factory.mktemp("ui-outside")
    synth.make_video(root / "clip.mp4", frames=24, fps=24, width=160, height=120, gop=12)
    shutil.copy(root / "clip.mp4", outside / "secret.mp4")
    shutil.copy(root / "clip.mp4", root / ".hidden.mp4")
    (root / "link-out.mp4").symlink_to(outside / "secret.mp4")
    Path(os.fsdecode(bytes(root) + b"/caf\xe9.mp4")).write_bytes(b"v")  # a name that is not UTF-8: no key
    return root


def test_the_page_is_off_by_default(served: Path) -> None:
    with live_server(served, "--workers", "1") as server:
        for path in ("/-/ui/", "/-/ui", "/-/ui/api/videos", "/-/ui/api/probe?key=clip.mp4", "/-/ui/ui.js"):
            answer = httpx.get(server.url + path, timeout=10)
            assert answer.status_code == 404, path
            assert "error" in answer.json()


def test_endpoints_over_a_live_server(served: Path) -> None:
    with live_server(served, "--workers", "1", "--signing-keys", "ak1:sk1", env={"VFRAME_UI": "1"}) as server:
        with server.client() as client:
            page = client.get("/-/ui/")
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert client.get("/-/ui/ui.js").status_code == 200
            assert client.get("/-/ui/ui.css").headers["content-type"].startswith("text/css")
            assert client.get("/-/ui/nothing").status_code == 404
            assert client.get("/-/ui/api/source").json() == {
                "kind": "folder", "listable": True, "signing": True, "max_width": 3840, "max_height": 2160}
            assert client.get("/-/ui/api/videos").json() == {
                "listable": True, "videos": [{"key": "clip.mp4", "size": (served / "clip.mp4").stat().st_size}],
                "next": None}
            for bad in ("0", "101", "x", "-1", "\u00b2", "1" * 40):  # "²" is a digit to str.isdigit
                assert client.get(f"/-/ui/api/videos?limit={bad}").status_code == 400
            facts = client.get("/-/ui/api/probe", params={"key": "clip.mp4"})
            assert facts.status_code == 200, facts.text
            assert facts.json()["display_width"] == 160 and facts.json()["frame_rate"] == 24.0
            for key in ("../ui-outside0/secret.mp4", ".hidden.mp4", "link-out.mp4", "/etc/passwd", "a/../clip.mp4",
                        "", "clip.mp4\x00", "sub//clip.mp4", "a\\clip.mp4"):
                refused = client.get("/-/ui/api/probe", params={"key": key})
                assert refused.status_code == 404, (key, refused.text)
                assert refused.json() == {"error": "No such video."}
            # Signing: for this machine's browser, a URL the service then answers.
            signed = client.get("/-/ui/api/sign", params={"target": "/clip.mp4?vframe/png/offset/0.5"})
            assert signed.status_code == 200, signed.text
            url = signed.json()["url"]
            assert url.startswith(server.url + "/clip.mp4?vframe/png/offset/0.5&e=") and "&token=ak1:" in url
            frame = httpx.get(url, timeout=30)
            assert frame.status_code == 200 and frame.headers["x-vframe-time"] == "0.500"
            assert httpx.get(server.url + "/clip.mp4?vframe/png/offset/0.5", timeout=30).status_code == 403
            proxied = client.get("/-/ui/api/sign", params={"target": "/clip.mp4"},
                                 headers={"X-Forwarded-For": "1.2.3.4"})
            assert proxied.status_code == 403 and "machine" in proxied.json()["error"]
            for target in ("http://elsewhere/x", "//elsewhere/x", "clip.mp4", "/a b"):
                assert client.get("/-/ui/api/sign", params={"target": target}).status_code == 400, target
        raw = raw_request(server, "/-/ui/api/probe?key=..%2Fui-outside0%2Fsecret.mp4")
        assert raw.status == 404


def test_signing_is_refused_to_a_remote_client_and_when_off(served: Path) -> None:
    from vframe.server import create_app

    async def ask(settings: Settings, client: tuple[str, int], base: str = "http://localhost:8080",
                  headers: dict[str, str] | None = None) -> httpx.Response:
        transport = httpx.ASGITransport(app=create_app(settings), client=client)  # no lifespan: no workers
        async with httpx.AsyncClient(transport=transport, base_url=base) as http:
            return await http.get("/-/ui/api/sign", params={"target": "/clip.mp4"}, headers=headers)

    on = Settings(root=str(served), ui=1, signing_keys="ak1:sk1")
    remote = asyncio.run(ask(on, ("203.0.113.7", 40000)))
    assert remote.status_code == 403 and "own machine" in remote.json()["error"]
    local = asyncio.run(ask(on, ("::1", 40000)))
    assert local.status_code == 200
    signer = Signer.from_settings(on)
    assert signer is not None
    query = local.json()["url"].partition("?")[2]
    signer.check("http://localhost:8080", b"/clip.mp4", query.encode())  # raises Forbidden when wrong
    assert asyncio.run(ask(on, ("127.0.0.1", 40000), "http://[::1]:8080")).status_code == 200
    # DNS rebinding: a site's page whose name now resolves to 127.0.0.1 still sends its own Host;
    # and a request made by another site's page says so (Sec-Fetch-Site).
    rebound = asyncio.run(ask(on, ("127.0.0.1", 40000), "http://evil.example:8080"))
    assert rebound.status_code == 403 and "own machine" in rebound.json()["error"]
    cross = asyncio.run(ask(on, ("127.0.0.1", 40000), headers={"Sec-Fetch-Site": "cross-site"}))
    assert cross.status_code == 403
    off = asyncio.run(ask(Settings(root=str(served), ui=1), ("127.0.0.1", 40000)))
    assert off.status_code == 403 and "Signing is off" in off.json()["error"]


def test_an_origin_cannot_be_listed(served: Path) -> None:
    from vframe.server import create_app

    async def ask(path: str) -> httpx.Response:
        app = create_app(Settings(origin="http://127.0.0.1:9/media/", ui=1))
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))  # no lifespan: no workers
        async with httpx.AsyncClient(transport=transport, base_url="http://vframe.test") as http:
            return await http.get(path)

    assert asyncio.run(ask("/-/ui/api/source")).json()["listable"] is False
    assert asyncio.run(ask("/-/ui/api/videos")).json() == {"listable": False, "videos": [], "next": None}
