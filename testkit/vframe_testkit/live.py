"""A real `vframe serve` for the tests: started as a user starts it, in its own process, on
127.0.0.1 and a free port the server picks itself (`--port 0`), spoken to over real HTTP."""

from __future__ import annotations

import functools
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[2]  # the repository (this file: testkit/vframe_testkit/live.py)
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class LiveServer:
    process: subprocess.Popen[bytes]
    url: str  # http://127.0.0.1:PORT (no trailing slash)
    root: Path
    log_path: Path

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=60, **kwargs)  # type: ignore[arg-type]

    def health(self) -> dict[str, object]:
        return httpx.get(f"{self.url}/-/healthz", timeout=10).json()  # type: ignore[no-any-return]

    def metrics(self) -> str:
        return httpx.get(f"{self.url}/-/metrics", timeout=10).text

    def metric(self, name: str, labels: str = "") -> float:
        """One sample of /-/metrics, e.g. metric("vframe_requests_total", 'status="200"'); 0 when absent."""
        wanted = f"{name}{{{labels}}}" if labels else name
        for line in self.metrics().splitlines():
            if line.startswith("#"):
                continue
            key, _, value = line.rpartition(" ")
            if key == wanted:
                return float(value)
        return 0.0

    def worker_pids(self) -> list[int]:
        """The decode workers: the server process's children started by multiprocessing's spawn
        (not its resource tracker)."""
        return [pid for pid in children(self.process.pid) if b"spawn_main" in command_line(pid)]

    def resident_bytes(self, pid: int | None = None) -> int:
        return resident_bytes(self.process.pid if pid is None else pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, workers: int | None = None, timeout: float = 60) -> dict[str, object]:
        """Wait until /-/healthz says every worker (or `workers` of them) is ready."""
        end = time.monotonic() + timeout
        last: dict[str, object] = {}
        while time.monotonic() < end:
            try:
                last = self.health()
                if last.get("workers_ready") == (workers if workers is not None else last.get("workers")):
                    return last
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the server did not become ready: {last}\n{self.log()}")


def processes() -> Iterator[tuple[int, list[str]]]:
    """Every process: its pid and the fields of /proc/PID/stat after its name (state, ppid, pgrp,
    session...)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        yield int(entry.name), stat.rpartition(")")[2].split()


def children(pid: int) -> list[int]:
    return sorted(child for child, fields in processes() if int(fields[1]) == pid)


def command_line(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def resident_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE


@contextmanager
def live_server(root: Path, *flags: str, env: dict[str, str] | None = None,
                open_files: int | None = None) -> Iterator[LiveServer]:
    """`vframe serve --root ROOT --port 0 FLAGS...` with no VFRAME_* inherited (plus `env`), until the block ends;
    `open_files`: the server's open-file limit, soft and hard (as a tight host gives it)."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith("VFRAME_")}
    environ.update(env or {})
    log_file = tempfile.NamedTemporaryFile(prefix="vframe-serve-", suffix=".log", delete=False)
    process = subprocess.Popen(
        [sys.executable, "-m", "vframe", "serve", "--root", str(root), "--port", "0", *flags],
        cwd=ROOT, env=environ, stdout=subprocess.PIPE, stderr=log_file,
        preexec_fn=None if open_files is None else functools.partial(_limit_open_files, open_files),
    )
    log_path = Path(log_file.name)
    try:
        assert process.stdout is not None
        first = process.stdout.readline().decode()
        match = re.search(r"on (http://\S+?)/?$", first.strip())
        if match is None:
            process.wait(10)
            raise AssertionError(f"vframe serve did not start: {first!r}\n{log_path.read_text()}")
        server = LiveServer(process, match.group(1).rstrip("/"), root, log_path)
        server.wait_ready()
        yield server
    finally:
        stop(process)
        log_file.close()
        log_path.unlink(missing_ok=True)


def _limit_open_files(count: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (count, count))


def raise_open_file_limit() -> int:
    """This process's soft open-file limit raised to its hard limit (a client of many connections needs them)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return int(resource.getrlimit(resource.RLIMIT_NOFILE)[0])


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (uvicorn's graceful shutdown), SIGKILL if it takes over 20 s; its stdout closed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


def end_by_stdin(process: subprocess.Popen[bytes], seconds: float = 10) -> None:
    """Close `process`'s stdin (for a child of ours, the sign to end) and wait; SIGKILL past `seconds`."""
    assert process.stdin is not None
    process.stdin.close()
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


def raw_request(server: LiveServer, target: str, method: str = "GET") -> RawResponse:
    """Send `target` exactly as written (no client normalizing `..`, `%2e` or `//`) and read the answer."""
    address = urlsplit(server.url)
    assert address.hostname is not None and address.port is not None
    request = f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1")
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(request)
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    length = int(headers.get("content-length", len(body)))
    assert method == "HEAD" or len(body) == length, (len(body), length)
    return RawResponse(int(status_line.split()[1]), headers, body)


def wait_for(condition: Any, what: str, timeout: float = 30) -> None:
    """Until `condition()` is true (checked every 50 ms); AssertionError naming `what` past `timeout`."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
