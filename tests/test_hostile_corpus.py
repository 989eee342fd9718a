"""The bad-input corpus (vframe_testkit.hostile) through HTTP, against one live server serving it:

1. every case gives its documented status and JSON message, and the server answers a valid
   request right after each one;
2. nothing a playlist, concat list, DASH or SDP file, AVI subtitle or symlink names is fetched or
   opened: a TCP canary they all name sees no connection, and inotify sees no file beside the
   served folder opened or read;
3. a huge declared frame is refused (413) before it is decoded: the decode worker's peak memory
   never grows by anything near the frame's size."""

from __future__ import annotations

import io
import itertools
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import NO_CORPUS
from PIL import Image
from test_server_traversal import IN_ACCESS, IN_OPEN, Inotify

from vframe_testkit import hostile, synth
from vframe_testkit.hostile import (
    GOOD_FPS,
    GOOD_FRAMES,
    GOOD_KEY,
    GOOD_WIDTH,
    HUGE_SIZES,
    REFERENCES,
    Canary,
    Case,
    build_corpus,
    cases,
    decoy_path,
)
from vframe_testkit.live import LiveServer, RawResponse, live_server, raw_request

# Far less than one 16000x16000 yuv420p frame (384 MB). Not zero: FFmpeg's H.264 decoder sizes its
# per-macroblock tables from the SPS (about 80 MB for a million macroblocks) before it refuses the
# picture itself.
MAX_GROWTH = 100 * 1024**2
MEDIA_TYPES = {"png": "image/png", "jpg": "image/jpeg", "webp": "image/webp"}
SPECS = ("vframe/jpg/offset/0", "vframe/png/offset/1/w/64", "vframe/webp/offset/0.5/mode/fast",
         "vframe/jpg/offset/999999999/rotate/90")
SECRETS = ("decoy:x:0:0", "root:x:0:0")  # the decoy's first line, /etc/passwd's


@dataclass(frozen=True)
class Corpus:
    folder: Path
    cases: dict[str, Case]


@pytest.fixture(scope="module")
def canary() -> Iterator[Canary]:
    listening = Canary()
    yield listening
    listening.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory, canary: Canary) -> Corpus:
    folder = tmp_path_factory.mktemp("hostile") / "root"
    return Corpus(folder, {case.name: case for case in build_corpus(folder, canary.port)})


@pytest.fixture(scope="module")
def server(corpus: Corpus) -> Iterator[LiveServer]:
    """One decode worker: every case and the valid request after it go through the same process."""
    with live_server(corpus.folder, "--workers", "1") as running:
        yield running


def target(key: str, spec: str | None) -> str:
    return f"/{key}" + (f"?{spec}" if spec is not None else "")


def assert_clean_message(message: str, folder: Path) -> None:
    """One sentence: no traceback, no local path, nothing read from a file it should not read."""
    assert message and "\n" not in message.strip(), message
    for leak in ("Traceback", 'File "', ".py", str(folder.parent), "/tmp/", "/work/", "/etc/", *SECRETS):
        assert leak not in message, (leak, message)


def what_came(response: RawResponse) -> tuple[object, ...]:
    """A response as a failure message shows it: status, and the frame's time and painted index, or the body."""
    if response.status != 200 or not response.headers.get("content-type", "").startswith("image/"):
        return response.status, response.body[:300]
    index = synth.read_index(np.asarray(Image.open(io.BytesIO(response.body)).convert("RGB")))
    return response.status, response.headers.get("x-vframe-time"), f"frame {index}"


def assert_answer(response: RawResponse, case: Case, folder: Path) -> None:
    assert response.status == case.status, (case.name, *what_came(response))
    if case.status == 200:
        assert case.spec is not None
        assert response.headers["content-type"] == MEDIA_TYPES[case.spec.split("/")[1]]
        assert response.headers["x-vframe-time"] == case.time
        if case.frame is not None:
            assert synth.read_index(np.asarray(Image.open(io.BytesIO(response.body)).convert("RGB"))) == case.frame
        return
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert isinstance(body, dict) and list(body) == ["error"], body
    message = body["error"]
    assert isinstance(message, str)
    assert_clean_message(message, folder)
    for word in case.words:
        assert word in message.lower(), (word, message)


_valid_requests = itertools.count()


def assert_answers_a_valid_request(server: LiveServer) -> None:
    """The good video's frame, exactly; a spec not asked before, so that the worker makes it (no cache hit)."""
    number = next(_valid_requests)
    index, width = number % GOOD_FRAMES, GOOD_WIDTH - 8 * (number // GOOD_FRAMES % 10)
    response = raw_request(server, target(GOOD_KEY, f"vframe/png/offset/{index / GOOD_FPS:.2f}/w/{width}"))
    assert response.status == 200, response.body[:300]
    assert response.headers["x-vframe-time"] == f"{index / GOOD_FPS:.3f}"
    picture = Image.open(io.BytesIO(response.body))
    assert picture.width == width
    assert synth.read_index(np.asarray(picture.convert("RGB"))) == index


@pytest.mark.parametrize("name", [case.name for case in cases()])
def test_case_through_http(name: str, corpus: Corpus, server: LiveServer) -> None:
    """Point 1: the documented status and message, then a valid request answered exactly."""
    case = corpus.cases.get(name)
    if case is None:
        pytest.skip(NO_CORPUS)
    assert_answer(raw_request(server, target(case.key, case.spec)), case, corpus.folder)
    assert_answers_a_valid_request(server)


def test_nothing_a_file_names_is_fetched_or_opened(corpus: Corpus, server: LiveServer, canary: Canary) -> None:
    """Point 2. Every file naming the decoy, /etc/passwd and the canary, and every key leading to
    the decoy, asked for with several specs and plainly: the canary sees no connection and the
    decoy's folder no open or read. /etc/passwd is named too but not watched: any process on the
    machine may read it (getpwnam), so its watch would prove nothing; the decoy is a file only
    this test knows."""
    decoy = decoy_path(corpus.folder)
    ways_out = {case.key for case in corpus.cases.values() if "/" in case.key or "%" in case.key}
    keys = sorted({*REFERENCES, *ways_out, *({"shared-xbin.avi"} & {case.key for case in corpus.cases.values()})})
    framed = {case.key: case.status for case in corpus.cases.values() if case.spec is not None}
    watch = Inotify(decoy.parent, decoy)
    try:
        answered = 0
        for key in keys:
            path = corpus.folder / key
            stored = "/" not in key and "%" not in key and not path.is_symlink()  # else: a way out, 404
            for spec in SPECS:
                response = raw_request(server, target(key, spec))
                assert response.status == (framed[key] if stored else 404), (key, spec, response.body[:300])
                assert not any(secret.encode() in response.body for secret in SECRETS), (key, spec)
                answered += 1
            for method in ("GET", "HEAD"):
                plain = raw_request(server, target(key, None), method)
                assert plain.status == (200 if stored else 404), (key, method, plain.status)
                if stored and method == "GET":
                    assert plain.body == path.read_bytes()  # relayed as stored, never interpreted
                answered += 1
        assert answered == len(keys) * (len(SPECS) + 2)
        assert watch.events() == [], "a file beside the served folder was opened or read"
        assert (canary.connections, canary.received) == (0, 0), "something connected to the canary"
        # The controls: the watch sees an open and a read, the canary a connection and its bytes.
        with open(decoy, "rb") as file:
            file.read()
        seen = watch.events()
        assert any(mask & IN_OPEN for _, _, mask in seen) and any(mask & IN_ACCESS for _, _, mask in seen), seen
    finally:
        watch.close()
    with socket.create_connection(("127.0.0.1", canary.port), timeout=10) as connection:
        connection.sendall(b"control")
    for _ in range(600):  # its thread counts them soon; only the machine's load says how soon
        if canary.received:
            break
        time.sleep(0.05)
    assert (canary.connections, canary.received) == (1, len(b"control"))


def peak_bytes(pid: int) -> int:
    """VmHWM: the most resident memory the process has had (since start, or since reset_peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")


def reset_peak(pid: int) -> None:
    """Writing 5 to clear_refs resets VmHWM to the current resident size (Linux >= 4.0); where that is
    refused, the peak since the worker started is the baseline, which only hides growth below it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass


def test_huge_frames_are_refused_before_decoding(corpus: Corpus, server: LiveServer) -> None:
    """Point 3: 413 for each huge declared frame, and the worker's peak resident memory grows by far
    less than one such frame (a 16000x16000 yuv420p frame is 384 MB), and the worker is not replaced."""
    huge = [case for case in corpus.cases.values() if case.name.startswith("huge-")]
    assert len(huge) == 3 * len(HUGE_SIZES)
    assert_answers_a_valid_request(server)  # the worker has started and decoded once
    pids = server.worker_pids()
    assert len(pids) == 1, pids
    for pid in pids:
        reset_peak(pid)
    before = {pid: peak_bytes(pid) for pid in pids}
    statuses = {}
    for case in huge:
        for spec in (case.spec, "vframe/png/offset/0/mode/fast"):
            statuses[case.name, spec] = raw_request(server, target(case.key, spec)).status
    assert server.worker_pids() == pids, "the decode worker was replaced: it crashed or grew past its memory limit"
    growth = {pid: peak_bytes(pid) - before[pid] for pid in pids}
    assert max(growth.values()) < MAX_GROWTH, f"peak resident memory grew by {growth} bytes"
    wrong = {key: status for key, status in statuses.items() if status != 413}
    assert not wrong, wrong
    assert_answers_a_valid_request(server)


def test_corpus_builds_without_the_shared_videos(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a machine without ../shared/videos only the cases copying from it are left out."""
    monkeypatch.setattr(hostile, "VIDEOS", tmp_path / "no-shared-videos")
    built = {case.name for case in build_corpus(tmp_path / "root", 9)}
    shared = {case.name for case in cases() if case.key in hostile.SHARED_COPIES}
    assert shared and not built & shared
    assert built | shared == {case.name for case in cases()}
    assert len(built) >= 40
