"""pfop / prefop / saveas through Qiniu's official SDK (qiniu.PersistentFop) against a live `vframe
serve` with its embedded queue: results written where saveas and savePattern say, byte-identical
to the synchronous answers, Qiniu's status JSON, the notification once; and every bad request with
its status, writing nothing outside the source."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import qiniu
import requests
from qiniu.auth import QiniuMacAuth, QiniuMacRequestsAuth

from vframe.pipeline import grab, sample
from vframe.signing import sign
from vframe_testkit import synth
from vframe_testkit.jobs import ACCESS_KEY, BUCKET, SECRET_KEY, Qiniu, Receiver, b64, notify_receiver, saveas, serve
from vframe_testkit.live import ROOT, children, command_line, wait_for
from vframe_testkit.origin import serve_origin
from vframe_testkit.s3server import S3Server, s3_fixture  # noqa: F401  (the session fixture `s3`)

VIDEO = "clips/v.mp4"
POSTER = "vframe/jpg/offset/1/w/80/h/60"
FRAMES = "vsample/jpg/interval/0.1/s/80x60"  # a 2 s video: 20 frames
SHEET = "vsample/jpg/interval/0.5/s/80x60"
BOARD = "vsample/vtt/interval/0.5/s/80x60"
STATUS_FIELDS = {"id", "pipeline", "code", "desc", "reqid", "inputBucket", "inputKey", "creationDate", "items"}
PREFIX = "media/"


@dataclass
class Place:
    """A served source and how to read what a job wrote into it."""

    name: str
    url: str
    bucket: str
    read: Any  # key -> bytes or None
    state: Path


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("jobs-root")
    (folder / "clips").mkdir()
    synth.make_video(folder / VIDEO, frames=50, fps=25, gop=10, width=160, height=120)
    return folder


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with notify_receiver() as running:
        yield running


@pytest.fixture(scope="module")
def folder_place(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Place]:
    state = tmp_path_factory.mktemp("jobs-state")
    with serve(root, "--workers", "1", env={"VFRAME_STATE_DIR": str(state), "VFRAME_NOTIFY_RETRIES": "1"}) as server:
        def read(key: str) -> bytes | None:
            path = root / key
            return path.read_bytes() if path.is_file() else None

        yield Place("folder", server.url, BUCKET, read, state)


@pytest.fixture(scope="module")
def s3_place(root: Path, s3: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Place]:
    bucket = s3.bucket(folder=root, prefix=PREFIX)
    state = tmp_path_factory.mktemp("jobs-state-s3")
    flags = ("--root", "", "--s3", f"s3://{bucket}/{PREFIX}", "--s3-endpoint", s3.endpoint, "--workers", "1")
    with serve(root, *flags, env={**s3.env, "VFRAME_STATE_DIR": str(state)}) as server:
        client = s3.client()

        def read(key: str) -> bytes | None:
            try:
                return bytes(client.get_object(Bucket=bucket, Key=PREFIX + key)["Body"].read())
            except client.exceptions.NoSuchKey:
                return None

        yield Place("s3", server.url, bucket, read, state)


@pytest.fixture(params=["folder", "s3"])
def place(request: pytest.FixtureRequest) -> Place:
    return request.getfixturevalue(f"{request.param}_place")  # type: ignore[no-any-return]


def synchronous(place: Place, spec: str) -> bytes:
    """The synchronous answer for `spec` (signed: a server with keys answers only signed URLs)."""
    url = sign(f"{place.url}/{VIDEO}?{spec}", ACCESS_KEY, SECRET_KEY, int(time.time()) + 600)
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def wait_notified(receiver: Receiver, job_id: str) -> list[dict[str, Any]]:
    end = time.monotonic() + 20
    while not receiver.of(job_id) and time.monotonic() < end:
        time.sleep(0.05)
    time.sleep(0.3)  # a second notification, were there one, would come now
    return receiver.of(job_id)


def test_saveas_savepattern_and_storyboard_jobs(place: Place, receiver: Receiver, root: Path) -> None:
    """A poster, 20 frames by savePattern and a sprite+VTT job, each code 0, each file where it
    was asked for and byte-identical to the synchronous answer; the notification once each."""
    client = Qiniu(place.url, place.bucket)
    run = os.urandom(3).hex()
    poster_key, sheet_key, board_key = f"out/{run}/poster.jpg", f"out/{run}/sheet.jpg", f"out/{run}/board.vtt"
    pattern = f"out/{run}/frames/$(count).jpg"
    jobs = {
        "poster": client.submit(VIDEO, [POSTER + saveas(poster_key, place.bucket)], notify_url=receiver.url),
        "frames": client.submit(VIDEO, [f"{FRAMES}/savePattern/{b64(pattern)}"], notify_url=receiver.url),
        "board": client.submit(VIDEO, [SHEET + saveas(sheet_key, place.bucket),
                                       BOARD + saveas(board_key, place.bucket)], notify_url=receiver.url),
    }
    statuses = {name: client.wait(job_id) for name, job_id in jobs.items()}
    for name, status in statuses.items():
        assert status["code"] == 0, status
        assert set(status) == STATUS_FIELDS, status
        assert status["id"] == jobs[name] and status["inputKey"] == VIDEO and status["inputBucket"] == place.bucket
        assert status["desc"] and status["reqid"]
        assert datetime.fromisoformat(status["creationDate"]).tzinfo is not None
        for item in status["items"]:
            assert item["code"] == 0 and item["returnOld"] == 0 and item["cmd"] and item["desc"], item
        notified = wait_notified(receiver, jobs[name])
        assert len(notified) == 1, notified
        assert notified[0]["code"] == 0 and notified[0]["items"] == status["items"]

    assert statuses["poster"]["items"][0]["key"] == poster_key
    assert place.read(poster_key) == synchronous(place, POSTER)
    assert place.read(sheet_key) == synchronous(place, SHEET)
    # A stored storyboard names its sheets as an unsigned request would (relative links; a signed
    # link would expire): the bytes of the library's and of a server without keys.
    assert place.read(board_key) == grab(root / VIDEO, BOARD).data
    keys = statuses["frames"]["items"][0]["keys"]
    assert keys == [pattern.replace("$(count)", f"{index:06d}") for index in range(20)]
    expected = [result.data for _, result in sample(root / VIDEO, FRAMES)]
    assert [place.read(key) for key in keys] == expected

    # Again without force: every output exists, so nothing is made (returnOld 1); with force, made anew.
    again = client.wait(client.submit(VIDEO, [POSTER + saveas(poster_key, place.bucket)]))
    assert again["code"] == 0 and again["items"][0]["returnOld"] == 1
    forced = client.wait(client.submit(VIDEO, [POSTER + saveas(poster_key, place.bucket)], force=1))
    assert forced["code"] == 0 and forced["items"][0]["returnOld"] == 0
    assert place.read(poster_key) == synchronous(place, POSTER)


def test_a_result_without_saveas_gets_a_name_beside_the_video(folder_place: Place) -> None:
    client = Qiniu(folder_place.url)
    status = client.wait(client.submit(VIDEO, [POSTER]))
    key = status["items"][0]["key"]
    assert status["code"] == 0 and key.startswith(VIDEO + ".") and key.endswith(".jpg"), status
    assert folder_place.read(key) == synchronous(folder_place, POSTER)


def test_a_notification_that_cannot_be_delivered_is_code_4(folder_place: Place) -> None:
    with notify_receiver() as refusing:
        refusing.status = 500
        client = Qiniu(folder_place.url)
        job_id = client.submit(VIDEO, [POSTER + saveas("out/unnotified.jpg")], notify_url=refusing.url)
        assert client.wait(job_id)["code"] in (0, 4)  # 0 while the notification is tried, then 4
        wait_for(lambda: client.status(job_id)["code"] == 4, "code 4")
    status = client.status(job_id)
    assert status["code"] == 4 and status["desc"] == "Callback failed", status
    assert status["items"][0]["code"] == 0 and folder_place.read("out/unnotified.jpg") is not None


def test_an_http_origin_writes_to_vframe_output(root: Path, tmp_path: Path) -> None:
    output = tmp_path / "output"
    with serve_origin(root) as origin:
        flags = ("--root", "", "--origin", f"{origin.url}/", "--output", str(output), "--workers", "1")
        with serve(root, *flags, env={"VFRAME_STATE_DIR": str(tmp_path / "state")}) as server:
            place = Place("origin", server.url, BUCKET, None, tmp_path)
            client = Qiniu(server.url)
            status = client.wait(client.submit(VIDEO, [POSTER + saveas("posters/v.jpg")]))
            assert status["code"] == 0, status
            assert (output / "posters" / "v.jpg").read_bytes() == synchronous(place, POSTER)
    assert not (root / "posters").exists()


def test_status_of_an_unknown_id_is_612(folder_place: Place) -> None:
    ret, info = Qiniu(folder_place.url).fop().get_status("no-such-job")
    assert info.status_code == 612 and ret is None
    assert "no job has this id" in json.loads(info.text_body)["error"].lower()


def test_jobs_cli_and_metrics(folder_place: Place) -> None:
    client = Qiniu(folder_place.url)
    job_id = client.submit(VIDEO, [POSTER + saveas(f"out/cli-{os.urandom(3).hex()}.jpg")])
    client.wait(job_id)
    environ = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    environ["VFRAME_STATE_DIR"] = str(folder_place.state)
    command = [sys.executable, "-m", "vframe", "jobs"]
    listed = subprocess.run([*command, "list", "--state-dir", str(folder_place.state)], cwd=ROOT,
                            env={**environ, "VFRAME_STATE_DIR": "/nonexistent"}, capture_output=True, text=True,
                            timeout=60)  # the flag wins
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if line.startswith(job_id))
    assert " done " in line and f"{BUCKET}:{VIDEO}" in line
    shown = subprocess.run([*command, "show", job_id], cwd=ROOT, env=environ, capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0 and json.loads(shown.stdout)["id"] == job_id
    missing = subprocess.run([*command, "show", "nope"], cwd=ROOT, env=environ, capture_output=True, text=True,
                             timeout=60)
    assert missing.returncode == 13 and "no job has this id" in missing.stderr.lower()
    metrics = httpx.get(f"{folder_place.url}/-/metrics", timeout=10).text
    assert 'vframe_jobs_finished_total{state="done"}' in metrics
    assert "vframe_job_queue_depth" in metrics and "vframe_job_seconds_count" in metrics


# -- bad requests ------------------------------------------------------------------------------


def files(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.fixture(scope="module")
def strict(root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A served folder inside a parent the tests watch, on a server that refuses private notifyURLs."""
    parent = tmp_path_factory.mktemp("jobs-strict")
    served = parent / "served"
    served.mkdir()
    (served / "v.mp4").write_bytes((root / VIDEO).read_bytes())
    (parent / "outside").mkdir()
    (served / "link").symlink_to(parent / "outside")
    env = {"VFRAME_STATE_DIR": str(parent / "state"), "VFRAME_ALLOW_PRIVATE_URLS": "0"}
    with serve(served, "--workers", "1", env=env) as server:
        yield server.url, parent


def assert_refused(answer: tuple[int, dict[str, Any]], status: int, *words: str) -> None:
    code, body = answer
    assert code == status, (code, body)
    assert set(body) == {"error"} and all(word in body["error"].lower() for word in words), body


@pytest.mark.parametrize("key", ["../escape.jpg", "/etc/escape.jpg", ".hidden.jpg", "a/../../escape.jpg",
                                 "out/.git/x.jpg", "out//x.jpg"])
def test_saveas_keys_that_leave_the_source_are_refused(strict: tuple[str, Path], key: str) -> None:
    url, parent = strict
    before = files(parent)
    client = Qiniu(url)
    assert_refused(client.submit_answer("v.mp4", [POSTER + saveas(key)]), 400, "output key")
    pattern = key.replace(".jpg", "-$(count).jpg")
    assert_refused(client.submit_answer("v.mp4", [f"{FRAMES}/savePattern/{b64(pattern)}"]), 400, "output key")
    assert files(parent) == before


def test_bad_submissions(strict: tuple[str, Path]) -> None:
    url, parent = strict
    before = files(parent)
    client = Qiniu(url)
    assert_refused(client.submit_answer("v.mp4", ["avthumb/mp4"]), 400, "avthumb", "not one vframe runs")
    sync = httpx.get(sign(f"{url}/v.mp4?vframe/jpg/offset/abc", ACCESS_KEY, SECRET_KEY, int(time.time()) + 60))
    code, body = client.submit_answer("v.mp4", ["vframe/jpg/offset/abc"])
    assert (code, body) == (sync.status_code, sync.json()) and code == 400
    assert_refused(client.submit_answer("v.mp4", ["vframe/bmp/offset/1"]), 415)
    assert_refused(client.submit_answer("v.mp4", [POSTER + saveas("x.jpg", bucket="other")]), 400, "bucket")
    assert_refused(client.submit_answer("missing.mp4", [POSTER]), 404, "no such video")
    assert_refused(Qiniu(url, bucket="other").submit_answer("v.mp4", [POSTER]), 404, "bucket")
    assert_refused(client.submit_answer("v.mp4", [POSTER], notify_url="http://127.0.0.1:9/n"), 403, "private")
    assert_refused(client.submit_answer("v.mp4", [f"{SHEET}/savePattern/{b64('no-count.jpg')}"]), 400, "$(count)")
    # Tokens: none, a wrong secret, an unknown access key.
    answer = httpx.post(f"{url}/pfop/", data={"bucket": BUCKET, "key": "v.mp4", "fops": POSTER}, timeout=30)
    assert answer.status_code == 403 and "management token" in answer.json()["error"]
    assert_refused(Qiniu(url, secret_key="wrong").submit_answer("v.mp4", [POSTER]), 403, "signature is wrong")
    assert_refused(Qiniu(url, access_key="nobody").submit_answer("v.mp4", [POSTER]), 403, "not known")
    wrong_method = httpx.get(f"{url}/pfop/", timeout=30)
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert files(parent) == before


def qiniu_signed(url: str, date: datetime | None) -> requests.Response:
    """A pfop signed the newer way (Authorization: Qiniu ..., X-Qiniu-Date) by the SDK's own signer:
    dated now by the SDK, or with the X-Qiniu-Date `date`."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if date is not None:
        headers["X-Qiniu-Date"] = date.strftime("%Y%m%dT%H%M%SZ")
    auth = QiniuMacAuth(ACCESS_KEY, SECRET_KEY, disable_qiniu_timestamp_signature=date is not None)
    data = {"bucket": BUCKET, "key": "v.mp4", "fops": POSTER + saveas("out/mac.jpg")}
    return requests.post(f"{url}/pfop/", data=data, headers=headers, auth=QiniuMacRequestsAuth(auth), timeout=30)


def test_qiniu_mac_tokens_and_their_expiry(strict: tuple[str, Path]) -> None:
    url, parent = strict
    fresh = qiniu_signed(url, None)
    assert fresh.status_code == 200, fresh.text
    assert Qiniu(url).wait(fresh.json()["persistentId"])["code"] == 0
    assert (parent / "served" / "out" / "mac.jpg").is_file()
    old = qiniu_signed(url, datetime.now(UTC) - timedelta(minutes=20))
    assert old.status_code == 403 and "expired" in old.json()["error"]


def test_a_symlink_out_of_the_source_fails_the_item_and_writes_nothing(strict: tuple[str, Path]) -> None:
    url, parent = strict
    client = Qiniu(url)
    fops = [POSTER + saveas("link/x.jpg"), POSTER + saveas("link/deep/er/x.jpg"), POSTER + saveas("out/fine.jpg")]
    status = client.wait(client.submit("v.mp4", fops))
    assert status["code"] == 3, status
    *bad, good = status["items"]
    for item in bad:
        assert item["code"] == 3 and "outside the source" in item["error"] and "key" not in item, item
    assert good["code"] == 0
    assert list((parent / "outside").iterdir()) == []  # not even the folders deep/er


def test_status_is_kept_for_the_retention_then_612(root: Path, tmp_path: Path) -> None:
    env = {"VFRAME_STATE_DIR": str(tmp_path), "VFRAME_JOB_RETENTION": "1"}
    with serve(root, "--workers", "1", env=env) as server:
        client = Qiniu(server.url)
        job_id = client.submit(VIDEO, [POSTER + saveas(f"out/kept-{os.urandom(3).hex()}.jpg")])
        assert client.wait(job_id)["code"] == 0
        end = time.monotonic() + 20
        while (answer := client.fop().get_status(job_id)[1]).status_code == 200 and time.monotonic() < end:
            time.sleep(0.2)
        assert answer.status_code == 612


def test_without_signing_keys_pfop_is_403(root: Path, tmp_path: Path) -> None:
    with serve(root, "--workers", "1", env={"VFRAME_SIGNING_KEYS": "", "VFRAME_STATE_DIR": str(tmp_path)}) as server:
        code, body = Qiniu(server.url).submit_answer(VIDEO, [POSTER])
        assert code == 403 and "no signing keys" in body["error"].lower()
        assert not (tmp_path / "jobs.db").exists()
    assert qiniu.__version__


# -- what a job server must survive ------------------------------------------------------------


def test_a_receiver_asking_prefop_sees_the_code_it_was_sent(folder_place: Place) -> None:
    """The final code is saved before the notification is sent: a receiver that asks prefop while
    it is being notified sees the same code."""
    client = Qiniu(folder_place.url)
    with notify_receiver() as asking:
        asking.ask = lambda body: (body["code"], client.status(body["id"])["code"])
        job_id = client.submit(VIDEO, [POSTER + saveas("out/asked.jpg")], notify_url=asking.url)
        assert client.wait(job_id)["code"] == 0
        wait_notified(asking, job_id)
    assert asking.asked == [(0, 0)], asking.asked


def test_a_receiver_that_never_finishes_its_answer_is_given_up_on(root: Path, tmp_path: Path) -> None:
    """A notify receiver that drips its status line a byte at a time holds no consumer: each try
    ends within VFRAME_ORIGIN_TIMEOUT_SECONDS, and the job ends with code 4."""
    env = {"VFRAME_STATE_DIR": str(tmp_path), "VFRAME_ORIGIN_TIMEOUT_SECONDS": "1", "VFRAME_NOTIFY_RETRIES": "1"}
    with notify_receiver() as dripping, serve(root, "--workers", "1", env=env) as server:
        dripping.drip = True
        client = Qiniu(server.url)
        job_id = client.submit(VIDEO, [POSTER + saveas(f"out/drip-{os.urandom(3).hex()}.jpg")],
                               notify_url=dripping.url)
        # a drip lasts 120 s: without the bound on each try, no code 4 within the wait
        wait_for(lambda: client.status(job_id)["code"] == 4, "code 4", timeout=30)
        assert client.status(job_id)["items"][0]["code"] == 0
        assert len(dripping.of(job_id)) == 2  # the try and its one retry
        later = client.wait(client.submit(VIDEO, [POSTER + saveas(f"out/after-{os.urandom(3).hex()}.jpg")]))
        assert later["code"] == 0, later


def test_a_full_decode_pool_costs_a_job_no_retry(root: Path, tmp_path: Path) -> None:
    """HTTP load that fills the decode pool (its 429) makes a job's command wait, not fail: with the
    one worker stopped and the queue full for longer than every retry's backoff, the job waits and
    then ends with code 0."""
    env = {"VFRAME_STATE_DIR": str(tmp_path), "VFRAME_JOB_RETRIES": "1"}
    with serve(root, "--workers", "1", "--queue-size", "1", env=env) as server:
        workers = [pid for pid in children(server.popen.pid) if b"spawn_main" in command_line(pid)]
        assert len(workers) == 1
        deadline = int(time.time()) + 600
        urls = [sign(f"{server.url}/{VIDEO}?vframe/png/offset/{offset}", ACCESS_KEY, SECRET_KEY, deadline)
                for offset in ("0.3", "0.7")]
        os.kill(workers[0], signal.SIGSTOP)
        try:
            with ThreadPoolExecutor(2) as pool:
                held = [pool.submit(httpx.get, url, timeout=60) for url in urls]
                wait_for(lambda: health(server)["busy"] == 1 and health(server)["queued"] == 1, "the pool full")
                job_id = Qiniu(server.url).submit(VIDEO, [POSTER + saveas(f"out/busy-{os.urandom(3).hex()}.jpg")])
                wait_for(lambda: busy_waits(server) >= 3, "the job waiting for a worker")  # past 1 retry's 0.2 s
                assert Qiniu(server.url).status(job_id)["code"] == 2
                os.kill(workers[0], signal.SIGCONT)
                assert all(future.result().status_code == 200 for future in held)
        finally:
            os.kill(workers[0], signal.SIGCONT)
        status = Qiniu(server.url).wait(job_id)
        assert status["code"] == 0, status
        assert metric(server, "vframe_job_retries_total") == 0


def health(server: Any) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}/-/healthz", timeout=10).json())


def metric(server: Any, name: str) -> float:
    for line in httpx.get(f"{server.url}/-/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def busy_waits(server: Any) -> float:
    return metric(server, "vframe_job_busy_waits_total")


def test_an_origin_without_vframe_output_serves_and_refuses_jobs(root: Path, tmp_path: Path) -> None:
    """Signing keys on an HTTP origin with nowhere to write: the server starts and serves signed
    frames, /pfop/ is 403 saying what is missing, and nothing is written where it was started."""
    with serve_origin(root) as origin:
        flags = ("--root", "", "--origin", f"{origin.url}/", "--workers", "1")
        with serve(root, *flags, cwd=tmp_path) as server:
            frame = httpx.get(sign(f"{server.url}/{VIDEO}?{POSTER}", ACCESS_KEY, SECRET_KEY, int(time.time()) + 60))
            assert frame.status_code == 200 and frame.headers["content-type"] == "image/jpeg"
            code, body = Qiniu(server.url).submit_answer(VIDEO, [POSTER])
            assert code == 403 and "VFRAME_OUTPUT" in body["error"], body
            assert "jobs are off" in server.log()
    assert list(tmp_path.iterdir()) == []


def test_the_embedded_queue_file_is_made_by_the_first_job(root: Path, tmp_path: Path) -> None:
    with serve(root, "--workers", "1", env={"VFRAME_STATE_DIR": str(tmp_path / "state")}) as server:
        client = Qiniu(server.url)
        assert client.fop().get_status("no-such-job")[1].status_code == 612
        assert httpx.get(f"{server.url}/-/metrics", timeout=10).status_code == 200
        assert not (tmp_path / "state").exists()
        job_id = client.submit(VIDEO, [POSTER + saveas("out/first.jpg")])
        assert client.wait(job_id)["code"] == 0
        assert (tmp_path / "state" / "jobs.db").is_file()
        # the record is kept, and the index of unfinished jobs (what each sweep reads) is empty again
        with closing(sqlite3.connect(tmp_path / "state" / "jobs.db")) as db:
            spaces = dict(db.execute("select queue, count(*) from kv group by queue").fetchall())
            assert db.execute("select key from kv where queue = 'vframe'").fetchall() == [(f"vframe.job.{job_id}",)]
        assert spaces.get("vframe_open", 0) == 0, spaces


def test_a_queue_that_does_not_answer_is_503_and_the_server_goes_on(root: Path, tmp_path: Path) -> None:
    """VFRAME_QUEUE on a port where nothing listens: the server starts, serves frames and metrics
    (the depth gauge never waits on the queue), and /pfop/ and prefop are 503."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    env = {"VFRAME_QUEUE": f"redis://127.0.0.1:{port}/0", "VFRAME_QUEUE_TIMEOUT_SECONDS": "1"}
    with serve(root, "--workers", "1", env=env) as server:
        assert httpx.get(f"{server.url}/-/metrics", timeout=10).status_code == 200
        code, body = Qiniu(server.url).submit_answer(VIDEO, [POSTER])
        assert code == 503 and "job queue" in body["error"], body
        ret, info = Qiniu(server.url).fop().get_status("some-job")
        assert info.status_code == 503
        frame = httpx.get(sign(f"{server.url}/{VIDEO}?{POSTER}", ACCESS_KEY, SECRET_KEY, int(time.time()) + 60))
        assert frame.status_code == 200


def test_forms_that_are_not_forms_or_too_large(strict: tuple[str, Path]) -> None:
    url, parent = strict
    before = files(parent)
    client = Qiniu(url)
    # A QBox token over a body-less request: any body sent with another content type would be unsigned.
    token = client.auth.token_of_request(f"{url}/pfop/")
    body = json.dumps({"bucket": BUCKET, "key": "v.mp4", "fops": POSTER + saveas("out/unsigned.jpg")})
    answer = httpx.post(f"{url}/pfop/", content=body, timeout=30,
                        headers={"Authorization": f"QBox {token}", "Content-Type": "application/json"})
    assert answer.status_code == 415 and "form" in answer.json()["error"], answer.text
    assert_refused(client.submit_answer("v.mp4", [POSTER] * 21), 413, "at most 20")
    assert_refused(client.submit_answer("v.mp4", [POSTER + "/w/80" * 12000]), 413, "larger than")
    assert_refused(client.submit_answer("v.mp4", [POSTER], notify_url="http://no-such-host.invalid/n"), 400,
                   "could not be resolved")
    assert files(parent) == before
