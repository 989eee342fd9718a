"""Keys that try to leave the served folder: `..` in every spelling, absolute paths, NUL bytes,
backslashes, hidden names and symlinks leading out. Each is "No such video." (404), with and
without a spec, and the proof that nothing outside the root was even opened comes from the
kernel: the folder beside the root is watched with inotify while the requests are made.

Requests go over a raw socket, because an HTTP client would tidy the targets (`..`, `//`) before
sending them."""

from __future__ import annotations

import ctypes
import os
import shutil
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from vframe.errors import SourceNotFound
from vframe.sources import LocalFolder
from vframe_testkit import synth
from vframe_testkit.live import LiveServer, live_server, raw_request

SPEC = "?vframe/jpg/offset/0"
NOT_FOUND = {"error": "No such video."}
IN_ACCESS, IN_OPEN, IN_NONBLOCK, IN_CLOEXEC = 0x1, 0x20, 0o4000, 0o2000000


@dataclass(frozen=True)
class Tree:
    root: Path
    outside: Path  # beside the root: outside.mp4 (a real video) and secret.txt


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    base = tmp_path_factory.mktemp("traversal")
    root, outside = base / "root", base / "outside"
    root.mkdir()
    outside.mkdir()
    made = synth.make_video(root / "v.mp4", frames=12, fps=24, width=160, height=120, gop=12, bframes=2)
    shutil.copyfile(made.path, outside / "outside.mp4")
    (outside / "secret.txt").write_text("the operator's secret\n")
    shutil.copyfile(made.path, root / ".hidden.mp4")
    (root / "sub").mkdir()
    shutil.copyfile(made.path, root / "sub" / ".hidden.mp4")
    (root / "link-inside.mp4").symlink_to("v.mp4")
    (root / "sub" / "link-up.mp4").symlink_to("../v.mp4")
    (root / "link-out.mp4").symlink_to("../outside/outside.mp4")
    (root / "link-abs.mp4").symlink_to(outside / "outside.mp4")
    (root / "link-secret.mp4").symlink_to("../outside/secret.txt")
    (root / "outdir").symlink_to("../outside", target_is_directory=True)
    (root / "sub" / "chain.mp4").symlink_to("../link-out.mp4")
    return Tree(root, outside)


@pytest.fixture(scope="module")
def server(tree: Tree) -> Iterator[LiveServer]:
    with live_server(tree.root, "--workers", "1") as running:
        yield running


class Inotify:
    """The kernel's word on which files were opened or read (inotify(7), through libc)."""

    def __init__(self, *paths: Path) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.watches: dict[int, Path] = {}
        for path in paths:
            watch = self.libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN | IN_ACCESS)
            if watch < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch failed on {path}")
            self.watches[watch] = path

    def events(self) -> list[tuple[Path, str, int]]:
        """What happened since the last call: (watched path, name inside it, mask)."""
        found: list[tuple[Path, str, int]] = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return found
            at = 0
            while at < len(data):
                watch, mask, _cookie, length = struct.unpack_from("iIII", data, at)
                name = data[at + 16: at + 16 + length].rstrip(b"\0").decode(errors="replace")
                found.append((self.watches.get(watch, Path("?")), name, mask))
                at += 16 + length

    def close(self) -> None:
        os.close(self.fd)


def escaping_targets(tree: Tree) -> list[str]:
    outside = str(tree.outside / "outside.mp4")
    return [
        "/../x", "/../outside/outside.mp4", "/%2e%2e/outside/outside.mp4", "/..%2foutside%2foutside.mp4",
        "/sub/../../outside/outside.mp4", "/sub/%2e%2e/%2e%2e/outside/secret.txt", "/./v.mp4", "/sub/./../v.mp4",
        "/..%2f..%2fetc%2fpasswd", "/%2e%2e/%2e%2e/etc/passwd", "/%2E%2E/%2E%2E/etc/passwd",
        "/%252e%252e/etc/passwd", "/%252e%252e/outside/outside.mp4", "//etc/passwd", "/%2fetc%2fpasswd",
        "/" + outside, "/" + quote(outside, safe=""), "/%00", "/a%00.mp4", "/v.mp4%00", "/v.mp4%00.txt",
        "/..\\..\\etc\\passwd", "/%5c..%5cetc", "/sub%5c..%5cv.mp4", "/..%5coutside%5coutside.mp4",
        "/link-out.mp4", "/link-abs.mp4", "/link-secret.mp4", "/outdir/outside.mp4", "/outdir/secret.txt",
        "/outdir", "/sub/chain.mp4", "/.hidden.mp4", "/sub/.hidden.mp4", "/%2ehidden.mp4",
        "/sub//v.mp4", "/v.mp4/", "/%ff.mp4", "/%c0%ae%c0%ae/outside/outside.mp4",
    ]


def test_keys_that_escape_the_root_are_not_found_and_open_nothing(server: LiveServer, tree: Tree) -> None:
    """404 "No such video." for every spelling, and inotify sees no file beside the root opened."""
    watch = Inotify(tree.outside, tree.outside / "outside.mp4", tree.outside / "secret.txt")
    try:
        answered: list[str] = []
        for target in escaping_targets(tree):
            for query in ("", SPEC):
                for method in ("GET", "HEAD"):
                    response = raw_request(server, target + query, method)
                    assert response.status == 404, (method, target + query, response)
                    assert response.headers["content-type"] == "application/json", target
                    assert response.headers["cache-control"] == "no-store", target
                    assert len(response.headers["x-reqid"]) == 16, target
                    if method == "GET":
                        assert response.json() == NOT_FOUND, (target + query, response.body)
                    else:
                        assert response.body == b""
                    answered.append(target + query)
        assert watch.events() == [], "a file outside the root was opened"
        # the control: the watch does see an open and a read
        with open(tree.outside / "outside.mp4", "rb") as file:
            file.read(10)
        seen = watch.events()
        assert any(mask & IN_OPEN and (name == "outside.mp4" or path.name == "outside.mp4")
                   for path, name, mask in seen), seen
        assert any(mask & IN_ACCESS for _, _, mask in seen), seen
    finally:
        watch.close()
    assert len(answered) == 4 * len(escaping_targets(tree))


@pytest.mark.parametrize("target", ["/link-inside.mp4", "/sub/link-up.mp4", "/v.mp4"])
def test_symlinks_inside_the_root_work(server: LiveServer, tree: Tree, target: str) -> None:
    """A symlink whose target stays inside the root is served like the file itself."""
    frame = raw_request(server, target + SPEC)
    assert frame.status == 200, frame
    assert frame.headers["content-type"] == "image/jpeg" and frame.body.startswith(b"\xff\xd8\xff")
    assert frame.headers["x-vframe-time"] == "0.000"
    whole = raw_request(server, target)
    assert whole.status == 200 and whole.body == (tree.root / "v.mp4").read_bytes()


def test_the_server_still_works(server: LiveServer) -> None:
    assert server.health()["workers_ready"] == 1
    assert raw_request(server, "/v.mp4" + SPEC).status == 200


# -- the quick way to plain files (LocalFolder._find_plain) ----------------------------------------
# A key with no symlink on its way is found with one lstat per segment instead of realpath, and the
# same LocalFile is given again while the file's stat is unchanged. Each check still runs on every
# request: a swap is seen at once, even for a frame already in the result cache.


def test_a_file_or_folder_swapped_for_a_symlink_out_is_no_longer_served(server: LiveServer, tree: Tree) -> None:
    elsewhere = tree.root.parent / "elsewhere"  # outside the root, with the same names as inside it
    (elsewhere / "swap").mkdir(parents=True)
    shutil.copyfile(tree.root / "v.mp4", elsewhere / "swap" / "v.mp4")
    shutil.copyfile(tree.root / "v.mp4", elsewhere / "v.mp4")
    (tree.root / "swap").mkdir()
    served = tree.root / "swap" / "v.mp4"
    shutil.copyfile(tree.root / "v.mp4", served)
    targets = ("/swap/v.mp4" + SPEC, "/swap/v.mp4")
    for target in targets * 2:  # the second time, the frame is a cache hit
        assert raw_request(server, target).status == 200, target
    watch = Inotify(elsewhere, elsewhere / "swap", elsewhere / "v.mp4", elsewhere / "swap" / "v.mp4")
    try:
        served.unlink()
        served.symlink_to(elsewhere / "v.mp4")  # the file itself
        for target in targets:
            assert raw_request(server, target).json() == NOT_FOUND, target
        (tree.root / "swap").rename(tree.root / "swap-before")
        (tree.root / "swap").symlink_to(elsewhere / "swap", target_is_directory=True)  # its folder
        for target in targets:
            assert raw_request(server, target).json() == NOT_FOUND, target
        assert watch.events() == [], "a file outside the root was opened"
    finally:
        watch.close()


def test_the_quick_way_checks_every_segment_every_time(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    (outside / "sub").mkdir(parents=True)
    for path in (root / "sub" / "v.mp4", outside / "sub" / "v.mp4", outside / "v.mp4"):
        path.write_bytes(b"video bytes")
    folder = LocalFolder.at(root)
    first = folder.find("sub/v.mp4")
    assert folder.find("sub/v.mp4") is first, "unchanged: the same LocalFile"
    assert first.path == root.resolve() / "sub" / "v.mp4"

    os.utime(root / "sub" / "v.mp4", ns=(10**18, 10**18))  # touched: a new version
    touched = folder.find("sub/v.mp4")
    assert touched.validator != first.validator and touched.modified == 10**9
    (root / "sub" / "v.mp4").write_bytes(b"other bytes, longer")  # rewritten
    assert folder.find("sub/v.mp4").size == len(b"other bytes, longer")

    (root / "sub" / "v.mp4").unlink()
    with pytest.raises(SourceNotFound):
        folder.find("sub/v.mp4")
    (root / "sub" / "v.mp4").symlink_to(outside / "v.mp4")
    with pytest.raises(SourceNotFound):
        folder.find("sub/v.mp4")
    (root / "sub").rename(root / "sub-before")
    (root / "sub").symlink_to(outside / "sub", target_is_directory=True)
    with pytest.raises(SourceNotFound):
        folder.find("sub/v.mp4")


def test_a_root_moved_away_and_replaced_by_a_symlink_out_serves_nothing(tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (root / "v.mp4").write_bytes(b"inside")
    (outside / "v.mp4").write_bytes(b"outside")
    folder = LocalFolder.at(root)
    assert folder.find("v.mp4").size == len(b"inside")
    root.rename(tmp_path / "moved")
    root.symlink_to(outside, target_is_directory=True)
    with pytest.raises(SourceNotFound):
        folder.find("v.mp4")
