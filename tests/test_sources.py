"""One contract for every source (imgproxy's storage/testsuite, for vframe): the same folder of
videos served by a real `vframe serve` from a local folder (`--root`), from a real HTTP origin
(`--origin`, vframe_testkit.origin) and from a real S3-compatible server (`--s3`, moto in its own process,
vframe_testkit.s3server) gives the same answers: byte-identical images with the same X-Vframe-Time, the
same statuses and messages for missing, escaping, malformed and broken requests, the video itself
byte for byte (Range, HEAD), stable ETags that change with the object. The CLI and `vframe probe`
give the same bytes and the same JSON for a path, an http:// URL and an s3:// URL."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import numpy as np
import pytest
from PIL import Image

import vframe
from vframe_testkit import synth
from vframe_testkit.live import ROOT, LiveServer, live_server, raw_request
from vframe_testkit.origin import Origin, serve_origin
from vframe_testkit.s3server import S3Server, s3_fixture  # noqa: F401  (the session fixture `s3`)

SOURCES = ("local", "http", "s3")
PREFIX = "videos/"  # where the folder is in the bucket: s3://BUCKET/videos/<key>
UNICODE_KEY = "sub dir/vidéo 東京.mp4"
WEBM_KEY = "sub/clip.webm"
ODD_KEYS = ("odd/100% a+b;c=d&e,f'g(h)~!$.mp4", "odd/q?h#i.mp4")  # characters URLs and S3 keys treat specially
MAGIC = {"image/jpeg": b"\xff\xd8\xff", "image/png": b"\x89PNG\r\n\x1a\n", "image/webp": b"RIFF"}
ETAG = re.compile(r'"[^"\s]+"')


@dataclass(frozen=True)
class Folder:
    root: Path  # the videos every source serves
    slow: Path  # outside the root: 24 frames at 12 fps, to replace a video with


@dataclass
class Served:
    name: str
    server: LiveServer
    client: httpx.Client
    put: Callable[[str, bytes], None]  # write (or replace) the object under a key, as this source stores it


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Folder:
    base = tmp_path_factory.mktemp("sources")
    root, work = base / "root", base / "work"
    for made in (root / "sub", root / "sub dir", root / "broken", root / "odd", work):
        made.mkdir(parents=True)
    video = synth.make_video(root / "v.mp4", codec="libx264", frames=48, fps=24, width=320, height=240, gop=12,
                             bframes=2).path
    data = video.read_bytes()
    assert data.find(b"moov") > data.find(b"mdat") > 0, "PyAV writes the index last: v.mp4 is moov-at-end"
    fast = synth.remux_faststart(video, root / "faststart.mp4").read_bytes()
    assert 0 < fast.find(b"moov") < fast.find(b"mdat")
    slow = synth.make_video(work / "slow.mp4", codec="libx264", frames=24, fps=12, width=320, height=240, gop=12,
                            bframes=2).path
    shutil.copyfile(slow, root / UNICODE_KEY)
    for key in ODD_KEYS:
        shutil.copyfile(slow, root / key)
    synth.make_video(root / WEBM_KEY, codec="libvpx-vp9", frames=24, fps=24, width=160, height=120, gop=12,
                     bframes=0)
    shutil.copyfile(video, root / ".hidden.mp4")
    (root / "broken" / "empty.mp4").write_bytes(b"")
    (root / "broken" / "readme.mp4").write_text("Hello,\nthis is plain text and not a video at all.\n" * 50)
    (root / "broken" / "truncated.mp4").write_bytes(fast[: len(fast) // 2])  # the index, half the frames
    (root / "broken" / "no-index.mp4").write_bytes(data[: len(data) // 2])  # moov-at-end cut: no index
    return Folder(root, slow)


# -- the three sources -----------------------------------------------------------------------


def _touch_forward(path: Path) -> None:
    """A new mtime well after the old one, so that the version is new even within one second."""
    later = path.stat().st_mtime_ns + 10 * 10**9
    os.utime(path, ns=(later, later))


def _write_file(root: Path) -> Callable[[str, bytes], None]:
    def put(key: str, data: bytes) -> None:
        path = root / key
        path.write_bytes(data)
        _touch_forward(path)

    return put


@pytest.fixture(scope="module")
def origin(folder: Folder) -> Iterator[Origin]:
    with serve_origin(folder.root) as running:
        yield running


@pytest.fixture(scope="module")
def bucket(s3: S3Server, folder: Folder) -> str:
    return s3.bucket(folder=folder.root, prefix=PREFIX)


@pytest.fixture(scope="module")
def local_served(folder: Folder) -> Iterator[Served]:
    with live_server(folder.root, "--workers", "1") as server, server.client() as client:
        yield Served("local", server, client, _write_file(folder.root))


@pytest.fixture(scope="module")
def http_served(folder: Folder, origin: Origin) -> Iterator[Served]:
    with live_server(folder.root, "--root", "", "--origin", f"{origin.url}/", "--workers", "1") as server:
        with server.client() as client:
            yield Served("http", server, client, _write_file(folder.root))


@pytest.fixture(scope="module")
def s3_served(folder: Folder, s3: S3Server, bucket: str) -> Iterator[Served]:
    flags = ("--root", "", "--s3", f"s3://{bucket}/{PREFIX}", "--s3-endpoint", s3.endpoint, "--workers", "1")
    with live_server(folder.root, *flags, env=s3.env) as server, server.client() as client:
        yield Served("s3", server, client, lambda key, data: _upload(s3, bucket, PREFIX + key, data))


def _upload(s3: S3Server, bucket: str, key: str, data: bytes) -> None:
    s3.put(bucket, key, data)


@pytest.fixture(scope="module", params=SOURCES)
def served(request: pytest.FixtureRequest) -> Served:
    """Each test below runs against each source in turn."""
    return request.getfixturevalue(f"{request.param}_served")  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def local(local_served: Served) -> httpx.Client:
    """The reference every source is compared with: the folder on disk."""
    return local_served.client


# -- helpers ---------------------------------------------------------------------------------


def index(response: httpx.Response) -> int:
    image = Image.open(io.BytesIO(response.content)).convert("RGB")
    return synth.read_index(np.asarray(image))


def raw_get(server: LiveServer, target: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """`target` sent exactly as written: status, headers, body."""
    response = raw_request(server, target, method)
    return response.status, response.headers, response.body


def environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("VFRAME_", "AWS_"))}
    return {**env, **extra}


# -- each source is the one it says ---------------------------------------------------------


def test_each_source_reads_where_it_says(served: Served, local: httpx.Client, origin: Origin, s3: S3Server,
                                         bucket: str, folder: Folder) -> None:
    """The http source asks the origin and the s3 source reads the bucket (not the folder on disk)."""
    target = "/v.mp4?vframe/png/offset/0.125/w/40"
    origin.reset()
    assert served.client.get(target).status_code == 200
    assert (origin.settled_count("/v.mp4") > 0) == (served.name == "http")
    s3.put(bucket, PREFIX + "only-in-s3.mp4", (folder.root / "v.mp4").read_bytes())
    only = served.client.get("/only-in-s3.mp4?vframe/jpg/offset/0")
    assert only.status_code == (200 if served.name == "s3" else 404)
    assert local.get("/only-in-s3.mp4?vframe/jpg/offset/0").status_code == 404



# -- frames ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "shown", "time"), [
    ("v.mp4?vframe/jpg/offset/1", 24, "1.000"),
    ("v.mp4?vframe/png/offset/0.5/w/160", 12, "0.500"),
    ("v.mp4?vframe/webp/offset/1.958/w/100/h/100", 46, "1.917"),
    ("v.mp4?vframe/jpg/offset/100", 47, "1.958"),  # past the end: the last frame
    ("v.mp4?vframe/jpeg/offset/1.4/mode/fast/w/160", 24, "1.000"),  # the keyframe before
    ("v.mp4?vframe/png/offset/0.75/rotate/90/w/120", None, "0.750"),
    ("faststart.mp4?vframe/png/offset/1.5/w/80", 36, "1.500"),
    (f"{WEBM_KEY}?vframe/jpg/offset/0.5", 12, "0.500"),
    (f"{quote(UNICODE_KEY)}?vframe/png/offset/1/w/160", 12, "1.000"),
    (f"{quote(ODD_KEYS[0], safe='')}?vframe/png/offset/0.5/w/160", 6, "0.500"),
    (f"{quote(ODD_KEYS[1], safe='')}?vframe/png/offset/0.5/w/160", 6, "0.500"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_frames_are_byte_identical(served: Served, local: httpx.Client, target: str, shown: int | None,
                                   time: str) -> None:
    """The same image, byte for byte, with the same time, type and size, from every source."""
    response = served.client.get(f"/{target}")
    reference = local.get(f"/{target}")
    assert response.status_code == reference.status_code == 200, response.text
    assert response.content == reference.content
    assert response.headers["x-vframe-time"] == reference.headers["x-vframe-time"] == time
    assert response.headers["content-type"] == reference.headers["content-type"]
    assert response.content.startswith(MAGIC[response.headers["content-type"]])
    assert int(response.headers["content-length"]) == len(response.content)
    if shown is not None:
        assert index(response) == shown


@pytest.mark.parametrize(("target", "status"), [
    ("/nope.mp4?vframe/jpg/offset/1", 404),
    ("/nope.mp4", 404),
    ("/sub/nope.webm?vframe/jpg/offset/1", 404),
    ("/sub?vframe/jpg/offset/1", 404),  # a folder, not a video
    ("/sub/?vframe/jpg/offset/1", 404),
    ("/.hidden.mp4?vframe/jpg/offset/1", 404),
    ("/.hidden.mp4", 404),
    ("/../v.mp4?vframe/jpg/offset/1", 404),
    ("/..%2fv.mp4?vframe/jpg/offset/1", 404),
    ("/%2e%2e/%2e%2e/etc/passwd", 404),
    ("/sub/..%2f..%2fv.mp4?vframe/jpg/offset/1", 404),
    ("/sub/%2e%2e/v.mp4?vframe/jpg/offset/1", 404),
    ("/sub%5c..%5cv.mp4?vframe/jpg/offset/1", 404),
    ("/v.mp4%00.jpg?vframe/jpg/offset/1", 404),
    ("//v.mp4?vframe/jpg/offset/1", 404),
    ("/v.mp4?vframe/jpg", 400),
    ("/v.mp4?vframe/jpg/offset/-1", 400),
    ("/v.mp4?vframe/jpg/offset/nan", 400),
    ("/v.mp4?vframe/jpg/offset/1/w/0", 400),
    ("/v.mp4?vframe/jpg/offset/1/offset/2", 400),
    ("/v.mp4?vframe/jpg/offset/1/mode/slow", 400),
    ("/nope.mp4?vframe/jpg/offset/1/size/2", 400),
    ("/v.mp4?vframe/gif/offset/1", 415),
    ("/broken/empty.mp4?vframe/jpg/offset/0", 415),
    ("/broken/readme.mp4?vframe/jpg/offset/0", 415),
    ("/broken/no-index.mp4?vframe/jpg/offset/0", 415),
    ("/broken/truncated.mp4?vframe/jpg/offset/1.958", 599),
])
def test_errors_are_the_same(served: Served, local_served: Served, target: str, status: int) -> None:
    """Missing, escaping, malformed and broken: the status and the sentence local gives."""
    got_status, headers, body = raw_get(served.server, target)
    want_status, _, want_body = raw_get(local_served.server, target)
    assert want_status == status, want_body
    assert got_status == status, body
    assert headers["content-type"] == "application/json" and headers["cache-control"] == "no-store"
    assert json.loads(body) == json.loads(want_body)


def test_broken_files_still_give_their_frames_before_the_cut(served: Served, local: httpx.Client) -> None:
    """The truncated file's early frames are there: 200 and the same bytes from every source."""
    target = "/broken/truncated.mp4?vframe/png/offset/0.2/w/160"
    response, reference = served.client.get(target), local.get(target)
    assert response.status_code == reference.status_code == 200, response.text
    assert response.content == reference.content and index(response) == 4


# -- the video itself ------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["v.mp4", UNICODE_KEY, WEBM_KEY, "broken/empty.mp4", *ODD_KEYS])
def test_plain_video_is_the_stored_bytes(served: Served, folder: Folder, key: str) -> None:
    data = (folder.root / key).read_bytes()
    response = served.client.get(f"/{quote(key)}")
    assert response.status_code == 200, response.text
    assert response.content == data
    assert int(response.headers["content-length"]) == len(data)
    assert response.headers["accept-ranges"] == "bytes"
    assert ETAG.fullmatch(response.headers["etag"])
    assert "x-vframe-time" not in response.headers
    head = served.client.head(f"/{quote(key)}")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(data)
    assert head.headers["etag"] == response.headers["etag"]


@pytest.mark.parametrize("key", ["v.mp4", WEBM_KEY])
def test_plain_video_content_type(served: Served, local: httpx.Client, key: str) -> None:
    """A player gets the same media type from every source."""
    expected = local.head(f"/{key}").headers["content-type"]
    assert expected.startswith("video/")
    for response in (served.client.get(f"/{key}"), served.client.head(f"/{key}")):
        assert response.headers["content-type"] == expected


@pytest.mark.parametrize(("range_", "first", "last"), [("bytes=0-99", 0, 99), ("bytes=-10", None, None),
                                                        ("bytes=30000-", 30000, None)])
def test_plain_video_range(served: Served, folder: Folder, range_: str, first: int | None,
                           last: int | None) -> None:
    data = (folder.root / "v.mp4").read_bytes()
    start = len(data) - 10 if first is None else first
    end = len(data) - 1 if last is None else last
    response = served.client.get("/v.mp4", headers={"Range": range_})
    assert response.status_code == 206, response.text
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(data)}"
    assert response.content == data[start:end + 1]
    assert int(response.headers["content-length"]) == end + 1 - start
    head = served.client.head("/v.mp4", headers={"Range": range_})
    assert head.status_code == 206 and head.content == b""
    assert head.headers["content-range"] == response.headers["content-range"]


def test_plain_video_range_past_the_end(served: Served, folder: Folder) -> None:
    size = (folder.root / "v.mp4").stat().st_size
    response = served.client.get("/v.mp4", headers={"Range": f"bytes={size}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{size}"
    assert response.headers["content-type"] == "application/json" and "past the end" in response.json()["error"]


@pytest.mark.parametrize("range_", ["bytes=0-9,20-29", "bytes=x-y", "items=0-9", "bytes=-"])
def test_plain_video_ranges_it_does_not_serve_give_the_whole_video(served: Served, folder: Folder,
                                                                   range_: str) -> None:
    """Several ranges, or a malformed Range header, are ignored (RFC 9110 14.2): the whole video, 200."""
    response = served.client.get("/v.mp4", headers={"Range": range_})
    assert response.status_code == 200
    assert response.content == (folder.root / "v.mp4").read_bytes()


# -- ETags and versions ----------------------------------------------------------------------


def test_etags_are_stable(served: Served) -> None:
    """The same version gives the same strong ETag (GET, HEAD, again), and If-None-Match gives 304."""
    target = "/v.mp4?vframe/jpg/offset/0.5/w/160"
    first, again, head = served.client.get(target), served.client.get(target), served.client.head(target)
    assert first.status_code == again.status_code == head.status_code == 200
    assert ETAG.fullmatch(first.headers["etag"])
    assert first.headers["etag"] == again.headers["etag"] == head.headers["etag"]
    assert head.headers["x-vframe-time"] == first.headers["x-vframe-time"]
    assert served.client.get(target, headers={"If-None-Match": first.headers["etag"]}).status_code == 304
    other = served.client.get("/v.mp4?vframe/jpg/offset/0.5/w/80")
    assert other.headers["etag"] != first.headers["etag"]
    plain = [served.client.get("/v.mp4").headers["etag"] for _ in range(2)]
    assert plain[0] == plain[1] and plain[0] not in (first.headers["etag"], other.headers["etag"])
    assert served.client.get("/v.mp4", headers={"If-None-Match": plain[0]}).status_code == 304


def test_a_changed_object_gives_a_new_etag_and_frame(served: Served, folder: Folder) -> None:
    """Rewritten (disk, origin) or uploaded again (S3): a new ETag and the new frame, never the cached
    one, nor one made of the bytes the decode worker kept of the old version."""
    key = f"changing-{served.name}.mp4"
    target = f"/{key}?vframe/jpg/offset/1/w/160"
    served.put(key, (folder.root / "v.mp4").read_bytes())  # 24 fps: offset 1 is frame 24
    before = served.client.get(target)
    assert before.status_code == 200 and index(before) == 24
    assert served.client.get(target).headers["etag"] == before.headers["etag"]
    plain_before = served.client.get(f"/{key}").headers["etag"]

    served.put(key, folder.slow.read_bytes())  # 12 fps: offset 1 is frame 12
    after = served.client.get(target)
    assert after.status_code == 200, after.text
    assert index(after) == 12
    assert after.headers["etag"] != before.headers["etag"]
    assert served.client.get(target, headers={"If-None-Match": before.headers["etag"]}).status_code == 200
    assert served.client.get(target, headers={"If-None-Match": after.headers["etag"]}).status_code == 304
    plain_after = served.client.get(f"/{key}")
    assert plain_after.content == folder.slow.read_bytes()
    assert plain_after.headers["etag"] != plain_before


# -- the CLI and the library -----------------------------------------------------------------


@pytest.mark.parametrize("source", SOURCES)
def test_cli_grab_and_probe_from_every_source(source: str, folder: Folder, origin: Origin, bucket: str,
                                              s3: S3Server, tmp_path: Path) -> None:
    """`vframe grab` and `vframe probe` on a path, an http:// URL and an s3:// URL: the same bytes and JSON."""
    spec = "vframe/jpg/offset/1.958/w/160"
    inputs = {
        "local": (str(folder.root / "v.mp4"), str(folder.root / UNICODE_KEY), {}),
        "http": (f"{origin.url}/v.mp4", f"{origin.url}/{quote(UNICODE_KEY)}", {"VFRAME_ALLOW_PRIVATE_URLS": "1"}),
        "s3": (f"s3://{bucket}/{PREFIX}v.mp4", f"s3://{bucket}/{PREFIX}{UNICODE_KEY}", s3.env),
    }
    video, other, extra = inputs[source]
    env = environment(**extra)
    out = tmp_path / "out.jpg"
    grabbed = subprocess.run([sys.executable, "-m", "vframe", "grab", video, spec, "-o", str(out)], cwd=ROOT, env=env,
                             capture_output=True, timeout=60)
    assert grabbed.returncode == 0, grabbed.stderr.decode()
    assert out.read_bytes() == vframe.grab(folder.root / "v.mp4", spec).data
    probed = subprocess.run([sys.executable, "-m", "vframe", "probe", other], cwd=ROOT, env=env, capture_output=True,
                            timeout=60)
    assert probed.returncode == 0, probed.stderr.decode()
    seen = json.loads(probed.stdout)
    assert seen == vframe.probe(folder.root / UNICODE_KEY)
    assert (seen["coded_width"], seen["coded_height"], seen["frame_rate"]) == (320, 240, 12.0)
