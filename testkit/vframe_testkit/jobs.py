"""What the pfop tests and the bench need: `vframe serve` and `vframe worker` processes started
in their own session and killed by process group (SIGKILL on demand, for the durability tests),
the official Qiniu SDK pointed at a live server, and a notify receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import qiniu
from qiniu import config

from vframe_testkit.live import ROOT, resident_bytes, wait_for  # noqa: F401 (wait_for: for the jobs tests)
from vframe_testkit.origin import http_server

ACCESS_KEY, SECRET_KEY = "jobs-ak", "jobs-sk"
KEYS = f"{ACCESS_KEY}:{SECRET_KEY}"
BUCKET = "vframe"
FINAL = (0, 3, 4)


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


def saveas(key: str, bucket: str = BUCKET) -> str:
    return f"|saveas/{b64(f'{bucket}:{key}')}"


@dataclass
class Process:
    """A `vframe serve` or `vframe worker` in its own process group."""

    popen: subprocess.Popen[bytes]
    log_path: Path
    url: str = ""

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """`sig` to the whole group (its decode workers too), and wait for the leader."""
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, sig)
            except ProcessLookupError:
                pass
        try:
            self.popen.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()

    def group(self) -> list[int]:
        """Every process in its group (the leader, its decode workers...)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    fields = (entry / "stat").read_text().rpartition(")")[2].split()
                except OSError:
                    continue
                if int(fields[2]) == self.popen.pid:
                    found.append(int(entry.name))
        return sorted(found)

    def group_resident_bytes(self) -> int:
        total = 0
        for pid in self.group():
            try:
                total += resident_bytes(pid)
            except (OSError, IndexError, ValueError):
                pass
        return total


def _environ(env: dict[str, str]) -> dict[str, str]:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    environ.update({"VFRAME_SIGNING_KEYS": KEYS, "VFRAME_ALLOW_PRIVATE_URLS": "1", **env})
    return environ


@contextmanager
def vframe(command: str, *flags: str, env: dict[str, str] | None = None, ready: str = r"on (http://\S+?)/?$",
           timeout: float = 60, cwd: Path = ROOT) -> Iterator[Process]:
    """`vframe COMMAND FLAGS...` with the jobs' signing key (plus `env`), until the block ends;
    killed by process group, however the block ends."""
    log_file = tempfile.NamedTemporaryFile(prefix=f"vframe-{command}-", suffix=".log", delete=False)
    log_path = Path(log_file.name)
    popen = subprocess.Popen([sys.executable, "-m", "vframe", command, *flags], cwd=cwd, env=_environ(env or {}),
                             stdout=subprocess.PIPE, stderr=log_file, start_new_session=True)
    process = Process(popen, log_path)
    try:
        assert popen.stdout is not None
        end = time.monotonic() + timeout
        while True:
            line = popen.stdout.readline().decode()
            match = re.search(ready, line.strip())
            if match is not None:
                process.url = match.group(1) if match.groups() else ""
                break
            if not line or time.monotonic() > end:
                raise AssertionError(f"vframe {command} did not start: {line!r}\n{process.log()}")
        if command == "serve":
            wait_ready(process.url, end - time.monotonic())
        yield process
    finally:
        process.kill()
        if popen.stdout is not None:
            popen.stdout.close()
        log_file.close()
        log_path.unlink(missing_ok=True)


def wait_ready(url: str, timeout: float) -> None:
    import httpx

    end = time.monotonic() + max(timeout, 1)
    while time.monotonic() < end:
        try:
            health = httpx.get(f"{url}/-/healthz", timeout=5).json()
            if health.get("workers_ready") == health.get("workers"):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not become ready")


def serve(root: Path | str, *flags: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> Any:
    return vframe("serve", "--root", str(root), "--port", "0", *flags, env=env, cwd=cwd)


def worker(*flags: str, env: dict[str, str] | None = None) -> Any:
    return vframe("worker", *flags, env=env, ready=r"^vframe: worker running")


class Qiniu:
    """The official SDK (qiniu.PersistentFop) pointed at a vframe: what Qiniu's users run."""

    def __init__(self, url: str, bucket: str = BUCKET, access_key: str = ACCESS_KEY,
                 secret_key: str = SECRET_KEY) -> None:
        self.url = url
        self.bucket = bucket
        self.auth = qiniu.Auth(access_key, secret_key)

    def fop(self, notify_url: str | None = None) -> qiniu.PersistentFop:
        config.set_default(default_api_host=self.url)
        return qiniu.PersistentFop(self.auth, self.bucket, notify_url=notify_url)

    def submit(self, key: str, fops: list[str], notify_url: str | None = None, force: int | None = None) -> str:
        ret, info = self.fop(notify_url).execute(key, fops, force=force)
        assert info.status_code == 200 and ret is not None, (info.status_code, info.text_body)
        return str(ret["persistentId"])

    def submit_answer(self, key: str, fops: list[str], notify_url: str | None = None) -> tuple[int, dict[str, Any]]:
        """The status code and JSON of a submission that may fail."""
        _, info = self.fop(notify_url).execute(key, fops)
        return int(info.status_code), json.loads(info.text_body or "{}")

    def status(self, job_id: str) -> dict[str, Any]:
        ret, info = self.fop().get_status(job_id)
        assert info.status_code == 200 and ret is not None, (info.status_code, info.text_body)
        return dict(ret)

    def wait(self, job_id: str, timeout: float = 60) -> dict[str, Any]:
        """The job's status once final (code 0, 3 or 4); AssertionError past `timeout`."""
        end = time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if status["code"] in FINAL:
                return status
            if time.monotonic() > end:
                raise AssertionError(f"job {job_id} not done in {timeout} s: {status}")
            time.sleep(0.1)


@dataclass
class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every JSON body POSTed to it; answers `status`."""

    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    ask: Callable[[dict[str, Any]], Any] | None = None  # called with each body before the answer
    asked: list[Any] = field(default_factory=list)  # what `ask` gave, each time
    drip: bool = False  # answer a byte of the status line every 0.2 s (a receiver that never ends)

    def of(self, job_id: str) -> list[dict[str, Any]]:
        return [body for body in self.bodies if body.get("id") == job_id]


@contextmanager
def notify_receiver() -> Iterator[Receiver]:
    receiver = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            if receiver.ask is not None:
                receiver.asked.append(receiver.ask(json.loads(body)))
            if receiver.drip:
                receiver.bodies.append(json.loads(body))
                end = time.monotonic() + 120
                try:
                    for byte in itertools.cycle(b"HTTP/1.1 200 OK\r\nX-Slow: "):
                        if time.monotonic() > end:
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.2)
                except OSError:  # vframe gave up and closed the connection
                    return
            if receiver.status == 200:
                receiver.bodies.append(json.loads(body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with http_server(Handler) as url:
        receiver.url = f"{url}/notify"
        yield receiver


def undecodable_copy(good: Path, target: Path) -> Path:
    """`good` (an MP4) with its mdat payload zeroed: it opens, and no frame decodes (599)."""
    from vframe_testkit import mp4

    data = bytearray(good.read_bytes())
    mdat = mp4.find(bytes(data), b"mdat")
    data[mdat.start + 8: mdat.end] = bytes(mdat.size - 8)
    target.write_bytes(bytes(data))
    return target


def job_record(process_env: dict[str, str], job_id: str) -> dict[str, Any]:
    """`vframe jobs show ID`'s record (attempts, runs), as an operator sees it."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    shown = subprocess.run([sys.executable, "-m", "vframe", "jobs", "show", job_id], cwd=ROOT,
                           env={**environ, **process_env}, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    return dict(json.loads(shown.stdout)["record"])


def job_states(process_env: dict[str, str]) -> dict[str, str]:
    """`vframe jobs list`: job id -> its state (done, running...)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    listed = subprocess.run([sys.executable, "-m", "vframe", "jobs", "list"], cwd=ROOT,
                            env={**environ, **process_env}, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    return {line.split()[0]: line.split()[1] for line in listed.stdout.splitlines() if line.strip()}
